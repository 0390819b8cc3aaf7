// The field-officer terminal: the page a dispatch push links to. Where the offender is now (live,
// with his last 30 minutes), where the victim is, which way and how far from me, and the incident's
// buttons: en route, on scene, closed.
//
// The link's token is a capability for this one incident, not a user's sign-in: it is read here,
// before anything else, kept under its own key, sent only as ?token= to the incident's own routes,
// and never handed to api.js (whose token() would take it for the user's Bearer token).
/* global L */

import { COMPASS_KO, compass16 } from "/web/common/compass.js";
import { addStrings, initLanguage, language, languageSwitch, t, translatePage } from "/web/common/i18n.js";
import { distanceBearing, makeMap, municipalityAt } from "/web/common/map.js";
import { colour } from "/web/common/palette.js";

const LINK_KEY = "vigil.incident-link";
const POLL_MS = 2000;
const TERMINAL = new Set(["resolved", "false_alarm"]);

// ---- the link: read first, then out of the address bar ----------------------------------------

function readLink() {
  const params = new URLSearchParams(location.search);
  const incident = params.get("incident");
  const fromUrl = params.get("token");
  if (fromUrl !== null) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  if (incident && fromUrl) {
    sessionStorage.setItem(LINK_KEY, JSON.stringify({ incident, token: fromUrl }));
    return { incident, token: fromUrl };
  }
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(LINK_KEY) || "null");
  } catch {
    saved = null;
  }
  if (incident && saved && saved.incident === incident && saved.token) return saved;
  return { incident, token: null };
}

const link = readLink();

class LinkError extends Error {
  constructor(status, detail) {
    super(String(detail));
    this.status = status;
  }
}

async function call(method, path, body) {
  const url = `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(link.token)}`;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new LinkError(response.status, data && data.detail !== undefined ? data.detail : text);
  return data;
}

// ---- strings ------------------------------------------------------------------------------------

addStrings("ko", {
  title: "현장 단말",
  loading: "사건 정보를 불러오는 중…",
  "invalid.title": "링크가 유효하지 않습니다",
  "invalid.text": "이 링크로는 사건을 열 수 없습니다. 상황실에 새 링크를 요청하세요.",
  "closed.title": "종료된 사건입니다",
  "closed.text": "사건이 종료되어 위치 정보 열람이 끝났습니다. 이 링크는 더 이상 사용할 수 없습니다.",
  "closed.outcome": "결과: {outcome}",
  offline: "연결이 끊겼습니다. 다시 연결하는 중…",
  "to.subject": "대상자까지 (내 위치 기준)",
  navigate: "길 안내",
  "profile.title": "대상자 인상착의",
  "profile.photo": "대상자 사진",
  "profile.none": "등록된 인상착의가 없습니다.",
  "to.victim": "피해자까지 (내 위치 기준)",
  gap: "대상자–피해자 거리",
  "subject.seen": "대상자 마지막 위치",
  "subject.address": "대상자 위치 (주소)",
  "subject.speed": "대상자 속도",
  "subject.none": "대상자 위치 없음",
  "legend.subject": "대상자(가해자)",
  "legend.victim": "피해자",
  "legend.me": "내 위치",
  fit: "전체 보기",
  "me.waiting": "내 위치 확인 중…",
  "me.denied": "위치 권한이 거부되어 내 위치 기준 거리·방향을 표시할 수 없습니다. 지도에서 위치를 확인하세요.",
  "me.unavailable": "내 위치를 알 수 없습니다. 지도에서 위치를 확인하세요.",
  "me.accuracy": "내 위치 정확도 ±{m} m · 지도는 북쪽이 위",
  bearing: "{compass} 방향 · {deg}°",
  opened: "접수 {time}",
  ago: "{age} 전 ({time})",
  seconds: "{n}초",
  minutes: "{n}분",
  speed: "{kmh} km/h",
  "step.en_route": "출동 중",
  "step.on_scene": "현장 도착",
  "step.close": "사건 종료…",
  "close.title": "종료 결과",
  "close.note": "메모 (선택)",
  "outcome.resolved": "해결됨",
  "outcome.false_alarm": "오경보",
  cancel: "취소",
  "error.passed": "이미 지난 단계입니다. 화면을 갱신했습니다.",
  "error.failed": "전송하지 못했습니다. 다시 시도하세요. ({detail})",
  "kind.proximity_violation": "접근금지 위반",
  "kind.proximity_warning": "접근 경고",
  "kind.zone_violation": "보호구역 침입",
  "kind.tamper": "장치 훼손",
  "kind.battery_low": "배터리 부족",
  "kind.signal_loss": "신호 끊김",
  "kind.location_loss": "위치 끊김",
  "kind.device_conflict": "장치 충돌",
  "kind.case_match": "스토킹 사건 피의자 일치",
  "kind.power_off": "전원 꺼짐",
  "kind.sos": "피해자 긴급 구조 요청 (SOS)",
  "kind.dispatch_failure": "출동 전송 실패",
  "kind.position_doubt": "위치 신뢰 불가",
  "severity.critical": "긴급",
  "severity.high": "높음",
  "severity.medium": "보통",
  "severity.low": "낮음",
  "state.open": "접수",
  "state.acknowledged": "확인됨",
  "state.dispatched": "출동 중",
  "state.on_scene": "현장 도착",
  "state.resolved": "해결됨",
  "state.false_alarm": "오경보",
  ...COMPASS_KO,
});

