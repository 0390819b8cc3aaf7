// The shared picture: the live map, the queue of incidents (the alerts of one danger, grouped under
// the number read over the radio), one incident's or one alert's detail, and the live figures.
/* global L */
import { api, stream, ApiError } from "/web/common/api.js";
import { t, language } from "/web/common/i18n.js";
import { addOverlay, makeMap, rings, compass, municipalities } from "/web/common/map.js";
import { esc, clock, dateTime, duration, metres, el } from "./util.js";
import qrcode from "/web/vendor/qrcode-generator/qrcode.mjs";
import { colour } from "/web/common/palette.js";
import { Alarm } from "./alarm.js";
import { profilePanel } from "./profile.js";
import { Playback, incidentRanges, personRanges } from "./playback.js";

const SEVERITY = { critical: 0, high: 1, medium: 2, low: 3 };
const TERMINAL = new Set(["resolved", "false_alarm"]);
const STATUS_OF_KIND = {
  proximity_violation: "violation", zone_violation: "violation", sos: "violation",
  tamper: "tamper", power_off: "tamper", signal_loss: "silent", proximity_warning: "warning",
};
const RANK = { ok: 0, warning: 1, silent: 2, tamper: 3, violation: 4 };
const PROGRESS = ["open", "acknowledged", "dispatched", "on_scene"];
const STEPS = ["acknowledged", "dispatched", "on_scene", "resolved", "false_alarm"];
const STATS_EVERY_MS = 5000;
const CLOSING = new Set(["resolved", "false_alarm"]);
const CLAIMS_EVERY_MS = 15000; // claims are not on the stream: the open incidents are re-read this often
const KINDS = ["proximity_violation", "proximity_warning", "zone_violation", "sos", "tamper", "power_off", "signal_loss",
  "location_loss", "battery_low", "device_conflict", "position_doubt"];
const FILTER_WAIT_MS = 250; // the search is sent once the typing pauses
// The queue's keyboard: what each key does (shown by "?"), in the order the help lists them.
const KEYS = [["n", "keys.next"], ["j / k", "keys.move"], ["o / Enter", "keys.open"], ["a", "keys.ack"], ["/", "keys.search"], ["Esc", "keys.back"], ["?", "keys.help"]];

