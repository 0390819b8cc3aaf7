// The victim app: safe / nearby / danger at a glance, what the server lets her see of him, her
// phone's position while the app is open, and an SOS button held for three seconds.
//
// What she sees of him is decided by the server (domain.victim_view): this page shows what
// GET /v1/me/status sends and nothing else. It never asks for his position any other way and never
// works it out: the radar is drawn from the distance and bearing the server sent.
//
// Discreet mode (remembered on this phone): a dim, dark screen, no vibration, and a page title that
// says "Notes" instead of naming the app (the title shows in the task switcher and on a lock screen).
// The exit button, on every screen, leaves at once for /notes/ (a plain notepad served here, naming
// nothing) with location.replace, so Back does not come back; it first forgets the sign-in kept in
// this tab (sessionStorage) and ends a password session on the server, so whoever picks the phone up
// next cannot reopen her account from it. She signs in again afterwards.
// The app is installable (manifest.webmanifest) and its shell opens offline (sw.js); the API is never
// answered from a cache, so an offline app says so and shows nothing of him.
// Alerts wake her with the app closed (wake.js, sw.js): she turns them on for this phone, and a
// push comes when he comes near or when her SOS is answered. Signing out turns them off here.

import { activate, api, ApiError, hasSession, login, logout, refreshSession, setToken, token } from "/web/common/api.js";
import { COMPASS_KO, compass16 } from "/web/common/compass.js";
import { addStrings, initLanguage, language, languageSwitch, t, translatePage } from "/web/common/i18n.js";
import { showNotices } from "/web/common/notices.js";
import * as wake from "/victim/wake.js";

const POLL_MS = 3000;
const POSITION_EVERY_MS = 10000;
const HOLD_MS = 3000;
const FRESH_MS = 120000; // her browser position is used for an SOS while it is this recent
const VIEW_M = 600; // the radar's outer ring (the default victim view of an order)
const MIN_PASSWORD = 12; // as the server asks
const RETRY_MS = 5000; // opened without a network: how often to try again
const DISCREET_KEY = "vigil.discreet";
const EXIT_TO = "/notes/";