addStrings("en", {
  title: "Field terminal",
  loading: "Loading the incident…",
  "invalid.title": "This link is not valid",
  "invalid.text": "This link cannot open the incident. Ask the control centre for a new link.",
  "closed.title": "This incident is closed",
  "closed.text": "The incident has been closed, so access to its locations has ended. This link no longer works.",
  "closed.outcome": "Outcome: {outcome}",
  offline: "Connection lost. Reconnecting…",
  "to.subject": "To the subject (from me)",
  navigate: "Navigate",
  "profile.title": "The subject: how he looks",
  "profile.photo": "Photo of the subject",
  "profile.none": "No description on record.",
  "to.victim": "To the victim (from me)",
  gap: "Subject–victim distance",
  "subject.seen": "Subject last seen",
  "subject.address": "Subject's whereabouts",
  "subject.speed": "Subject speed",
  "subject.none": "No position for the subject",
  "legend.subject": "Subject (offender)",
  "legend.victim": "Victim",
  "legend.me": "Me",
  fit: "Show all",
  "me.waiting": "Finding my position…",
  "me.denied": "Location permission denied: distance and direction from me cannot be shown. Use the map.",
  "me.unavailable": "My position is unavailable. Use the map.",
  "me.accuracy": "My position ±{m} m · map is north-up",
  bearing: "{compass} · {deg}°",
  opened: "Opened {time}",
  ago: "{age} ago ({time})",
  seconds: "{n} s",
  minutes: "{n} min",
  speed: "{kmh} km/h",
  "step.en_route": "En route",
  "step.on_scene": "On scene",
  "step.close": "Close incident…",
  "close.title": "Outcome",
  "close.note": "Note (optional)",
  "outcome.resolved": "Resolved",
  "outcome.false_alarm": "False alarm",
  cancel: "Cancel",
  "error.passed": "The incident has already passed that step. Refreshed.",
  "error.failed": "Could not send. Try again. ({detail})",
  "kind.proximity_violation": "Proximity violation",
  "kind.proximity_warning": "Proximity warning",
  "kind.zone_violation": "Exclusion zone entered",
  "kind.tamper": "Device tampering",
  "kind.battery_low": "Battery low",
  "kind.signal_loss": "Signal lost",
  "kind.location_loss": "Location lost",
  "kind.device_conflict": "Device conflict",
  "kind.case_match": "Police case names him",
  "kind.power_off": "Device powered off",
  "kind.sos": "Victim SOS",
  "kind.dispatch_failure": "Dispatch push failing",
  "kind.position_doubt": "Implausible positions",
  "severity.critical": "Critical",
  "severity.high": "High",
  "severity.medium": "Medium",
  "severity.low": "Low",
  "state.open": "Open",
  "state.acknowledged": "Acknowledged",
  "state.dispatched": "En route",
  "state.on_scene": "On scene",
  "state.resolved": "Resolved",
  "state.false_alarm": "False alarm",
  N: "N", NNE: "NNE", NE: "NE", ENE: "ENE", E: "E", ESE: "ESE", SE: "SE", SSE: "SSE",
  S: "S", SSW: "SSW", SW: "SW", WSW: "WSW", W: "W", WNW: "WNW", NW: "NW", NNW: "NNW",
});