// Whether a key press belongs to what is being typed (a search, a note): shortcuts stay out of it.
export function typing(target) {
  return Boolean(target && target.closest && target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
}

// When an alert was last raised (opened, or escalated from a warning): its age in the queue and its
// place there count from here, not from the first warning.
export function raisedAt(alert) {
  return alert.escalated_at || alert.opened_at;
}

// Closing a critical alert asks for a note and a confirmation (the server refuses it without a note).
export function guarded(alert, step) {
  return CLOSING.has(step) && alert.severity === "critical";
}

// A timeline with each run of the system's own updates (a new distance every few seconds) folded
// into one entry {folded: [changes]}, so the steps people took stand out.
export function foldTimeline(changes) {
  const out = [];
  for (const c of changes) {
    const routine = c.change === "updated" && (!c.actor || c.actor === "vigil");
    const last = out.at(-1);
    if (routine && last && last.folded) last.folded.push(c);
    else if (routine && last && last.change === "updated" && (!last.actor || last.actor === "vigil")) out[out.length - 1] = { folded: [last, c] };
    else out.push(c);
  }
  return out;
}

// The worst status among a cluster's markers: the cluster wears its colour, not a count's.
export function clusterIcon(cluster) {
  let worst = "ok";
  for (const marker of cluster.getAllChildMarkers()) {
    const status = marker.options.status || "ok";
    if (RANK[status] > RANK[worst]) worst = status;
  }
  const n = cluster.getChildCount();
  const size = n < 10 ? 30 : n < 100 ? 36 : 42;
  return L.divIcon({
    className: "cluster",
    iconSize: [size, size],
    html: `<div class="cluster-dot" data-testid="cluster" data-state="${worst}" title="${esc(t(`status.${worst}`))}"><span>${n}</span></div>`,
  });
}

// The steps an alert in `state` may still take (forward only; resolve or false alarm at any time).
export function nextSteps(state) {
  if (TERMINAL.has(state)) return [];
  const at = PROGRESS.indexOf(state);
  return STEPS.filter((s) => TERMINAL.has(s) || PROGRESS.indexOf(s) > at);
}

function alarming(alert) {
  return STATUS_OF_KIND[alert.kind] === "violation" || alert.severity === "critical";
}

export class Monitor {
  // onForbidden: the role may not watch at all; onPurpose: the server wants a stated purpose first;
  // canMove: whether the user may take an alert's steps (field officers report from their terminal);
  // registry: whether it may read orders and subjects (the lines between pairs, rings, zones);
  // canAssign: whether it may send field units to an incident and hand them live-track links;
  // canCommand: whether it may command his monitor (a fix now, vibrate or sound it);
  // canStats: whether it may read the live figures over everything monitored (operators): others are
  // never asked for them, and see the open alerts of their own scope instead.
  // canClaim: whether it may claim incidents (say "I am working this one"), take them over, release
  // them; me: the signed-in user's id (whose claim is "mine").
  // onReport(incident id): show an incident's printable report.
  constructor(root, config, { onForbidden, onPurpose = () => {}, canMove = true, registry = true, canAssign = false, canCommand = false, canStats = false, canClaim = false, me = null, onReport = null, seesVictims = true }) {
    this.root = root;
    this.config = config;
    this.onForbidden = onForbidden;
    this.onPurpose = onPurpose;
    this.canMove = canMove;
    this.registry = registry;
    this.canAssign = canAssign;
    this.canCommand = canCommand;
    this.canStats = canStats;
    this.canClaim = canClaim;
    this.me = me;
    this.takingOver = null; // the incident whose take-over waits for its confirmation
    this.confirming = new Map(); // alert id -> the closing step waiting for its confirmation
    this.lastHeard = null; // when the server was last heard over the stream (ms)
    this.down = false; // the stream is down: the page says so loudly and the map is greyed
    // The link last issued here, {alert, holder, url}: the server shows a link's URL only when it
    // issues it, so it stays on screen (to copy, or read out) until the detail is closed.
    this.issued = null;
    this.people = new Map(); // person -> {feature, marker, status, layer}
    this.alerts = new Map(); // open alerts by id
    this.hearing = new Set(); // alert changes heard while a snapshot loads (see load())
    this.items = new Map(); // queue <li> by alert id
    this.incidents = new Map(); // open incidents by id, as /v1/incidents gives them
    this.groups = new Map(); // queue <li> by incident id (or "alert:<id>" for an alert with none)
    this.pairs = new Map(); // subject -> Set(protected person) under an active order
    this.lines = new Map(); // "subject|person" -> polyline
    this.notes = new Map(); // alert id -> note being typed
    this.names = new Map();
    this.selected = null;
    this.detailId = null;
    this.started = false;
    this.flashing = null;
    this.alarm = null; // the sound (alarm.js): built with the panels
    this.orders = new Map();
    this.profileBox = null; // the subject's profile panel in the open detail (read once per opening)
    this.onReport = onReport;
    this.seesVictims = seesVictims; // whether it may read protected persons' tracks (not probation officers)
    // The queue's search and filters, sent to the server (GET /v1/incidents); while any is set the
    // queue holds the incidents it answered (closed ones too with "closed" or "all").
    this.filter = { q: "", kind: "", area: "", state: "open" };
    this.filtered = null; // incident id -> incident, the server's answer to the filter
    this.filterError = null;
    this.cursor = null; // the queue entry the keyboard is on (its group key)
  }

  filtering() {
    const f = this.filter;
    return Boolean(f.q.trim() || f.kind || f.area || f.state !== "open");
  }

  // The profile of the detail's subject, for roles that read the registry: read once while the
  // detail stays on him (each read is audited), not at every change of the alert.
  profileFor(subject, open = true) {
    // Only while it is live: the police are sent to open ones (and a dispatcher sees him only then).
    if (!subject || !this.registry || !open) return document.createComment("no profile");
    if (!this.profileBox || this.profileBox.dataset.subject !== subject) this.profileBox = profilePanel(subject);
    return this.profileBox;
  }

  async start() {
    if (this.running) {
      this.map.invalidateSize();
      return;
    }
    // one start at a time: a second click meanwhile must not open a second stream
    if (!this.starting) this.starting = this.connect().finally(() => { this.starting = null; });
    await this.starting;
  }

  async connect() {
    if (!this.started) await this.build();
    else this.map.invalidateSize();
    try {
      await this.load(true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) return this.onForbidden();
      if (error instanceof ApiError && error.wantsPurpose()) return this.needPurpose();
      throw error;
    }
    this.running = true;
    this.stopped = false;
    this.socket = stream({}, (m) => this.onMessage(m), (s, opened) => this.onState(s, opened));
    this.poll();
    if (this.canStats) this.statsTimer = setInterval(() => this.poll(), STATS_EVERY_MS);
    this.alarm.start();
    this.alarm.sync(this.alerts.values());
    this.tick = setInterval(() => {
      this.ages();
      this.renderOutage();
    }, 1000);
    this.claimsTimer = setInterval(() => {
      if (this.down) return;
      this.reloadIncidents();
      if (this.incidentId) this.refreshIncident();
    }, CLAIMS_EVERY_MS);
  }

  // The map, its layers and the panels, once; connect() (again after a refusal) loads and follows.
  async build() {
    this.started = true;
    const mapEl = this.root.querySelector("#map");
    this.map = await makeMap(mapEl, { center: [37.56, 126.98], zoom: 11, config: this.config });
    this.cluster = L.markerClusterGroup({ maxClusterRadius: 45, disableClusteringAtZoom: 15, chunkedLoading: true, showCoverageOnHover: false, animate: false, iconCreateFunction: clusterIcon });
    this.urgent = L.layerGroup(); // people with an alert, and the selected: never hidden in a cluster
    this.lineLayer = L.layerGroup();
    this.selectionLayer = L.layerGroup();
    this.zoneLayer = L.layerGroup(); // the selected subject's zones: an overlay of the layer switcher
    this.detailLayer = L.layerGroup();
    for (const layer of [this.lineLayer, this.zoneLayer, this.selectionLayer, this.detailLayer, this.cluster, this.urgent]) layer.addTo(this.map);
    addOverlay(this.map, "map.zones", this.zoneLayer);

    this.queueEl = this.root.querySelector("[data-testid=queue]");
    this.detailEl = this.root.querySelector("[data-testid=alert-detail]");
    this.queuePanel = this.root.querySelector("[data-testid=queue-panel]");
    this.statsEl = this.root.querySelector("[data-testid=stats]");
    this.statsEl.hidden = true; // until there are figures: not every role may have them
    this.selectionEl = this.root.querySelector("[data-testid=selection]");
    this.mapEl = mapEl;
    // Over the map while the stream is down: nothing on this screen is live then.
    // Its title is announced once when it appears (role=alert); the second-by-second age is not.
    this.outageEl = el(`<div class="outage" data-testid="outage" hidden><b role="alert"></b><span class="hint"></span>
      <span class="since" data-testid="outage-since"></span></div>`);
    mapEl.parentElement.appendChild(this.outageEl);
    this.legend();
    this.playbackEl = el(`<div class="playback panel" data-testid="playback" hidden></div>`);
    mapEl.parentElement.appendChild(this.playbackEl);
    this.playback = new Playback(this.map, this.playbackEl, this.config.timezone || null);
    this.filtersEl = this.root.querySelector("[data-testid=queue-filters]");
    this.renderFilters();
    this.helpEl = el(`<div class="keys-help panel" role="dialog" aria-labelledby="keys-help-title" data-testid="shortcut-help" hidden></div>`);
    this.root.querySelector(".side").appendChild(this.helpEl);
    this.root.querySelector("[data-testid=shortcuts-button]").addEventListener("click", () => this.toggleHelp());
    document.addEventListener("keydown", (event) => this.onKey(event));

    // The alarm repeats only for those who can acknowledge; one who cannot hears each raise once.
    this.alarm = new Alarm(document.querySelector("[data-testid=alarm]"), { repeat: this.canMove });
    window.addEventListener("languagechange", () => this.relabel());
    window.addEventListener("focus", () => this.updateFlash());
  }

  stop() {
    this.stopped = true; // the closing socket's last word is not an outage
    if (this.socket) this.socket.close();
    clearInterval(this.statsTimer);
    clearInterval(this.tick);
    clearInterval(this.claimsTimer);
    this.stopFlash();
    if (this.alarm) this.alarm.stop();
    this.down = false;
    if (this.outageEl) this.renderOutage();
  }

  // The stated purpose changed: follow the stream under the new one (the reconnection catches up).
  restream() {
    if (this.socket) this.socket.reconnect();
  }

  // The server wants a stated purpose: stop following (no retries while the user is asked), and let
  // the page ask; start() follows again once one is stated.
  needPurpose() {
    this.stop();
    this.socket = null;
    this.running = false;
    this.onPurpose();
  }

  // --- loading and the stream --------------------------------------------------------------------

  async load(first = false) {
    // What the stream says while the snapshot is on its way is newer than the snapshot may be: an
    // alert raised (or closed) after the server read it would otherwise be dropped (or brought back)
    // when the snapshot lands (seen under load in the browser tests).
    const heard = new Map();
    this.hearing.add(heard);
    let positions, alerts, orders, incidents;
    try {
      [positions, alerts, orders, incidents] = await Promise.all([
        api("GET", "/v1/positions"),
        api("GET", "/v1/alerts?open_only=true"),
        this.registry ? api("GET", "/v1/orders").catch(() => []) : [],
        api("GET", "/v1/incidents?state=open").catch(() => []),
      ]);
    } finally {
      this.hearing.delete(heard);
    }
    this.incidents = new Map(incidents.map((i) => [i.id, i]));
    this.pairs.clear();
    for (const o of orders) {
      this.orders.set(o.id, o);
      if (!this.pairs.has(o.subject_id)) this.pairs.set(o.subject_id, new Set());
      this.pairs.get(o.subject_id).add(o.protected_person_id);
    }
    const fresh = new Map(alerts.map((a) => [a.id, a]));
    for (const [id, known] of this.alerts) {
      const now = fresh.get(id);
      if (now && known.updated_at > now.updated_at) fresh.set(id, known);
    }
    for (const [id, latest] of heard) {
      const snap = fresh.get(id);
      if (snap && snap.updated_at > latest.updated_at) continue;
      if (TERMINAL.has(latest.state)) fresh.delete(id);
      else fresh.set(id, latest);
    }
    this.alerts = fresh;
    for (const f of positions.features) this.position(f, false);
    if (first && positions.features.length) {
      const bounds = L.latLngBounds(positions.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]));
      this.map.fitBounds(bounds.pad(0.2), { maxZoom: 14, animate: false });
    }
    this.restyleAll();
    this.renderQueue();
    if (this.running) this.alarm.sync(this.alerts.values());
    if (!this.canStats) this.renderStats();
    return positions.features;
  }

  onState(state, opened = true) {
    if (this.stopped) return;
    if (state === "purpose") return this.needPurpose();
    // A refusal at the handshake reaches the browser without its reason: the REST calls say why.
    if (state === "offline" && !opened && this.running) {
      this.load().catch((error) => {
        if (error instanceof ApiError && error.wantsPurpose() && this.running) this.needPurpose();
      });
    }
    if (state === "live") {
      this.lastHeard = Date.now();
      this.down = false;
    } else if (state === "offline" && this.running) {
      this.down = true;
    }
    this.renderOutage();
    // Once the stream is live, catch up on what happened before it was: while the socket was down,
    // and on the first connection, between the first load and the server's hello (an alert raised
    // then would otherwise never reach this screen: seen once under load in the browser tests).
    if (state === "live") this.load().catch(() => {});
  }

  // The stream's state wherever it matters: the header; and while it is down a banner over the map, the
  // map greyed and the figures marked stale, each saying how long ago the server was last heard.
  renderOutage() {
    const live = document.querySelector("[data-testid=live]");
    const state = this.down ? "offline" : this.lastHeard ? "live" : null;
    this.outageEl.hidden = !this.down;
    this.mapEl.classList.toggle("stale", this.down);
    this.statsEl.classList.toggle("stale", this.down);
    if (!state) return;
    const ago = this.lastHeard === null ? null : duration((Date.now() - this.lastHeard) / 1000);
    const since = ago === null ? t("outage.never") : t("outage.last", { t: ago });
    live.hidden = false;
    live.dataset.state = state;
    live.textContent = this.down ? `${t("live.offline")} · ${since}` : t("live.live");
    if (this.down) {
      const [title, hint, age] = this.outageEl.children;
      if (title.textContent !== t("outage.title")) title.textContent = t("outage.title");
      hint.textContent = t("outage.hint");
      age.textContent = since;
    } else {
      this.outageEl.firstElementChild.textContent = ""; // the next outage is announced again
    }
  }

  onMessage(message) {
    this.lastHeard = Date.now();
    if (message.type === "position") this.position(message.feature, true);
    // the whole map's positions come batched (at most a few times a second, the newest per person)
    else if (message.type === "positions") for (const feature of message.features) this.position(feature, true);
    else if (message.type === "alert") this.alertChange(message);
  }

  // --- positions and markers ---------------------------------------------------------------------

  position(feature, live) {
    const p = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    let person = this.people.get(p.person);
    if (person && person.feature.properties.time > p.time) return;
    if (!person) {
      person = { id: p.person, kind: p.person_kind || "subject", status: null, layer: null };
      person.marker = L.marker([lat, lon], { keyboard: false, riseOnHover: true });
      person.marker.on("click", () => this.select(person.id));
      this.people.set(p.person, person);
    } else {
      person.marker.setLatLng([lat, lon]);
    }
    if (p.person_kind) person.kind = p.person_kind;
    person.feature = feature;
    if (live) {
      this.restyle(person.id);
      this.redrawLines(person.id);
      if (this.selected === person.id && this.track) this.track.addLatLng([lat, lon]);
      if (this.detailId && this.detailParties && this.detailParties.includes(person.id)) this.drawDetailMap();
    }
  }

  statusOf(id) {
    let best = "ok";
    for (const a of this.alerts.values()) {
      if (TERMINAL.has(a.state)) continue;
      const concerned = a.subject === id || (a.protected_person === id && !a.subject);
      const status = concerned ? STATUS_OF_KIND[a.kind] : null;
      if (status && RANK[status] > RANK[best]) best = status;
    }
    return best;
  }

  involved(id) {
    if (this.selected === id || (this.detailParties && this.detailParties.includes(id))) return true;
    for (const a of this.alerts.values()) if (a.subject === id || a.protected_person === id) return true;
    return false;
  }

  restyle(id) {
    const person = this.people.get(id);
    if (!person) return;
    const status = this.statusOf(id);
    const selected = this.selected === id;
    const pursuit = Boolean(person.feature && person.feature.properties.pursuit);
    const key = `${status}|${selected}|${person.kind}|${pursuit}`;
    if (person.style !== key) {
      person.style = key;
      person.status = status;
      const protectedClass = person.kind === "protected_person" ? " protected" : "";
      person.marker.setIcon(L.divIcon({
        className: "marker",
        iconSize: [18, 18],
        iconAnchor: [9, 9],
        html: `<div class="pin${protectedClass}${selected ? " selected" : ""}${pursuit ? " pursuit" : ""}" data-testid="marker-${esc(id)}" data-state="${status}" data-kind="${esc(person.kind)}" data-pursuit="${pursuit}"></div><div class="pin-label">${esc(id)}${pursuit ? ` · ${esc(t("devices.pursuit_short"))}` : ""}</div>`,
      }));
      person.marker.options.status = status; // a cluster wears the worst of its markers' colours
      person.marker.setZIndexOffset(RANK[status] * 1000 + (selected ? 5000 : 0));
      if (person.layer === this.cluster) this.cluster.refreshClusters(person.marker);
      person.marker.options.title = `${id} · ${t(`status.${status}`)}${pursuit ? ` · ${t("devices.pursuit")}` : ""}`;
    }
    const layer = this.involved(id) || status !== "ok" ? this.urgent : this.cluster;
    if (person.layer !== layer) {
      if (person.layer) person.layer.removeLayer(person.marker);
      layer.addLayer(person.marker);
      person.layer = layer;
    }
  }

  restyleAll() {
    for (const id of this.people.keys()) this.restyle(id);
    for (const id of this.people.keys()) this.redrawLines(id);
  }

  // A line between a subject and each protected person an active order links him to.
  redrawLines(id) {
    const touched = [];
    if (this.pairs.has(id)) for (const p of this.pairs.get(id)) touched.push([id, p]);
    for (const [s, ps] of this.pairs) if (ps.has(id)) touched.push([s, id]);
    for (const [s, p] of touched) {
      const a = this.people.get(s), b = this.people.get(p);
      const key = `${s}|${p}`;
      if (!a || !b) continue;
      const latlngs = [a.marker.getLatLng(), b.marker.getLatLng()];
      const status = a.status || "ok";
      const color = getComputedStyle(document.documentElement).getPropertyValue(`--${status}`).trim() || "#2e7d4f";
      const line = this.lines.get(key);
      if (line) {
        line.setLatLngs(latlngs);
        line.setStyle({ color });
      } else {
        this.lines.set(key, L.polyline(latlngs, { color, weight: 2, dashArray: "5 5", opacity: 0.8, interactive: false }).addTo(this.lineLayer));
      }
    }
  }

  legend() {
    const box = this.root.querySelector("[data-testid=legend]");
    const dots = ["ok", "warning", "violation", "tamper", "silent"]
      .map((s) => `<span><i class="dot" style="background:var(--${s})"></i>${esc(t(`status.${s}`))}</span>`).join("");
    box.innerHTML = `${dots}<span><i class="dot sq" style="background:var(--protected)"></i>${esc(t("legend.protected"))}</span>`;
  }

  // --- the selected subject: his track and zones ---------------------------------------------------

  async select(id) {
    const previous = this.selected;
    this.selected = id;
    if (previous) this.restyle(previous);
    this.restyle(id);
    this.selectionLayer.clearLayers();
    this.zoneLayer.clearLayers();
    this.track = null;
    this.renderSelection();
    const person = this.people.get(id);
    // the server's default window is the live last 30 minutes: older history needs a stated purpose
    const [track, record] = await Promise.all([
      api("GET", `/v1/people/${encodeURIComponent(id)}/track`).catch(() => null),
      this.registry && person && person.kind === "subject" ? api("GET", `/v1/subjects/${encodeURIComponent(id)}`).catch(() => null) : null,
    ]);
    if (this.selected !== id) return;
    if (track) {
      const points = track.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
      this.track = L.polyline(points, { color: "#1d2733", weight: 3, opacity: 0.75 }).addTo(this.selectionLayer);
      for (const pt of points) L.circleMarker(pt, { radius: 2, color: "#1d2733", weight: 1, fillOpacity: 1, interactive: false }).addTo(this.selectionLayer);
    }
    if (record) {
      this.names.set(id, record.name);
      for (const zone of record.zones || []) drawZone(zone).addTo(this.zoneLayer);
      this.renderSelection();
    }
    // A view on him, his last half hour, his zones and the people an order protects from him.
    if (!this.detailId) {
      const bounds = L.latLngBounds([]);
      for (const layer of [...this.selectionLayer.getLayers(), ...this.zoneLayer.getLayers()]) bounds.extend(layer.getBounds ? layer.getBounds() : layer.getLatLng());
      for (const other of [id, ...(this.pairs.get(id) || [])]) if (this.people.has(other)) bounds.extend(this.people.get(other).marker.getLatLng());
      if (bounds.isValid()) this.map.fitBounds(bounds.pad(0.3), { maxZoom: 17, animate: false });
    }
  }

  clearSelection() {
    const previous = this.selected;
    this.selected = null;
    this.track = null;
    this.selectionLayer.clearLayers();
    this.zoneLayer.clearLayers();
    if (previous) this.restyle(previous);
    this.renderSelection();
  }

  renderSelection() {
    const box = this.selectionEl;
    if (!this.selected) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const name = this.names.get(this.selected);
    box.innerHTML = `<span data-testid="selected">${esc(t("map.selected", { id: this.selected }))}${name ? ` · ${esc(name)}` : ""}</span>
      <button type="button" data-testid="selection-playback">${esc(t("playback.open"))}</button>
      <button type="button" data-testid="clear-selection">${esc(t("map.clear"))}</button>`;
    box.querySelector("[data-testid=clear-selection]").addEventListener("click", () => this.clearSelection());
    const chosen = this.selected;
    box.querySelector("[data-testid=selection-playback]").addEventListener("click", () => this.playPerson(chosen));
  }

  // --- alerts: the queue -------------------------------------------------------------------------

  alertChange(message) {
    const alert = message.alert;
    for (const heard of this.hearing) {
      const before = heard.get(alert.id);
      if (!before || before.updated_at <= alert.updated_at) heard.set(alert.id, alert);
    }
    const known = this.alerts.get(alert.id);
    if (known && known.updated_at > alert.updated_at) return;
    if (TERMINAL.has(alert.state)) this.alerts.delete(alert.id);
    else this.alerts.set(alert.id, alert);
    if ((message.change === "opened" || message.change === "escalated") && !TERMINAL.has(alert.state)) {
      this.alarm.raised(alert);
      if (alarming(alert)) this.fresh = alert.id;
    }
    this.alarm.sync(this.alerts.values());
    for (const id of [alert.subject, alert.protected_person]) if (id) this.restyle(id);
    for (const id of [alert.subject, alert.protected_person]) if (id) this.redrawLines(id);
    // A new incident, or a change of its rank or end: its number and latest escalation are the server's.
    if (alert.incident && (!this.incidents.has(alert.incident) || message.change !== "updated")) this.reloadIncidents();
    this.renderQueue();
    this.updateFlash();
    if (this.detailId === alert.id) this.refreshDetail();
    if (this.incidentId && this.incidentId === alert.incident) this.refreshIncident();
    // The figures follow alert changes promptly, besides the regular poll.
    clearTimeout(this.soonPoll);
    if (!this.canStats) this.renderStats();
    else if (!this.noStats) this.soonPoll = setTimeout(() => this.poll(), 400);
  }

  // The gravest first, then the latest raised on top (a warning that became a violation a minute ago
  // is a minute old, however early its first warning).
  sorted() {
    return [...this.alerts.values()].sort((a, b) =>
      (SEVERITY[a.severity] ?? 9) - (SEVERITY[b.severity] ?? 9) || raisedAt(b).localeCompare(raisedAt(a)) || a.id.localeCompare(b.id));
  }

  // --- the queue's search and filters ---------------------------------------------------------------

  renderFilters() {
    const f = this.filter;
    const option = (value, label, chosen) => `<option value="${esc(value)}"${value === chosen ? " selected" : ""}>${esc(label)}</option>`;
    const kinds = KINDS.map((k) => option(k, t(`kind.${k}`), f.kind)).join("");
    const english = language() === "en";
    const areas = municipalities().map((m) => ({ code: m.code, name: english ? m.name_eng : m.name }))
      .sort((a, b) => a.name.localeCompare(b.name)).map((m) => option(m.code, m.name, f.area)).join("");
    const states = ["open", "closed", "all"].map((x) => option(x, t(`filter.state.${x}`), f.state)).join("");
    this.filtersEl.innerHTML = `<input type="search" maxlength="100" data-testid="queue-search" aria-label="${esc(t("filter.search"))}" placeholder="${esc(t("filter.search_hint"))}">
      <select data-testid="queue-kind" aria-label="${esc(t("filter.kind"))}">${option("", t("filter.kind_all"), f.kind)}${kinds}</select>
      <select data-testid="queue-area" aria-label="${esc(t("filter.area"))}">${option("", t("filter.area_all"), f.area)}${areas}</select>
      <select data-testid="queue-state" aria-label="${esc(t("filter.state"))}">${states}</select>
      <button type="button" class="link" data-testid="queue-filter-clear"${this.filtering() ? "" : " hidden"}>${esc(t("filter.clear"))}</button>
      <p class="error small" data-testid="queue-filter-error" role="alert"${this.filterError ? "" : " hidden"}>${esc(this.filterError || "")}</p>`;
    const search = this.filtersEl.querySelector("[data-testid=queue-search]");
    search.value = f.q;
    search.addEventListener("input", () => this.setFilter({ q: search.value }, FILTER_WAIT_MS));
    search.addEventListener("keydown", (event) => {
      if (event.key === "Escape") search.blur();
      if (event.key === "Enter") this.setFilter({ q: search.value }, 0);
    });
    for (const [name, testid] of [["kind", "queue-kind"], ["area", "queue-area"], ["state", "queue-state"]]) {
      this.filtersEl.querySelector(`[data-testid=${testid}]`).addEventListener("change", (event) => this.setFilter({ [name]: event.target.value }, 0));
    }
    this.filtersEl.querySelector("[data-testid=queue-filter-clear]").addEventListener("click", () => {
      this.filter = { q: "", kind: "", area: "", state: "open" };
      this.renderFilters();
      this.setFilter({}, 0);
    });
  }

  setFilter(change, wait) {
    Object.assign(this.filter, change);
    clearTimeout(this.filterTimer);
    this.filtersEl.querySelector("[data-testid=queue-filter-clear]").hidden = !this.filtering();
    this.filterTimer = setTimeout(() => this.loadFiltered(), wait);
  }

  // The server's answer to the filter (every term must match, inside the user's scope); a refused
  // value is said under the filters, in the UI's language where the code is known.
  async loadFiltered() {
    if (!this.filtering()) {
      this.filtered = null;
      this.filterError = null;
      this.showFilterError();
      return this.renderQueue();
    }
    const f = this.filter;
    const params = new URLSearchParams({ state: f.state, limit: "200" });
    if (f.q.trim()) params.set("q", f.q.trim());
    if (f.kind) params.set("kind", f.kind);
    if (f.area) params.set("area", f.area);
    const asked = params.toString();
    this.filterAsked = asked;
    try {
      const incidents = await api("GET", `/v1/incidents?${asked}`);
      if (this.filterAsked !== asked) return;
      this.filtered = new Map(incidents.map((i) => [i.id, i]));
      this.filterError = null;
    } catch (e) {
      if (this.filterAsked !== asked) return;
      // each refused value in the UI's language where its code is known (err.<field>.<code>, err.<code>)
      const problems = e instanceof ApiError && Array.isArray(e.detail) ? e.detail : [];
      const said = problems.map((p) => {
        const field = String(p.field || "").replace(/^query\./, "");
        const known = [`err.${field}.${p.code}`, `err.${p.code}`].find((key) => p.code && t(key) !== key);
        return `${t(`filter.field.${field}`)}: ${known ? t(known) : p.reason}`;
      });
      this.filterError = t("filter.refused", { detail: said.length ? said.join("; ") : e.message });
    }
    this.showFilterError();
    this.renderQueue();
  }

  showFilterError() {
    const box = this.filtersEl.querySelector("[data-testid=queue-filter-error]");
    box.hidden = !this.filterError;
    box.textContent = this.filterError || "";
  }

  // The open incidents (re)read from the server, at most once at a time; the queue is redrawn after.
  reloadIncidents() {
    if (this.filtering()) this.loadFiltered();
    if (this.incidentsLoading) {
      this.incidentsAgain = true;
      return;
    }
    this.incidentsLoading = api("GET", "/v1/incidents?state=open")
      .then((incidents) => {
        this.incidents = new Map(incidents.map((i) => [i.id, i]));
        this.renderQueue();
      })
      .catch(() => {})
      .finally(() => {
        this.incidentsLoading = null;
        if (this.incidentsAgain) {
          this.incidentsAgain = false;
          this.reloadIncidents();
        }
      });
  }

  // The queue's entries: one per incident (an alert from before incidents is an entry of its own),
  // the gravest first, then the latest escalation (not the first warning) on top.
  // While filtered: only the incidents the server answered, with the live alerts of the open ones
  // (steps taken here show at once) and the server's alerts of the rest (closed ones).
  grouped() {
    const groups = new Map();
    const only = this.filtering() ? this.filtered || new Map() : null;
    for (const alert of this.sorted()) {
      const key = alert.incident || `alert:${alert.id}`;
      if (only && !only.has(key)) continue;
      const record = alert.incident ? (only && only.get(alert.incident)) || this.incidents.get(alert.incident) || null : null;
      if (!groups.has(key)) groups.set(key, { key, incident: record, alerts: [] });
      groups.get(key).alerts.push(alert);
    }
    if (only) {
      for (const incident of only.values()) {
        if (groups.has(incident.id) || !incident.alerts.length) continue;
        const alerts = [...incident.alerts].sort((a, b) => (SEVERITY[a.severity] ?? 9) - (SEVERITY[b.severity] ?? 9) || raisedAt(b).localeCompare(raisedAt(a)));
        groups.set(incident.id, { key: incident.id, incident, alerts });
      }
    }
    for (const g of groups.values()) {
      g.severity = Math.min(...g.alerts.map((a) => SEVERITY[a.severity] ?? 9));
      // until the server's record arrives, the latest raise of its alerts stands in for it
      g.escalated = (g.incident && g.incident.escalated_at) || g.alerts.map(raisedAt).sort().at(-1);
    }
    return [...groups.values()].sort((a, b) => a.severity - b.severity || b.escalated.localeCompare(a.escalated) || a.key.localeCompare(b.key));
  }

  renderQueue() {
    const groups = this.grouped();
    const alerts = groups.flatMap((g) => g.alerts);
    this.root.querySelector("[data-testid=queue-count]").textContent = groups.length ? `(${groups.length})` : "";
    const keep = new Set(alerts.map((a) => a.id));
    for (const [id, li] of this.items) if (!keep.has(id)) { li.remove(); this.items.delete(id); }
    const keepGroups = new Set(groups.map((g) => g.key));
    for (const [key, li] of this.groups) if (!keepGroups.has(key)) { li.remove(); this.groups.delete(key); }
    const empty = this.queueEl.querySelector("li.empty");
    if (!alerts.length) {
      const text = t(this.filtering() ? "queue.no_match" : "queue.empty");
      if (!empty) this.queueEl.appendChild(el(`<li class="empty" data-testid="queue-empty">${esc(text)}</li>`));
      else empty.textContent = text;
      return;
    }
    if (empty) empty.remove();
    const outer = [];
    for (const group of groups) {
      const entry = this.groupItem(group);
      outer.push(entry);
      const list = entry.querySelector("ol.incident-alerts");
      const inner = group.alerts.map((alert) => this.alertItem(alert));
      const current = [...list.children];
      if (current.length !== inner.length || current.some((c, i) => c !== inner[i])) {
        for (const li of inner) list.appendChild(li);
      }
    }
    const current = [...this.queueEl.children];
    if (current.length !== outer.length || current.some((c, i) => c !== outer[i])) {
      for (const li of outer) this.queueEl.appendChild(li);
    }
    this.markCursor();
  }

  // --- the queue's keyboard ----------------------------------------------------------------------------

  // n: the next critical entry; j/k: the next/previous entry; o or Enter: open it; a: acknowledge its
  // (or the open detail's) waiting alerts; /: the search; Esc: back to the queue; ?: the list of keys.
  // Never while something is being typed, nor with Ctrl, Alt or Meta (the browser's own keys).
  onKey(event) {
    if (this.root.hidden || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    const key = event.key;
    if (key === "Escape") {
      if (!this.helpEl.hidden) this.toggleHelp(false);
      else if (this.detailId || this.incidentId) this.closeDetail();
      else return;
    } else if (key === "?") this.toggleHelp();
    else if (key === "/") {
      this.closeDetail();
      this.filtersEl.querySelector("[data-testid=queue-search]").focus();
    } else if (key === "n") this.moveCursor(1, true);
    else if (key === "j") this.moveCursor(1);
    else if (key === "k") this.moveCursor(-1);
    else if (key === "o" || (key === "Enter" && !event.target.closest("button, a, summary"))) {
      if (!this.cursor || !this.groups.has(this.cursor)) return;
      this.openEntry(this.cursor);
    } else if (key === "a") this.acknowledge();
    else return;
    event.preventDefault();
  }

  // Move the keyboard's place in the queue (critical: to the next critical entry, round again).
  moveCursor(by, critical = false) {
    if (this.detailId || this.incidentId) this.closeDetail();
    const entries = [...this.queueEl.querySelectorAll("li.incident")].filter((li) => !critical || li.dataset.severity === "critical");
    if (!entries.length) return;
    const at = entries.findIndex((li) => li.dataset.key === this.cursor);
    const next = entries[at < 0 ? (by > 0 ? 0 : entries.length - 1) : (at + by + entries.length) % entries.length];
    this.cursor = next.dataset.key;
    this.markCursor();
    const head = next.querySelector(".incident-head");
    head.focus({ preventScroll: true });
    head.scrollIntoView({ block: "nearest" });
  }

  openEntry(key) {
    const li = this.groups.get(key);
    if (!li) return;
    this.cursor = key;
    if (li.dataset.incidentId) this.openIncident(li.dataset.incidentId);
    else this.openDetail(li.dataset.alertId);
  }

  // Acknowledge what waits: the open alert's, the open incident's, or the keyboard's entry's alerts.
  async acknowledge() {
    if (!this.canMove) return;
    let waiting;
    if (this.detailId) waiting = [this.alerts.get(this.detailId)];
    else if (this.incidentId) waiting = [...this.alerts.values()].filter((a) => a.incident === this.incidentId);
    else {
      const group = this.grouped().find((g) => g.key === this.cursor);
      waiting = group ? group.alerts : [];
    }
    for (const alert of waiting.filter((a) => a && a.state === "open")) {
      try {
        this.alertChange(await api("POST", `/v1/alerts/${encodeURIComponent(alert.id)}/steps`, { state: "acknowledged", note: "" }));
      } catch (e) {
        this.filterError = t("step.failed", { detail: e.message });
        this.showFilterError();
      }
    }
    if (this.incidentId) this.refreshIncident();
  }

  toggleHelp(show = this.helpEl.hidden) {
    this.helpEl.hidden = !show;
    if (!show) return;
    const rows = KEYS.map(([k, label]) => `<tr><th scope="row"><kbd>${esc(k)}</kbd></th><td>${esc(t(label))}</td></tr>`).join("");
    this.helpEl.innerHTML = `<h3 id="keys-help-title">${esc(t("keys.title"))}</h3><table>${rows}</table>
      <p class="muted small">${esc(t("keys.typing"))}</p><button type="button" data-testid="shortcut-help-close">${esc(t("keys.close"))}</button>`;
    this.helpEl.querySelector("button").addEventListener("click", () => this.toggleHelp(false));
  }

  markCursor() {
    for (const [key, li] of this.groups) {
      li.classList.toggle("cursor", key === this.cursor);
      if (key === this.cursor) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
    }
  }

  // One queue entry: the incident's number, gravity, parties and latest escalation, over its alerts.
  groupItem(group) {
    let li = this.groups.get(group.key);
    if (!li) {
      li = el(`<li class="incident" data-testid="incident-item"><div class="incident-head" data-testid="incident-head" tabindex="0" role="button"></div><ol class="incident-alerts"></ol></li>`);
      const head = li.querySelector(".incident-head");
      head.addEventListener("click", () => this.openEntry(group.key));
      head.addEventListener("focus", () => {
        this.cursor = group.key;
        this.markCursor();
      });
      this.groups.set(group.key, li);
    }
    const worst = Object.keys(SEVERITY).find((k) => SEVERITY[k] === group.severity) || "low";
    const record = group.incident;
    const kind = record ? record.kind : group.alerts[0].kind;
    const people = new Set();
    for (const a of group.alerts) for (const p of [a.subject, a.protected_person]) if (p) people.add(p);
    if (record) for (const p of [record.subject, record.protected_person]) if (p) people.add(p);
    const claim = record ? record.claim : null;
    const stamp = `${record ? record.number : ""}|${worst}|${kind}|${group.escalated}|${[...people].join(",")}|${group.alerts.length}|${claim ? `${claim.user}@${claim.at}` : ""}`;
    li.className = `incident ${worst}${group.key === this.cursor ? " cursor" : ""}`;
    li.dataset.key = group.key;
    li.dataset.severity = worst; // critical entries are pinned above the rest
    if (group.key.startsWith("alert:")) {
      li.dataset.alertId = group.alerts[0].id;
      delete li.dataset.incidentId;
    } else {
      li.dataset.incidentId = group.key;
    }
    if (li.dataset.stamp === stamp) return li;
    li.dataset.stamp = stamp;
    const number = record ? record.number : group.key.startsWith("alert:") ? "" : "…";
    li.querySelector(".incident-head").innerHTML = `
      ${number ? `<span class="number mono" data-testid="incident-number">${esc(number)}</span>` : ""}
      <span class="chip ${worst}">${esc(t(`severity.${worst}`))}</span>
      <span class="kind" data-testid="incident-kind">${esc(t(`kind.${kind}`))}</span>
      <span class="who" data-testid="incident-parties">${[...people].map(esc).join(" · ")}</span>
      <span class="escalated" data-testid="incident-escalated" title="${esc(t("incident.escalated"))} ${esc(clock(group.escalated))}">${esc(t("incident.escalated"))} ${esc(clock(group.escalated))} · <span data-raised="${esc(group.escalated)}"></span></span>
      ${this.claimText(claim, "incident-claim")}`;
    this.ages(li.querySelector(".incident-head"));
    return li;
  }

  // "claimed by X, N min ago" (the age kept fresh by ages()), or nothing for no claim.
  claimText(claim, testid) {
    if (!claim) return "";
    const mine = this.me && claim.user === this.me;
    const who = mine ? t("claim.mine") : t("claim.by", { user: claim.user });
    return `<span class="claim${mine ? " mine" : ""}" data-testid="${testid}" data-claimed-by="${esc(claim.user)}" title="${esc(clock(claim.at))}">${esc(who)} · <span data-raised="${esc(claim.at)}"></span></span>`;
  }

  // The claim's line in an incident's detail, with what the user may do about it: claim an incident
  // no one holds, release their own, or take over another's after confirming it.
  claimPanel(d) {
    const claim = d.claim;
    const text = claim ? this.claimText(claim, "incident-detail-claim") : `<span class="claim none" data-testid="incident-detail-claim">${esc(t("claim.none"))}</span>`;
    if (!this.canClaim || !d.open) return `<div class="claim-panel">${text}</div>`;
    const mine = claim && this.me && claim.user === this.me;
    let actions;
    if (!claim) actions = `<button type="button" data-claim="claim" data-testid="claim">${esc(t("claim.claim"))}</button>`;
    else if (mine) actions = `<button type="button" data-claim="release" data-testid="claim-release">${esc(t("claim.release"))}</button>`;
    else if (this.takingOver === d.id) {
      actions = `<div class="confirm" role="alertdialog" data-testid="take-over-confirm"><p>${esc(t("claim.confirm", { user: claim.user }))}</p>
        <button type="button" class="danger" data-claim="confirm" data-testid="take-over-confirm-yes">${esc(t("claim.confirm_yes"))}</button>
        <button type="button" data-claim="cancel" data-testid="take-over-cancel">${esc(t("claim.cancel"))}</button></div>`;
    } else actions = `<button type="button" data-claim="take_over" data-testid="take-over">${esc(t("claim.take_over"))}</button>`;
    const warning = claim && !mine ? ` warning` : "";
    const error = this.claimError ? `<p class="error">${esc(t("error.generic", { detail: this.claimError }))}</p>` : "";
    return `<div class="claim-panel${warning}" data-testid="claim-panel">${text} ${actions}${error}</div>`;
  }

  async claimStep(d, what) {
    const path = `/v1/incidents/${encodeURIComponent(d.id)}/claim`;
    if (what === "take_over") {
      this.takingOver = d.id;
      return this.refreshIncident();
    }
    this.takingOver = null;
    this.claimError = null;
    if (what === "cancel") return this.refreshIncident();
    try {
      if (what === "release") await api("DELETE", path);
      else await api("POST", path, { take_over: what === "confirm" });
    } catch (e) {
      // someone claimed it meanwhile: the detail shows who, and offers the take-over
      if (!(e instanceof ApiError && e.status === 409)) this.claimError = e.message;
    }
    this.reloadIncidents();
    await this.refreshIncident();
  }

  alertItem(alert) {
    let li = this.items.get(alert.id);
    if (!li) {
      li = document.createElement("li");
      li.className = "alert";
      li.dataset.testid = "alert-item";
      li.dataset.alertId = alert.id;
      li.addEventListener("click", (event) => {
        if (event.target.closest("button, input")) return;
        this.openDetail(li.dataset.alertId);
      });
      this.items.set(alert.id, li);
    }
    this.fillItem(li, alert);
    return li;
  }

  fillItem(li, alert) {
    const stamp = `${alert.updated_at}|${alert.state}|${alert.severity}|${raisedAt(alert)}|${this.confirming.get(alert.id) || ""}`;
    li.className = `alert ${alert.severity}${this.fresh === alert.id ? " fresh" : ""}`;
    li.dataset.kind = alert.kind;
    li.dataset.state = alert.state;
    if (li.dataset.stamp === stamp) return;
    li.dataset.stamp = stamp;
    const f = alert.facts || {};
    const facts = [];
    if (f.distance_m !== null && f.distance_m !== undefined) facts.push(`${esc(t("detail.distance"))} <b data-testid="alert-distance">${metres(f.distance_m)}</b>`);
    if (f.compass || f.bearing_deg !== null && f.bearing_deg !== undefined) facts.push(esc(f.compass || compass(f.bearing_deg)));
    if (f.closing_speed_mps) facts.push(`${esc(t("detail.closing"))} ${f.closing_speed_mps.toFixed(1)} m/s`);
    if (f.time_to_contact_s !== null && f.time_to_contact_s !== undefined) facts.push(`${esc(t("detail.ttc"))} ${duration(f.time_to_contact_s)}`);
    if (f.zone_label) facts.push(esc(f.zone_label));
    const parties = [alert.subject, alert.protected_person].filter(Boolean).map(esc).join(" → ");
    li.innerHTML = `
      <div class="head"><span class="chip ${alert.severity}">${esc(t(`severity.${alert.severity}`))}</span>
        <span class="kind">${esc(t(`kind.${alert.kind}`))}</span>
        <span class="chip outline" data-testid="alert-state">${esc(t(`state.${alert.state}`))}</span>
        ${alert.late ? `<span class="chip outline">${esc(t("queue.late"))}</span>` : ""}
        <span class="age" data-testid="alert-age" data-raised="${esc(raisedAt(alert))}" title="${esc(t("queue.raised_title", { opened: clock(alert.opened_at), raised: clock(raisedAt(alert)) }))}"></span></div>
      <div class="who">${parties}${alert.order ? ` · ${esc(alert.order)}` : ""}</div>
      ${facts.length ? `<div class="facts">${facts.join(" · ")}</div>` : ""}`;
    li.appendChild(this.stepsFor(alert));
    this.ages(li);
  }

  // Note + one button per legal next step; a click takes the step with the note. Closing a critical
  // alert (resolve, false alarm) needs a note and then a second, explicit confirmation.
  stepsFor(alert) {
    const box = el(`<div class="steps"></div>`);
    if (!this.canMove || !nextSteps(alert.state).length) {
      box.hidden = true;
      return box;
    }
    const critical = alert.severity === "critical";
    const input = el(`<input type="text" maxlength="2000" data-testid="note-${esc(alert.id)}">`);
    input.placeholder = t(critical ? "queue.note_critical" : "queue.note");
    input.value = this.notes.get(alert.id) || "";
    input.addEventListener("input", () => {
      this.notes.set(alert.id, input.value);
      if (input.value.trim()) input.removeAttribute("aria-invalid");
    });
    box.appendChild(input);
    const error = el(`<span class="error" data-testid="step-error" role="alert" hidden></span>`);
    const pending = this.confirming.get(alert.id);
    if (pending && nextSteps(alert.state).includes(pending)) {
      const ask = el(`<div class="confirm-close" data-testid="confirm-close" data-step="${pending}">
        <span>${esc(t("step.confirm", { step: t(`step.${pending}`) }))}</span>
        <button type="button" class="danger" data-testid="confirm-yes">${esc(t("step.confirm_yes", { step: t(`step.${pending}`) }))}</button>
        <button type="button" data-testid="confirm-no">${esc(t("step.confirm_no"))}</button></div>`);
      ask.querySelector("[data-testid=confirm-yes]").addEventListener("click", () => {
        if (!input.value.trim()) return this.needNote(alert.id, input, error);
        this.step(alert.id, pending, input.value, box);
      });
      ask.querySelector("[data-testid=confirm-no]").addEventListener("click", () => this.confirm(alert.id, null));
      box.append(ask, error);
      return box;
    }
    for (const step of nextSteps(alert.state)) {
      const button = el(`<button type="button" data-testid="step-${step}-${esc(alert.id)}" data-step="${step}">${esc(t(`step.${step}`))}</button>`);
      if (step === "acknowledged" || (step === "dispatched" && alert.state !== "open")) button.classList.add("primary");
      button.addEventListener("click", () => {
        if (!guarded(alert, step)) return this.step(alert.id, step, input.value, box);
        if (!input.value.trim()) return this.needNote(alert.id, input, error);
        this.confirm(alert.id, step);
      });
      box.appendChild(button);
    }
    box.appendChild(error);
    return box;
  }

  needNote(id, input, error) {
    error.hidden = false;
    error.textContent = t("step.note_required");
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  // Ask (step) or stop asking (null) for the confirmation of a closing step, in the queue and detail.
  confirm(id, step) {
    if (step) this.confirming.set(id, step);
    else this.confirming.delete(id);
    const li = this.items.get(id);
    if (li) {
      delete li.dataset.stamp;
      const alert = this.alerts.get(id);
      if (alert) this.fillItem(li, alert);
    }
    if (this.detailId === id && this.detail) this.renderDetail();
    // the keyboard goes where the question is: Enter confirms, Tab then Enter cancels
    const where = this.detailId === id ? this.detailEl : li;
    const yes = step && where ? where.querySelector("[data-testid=confirm-yes]") : null;
    if (yes) yes.focus();
  }

  async step(id, state, note, box) {
    const error = box.querySelector(".error");
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    try {
      const change = await api("POST", `/v1/alerts/${encodeURIComponent(id)}/steps`, { state, note });
      this.notes.delete(id);
      this.confirming.delete(id);
      for (const b of box.querySelectorAll("input")) b.value = "";
      this.alertChange(change);
    } catch (e) {
      error.hidden = false;
      const fields = e instanceof ApiError ? e.fields() : {};
      error.textContent = fields.note ? t("step.note_required")
        : t("step.failed", { detail: e instanceof ApiError ? (typeof e.detail === "string" ? e.detail : Object.values(fields).join("; ") || e.message) : e.message });
      for (const b of box.querySelectorAll("button")) b.disabled = false;
    }
  }

  ages(root = this.root) {
    const now = Date.now();
    for (const span of root.querySelectorAll("[data-raised]")) {
      span.textContent = t("queue.ago", { t: duration((now - Date.parse(span.dataset.raised)) / 1000) });
    }
  }

  // --- the title flash for new violations (the sound is alarm.js) ---------------------------------

  // The title flashes while a violation waits for someone to acknowledge it.
  updateFlash() {
    const waiting = [...this.alerts.values()].some((a) => a.state === "open" && alarming(a));
    if (waiting && !this.flashing) {
      let on = false;
      document.body.dataset.flashing = "true";
      this.flashing = setInterval(() => {
        on = !on;
        document.title = on ? t("flash.violation") : t("app.title");
      }, 800);
    } else if (!waiting) this.stopFlash();
  }

  stopFlash() {
    if (this.flashing) clearInterval(this.flashing);
    this.flashing = null;
    delete document.body.dataset.flashing;
    document.title = t("app.title");
  }

  // --- one alert in detail ---------------------------------------------------------------------------

  // --- one incident in detail: its alerts and their merged timeline ---------------------------------

  async openIncident(id) {
    this.closeDetail();
    this.takingOver = null;
    this.claimError = null;
    this.incidentId = id;
    this.queuePanel.hidden = true;
    this.detailEl.hidden = false;
    this.detailEl.innerHTML = `<button type="button" class="back">${esc(t("detail.back"))}</button>`;
    this.detailEl.querySelector(".back").addEventListener("click", () => this.closeDetail());
    await this.refreshIncident();
  }

  async refreshIncident() {
    const id = this.incidentId;
    if (!id) return;
    let d;
    try {
      d = await api("GET", `/v1/incidents/${encodeURIComponent(id)}`);
    } catch (e) {
      this.detailEl.innerHTML = `<p class="error">${esc(t("error.generic", { detail: e.message }))}</p>`;
      return;
    }
    if (this.incidentId !== id) return;
    const kinds = new Map(d.alerts.map((a) => [a.id, a.kind]));
    const alerts = d.alerts.map((a) => `<li class="alert ${esc(a.severity)}" data-testid="incident-alert" data-alert-id="${esc(a.id)}">
        <div class="head"><span class="kind">${esc(t(`kind.${a.kind}`))}</span>
        <span class="chip outline">${esc(t(`state.${a.state}`))}</span>
        <span class="age" title="${esc(t("queue.raised_title", { opened: clock(a.opened_at), raised: clock(raisedAt(a)) }))}">${esc(clock(raisedAt(a)))}</span></div>
        <div class="who">${[a.subject, a.protected_person].filter(Boolean).map(esc).join(" → ")}</div></li>`).join("");
    const timeline = foldTimeline(d.timeline || []).map((c) => (c.folded ? foldedRow(c.folded, (x) => t(`kind.${kinds.get(x.alert) || x.kind}`))
      : `<li data-change="${esc(c.change)}" data-alert-id="${esc(c.alert)}"><span class="at">${clock(c.at)}</span>
        <b>${esc(t(`change.${c.change}`))}</b> · ${esc(t(`kind.${kinds.get(c.alert) || c.kind}`))}
        ${c.actor ? ` · <span class="mono">${esc(c.actor)}</span>` : ""}${c.note ? ` — ${esc(c.note)}` : ""}</li>`)).join("");
    const row = (label, value, testid = "") => (value ? `<dt>${esc(t(label))}</dt><dd${testid ? ` data-testid="${testid}"` : ""}>${value}</dd>` : "");
    const body = el(`<div data-testid="incident-detail">
      <h2><span class="number mono" data-testid="incident-detail-number">${esc(d.number)}</span>
        <span class="chip ${esc(d.severity)}">${esc(t(`severity.${d.severity}`))}</span> ${esc(t(`kind.${d.kind}`))}
        ${d.open ? "" : `<span class="chip outline">${esc(t("incident.closed"))}</span>`}</h2>
      <dl>
        ${row("detail.subject", esc(d.subject || ""))}
        ${row("detail.protected", esc(d.protected_person || ""))}
        ${row("detail.opened", esc(clock(d.opened_at)))}
        ${row("incident.escalated", esc(clock(d.escalated_at)), "incident-detail-escalated")}
      </dl>
      ${this.claimPanel(d)}
      <div class="history-actions"><button type="button" data-testid="incident-playback">${esc(t("playback.open"))}</button>
        ${this.onReport ? `<button type="button" data-testid="incident-report">${esc(t("report.open"))}</button>` : ""}</div>
      <div data-slot="profile"></div>
      <h3>${esc(t("incident.alerts", { n: d.alerts.length }))}</h3>
      <ol class="alerts incident-alerts" data-testid="incident-alerts">${alerts}</ol>
      <h3>${esc(t("detail.timeline"))}</h3>
      <ol class="timeline" data-testid="incident-timeline">${timeline}</ol>
    </div>`);
    body.querySelector("[data-slot=profile]").replaceWith(this.profileFor(d.subject, d.open));
    for (const li of body.querySelectorAll("[data-testid=incident-alert]")) {
      li.addEventListener("click", () => this.openDetail(li.dataset.alertId));
    }
    for (const button of body.querySelectorAll("[data-claim]")) {
      button.addEventListener("click", () => this.claimStep(d, button.dataset.claim));
    }
    body.querySelector("[data-testid=incident-playback]").addEventListener("click", () => this.playIncident(d));
    const report = body.querySelector("[data-testid=incident-report]");
    if (report) report.addEventListener("click", () => this.onReport(d.id));
    this.ages(body);
    const back = this.detailEl.querySelector(".back");
    this.detailEl.replaceChildren(back, body);
    // the keyboard is where the question is
    const confirm = body.querySelector("[data-testid=take-over-confirm-yes]");
    if (confirm) confirm.focus();
  }

  // The incident's two parties over its time: from its first alert (minus a few minutes) to its end.
  playIncident(d) {
    const people = [[d.subject, "subject"], [d.protected_person, "protected_person"]].filter(([id]) => id)
      .map(([id, kind]) => ({ id, kind, hidden: kind === "protected_person" && !this.seesVictims }));
    const ranges = incidentRanges(d);
    this.playback.open({ title: t("playback.title_incident", { number: d.number }), people, ranges, range: ranges[0].key });
  }

  // One person's track (with the people an order protects from him, where the user may see them).
  playPerson(id) {
    const person = this.people.get(id);
    const people = [{ id, kind: person ? person.kind : "subject" }];
    for (const other of this.pairs.get(id) || []) people.push({ id: other, kind: "protected_person", hidden: !this.seesVictims });
    const ranges = personRanges();
    this.playback.open({ title: t("playback.title_person", { id }), people, ranges, range: ranges[0].key });
  }

  async openDetail(id) {
    this.incidentId = null;
    if (this.detailId !== id) this.issued = null;
    this.detailId = id;
    this.queuePanel.hidden = true;
    this.detailEl.hidden = false;
    this.detailEl.innerHTML = `<button type="button" class="back">${esc(t("detail.back"))}</button>`;
    this.detailEl.querySelector(".back").addEventListener("click", () => this.closeDetail());
    await this.refreshDetail(true);
  }

  closeDetail() {
    const parties = this.detailParties || [];
    this.incidentId = null;
    this.detailId = null;
    this.detail = null;
    this.detailParties = null;
    this.issued = null;
    this.profileBox = null;
    this.detailLayer.clearLayers();
    this.detailEl.hidden = true;
    this.queuePanel.hidden = false;
    for (const p of parties) this.restyle(p);
  }

  async refreshDetail(fit = false) {
    const id = this.detailId;
    if (!id) return;
    let detail;
    try {
      detail = await api("GET", `/v1/alerts/${encodeURIComponent(id)}`);
    } catch (e) {
      this.detailEl.innerHTML = `<p class="error">${esc(t("error.generic", { detail: e.message }))}</p>`;
      return;
    }
    if (this.detailId !== id) return;
    if (this.registry && detail.order && !this.orders.has(detail.order)) {
      try {
        this.orders.set(detail.order, await api("GET", `/v1/orders/${encodeURIComponent(detail.order)}`));
      } catch { /* rings are optional */ }
    }
    this.detail = detail;
    this.detailParties = [detail.subject, detail.protected_person].filter(Boolean);
    for (const p of this.detailParties) this.restyle(p);
    this.renderDetail();
    this.drawDetailMap(fit);
  }

  // Both parties, the line between them with the distance, and the order's rings around her.
  drawDetailMap(fit = false) {
    const d = this.detail;
    if (!d) return;
    this.detailLayer.clearLayers();
    const f = d.facts || {};
    const here = (id, fact) => {
      const known = id && this.people.get(id);
      if (known) return known.marker.getLatLng();
      return fact ? L.latLng(fact.lat, fact.lon) : null;
    };
    const him = here(d.subject, f.subject_position);
    const her = here(d.protected_person, f.protected_position);
    const order = d.order && this.orders.get(d.order);
    if (her && order) {
      this.detailLayer.addLayer(rings(this.map, her.lat, her.lng, [order.violation_distance_m, order.warning_distance_m], { color: colour("violation") }));
    }
    if (him && her) {
      L.polyline([him, her], { color: colour("violation"), weight: 3, interactive: false }).addTo(this.detailLayer);
      const mid = L.latLng((him.lat + her.lat) / 2, (him.lng + her.lng) / 2);
      L.marker(mid, { interactive: false, icon: L.divIcon({ className: "ring-label", html: `<b>${metres(him.distanceTo(her))}</b>` }) }).addTo(this.detailLayer);
    }
    for (const fact of [f.subject_position, f.protected_position]) {
      if (fact && fact.accuracy_m) L.circle([fact.lat, fact.lon], { radius: fact.accuracy_m, weight: 1, color: "#888", fillOpacity: 0.08, interactive: false }).addTo(this.detailLayer);
    }
    if (fit) {
      const points = [him, her].filter(Boolean);
      // not animated: Leaflet ignores a new view asked for while a zoom animation runs
      if (points.length === 2) this.map.fitBounds(L.latLngBounds(points).pad(0.6), { maxZoom: 17, animate: false });
      else if (points.length === 1) this.map.setView(points[0], 16, { animate: false });
    }
  }

  renderDetail() {
    const d = this.detail;
    const f = d.facts || {};
    const row = (label, value, testid = "") => (value === null || value === undefined || value === "" ? "" :
      `<dt>${esc(t(label))}</dt><dd${testid ? ` data-testid="${testid}"` : ""}>${value}</dd>`);
    const bearing = f.bearing_deg !== null && f.bearing_deg !== undefined ? `${Math.round(f.bearing_deg)}° ${esc(f.compass || compass(f.bearing_deg))}` : null;
    const closing = f.closing_speed_mps !== null && f.closing_speed_mps !== undefined
      ? `${f.closing_speed_mps.toFixed(1)} m/s${Math.abs(f.closing_speed_mps) >= 0.05 ? ` (${esc(t(f.closing_speed_mps > 0 ? "detail.approaching" : "detail.leaving"))})` : ""}` : null;
    const sp = f.subject_position, pp = f.protected_position;
    const where = (p) => (p ? `<span class="mono">${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}</span> ±${metres(p.accuracy_m)}${p.age_s !== undefined && p.age_s !== null ? ` · ${duration(p.age_s)}` : ""}` : `<span class="muted">${esc(t("detail.plan.unknown"))}</span>`);
    const timeline = foldTimeline(d.timeline || []).map((c) => (c.folded ? foldedRow(c.folded)
      : `<li data-change="${esc(c.change)}"><span class="at">${clock(c.at)}</span><b>${esc(t(`change.${c.change}`))}</b>
        ${c.actor ? ` · <span class="mono">${esc(c.actor)}</span>` : ""}${c.note ? ` — <span data-testid="timeline-note">${esc(c.note)}</span>` : ""}</li>`)).join("");
    const deliveries = (d.deliveries || []).map((x) => `<tr data-testid="delivery"><td class="mono">${esc(x.target)}</td><td>${esc(x.type)}${x.escalation ? ` ↑${x.escalation}` : ""}</td>
        <td><span class="chip ${x.state === "delivered" ? "ok" : x.state === "gone" ? "violation" : "warning"}">${esc(x.state)}</span></td><td>${x.attempts}</td>
        <td>${esc(x.last_status ?? "")}${x.last_error ? ` <span class="error">${esc(x.last_error)}</span>` : ""}</td>
        <td>${clock(x.acknowledged_at || x.delivered_at)}</td></tr>`).join("");
    // what was sent to her about it (pushes to her phone, texts): one row per message and its record
    const told = (d.notifications || []).map((x) => `<tr data-testid="notification"><td>${esc(t(`notify.channel.${x.channel}`))}</td>
        <td>${esc(t(`notify.kind.${x.kind}`))}${x.text ? `<div class="small muted">${esc(x.text)}</div>` : ""}</td>
        <td class="mono">${esc(x.to)}</td>
        <td><span class="chip ${x.state === "delivered" ? "ok" : x.state === "pending" ? "warning" : "violation"}">${esc(t(`notify.state.${x.state}`))}</span></td><td>${x.attempts}</td>
        <td>${esc(x.last_status ?? "")}${x.last_error ? ` <span class="error">${esc(x.last_error)}</span>` : ""}</td>
        <td>${clock(x.delivered_at || x.last_attempt_at || x.created_at)}</td></tr>`).join("");
    const body = el(`<div>
      <h2><span class="chip ${esc(d.severity)}">${esc(t(`severity.${d.severity}`))}</span> ${esc(t(`kind.${d.kind}`))}
        <span class="chip outline" data-testid="detail-state">${esc(t(`state.${d.state}`))}</span></h2>
      <div class="muted mono">${esc(d.id)}</div>
      <dl>
        ${row("detail.distance", f.distance_m !== null && f.distance_m !== undefined ? `<span class="big">${metres(f.distance_m)}</span>` : null, "detail-distance")}
        ${row("detail.bearing", bearing, "detail-bearing")}
        ${row("detail.closing", closing, "detail-closing")}
        ${row("detail.ttc", f.time_to_contact_s !== null && f.time_to_contact_s !== undefined ? duration(f.time_to_contact_s) : null, "detail-ttc")}
        ${row("detail.confidence", f.confidence ? `<span title="${esc(t(`confidence.${f.confidence}`))}">${esc(t(`confidence.${f.confidence}`).split(" (")[0])}</span>` : null)}
        ${row("detail.subject", esc(d.subject || ""))}
        ${row("detail.protected", esc(d.protected_person || ""))}
        ${row("detail.order", d.order ? `<span class="mono">${esc(d.order)}</span>` : null, "detail-order")}
        ${row("detail.zone", esc(f.zone_label || d.zone || ""))}
        ${row("detail.opened", esc(clock(d.opened_at)))}
        ${row("detail.position_age", sp && sp.age_s !== null && sp.age_s !== undefined ? duration(sp.age_s) : null)}
        ${row("detail.stale", f.stale && f.stale.length ? esc(f.stale.join(", ")) : null)}
      </dl>
      <div data-slot="steps"></div>
      <div data-slot="units"></div>
      <div data-slot="profile"></div>
      <div data-slot="devices"></div>
      <h3>${esc(t("detail.plan"))}</h3>
      <ul class="plan" data-testid="detail-plan">
        <li>${esc(t("detail.plan.probation"))}: ${where(sp)}</li>
        <li>${esc(t("detail.plan.police"))}: ${where(pp)}</li>
      </ul>
      <h3>${esc(t("detail.timeline"))}</h3>
      <ol class="timeline" data-testid="detail-timeline">${timeline}</ol>
      <h3>${esc(t("detail.deliveries"))}</h3>
      ${deliveries ? `<table data-testid="detail-deliveries"><thead><tr><th>${esc(t("detail.target"))}</th><th></th><th></th><th>${esc(t("detail.attempts"))}</th><th></th><th></th></tr></thead><tbody>${deliveries}</tbody></table>`
        : `<p class="muted small" data-testid="detail-deliveries">${esc(t("detail.no_deliveries"))}</p>`}
      ${told ? `<h3>${esc(t("detail.notifications"))}</h3>
      <table data-testid="detail-notifications"><thead><tr><th></th><th></th><th></th><th></th><th>${esc(t("detail.attempts"))}</th><th></th><th></th></tr></thead><tbody>${told}</tbody></table>` : ""}
    </div>`);
    body.querySelector("[data-slot=steps]").replaceWith(this.stepsFor(d));
    body.querySelector("[data-slot=units]").replaceWith(this.unitsFor(d));
    body.querySelector("[data-slot=profile]").replaceWith(this.profileFor(d.subject, !TERMINAL.has(d.state)));
    body.querySelector("[data-slot=devices]").replaceWith(this.devicesFor(d));
    const back = this.detailEl.querySelector(".back");
    this.detailEl.replaceChildren(back, body);
    back.textContent = t("detail.back");
  }

  // --- his devices: pursuit mode, and commands (a fix now; vibrate or sound: he must call probation) ---

  devicesFor(d) {
    const box = el(`<section class="devices" data-testid="detail-devices"><h3>${esc(t("devices.title"))}</h3></section>`);
    if (!d.subject || !this.registry) {
      box.hidden = true;
      return box;
    }
    const list = el(`<ul class="device-list"></ul>`);
    const error = el(`<p class="error" data-testid="command-error" hidden></p>`);
    box.append(list, error);
    api("GET", "/v1/devices").then((devices) => {
      for (const device of devices.filter((x) => x.person_id === d.subject && x.person_kind === "subject")) {
        const li = el(`<li data-testid="device" data-device="${esc(device.id)}"><span class="mono">${esc(device.id)}</span>
          ${device.pursuit_since ? `<span class="chip warning" data-testid="pursuit" title="${esc(device.pursuit_reason || "")}">${esc(t("devices.pursuit"))}</span>` : ""}</li>`);
        if (this.canCommand) {
          for (const type of ["locate", "vibrate", "alarm"]) {
            const button = el(`<button type="button" data-testid="command-${type}">${esc(t(`devices.${type}`))}</button>`);
            button.addEventListener("click", async () => {
              button.disabled = true;
              try {
                await api("POST", `/v1/devices/${encodeURIComponent(device.id)}/commands`, { type });
                button.textContent = t("devices.queued");
              } catch (e) {
                error.hidden = false;
                error.textContent = t("step.failed", { detail: e instanceof ApiError ? (typeof e.detail === "string" ? e.detail : e.message) : e.message });
                button.disabled = false;
              }
            });
            li.appendChild(button);
          }
        }
        list.appendChild(li);
      }
    }).catch(() => { box.hidden = true; });
    return box;
  }

  // --- field units and their live-track links ---------------------------------------------------------

  // The units sent to the incident. Everyone who sees the alert sees who is sent and whether each
  // holds a live link; operators and dispatchers send units (each is issued a link, shown once here
  // to hand over), issue a new link to a unit, take a unit off (its link dies), and revoke any link.
  unitsFor(d) {
    const open = !TERMINAL.has(d.state);
    const box = el(`<section class="units" data-testid="detail-units"><h3>${esc(t("units.title"))}</h3>
      <p class="muted small" data-testid="link-count">${esc(t("units.links", { n: (d.live_track && d.live_track.links) || 0 }))}</p></section>`);
    const error = el(`<p class="error" data-testid="units-error" hidden></p>`);
    const act = (call) => this.unitAction(call, error);
    const list = el(`<ul class="unit-list"></ul>`);
    for (const unit of d.assigned || []) {
      const li = el(`<li data-testid="unit" data-user="${esc(unit.user)}"><span class="mono">${esc(unit.user)}</span>
        <span class="chip ${unit.has_link ? "ok" : "outline"}" data-testid="unit-has-link">${esc(t(unit.has_link ? "units.has_link" : "units.no_link"))}</span>
        <span class="small ${unit.opened_at ? "" : "muted"}" data-testid="unit-opened"${unit.opened_at ? ` data-at="${esc(unit.opened_at)}"` : ""}>${esc(unit.opened_at ? t("units.opened", { at: clock(unit.opened_at) }) : t("units.not_opened"))}</span></li>`);
      if (this.canAssign && open) {
        const again = el(`<button type="button" data-testid="unit-new-link">${esc(t("units.new_link"))}</button>`);
        again.addEventListener("click", () => act(() => this.issueLink(d.id, unit.user, "POST")));
        li.appendChild(again);
      }
      if (this.canAssign) {
        const off = el(`<button type="button" data-testid="unit-take-off">${esc(t("units.take_off"))}</button>`);
        off.addEventListener("click", () => act(() => api("DELETE", `/v1/alerts/${encodeURIComponent(d.id)}/assignments/${encodeURIComponent(unit.user)}`)));
        li.appendChild(off);
      }
      list.appendChild(li);
    }
    if (!list.children.length) list.appendChild(el(`<li class="muted small">${esc(t("units.none"))}</li>`));
    box.appendChild(list);
    if (this.canAssign && open) {
      const form = el(`<form class="assign" data-testid="assign-form"><input type="text" data-testid="assign-user" maxlength="64" required>
        <button type="submit" class="primary" data-testid="assign-submit">${esc(t("units.send"))}</button></form>`);
      form.querySelector("input").placeholder = t("units.user");
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const user = form.querySelector("input").value.trim();
        if (user) act(() => this.issueLink(d.id, user, "PUT"));
      });
      box.appendChild(form);
    }
    if (this.issued && this.issued.alert === d.id) box.appendChild(this.issuedBox());
    if (this.canAssign && (d.links || []).length) box.appendChild(this.linkRecords(d, act));
    box.appendChild(error);
    return box;
  }

  // PUT: send the unit (a link is issued unless it holds one); POST: a new link, the old one dies.
  async issueLink(id, user, method) {
    const path = `/v1/alerts/${encodeURIComponent(id)}/assignments/${encodeURIComponent(user)}${method === "POST" ? "/link" : ""}`;
    const answer = await api(method, path);
    this.issued = { alert: id, holder: user, url: answer.link ? answer.link.url : null };
  }

  async unitAction(call, error) {
    error.hidden = true;
    try {
      await call();
    } catch (e) {
      error.hidden = false;
      const fields = e instanceof ApiError ? Object.values(e.fields()) : [];
      error.textContent = t("error.generic", { detail: fields.length ? fields.join("; ") : e instanceof ApiError && typeof e.detail === "string" ? e.detail : e.message });
      return;
    }
    await this.refreshDetail();
  }

  issuedBox() {
    const { holder, url } = this.issued;
    if (!url) return el(`<p class="muted small" data-testid="issued-link">${esc(t("units.kept", { user: holder }))}</p>`);
    const box = el(`<div class="issued" data-testid="issued-link"><p>${esc(t("units.issued", { user: holder }))}</p>
      <input type="text" readonly data-testid="issued-url" aria-label="${esc(t("units.url"))}">
      <div class="issued-actions"><button type="button" class="primary" data-testid="issued-copy">${esc(t("units.copy"))}</button>
      <span class="ok-msg" data-testid="issued-copied" hidden>${esc(t("units.copied"))}</span></div>
      <figure class="qr"><div data-testid="issued-qr"></div><figcaption class="muted small">${esc(t("units.qr"))}</figcaption></figure></div>`);
    const input = box.querySelector("input");
    input.value = url;
    const copied = box.querySelector("[data-testid=issued-copied]");
    box.querySelector("[data-testid=issued-copy]").addEventListener("click", async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(url);
      } catch {
        document.execCommand("copy"); // the selected text, where the clipboard API is not allowed
      }
      copied.hidden = false;
    });
    box.querySelector("[data-testid=issued-qr]").replaceWith(qrSvg(url, t("units.qr")));
    return box;
  }

  // Every link issued for the incident (units' and dispatch targets'), with a revoke button.
  linkRecords(d, act) {
    const now = Date.now();
    const rows = d.links.map((x) => {
      const state = x.live ? "live" : x.revoked_at ? "revoked" : Date.parse(x.expires_at) <= now ? "expired" : "live";
      return `<tr data-testid="link-record" data-link="${esc(x.id)}" data-state="${state}"><td class="mono">${esc(x.holder)}</td>
        <td>${esc(t(`units.kind.${x.holder_kind}`))}</td><td>${esc(dateTime(x.expires_at))}</td>
        <td><span class="chip ${x.live ? "ok" : "outline"}" title="${esc(x.revoked_reason || "")}">${esc(t(`units.state.${state}`))}</span></td>
        <td>${x.live ? `<button type="button" data-testid="link-revoke" data-link="${esc(x.id)}">${esc(t("units.revoke"))}</button>` : ""}</td></tr>`;
    }).join("");
    const table = el(`<table class="links" data-testid="link-records"><thead><tr><th>${esc(t("units.holder"))}</th><th></th>
      <th>${esc(t("units.expires"))}</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table>`);
    for (const button of table.querySelectorAll("[data-testid=link-revoke]")) {
      button.addEventListener("click", () => act(() => api("DELETE", `/v1/alerts/${encodeURIComponent(d.id)}/links/${encodeURIComponent(button.dataset.link)}`)));
    }
    return table;
  }

  // --- figures -----------------------------------------------------------------------------------------

  // The live figures count everything monitored: operators only. Anyone else is never asked for them
  // (the server would refuse: 403), and the panel shows the open alerts of their own scope instead.
  async poll() {
    if (!this.canStats) return this.renderStats();
    if (this.noStats) return;
    try {
      // one after the other: whoever may not have the figures is not asked about dispatch either
      const stats = await api("GET", "/v1/stats");
      this.dispatch = await api("GET", "/v1/dispatch/status").catch(() => null);
      this.stats = stats;
      this.renderStats();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        this.noStats = true;
        this.statsEl.hidden = true;
        clearInterval(this.statsTimer);
      }
      /* otherwise the next poll will tell */
    }
  }

  renderStats() {
    if (!this.canStats) return this.renderScopeStats();
    const s = this.stats;
    if (!s) return;
    this.statsEl.hidden = false;
    const d = this.dispatch;
    const kinds = Object.entries(s.open_alerts_by_kind || {}).sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `<span class="chip ${STATUS_OF_KIND[k] || "silent"}">${esc(t(`kind.${k}`))} ${n}</span>`).join("");
    const fig = (value, label, testid) => `<div class="fig"><b data-testid="${testid}">${value}</b><span>${esc(t(label))}</span></div>`;
    this.statsEl.innerHTML = `
      ${fig(`${s.subjects_online}/${s.subjects}`, "stats.online", "stat-online")}
      ${fig(s.fixes_per_s === null ? "–" : s.fixes_per_s, "stats.fixes", "stat-fixes")}
      ${fig(s.median_ack_s === null ? "–" : duration(s.median_ack_s), "stats.ack", "stat-ack")}
      <div class="kinds" data-testid="stat-kinds"><span class="muted">${esc(t("stats.open"))}:</span> ${kinds || `<span class="muted">${esc(t("stats.none"))}</span>`}
      ${d ? `<span class="muted" style="margin-left:auto">${esc(t("stats.pending"))}: ${d.pending}${d.disabled_targets.length ? ` · ${esc(t("stats.disabled"))}: ${d.disabled_targets.map((x) => esc(x.id)).join(", ")}` : ""}</span>` : ""}</div>
      ${d && d.alarms && d.alarms.length ? `<div class="system-alarm" role="alert" data-testid="system-alarm"><b>${esc(t("system.alarm"))}</b> ${d.alarms.map((a) => `<span title="${esc(a.detail)}">${esc(t(`system.${a.kind}`))}: ${esc(a.detail)}</span>`).join(" · ")}</div>` : ""}`;
  }

  // What a role without the figures sees there: the open alerts it may see, by kind, from the queue.
  renderScopeStats() {
    if (!this.statsEl) return;
    const counts = new Map();
    for (const a of this.alerts.values()) if (!TERMINAL.has(a.state)) counts.set(a.kind, (counts.get(a.kind) || 0) + 1);
    const kinds = [...counts].sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `<span class="chip ${STATUS_OF_KIND[k] || "silent"}">${esc(t(`kind.${k}`))} ${n}</span>`).join("");
    this.statsEl.hidden = false;
    this.statsEl.innerHTML = `<div class="kinds" data-testid="stat-kinds"><span class="muted">${esc(t("stats.open_mine"))}:</span> ${kinds || `<span class="muted">${esc(t("stats.none"))}</span>`}</div>`;
  }

  relabel() {
    if (this.outageEl) this.renderOutage();
    this.renderFilters();
    if (!this.helpEl.hidden) this.toggleHelp(true);
    this.playback.relabel();
    this.legend();
    this.renderStats();
    for (const li of this.items.values()) delete li.dataset.stamp;
    for (const li of this.groups.values()) delete li.dataset.stamp;
    const empty = this.queueEl.querySelector("li.empty");
    if (empty) empty.remove(); // drawn again in the new language
    this.renderQueue();
    this.renderSelection();
    for (const person of this.people.values()) person.style = null;
    for (const id of this.people.keys()) this.restyle(id);
    this.profileBox = null; // drawn again in the new language
    if (this.detail) this.renderDetail();
    this.updateFlash();
    this.alarm.render();
  }
}