addStrings("ko", {
  title: "안심 도우미",
  loading: "불러오는 중…",
  discreet: "화면 어둡게",
  "discreet.title": "메모",
  exit: "나가기",
  "nonet.title": "인터넷에 연결되어 있지 않습니다",
  "nonet.text": "연결되지 않은 동안에는 위치를 보여 주지 않습니다. 연결되면 바로 다시 확인합니다. 위급하면 112에 전화하세요.",
  retry: "다시 시도",
  "login.text": "또는 담당 기관에서 받은 접속 코드를 붙여 넣으세요.",
  "activate.title": "처음 사용하시나요?",
  "activate.text": "담당자에게 받은 코드를 넣고, 앞으로 쓸 비밀번호를 정하세요.",
  "activate.code": "받은 코드",
  "activate.password": "새 비밀번호 (12자 이상)",
  "activate.again": "새 비밀번호 확인",
  "activate.submit": "비밀번호 정하고 시작하기",
  "activate.no_code": "담당자에게 받은 코드를 넣으세요.",
  "activate.short": "비밀번호는 12자 이상이어야 합니다.",
  "activate.mismatch": "두 비밀번호가 다릅니다. 다시 입력하세요.",
  "activate.invalid": "코드가 맞지 않거나 만료되었습니다. 담당자에게 새 코드를 받으세요.",
  welcome: "비밀번호를 정했습니다. 다음부터는 아이디 {user}와 이 비밀번호로 로그인하세요.",
  "signin.title": "로그인",
  "signin.user": "아이디",
  "signin.hint": "담당자가 알려 준 아이디입니다. pp-로 시작합니다 (예: pp-P1).",
  "signin.password": "비밀번호",
  "signin.submit": "로그인",
  "signin.missing": "아이디와 비밀번호를 넣으세요.",
  "signin.wrong": "아이디 또는 비밀번호가 맞지 않습니다.",
  "signin.locked": "비밀번호를 여러 번 잘못 입력하여 잠겼습니다. {n}분 후에 다시 시도하세요. 위급하면 112에 전화하세요.",
  "signin.expired": "로그인 시간이 끝났습니다. 다시 로그인하세요.",
  "login.label": "접속 코드",
  "login.submit": "시작하기",
  "login.invalid": "접속 코드가 맞지 않습니다. 다시 확인하세요.",
  "login.expired": "접속이 만료되었습니다. 접속 코드를 다시 넣으세요.",
  "login.failed": "서버에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
  "wrong.title": "피해자 전용 앱입니다",
  "wrong.text": "이 앱은 보호 대상자 본인 계정으로만 사용할 수 있습니다.",
  signout: "로그아웃",
  call112: "112에 전화하기",
  offline: "서버에 연결할 수 없습니다. 다시 연결하는 중… 위급하면 112에 전화하세요.",
  "status.safe": "안전합니다",
  "status.safe.text": "주변에 위험 신호가 없습니다.",
  "status.nearby": "주의하세요",
  "status.nearby.text": "가해자가 가까운 곳에 있습니다. 상황실이 지켜보고 있습니다.",
  "status.nearby.watching": "상황실이 지켜보고 있습니다.",
  "status.danger": "위험합니다",
  "status.danger.text": "가해자가 매우 가까이 있습니다. 상황실에 알렸습니다.",
  "status.danger.open": "긴급 상황이 접수되어 상황실이 대응하고 있습니다.",
  "status.unknown": "확인 중",
  "near.distance": "약 {distance} · {compass}쪽",
  "near.heading": "이동 방향: {compass}쪽",
  "near.toward": "당신 쪽으로 다가오고 있습니다",
  "near.stale": "{age} 전 위치",
  "band.text": "가해자가 {from}–{to} m 거리 안에 있습니다",
  "guidance.title": "이렇게 하세요",
  "guide.safe.1": "평소처럼 지내셔도 됩니다. 이 앱을 켜 두면 위치가 상황실에 전달됩니다.",
  "guide.nearby.1": "사람이 많고 밝은 곳에 머무르세요.",
  "guide.nearby.2": "가능하면 가해자가 있는 쪽에서 멀어지세요.",
  "guide.nearby.3": "위협을 느끼면 바로 112에 전화하세요.",
  "guide.danger.1": "표시된 방향에서 멀어지고, 112에 전화하세요.",
  "guide.danger.call": "할 수 있으면 지금 112에 전화하세요.",
  "guide.danger.2": "가까운 가게, 역, 관공서 등 사람이 있는 곳으로 들어가세요.",
  "guide.near": "표시된 방향에서 멀어지세요.",
  "position.on": "내 위치 공유 중 (정확도 ±{m} m)",
  "position.waiting": "내 위치 확인 중…",
  "position.off": "휴대폰 위치 권한이 꺼져 있습니다. 보호 장치의 위치가 대신 사용됩니다.",
  "position.unsupported": "이 브라우저는 위치를 지원하지 않습니다.",
  updated: "마지막 확인 {time}",
  "sos.hint": "도움이 필요하면 SOS 버튼을 3초간 누르고 계세요.",
  "sos.holding": "계속 누르고 계세요…",
  "sos.cancelled": "취소되었습니다. 3초간 누르고 있어야 전송됩니다.",
  "sos.sending": "보내는 중…",
  "sos.sent": "도움을 요청했습니다",
  "sos.sent.text": "상황실에 알렸습니다. 상황실이 도움을 보냅니다. 안전한 곳으로 이동하고, 가능하면 112에 전화하세요.",
  "sos.failed": "SOS를 보내지 못했습니다",
  "sos.failed.text": "지금 바로 112에 전화하세요.",
  "alerts.title": "이 휴대폰으로 알림 받기",
  "alerts.off": "가해자가 가까이 오거나 SOS에 응답이 오면, 앱이 닫혀 있어도 알려 드립니다.",
  "alerts.on": "이 휴대폰으로 알림을 받고 있습니다.",
  "alerts.blocked": "이 브라우저에서 알림이 차단되어 있습니다. 브라우저 설정에서 알림을 허용하세요.",
  "alerts.failed": "알림을 켜지 못했습니다. 잠시 후 다시 시도하세요.",
  "alerts.enable": "알림 켜기",
  "alerts.disable": "알림 끄기",
  "record.title": "내 기록 받기 (법원 제출용)",
  "record.text": "기간 동안의 접근과 경보, 상황실과 경찰의 조치를 기록한 자료입니다. 가해자의 위치는 들어 있지 않습니다.",
  "record.from": "시작일",
  "record.until": "종료일",
  "record.format": "형식",
  "record.submit": "내려받기",
  "record.working": "만드는 중…",
  "record.done": "받았습니다. 확인 번호(SHA-256): {hash}",
  "record.bad": "기간을 확인하세요: {reason}",
  "record.slow": "잠시 후 다시 시도하세요 ({n}초).",
  "record.failed": "기록을 받지 못했습니다. 잠시 후 다시 시도하세요.",
  ok: "확인",
  seconds: "{n}초",
  minutes: "{n}분",
  ...COMPASS_KO,
});