// ---- small helpers ------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function show(screen) {
  for (const id of ["loading", "invalid", "closed", "incident"]) $(id).hidden = id !== screen;
}

function metres(m) {
  if (m === null || m === undefined || !Number.isFinite(m)) return "—";
  if (m < 1000) return `${Math.round(m / 5) * 5} m`;
  return `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`;
}


function clock(iso) {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  const text = s < 120 ? t("seconds", { n: s }) : t("minutes", { n: Math.round(s / 60) });
  return t("ago", { age: text, time: clock(iso) });
}

const latLon = (feature) => (feature ? [feature.geometry.coordinates[1], feature.geometry.coordinates[0]] : null);

// ---- state --------------------------------------------------------------------------------------

let last = null; // the last incident as the server sent it
let me = null; // {lat, lon, accuracy}
let meProblem = "waiting"; // waiting | denied | unavailable | null
let map = null;
let layers = null;
let fitted = false;
let timer = null;
let watch = null;
let stopped = false;
let busy = false;
let config = { tile_url: null, pmtiles: null, geocoder: false, language: null };

// ---- the map ------------------------------------------------------------------------------------

function pin(kind, heading) {
  const arrow = heading === null || heading === undefined ? "" : `<span class="heading" style="transform: rotate(${heading}deg)"></span>`;
  return L.divIcon({ className: `pin ${kind}`, html: `${arrow}<span class="body"></span>`, iconSize: [22, 22], iconAnchor: [11, 11] });
}

async function startMap(config, center) {
  map = await makeMap($("map"), { center, zoom: 16, config });
  layers = {
    track: L.polyline([], { color: colour("subject"), weight: 4, opacity: 0.55 }).addTo(map),
    accuracy: L.circle([0, 0], { radius: 1, color: colour("unit"), weight: 1, fillOpacity: 0.08, interactive: false }),
    subject: null,
    victim: null,
    me: null,
  };
  $("fit").addEventListener("click", () => fit(true));
  renderMap();
}

function place(name, at, icon, title) {
  if (!at) {
    if (layers[name]) {
      layers[name].remove();
      layers[name] = null;
    }
    return;
  }
  if (!layers[name]) {
    layers[name] = L.marker(at, { icon, title, keyboard: false, zIndexOffset: name === "subject" ? 1000 : 0 }).addTo(map);
  } else {
    layers[name].setLatLng(at);
    layers[name].setIcon(icon);
    layers[name].options.title = title;
  }
  layers[name].getElement()?.setAttribute("data-party", name);
}

function renderMap() {
  if (!map || !last) return;
  const subject = last.subject;
  const victim = last.protected_person;
  const track = subject && subject.track ? subject.track.features.map(latLon) : [];
  layers.track.setLatLngs(track);
  const heading = subject && subject.position ? subject.position.properties.heading_deg : null;
  place("subject", subject && latLon(subject.position), pin("subject", heading), t("legend.subject"));
  place("victim", victim && latLon(victim.position), pin("victim", null), t("legend.victim"));
  place("me", me && [me.lat, me.lon], pin("me", null), t("legend.me"));
  if (me && me.accuracy) {
    layers.accuracy.setLatLng([me.lat, me.lon]).setRadius(me.accuracy).addTo(map);
  } else {
    layers.accuracy.remove();
  }
  if (!fitted) fit(false);
}