// A QR code of `text` as an SVG (one path of dark modules, a quiet zone of four), drawn from the
// vendored encoder's module matrix: a unit's phone camera opens the link from the screen.
export function qrSvg(text, label) {
  const code = qrcode(0, "M"); // the smallest version that holds it, error correction M (15 %)
  code.addData(text, "Byte");
  code.make();
  const n = code.getModuleCount();
  const quiet = 4;
  let d = "";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (code.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  const size = n + 2 * quiet;
  const svg = el(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size * 4}" height="${size * 4}"
    shape-rendering="crispEdges" role="img" data-testid="issued-qr" data-modules="${n}"><title>${esc(label)}</title>
    <rect width="${size}" height="${size}" fill="#fff"/><path d="${d}" fill="#000"/></svg>`);
  return svg;
}

// One timeline entry for a run of the system's updates: "Updated ×30 · vigil, last 14:02:10", its
// times (and, in an incident, which alerts) one click away.
function foldedRow(run, kindOf = null) {
  const first = run[0], last = run.at(-1);
  const kinds = kindOf ? [...new Set(run.map(kindOf))].join(", ") : "";
  const times = run.map((c) => clock(c.at)).join(", ");
  return `<li data-change="updated" data-folded="${run.length}" data-testid="timeline-folded"><details><summary><span class="at">${clock(first.at)}</span>
    <b>${esc(t("change.updated"))} ×${run.length}</b>${kinds ? ` · ${esc(kinds)}` : ""} · <span class="mono">${esc(last.actor || "vigil")}</span>, ${esc(t("timeline.last", { at: clock(last.at) }))}</summary>
    <span class="muted small">${esc(times)}</span></details></li>`;
}

// A zone row ({shape: {circle}|{polygon}, kind}) as a Leaflet layer.
export function drawZone(zone) {
  const shape = zone.shape || zone;
  const color = zone.kind === "inclusion" ? colour("ok") : colour("violation");
  const style = { color, weight: 2, fillOpacity: 0.08, dashArray: zone.schedule ? "6 4" : null };
  const layer = shape.circle
    ? L.circle([shape.circle.lat, shape.circle.lon], { radius: shape.circle.radius_m, ...style })
    : L.polygon((shape.polygon || []).map(([lon, lat]) => [lat, lon]), style);
  if (zone.label || zone.id) layer.bindTooltip(esc(zone.label || zone.id));
  return layer;
}