addStrings("en", {
  title: "My safety",
  loading: "Loading…",
  discreet: "Dim the screen",
  "discreet.title": "Notes",
  exit: "Exit",
  "nonet.title": "No internet connection",
  "nonet.text": "No positions are shown without a connection. The app checks again as soon as it is back. If you are in danger, call 112.",
  retry: "Try again",
  "login.text": "Or paste the access code you were given by the agency.",
  "activate.title": "First time here?",
  "activate.text": "Enter the code you were given and choose a password.",
  "activate.code": "The code you were given",
  "activate.password": "New password (at least 12 characters)",
  "activate.again": "The new password again",
  "activate.submit": "Set my password and sign in",
  "activate.no_code": "Enter the code you were given.",
  "activate.short": "The password needs at least 12 characters.",
  "activate.mismatch": "The two passwords differ. Please type them again.",
  "activate.invalid": "The code is wrong or has expired. Ask the agency for a new one.",
  welcome: "Your password is set. From now on, sign in with the user id {user} and this password.",
  "signin.title": "Sign in",
  "signin.user": "User id",
  "signin.hint": "The user id the agency gave you. It begins with pp- (for example pp-P1).",
  "signin.password": "Password",
  "signin.submit": "Sign in",
  "signin.missing": "Enter your user id and password.",
  "signin.wrong": "Wrong user id or password.",
  "signin.locked": "Locked after too many wrong passwords. Try again in {n} minutes. If you are in danger, call 112.",
  "signin.expired": "Your session has ended. Please sign in again.",
  "login.label": "Access code",
  "login.submit": "Start",
  "login.invalid": "That access code is not valid. Please check it.",
  "login.expired": "Your session has ended. Please enter your access code again.",
  "login.failed": "Cannot reach the server. Try again in a moment.",
  "wrong.title": "This app is for protected persons",
  "wrong.text": "Only a protected person's own account can use this app.",
  signout: "Sign out",
  call112: "Call 112",
  offline: "Cannot reach the server. Reconnecting… If you are in danger, call 112.",
  "status.safe": "You are safe",
  "status.safe.text": "Nothing to worry about nearby.",
  "status.nearby": "Be careful",
  "status.nearby.text": "The offender is somewhere near. The control centre is watching.",
  "status.nearby.watching": "The control centre is watching.",
  "status.danger": "Danger",
  "status.danger.text": "The offender is very close. The control centre has been alerted.",
  "status.danger.open": "An emergency is open and the control centre is dealing with it.",
  "status.unknown": "Checking",
  "near.distance": "About {distance} · to the {compass}",
  "near.heading": "Moving {compass}",
  "near.toward": "He is moving towards you",
  "near.stale": "position from {age} ago",
  "band.text": "The offender is {from}–{to} m from you",
  "guidance.title": "What to do",
  "guide.safe.1": "Go about your day. While this app is open, your position reaches the control centre.",
  "guide.nearby.1": "Stay where it is busy and well lit.",
  "guide.nearby.2": "If you can, move away from where he might be.",
  "guide.nearby.3": "If you feel threatened, call 112 at once.",
  "guide.danger.1": "Move away from the direction shown and call 112.",
  "guide.danger.call": "Call 112 now if you can.",
  "guide.danger.2": "Go into a shop, station or public office where there are people.",
  "guide.near": "Move away from the direction shown.",
  "position.on": "Sharing my position (±{m} m)",
  "position.waiting": "Finding my position…",
  "position.off": "Location is off on this phone; your protection device's position is used instead.",
  "position.unsupported": "This browser cannot share a position.",
  updated: "Last checked {time}",
  "sos.hint": "If you need help, press and hold SOS for 3 seconds.",
  "sos.holding": "Keep holding…",
  "sos.cancelled": "Cancelled. Hold for 3 seconds to send.",
  "sos.sending": "Sending…",
  "sos.sent": "Help is being sent",
  "sos.sent.text": "The control centre has been alerted and is sending help. Move somewhere safe and call 112 if you can.",
  "sos.failed": "SOS could not be sent",
  "sos.failed.text": "Call 112 now.",
  "alerts.title": "Alerts on this phone",
  "alerts.off": "Get an alert when the offender comes near or your SOS is answered, even with the app closed.",
  "alerts.on": "Alerts are on for this phone.",
  "alerts.blocked": "Notifications are blocked in this browser. Allow them in the browser's settings.",
  "alerts.failed": "Alerts could not be turned on. Try again in a moment.",
  "alerts.enable": "Turn alerts on",
  "alerts.disable": "Turn alerts off",
  "record.title": "My record (for a court)",
  "record.text": "Every approach and alert over a period, and what the control centre and police did. It holds nothing of his whereabouts.",
  "record.from": "From",
  "record.until": "Until",
  "record.format": "Format",
  "record.submit": "Download",
  "record.working": "Making it…",
  "record.done": "Downloaded. Its check number (SHA-256): {hash}",
  "record.bad": "Check the dates: {reason}",
  "record.slow": "Please try again in a moment ({n} s).",
  "record.failed": "The record could not be downloaded. Please try again later.",
  ok: "OK",
  seconds: "{n} s",
  minutes: "{n} min",
  N: "north", NNE: "north-northeast", NE: "northeast", ENE: "east-northeast", E: "east", ESE: "east-southeast",
  SE: "southeast", SSE: "south-southeast", S: "south", SSW: "south-southwest", SW: "southwest",
  WSW: "west-southwest", W: "west", WNW: "west-northwest", NW: "northwest", NNW: "north-northwest",
});

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function show(screen) {
  for (const id of ["loading", "login", "wrong-role", "main", "no-network"]) $(id).hidden = id !== screen;
}