function fit(force) {
  if (!map || !last) return;
  const points = [];
  if (last.subject && last.subject.position) points.push(latLon(last.subject.position));
  if (last.protected_person && last.protected_person.position) points.push(latLon(last.protected_person.position));
  if (me) points.push([me.lat, me.lon]);
  if (points.length === 0) return;
  if (points.length === 1) map.setView(points[0], 17);
  else map.fitBounds(L.latLngBounds(points), { padding: [36, 36], maxZoom: 17 });
  // Fit until my own position is settled (known or refused); after that the officer pans.
  fitted = force ? fitted : meProblem !== "waiting";
}

// ---- rendering ----------------------------------------------------------------------------------

function render() {
  if (!last) return;
  const a = last.alert;
  $("severity").textContent = t(`severity.${a.severity}`);
  $("severity").className = `chip ${a.severity}`;
  $("state").textContent = t(`state.${a.state}`);
  $("state").className = `chip state ${a.state}`;
  $("state").dataset.state = a.state;
  $("kind").textContent = t(`kind.${a.kind}`);
  $("opened").textContent = t("opened", { time: clock(a.opened_at) });

  const subjectAt = last.subject && latLon(last.subject.position);
  const victimAt = last.protected_person && latLon(last.protected_person.position);

  // distance and direction from me: to her for her SOS (that is where help is needed), else to
  // him; to whichever of them is known when the other is not
  const box = $("direction");
  const toHer = victimAt && (a.kind === "sos" || !subjectAt);
  const target = toHer ? victimAt : subjectAt;
  const heading = $("direction").querySelector("h2");
  heading.dataset.i18n = toHer ? "to.victim" : "to.subject";
  heading.textContent = t(heading.dataset.i18n);
  if (me && target) {
    const { distance, bearing } = distanceBearing(me.lat, me.lon, target[0], target[1]);
    $("distance").textContent = metres(distance);
    $("distance").dataset.metres = String(Math.round(distance));
    $("bearing").textContent = t("bearing", { compass: t(compass16(bearing)), deg: Math.round(bearing) });
    $("arrow").style.transform = `rotate(${bearing}deg)`;
    box.classList.remove("unknown");
  } else {
    $("distance").textContent = target ? "—" : t("subject.none");
    delete $("distance").dataset.metres;
    $("bearing").textContent = "";
    box.classList.add("unknown");
  }
  // "navigate": the phone's own navigation app, by a geo: URI (RFC 5870) to where help is needed;
  // the q= form puts a pin there in the apps that read it
  const navigate = $("navigate");
  if (target) {
    const [lat, lon] = target.map((v) => v.toFixed(6));
    navigate.href = `geo:${lat},${lon}?q=${lat},${lon}`;
    navigate.hidden = false;
  } else {
    navigate.removeAttribute("href");
    navigate.hidden = true;
  }
  $("me-status").textContent = meProblem ? t(`me.${meProblem}`) : t("me.accuracy", { m: Math.round(me.accuracy || 0) });

  if (last.subject && last.subject.position) {
    const p = last.subject.position.properties;
    $("subject-seen").textContent = age(p.time);
    $("subject-speed").textContent = p.speed_mps === null || p.speed_mps === undefined ? "—" : t("speed", { kmh: (p.speed_mps * 3.6).toFixed(0) });
  } else {
    $("subject-seen").textContent = t("subject.none");
    $("subject-speed").textContent = "—";
  }
  whereabouts();
  $("victim-distance").textContent = me && victimAt ? metres(distanceBearing(me.lat, me.lon, victimAt[0], victimAt[1]).distance) : "—";
  const gap = subjectAt && victimAt ? distanceBearing(subjectAt[0], subjectAt[1], victimAt[0], victimAt[1]).distance : a.facts && a.facts.distance_m;
  $("gap").textContent = metres(gap);

  // the buttons: forward only
  const order = ["open", "acknowledged", "dispatched", "on_scene"];
  const at = order.indexOf(a.state);
  $("en-route").classList.toggle("done", at >= 2);
  $("en-route").disabled = busy || at >= 2;
  $("on-scene").classList.toggle("done", at >= 3);
  $("on-scene").disabled = busy || at >= 3;
  $("close").disabled = busy;
  for (const id of ["resolved", "false-alarm", "close-cancel"]) $(id).disabled = busy;

  renderMap();
}