function metres(m) {
  if (m < 1000) return `${Math.round(m / 10) * 10} m`;
  return `${(m / 1000).toFixed(1)} km`;
}


function clock(date) {
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

// ---- state --------------------------------------------------------------------------------------

let last = null; // the last status the server sent
let lastStatus = null;
let timer = null;
let running = false;
let here = null; // her browser position {lat, lon, accuracy_m, at}
let positionState = "waiting";
let watch = null;
let lastSent = 0;
let sendTimer = null;
let retryTimer = null;

// ---- discreet mode and the quick exit ------------------------------------------------------------

function discreet() {
  return localStorage.getItem(DISCREET_KEY) === "1";
}

function pageTitle() {
  document.title = discreet() ? t("discreet.title") : `Vigil · ${t("title")}`;
}

function applyDiscreet() {
  const on = discreet();
  wake.savePrefs({ discreet: on, language: language() }); // for the service worker's notifications
  document.documentElement.classList.toggle("discreet", on);
  $("discreet").setAttribute("aria-pressed", String(on));
  document.querySelector('meta[name="theme-color"]').content = on ? "#0e1114" : "#f5f6f8";
  pageTitle();
}

function toggleDiscreet() {
  if (discreet()) localStorage.removeItem(DISCREET_KEY);
  else localStorage.setItem(DISCREET_KEY, "1");
  applyDiscreet();
}

// A vibration, unless she asked for quiet (the colour and the words still say it).
function buzz(pattern) {
  if (discreet()) return;
  try {
    if (navigator.vibrate) navigator.vibrate(pattern);
  } catch {
    // not allowed here (no user gesture yet, or no vibrator)
  }
}

// Leave now: nothing is awaited. A password session is ended on the server by a request that
// outlives the page (keepalive); a pasted code is only forgotten here, as signing out does.
function quickExit() {
  stop();
  const bearer = token();
  if (bearer && hasSession()) {
    fetch("/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${bearer}` }, keepalive: true }).catch(() => {});
  }
  sessionStorage.clear();
  // without a network the notepad cannot load (it lies outside the app's offline shell): a blank page
  location.replace(navigator.onLine === false ? "about:blank" : EXIT_TO);
}

// ---- signing in ---------------------------------------------------------------------------------

async function signIn(loginMessage) {
  if (!token()) {
    showLogin(loginMessage);
    return;
  }
  try {
    const me = await api("GET", "/v1/me");
    if (me.role !== "protected_person" || !me.person_id) {
      stop();
      show("wrong-role");
      return;
    }
    start();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      setToken(null);
      showLogin(loginMessage || "login.invalid");
    } else if (!(error instanceof ApiError)) {
      // no network (the shell came from the worker's cache): say so, and try again
      show("no-network");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => signIn(loginMessage), RETRY_MS);
    } else {
      showLogin("login.failed");
    }
  }
}

const MESSAGES = ["login-error", "signin-error", "activate-error", "welcome"];
const FIELDS = ["activate-code", "activate-password", "activate-again", "signin-user", "signin-password"];

// A message in one of the MESSAGES boxes, kept as a key so a language switch translates it.
function say(box, key, vars = {}) {
  const el = $(box);
  el.dataset.key = key || "";
  el.dataset.vars = JSON.stringify(vars);
  el.textContent = key ? t(key, vars) : "";
  el.hidden = !key;
}

function retranslate() {
  for (const box of MESSAGES) {
    const el = $(box);
    if (el.dataset.key) el.textContent = t(el.dataset.key, JSON.parse(el.dataset.vars || "{}"));
  }
}

function clearMessages() {
  for (const box of MESSAGES) say(box, null);
  for (const id of FIELDS) $(id).removeAttribute("aria-invalid");
}

// A problem with one field: said in its form's box, the field marked and focused.
function fieldProblem(field, box, key, vars) {
  say(box, key, vars);
  $(field).setAttribute("aria-invalid", "true");
  $(field).focus();
}

// message: a string key; box: where it shows (the pasted code's box unless said otherwise)
function showLogin(message, box = "login-error") {
  stop();
  clearMessages();
  if (message) say(box, message);
  show("login");
}

function signOut() {
  stop();
  // Alerts for her account stop on this phone first (with her token), then the session ends; the
  // screen changes at once whatever the network does.
  const bearer = token();
  const leaving = Promise.race([wake.leave(bearer), new Promise((resolve) => setTimeout(resolve, 3000))]);
  const ending = leaving.then(() => logout()); // forgets the tokens; a session also ends on the server
  alertsState = "off";
  last = null;
  lastStatus = null;
  for (const id of ["login-token", ...FIELDS]) $(id).value = "";
  showLogin(null);
  ending.catch(() => {});
}

function lockedMinutes(error) {
  return Math.max(1, Math.ceil((error.retryAfter || 60) / 60));
}

// Her first time: the code from the agency and a password of her own.
async function onActivate(event) {
  event.preventDefault();
  clearMessages();
  const code = $("activate-code").value.trim().toUpperCase();
  const password = $("activate-password").value;
  if (!code) return fieldProblem("activate-code", "activate-error", "activate.no_code");
  if (password.length < MIN_PASSWORD) return fieldProblem("activate-password", "activate-error", "activate.short");
  if (password !== $("activate-again").value) return fieldProblem("activate-again", "activate-error", "activate.mismatch");
  const button = $("activate-submit");
  button.disabled = true;
  let session;
  try {
    session = await activate(code, password);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && "password" in error.fields()) {
      return fieldProblem("activate-password", "activate-error", "activate.short");
    }
    if (error instanceof ApiError && (error.status === 401 || error.status === 422)) {
      return fieldProblem("activate-code", "activate-error", "activate.invalid");
    }
    return say("activate-error", "login.failed");
  } finally {
    button.disabled = false;
  }
  for (const id of ["activate-code", "activate-password", "activate-again"]) $(id).value = "";
  await signIn(null);
  if (running) say("welcome", "welcome", { user: session.user });
}

// Signing in with her user id (pp-<her person id>, from the agency) and her password.
async function onSignIn(event) {
  event.preventDefault();
  clearMessages();
  const user = $("signin-user").value.trim();
  const password = $("signin-password").value;
  if (!user) return fieldProblem("signin-user", "signin-error", "signin.missing");
  if (!password) return fieldProblem("signin-password", "signin-error", "signin.missing");
  const button = $("signin-submit");
  button.disabled = true;
  try {
    await login(user, password);
  } catch (error) {
    if (error instanceof ApiError && error.status === 423) return say("signin-error", "signin.locked", { n: lockedMinutes(error) });
    if (error instanceof ApiError && (error.status === 401 || error.status === 422)) {
      return fieldProblem("signin-password", "signin-error", "signin.wrong");
    }
    return say("signin-error", "login.failed");
  } finally {
    button.disabled = false;
    $("signin-password").value = "";
  }
  await signIn(null);
}

// ---- the status ---------------------------------------------------------------------------------

function start() {
  clearTimeout(retryTimer);
  show("main");
  if (running) return;
  running = true;
  watchPosition();
  poll();
  checkAlerts();
}

function stop() {
  running = false;
  clearTimeout(timer);
  clearTimeout(sendTimer);
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  watch = null;
}

async function poll() {
  clearTimeout(timer);
  if (!running) return;
  try {
    const status = await api("GET", "/v1/me/status");
    if (!running) return;
    stale(false);
    last = status;
    render();
  } catch (error) {
    if (!running) return;
    if (error instanceof ApiError && error.status === 401) {
      setToken(null);
      showLogin("login.expired");
      return;
    }
    if (error instanceof ApiError && error.status === 403) {
      stop();
      show("wrong-role");
      return;
    }
    stale(true);
  }
  if (running) timer = setTimeout(poll, POLL_MS);
}