// ---- where he is, in words ------------------------------------------------------------------------
//
// The municipality from the outlines at once (offline), then the street address from the
// deployment's geocoder where one is configured (asked by the server for his newest position, at
// most every ADDRESS_MS and only once he has moved ADDRESS_MOVE_M).

const ADDRESS_MS = 30000;
const ADDRESS_MOVE_M = 50;
let address = { at: null, asked: 0, area: null, street: null, busy: false };

async function whereabouts() {
  const position = last && last.subject && last.subject.position;
  if (!position) {
    $("subject-address").textContent = "—";
    return;
  }
  const [lat, lon] = latLon(position);
  const moved = !address.at || distanceBearing(address.at[0], address.at[1], lat, lon).distance >= ADDRESS_MOVE_M;
  showAddress();
  if (!moved || address.busy || Date.now() - address.asked < ADDRESS_MS) return;
  address.busy = true;
  address.asked = Date.now();
  address.at = [lat, lon];
  try {
    address.area = await municipalityAt(lat, lon).catch(() => null);
    address.street = null;
    showAddress();
    if (config && config.geocoder) {
      const found = await call("GET", `/v1/incidents/${encodeURIComponent(link.incident)}/address?lang=${language()}`).catch(() => null);
      address.street = found && found.place ? found.place.name : null;
      showAddress();
    }
  } finally {
    address.busy = false;
  }
}

function showAddress() {
  const area = address.area ? (language() === "en" ? address.area.en : address.area.ko) : null;
  $("subject-address").textContent = address.street || area || "—";
}

function closed(outcome) {
  stopped = true;
  clearTimeout(timer);
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  watch = null;
  sessionStorage.removeItem(LINK_KEY);
  if (map) {
    map.remove();
    map = null;
  }
  last = null;
  $("closed-outcome").textContent = outcome ? t("closed.outcome", { outcome: t(`state.${outcome}`) }) : "";
  show("closed");
}

function invalid() {
  stopped = true;
  clearTimeout(timer);
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  watch = null;
  sessionStorage.removeItem(LINK_KEY);
  show("invalid");
}

// ---- the man the unit is sent to find: his photo and description ------------------------------

let profile = null; // {id, description, has_photo} from the link, once read

async function loadProfile() {
  try {
    profile = await call("GET", `/v1/incidents/${encodeURIComponent(link.incident)}/subject`);
  } catch {
    return; // no subject named, or the link ended: the rest of the terminal says so
  }
  renderProfile();
  if (!profile.has_photo) return;
  const url = `/v1/incidents/${encodeURIComponent(link.incident)}/subject/photo?token=${encodeURIComponent(link.token)}`;
  try {
    const response = await fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
    if (!response.ok) return;
    const blob = await response.blob();
    if (!["image/jpeg", "image/png"].includes(blob.type)) return;
    // a data: URL (allowed by the page's policy) held in memory only: nothing is cached on the phone
    const reader = new FileReader();
    reader.onload = () => {
      const img = $("subject-photo");
      img.src = String(reader.result);
      img.hidden = false;
    };
    reader.readAsDataURL(blob);
  } catch {
    // no photo: the description still helps
  }
}

function renderProfile() {
  if (!profile) return;
  $("profile").hidden = false;
  const text = (profile.description || "").trim();
  $("subject-description").textContent = text || t("profile.none");
  $("subject-description").classList.toggle("muted", !text);
  $("subject-photo").alt = t("profile.photo");
}

// ---- polling ------------------------------------------------------------------------------------