// The server out of reach: the notice, and what she saw of him greyed out (it is no longer live).
function stale(on) {
  $("offline").hidden = !on;
  $("main").classList.toggle("stale", on);
}

function render() {
  renderPosition();
  if (!last) return;
  showNotices($("account-notices"), last.notices); // what someone else did to her account
  const status = last.status;
  if (status === "danger" && lastStatus !== "danger") buzz([400, 150, 400, 150, 400]);
  lastStatus = status;
  $("status").dataset.status = status;
  $("status-title").textContent = t(`status.${status}`);
  const near = last.offenders.filter((o) => o.band === "near");
  const close = near.some((o) => o.danger);
  const warning = last.offenders.filter((o) => o.band === "warning");
  // Each thing is said once: where the radar or the band says where he is, the status does not
  // say it again; the SOS and 112 say themselves at the bottom, so the guidance does not.
  const shown = near.length > 0 || warning.length > 0;
  $("status-text").textContent = t(
    status === "danger" && !close ? "status.danger.open" : status === "nearby" && shown ? "status.nearby.watching" : `status.${status}.text`,
  );

  // within her view: the radar, from the distance and bearing the server sent
  const marks = $("offender-marks");
  marks.replaceChildren();
  $("near").hidden = near.length === 0;
  if (near.length) {
    const closest = near.reduce((a, b) => (b.distance_m < a.distance_m ? b : a));
    for (const o of near) drawOffender(marks, o);
    $("near-distance").textContent = t("near.distance", { distance: metres(closest.distance_m), compass: t(compass16(closest.bearing_deg)) });
    const detail = [];
    if (closest.heading_deg !== null && closest.heading_deg !== undefined && (closest.speed_mps ?? 1) > 0.3) {
      const back = (closest.bearing_deg + 180) % 360; // from him towards her
      const off = Math.abs((((closest.heading_deg - back) % 360) + 540) % 360 - 180);
      detail.push(off <= 45 ? t("near.toward") : t("near.heading", { compass: t(compass16(closest.heading_deg)) }));
    }
    if (closest.age_s >= 60) detail.push(t("near.stale", { age: ageText(closest.age_s) }));
    $("near-detail").textContent = detail.join(" · ");
  }

  // inside the warning distance but beyond her view: a band only
  $("band").hidden = warning.length === 0 || near.length > 0;
  if (warning.length) {
    const w = warning[0];
    $("band-text").textContent = t("band.text", { from: w.from_m, to: w.to_m });
  }

  const list = $("guidance");
  list.replaceChildren();
  const keys = status === "danger" ? [near.length ? "guide.danger.1" : "guide.danger.call", "guide.danger.2"]
    : near.length ? ["guide.near", "guide.nearby.1", "guide.nearby.3"]
      : status === "nearby" ? ["guide.nearby.1", "guide.nearby.2", "guide.nearby.3"]
        : ["guide.safe.1"];
  for (const key of keys) {
    const li = document.createElement("li");
    li.textContent = t(key);
    list.appendChild(li);
  }
  $("updated").textContent = t("updated", { time: clock(new Date(last.at)) });
}

function ageText(s) {
  return s < 120 ? t("seconds", { n: Math.round(s) }) : t("minutes", { n: Math.round(s / 60) });
}

// The radar's scale: the square root of the distance, so 50 m is not lost at her own dot and
// 600 m still fits (rings at 100, 300 and 600 m).
function radius(m) {
  return Math.sqrt(Math.min(Math.max(m, 0), VIEW_M) / VIEW_M) * 100;
}

function drawOffender(group, o) {
  const r = radius(o.distance_m);
  const rad = (o.bearing_deg * Math.PI) / 180;
  const x = Math.sin(rad) * r;
  const y = -Math.cos(rad) * r;
  const line = document.createElementNS(SVG, "line");
  line.setAttribute("class", "line");
  line.setAttribute("x1", "0");
  line.setAttribute("y1", "0");
  line.setAttribute("x2", x.toFixed(1));
  line.setAttribute("y2", y.toFixed(1));
  group.appendChild(line);
  if (o.heading_deg !== null && o.heading_deg !== undefined) {
    const arrow = document.createElementNS(SVG, "path");
    arrow.setAttribute("class", "offender-heading");
    arrow.setAttribute("d", "M0 -22 L7 -10 L-7 -10 Z");
    arrow.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)}) rotate(${Math.round(o.heading_deg)})`);
    group.appendChild(arrow);
  }
  const dot = document.createElementNS(SVG, "circle");
  dot.setAttribute("class", o.danger ? "offender danger" : "offender");
  dot.setAttribute("r", "8");
  dot.setAttribute("cx", x.toFixed(1));
  dot.setAttribute("cy", y.toFixed(1));
  group.appendChild(dot);
}

// ---- alerts on this phone (Web Push) --------------------------------------------------------------

let alertsState = "unsupported";
let alertsBusy = false;

function renderAlerts() {
  const box = $("alerts");
  box.hidden = alertsState === "unsupported";
  if (box.hidden) return;
  $("alerts-state").textContent = t(`alerts.${alertsState}`);
  const button = $("alerts-toggle");
  button.hidden = alertsState === "blocked";
  button.disabled = alertsBusy;
  button.textContent = t(alertsState === "on" ? "alerts.disable" : "alerts.enable");
  button.classList.toggle("primary", alertsState !== "on");
}

async function toggleAlerts() {
  if (alertsBusy) return;
  alertsBusy = true;
  renderAlerts();
  try {
    alertsState = alertsState === "on" ? await wake.disable() : await wake.enable();
  } catch {
    alertsState = "failed";
  } finally {
    alertsBusy = false;
    renderAlerts();
  }
}

async function checkAlerts() {
  alertsState = await wake.renew();
  renderAlerts();
}

// ---- her phone's position -----------------------------------------------------------------------

function watchPosition() {
  if (!("geolocation" in navigator)) {
    positionState = "unsupported";
    renderPosition();
    return;
  }
  watch = navigator.geolocation.watchPosition(
    (p) => {
      here = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.round(p.coords.accuracy), at: Date.now() };
      positionState = "on";
      renderPosition();
      sendPosition();
    },
    (error) => {
      if (error.code === error.PERMISSION_DENIED) {
        positionState = "off";
        here = null;
      }
      renderPosition();
    },
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 60000 },
  );
}

// At most one position every 10 s: the newest one, when the 10 s are up.
function sendPosition() {
  if (!here || !running || sendTimer) return;
  const wait = lastSent + POSITION_EVERY_MS - Date.now();
  if (wait > 0) {
    sendTimer = setTimeout(() => {
      sendTimer = null;
      sendPosition();
    }, wait);
    return;
  }
  lastSent = Date.now();
  const { lat, lon, accuracy_m } = here;
  api("POST", "/v1/me/position", { lat, lon, accuracy_m }).catch(() => {
    // the next position will try again; the status poll shows when the server is unreachable
  });
}

function renderPosition() {
  $("position-state").textContent = positionState === "on" ? t("position.on", { m: here ? here.accuracy_m : "?" }) : t(`position.${positionState}`);
}

// ---- SOS: hold for three seconds ----------------------------------------------------------------

let holdStart = null;
let holdFrame = null;
let sending = false;

function setProgress(fraction) {
  $("sos-progress").style.strokeDashoffset = String(100 - 100 * fraction);
}

function holdBegin(event) {
  if (event) event.preventDefault();
  if (holdStart !== null || sending) return;
  holdStart = performance.now();
  $("sos").classList.add("holding");
  $("sos-hint").classList.remove("cancelled");
  $("sos-hint").textContent = t("sos.holding");
  const tick = (now) => {
    if (holdStart === null) return;
    const fraction = Math.min(1, (now - holdStart) / HOLD_MS);
    setProgress(fraction);
    if (fraction >= 1) {
      holdStart = null;
      $("sos").classList.remove("holding");
      sendSos();
      return;
    }
    holdFrame = requestAnimationFrame(tick);
  };
  holdFrame = requestAnimationFrame(tick);
}

function holdEnd() {
  if (holdStart === null) return;
  holdStart = null;
  cancelAnimationFrame(holdFrame);
  $("sos").classList.remove("holding");
  setProgress(0);
  $("sos-hint").textContent = t("sos.cancelled");
  $("sos-hint").classList.add("cancelled");
}

async function sendSos() {
  sending = true;
  $("sos-hint").textContent = t("sos.sending");
  const body = {};
  if (here && Date.now() - here.at <= FRESH_MS) body.position = { lat: here.lat, lon: here.lon, accuracy_m: here.accuracy_m };
  try {
    await api("POST", "/v1/me/sos", body);
    $("sos-done").hidden = false;
    $("sos-ok").focus();
    buzz(200);
    poll();
  } catch {
    $("sos-failed").hidden = false;
  } finally {
    sending = false;
    setProgress(0);
    $("sos-hint").textContent = t("sos.hint");
  }
}

function wireSos() {
  const button = $("sos");
  button.addEventListener("pointerdown", (e) => {
    button.setPointerCapture?.(e.pointerId);
    holdBegin(e);
  });
  for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(name, holdEnd);
  button.addEventListener("contextmenu", (e) => e.preventDefault());
  // the keyboard: hold Space or Enter
  button.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && !e.repeat) holdBegin(e);
    else if (e.key === " " || e.key === "Enter") e.preventDefault();
  });
  button.addEventListener("keyup", (e) => {
    if (e.key === " " || e.key === "Enter") holdEnd();
  });
  button.addEventListener("blur", holdEnd);
  button.addEventListener("click", (e) => e.preventDefault());
  $("sos-ok").addEventListener("click", () => ($("sos-done").hidden = true));
  $("sos-failed-ok").addEventListener("click", () => ($("sos-failed").hidden = true));
}

// ---- her evidence pack ---------------------------------------------------------------------------

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function wireRecord() {
  const today = new Date();
  $("record-until").value = isoDay(today);
  $("record-from").value = isoDay(new Date(today.getTime() - 30 * 86400000));
  $("record-form").addEventListener("submit", downloadRecord);
}

// The pack is a file, not JSON to read here: fetched with her token and handed to the browser to save.
async function fetchRecord(url) {
  let response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
  if (response.status === 401 && hasSession() && (await refreshSession())) {
    response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
  }
  return response;
}

async function downloadRecord(event) {
  event.preventDefault();
  const error = $("record-error");
  const done = $("record-done");
  error.hidden = true;
  done.hidden = true;
  const from = $("record-from").value;
  const until = $("record-until").value;
  if (!from || !until) {
    error.textContent = t("record.bad", { reason: "-" });
    error.hidden = false;
    return;
  }
  // whole local days: from the first day's midnight to the midnight after the last
  const start = new Date(`${from}T00:00:00`);
  const end = new Date(new Date(`${until}T00:00:00`).getTime() + 86400000);
  const format = $("record-format").value;
  const query = new URLSearchParams({ from: start.toISOString(), until: end.toISOString(), format });
  const button = $("record-submit");
  button.disabled = true;
  button.textContent = t("record.working");
  try {
    const response = await fetchRecord(`/v1/me/evidence?${query}`);
    if (response.status === 422) {
      const detail = (await response.json()).detail;
      const reason = Array.isArray(detail) ? detail.map((d) => d.reason || d.msg).join("; ") : String(detail);
      error.textContent = t("record.bad", { reason });
      error.hidden = false;
      return;
    }
    if (response.status === 429) {
      error.textContent = t("record.slow", { n: response.headers.get("Retry-After") || "60" });
      error.hidden = false;
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `evidence-${from}-${until}.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    done.textContent = t("record.done", { hash: response.headers.get("X-Content-SHA256") || "-" });
    done.hidden = false;
  } catch {
    error.textContent = t("record.failed");
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = t("record.submit");
  }
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  const fromLink = new URLSearchParams(location.search).has("token");
  token(); // a ?token= link: into sessionStorage and out of the address bar
  let config = { language: null };
  try {
    config = await (await fetch("/v1/web/config", { cache: "no-store" })).json();
  } catch {
    // defaults
  }
  await initLanguage(config.language);
  languageSwitch($("langs"));
  translatePage();
  applyDiscreet();
  $("discreet").addEventListener("click", toggleDiscreet);
  $("exit").addEventListener("click", quickExit);
  $("retry").addEventListener("click", () => signIn(null));
  window.addEventListener("online", () => {
    if (!$("no-network").hidden) signIn(null);
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/victim/sw.js", { scope: "/victim/" }).catch(() => {
      // not installable here (an insecure origin): the app works as a plain page
    });
  }
  $("alerts-toggle").addEventListener("click", toggleAlerts);
  window.addEventListener("languagechange", () => {
    wake.savePrefs({ discreet: discreet(), language: language() });
    renderAlerts();
    pageTitle();
    retranslate();
    render();
  });
  wireSos();
  wireRecord();
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("login-token").value.trim();
    if (!value) return;
    setToken(value);
    $("login-token").value = "";
    signIn("login.invalid");
  });
  $("activate-form").addEventListener("submit", onActivate);
  $("signin-form").addEventListener("submit", onSignIn);
  for (const b of document.querySelectorAll(".signout")) b.addEventListener("click", signOut);
  // her session could not be renewed (it ended, or was ended by the agency): sign in again
  window.addEventListener("vigil:signedout", () => {
    last = null;
    lastStatus = null;
    showLogin("signin.expired", "signin-error");
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && running) poll();
  });
  await signIn(fromLink ? "login.invalid" : null);
}

main();