async function poll() {
  clearTimeout(timer);
  try {
    const data = await call("GET", `/v1/incidents/${encodeURIComponent(link.incident)}`);
    if (stopped) return;
    $("offline").hidden = true;
    if (TERMINAL.has(data.alert.state)) {
      closed(data.alert.state);
      return;
    }
    last = data;
    render();
  } catch (error) {
    if (stopped) return;
    if (error.status === 401 || error.status === 404) return invalid();
    if (error.status === 410) return closed(null);
    $("offline").hidden = false;
  }
  if (!stopped) timer = setTimeout(poll, POLL_MS);
}

async function step(body) {
  if (busy || stopped) return;
  busy = true;
  $("step-error").hidden = true;
  render();
  try {
    const result = await call("POST", `/v1/incidents/${encodeURIComponent(link.incident)}/status`, body);
    if (TERMINAL.has(result.state)) {
      closed(result.state);
      return;
    }
    if (last) last.alert.state = result.state;
    $("close-box").hidden = true;
  } catch (error) {
    if (error.status === 410) return closed(null);
    if (error.status === 401 || error.status === 404) return invalid();
    $("step-error").textContent = error.status === 409 ? t("error.passed") : t("error.failed", { detail: error.message || error.status });
    $("step-error").hidden = false;
  } finally {
    busy = false;
  }
  render();
  poll();
}

// ---- my own position ----------------------------------------------------------------------------

function watchMe() {
  if (!("geolocation" in navigator)) {
    meProblem = "unavailable";
    return;
  }
  watch = navigator.geolocation.watchPosition(
    (position) => {
      me = { lat: position.coords.latitude, lon: position.coords.longitude, accuracy: position.coords.accuracy };
      meProblem = null;
      render();
    },
    (error) => {
      if (error.code === error.PERMISSION_DENIED) {
        me = null;
        meProblem = "denied";
        if (watch !== null) navigator.geolocation.clearWatch(watch);
        watch = null;
      } else if (!me) {
        meProblem = "unavailable";
      }
      render();
    },
    { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 },
  );
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  try {
    config = await (await fetch("/v1/web/config", { cache: "no-store" })).json();
  } catch {
    // defaults: offline basemap, Korean
  }
  await initLanguage(config.language);
  languageSwitch($("langs"));
  translatePage();
  window.addEventListener("languagechange", () => {
    document.title = `Vigil · ${t("title")}`;
    render();
    renderProfile();
  });
  document.title = `Vigil · ${t("title")}`;

  if (!link.incident || !link.token) return invalid();

  $("en-route").addEventListener("click", () => step({ status: "en_route" }));
  $("on-scene").addEventListener("click", () => step({ status: "on_scene" }));
  $("close").addEventListener("click", () => {
    $("close-box").hidden = false;
    $("close-box").scrollIntoView({ behavior: "smooth", block: "nearest" });
  });
  $("close-cancel").addEventListener("click", () => ($("close-box").hidden = true));
  for (const id of ["resolved", "false-alarm"]) {
    $(id).addEventListener("click", (event) =>
      step({ status: "closed", outcome: event.currentTarget.dataset.outcome, note: $("note").value.trim() }),
    );
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !stopped) poll();
  });

  await poll();
  if (stopped || !last) {
    // not shown yet (a network failure): the poll loop keeps trying and shows it when it can
    if (!stopped) {
      const waitFirst = setInterval(() => {
        if (stopped) return clearInterval(waitFirst);
        if (last) {
          clearInterval(waitFirst);
          begin(config);
        }
      }, 500);
    }
    return;
  }
  begin(config);
}

function begin(config) {
  show("incident");
  watchMe();
  loadProfile();
  const centre = (last.subject && latLon(last.subject.position)) || (last.protected_person && latLon(last.protected_person.position)) || [37.56, 126.98];
  startMap(config, centre).catch(() => {
    // the map is a help, not a requirement: the distance, direction and buttons work without it
  });
  render();
}

main();
