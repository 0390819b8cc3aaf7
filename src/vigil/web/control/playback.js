// Track playback: a person's (or an incident's two parties') tracks over a time range, drawn on the
// monitor's map, with a slider (and a play button) that moves a marker per person along in time and
// shows the distance between the two at the slider's time. Tracks are read from
// GET /v1/people/{id}/track with since/until: history, so under the session's stated purpose and in
// the audit trail like any other read; a party the caller may not see (a probation officer and the
// victim) is named as not shown, not drawn.
/* global L */
import { api } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { colour } from "/web/common/palette.js";
import { esc, metres, zoned, el } from "./util.js";

const TICK_MS = 100;
const PLAY_TICKS = 300; // the whole range plays in 30 s
const LIMIT = 10000; // the server's most fixes per read

// Where a track puts its person at `at` (ms): between the two fixes around it (linear), the last one
// after its end, nowhere before its start.
export function placeAt(points, at) {
  if (!points.length || at < points[0].t) return null;
  let lo = 0, hi = points.length - 1;
  if (at >= points[hi].t) return points[hi];
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid].t <= at) lo = mid;
    else hi = mid;
  }
  const a = points[lo], b = points[hi];
  const f = b.t === a.t ? 0 : (at - a.t) / (b.t - a.t);
  return { t: at, lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f };
}

export class Playback {
  // map: the monitor's Leaflet map; box: the panel over it; zone: the control centre's time zone.
  constructor(map, box, zone = null) {
    this.map = map;
    this.box = box;
    this.zone = zone;
    this.layer = L.layerGroup().addTo(map);
    this.tracks = []; // {id, kind, points, marker}
    this.missing = [];
    this.timer = null;
    this.spec = null;
  }

  // spec: {title, people: [{id, kind, hidden}], ranges: [{key, label, since(ms), until(ms)}], range: key}
  async open(spec) {
    this.stop();
    this.spec = spec;
    await this.load();
  }

  range() {
    return this.spec.ranges.find((r) => r.key === this.spec.range) || this.spec.ranges[0];
  }

  async load() {
    const spec = this.spec;
    const { since, until } = this.range();
    this.since = since;
    this.until = Math.max(until, since + 1000);
    this.at = this.since;
    this.loading = true;
    this.render();
    const query = `since=${encodeURIComponent(new Date(this.since).toISOString())}&until=${encodeURIComponent(new Date(this.until).toISOString())}&limit=${LIMIT}`;
    // a person the user may not see is not asked for (the server would refuse: 403), only named
    const read = (p) => (p.hidden ? Promise.resolve(null) : api("GET", `/v1/people/${encodeURIComponent(p.id)}/track?${query}`).catch(() => null));
    const answers = await Promise.all(spec.people.map((p) => read(p).then((r) => ({ p, r }))));
    if (this.spec !== spec) return;
    this.layer.clearLayers();
    this.tracks = [];
    this.missing = [];
    for (const { p, r } of answers) {
      if (!r) {
        this.missing.push(p.id);
        continue;
      }
      const kind = r.features[0]?.properties.person_kind || p.kind || "subject";
      const points = r.features.map((f) => ({ t: Date.parse(f.properties.time), lat: f.geometry.coordinates[1], lon: f.geometry.coordinates[0] }));
      const tint = colour(kind === "protected_person" ? "protected" : "subject");
      if (points.length) L.polyline(points.map((x) => [x.lat, x.lon]), { color: tint, weight: 3, opacity: 0.6, interactive: false }).addTo(this.layer);
      const marker = L.marker([0, 0], {
        interactive: false, keyboard: false, zIndexOffset: 9000,
        icon: L.divIcon({ className: "marker", iconSize: [18, 18], iconAnchor: [9, 9], html: `<div class="pin replay${kind === "protected_person" ? " protected" : ""}" data-testid="playback-marker-${esc(p.id)}"></div><div class="pin-label">${esc(p.id)}</div>` }),
      });
      // the server gives the oldest LIMIT fixes of a range: a longer track is said to be cut short
      this.tracks.push({ id: p.id, kind, points, marker, cut: points.length >= LIMIT });
    }
    this.loading = false;
    this.render();
    // the view on the tracks, clear of this panel over the map's foot
    const all = this.tracks.flatMap((x) => x.points.map((pt) => [pt.lat, pt.lon]));
    const below = this.map.getContainer().getBoundingClientRect().bottom - this.box.getBoundingClientRect().top + 24;
    if (all.length) this.map.fitBounds(L.latLngBounds(all), { maxZoom: 17, animate: false, paddingTopLeft: [40, 40], paddingBottomRight: [40, below] });
    // from the first position in the range: before it there is nothing to see
    const first = Math.min(...this.tracks.filter((x) => x.points.length).map((x) => x.points[0].t));
    this.move(Number.isFinite(first) ? first : this.since);
  }

  // The markers, the clock and the distance at `at` (ms).
  move(at) {
    this.at = Math.min(this.until, Math.max(this.since, at));
    const here = [];
    for (const track of this.tracks) {
      const p = placeAt(track.points, this.at);
      const line = this.box.querySelector(`[data-testid="playback-pos-${CSS.escape(track.id)}"]`);
      if (p) {
        track.marker.setLatLng([p.lat, p.lon]);
        if (!this.layer.hasLayer(track.marker)) track.marker.addTo(this.layer);
        here.push(L.latLng(p.lat, p.lon));
      } else if (this.layer.hasLayer(track.marker)) this.layer.removeLayer(track.marker);
      if (line) {
        line.dataset.lat = p ? p.lat.toFixed(6) : "";
        line.dataset.lon = p ? p.lon.toFixed(6) : "";
        line.querySelector(".where").textContent = p ? `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}` : t("playback.no_position");
      }
    }
    const slider = this.box.querySelector("[data-testid=playback-slider]");
    if (slider) slider.value = String(Math.round((this.at - this.since) / 1000));
    const clockEl = this.box.querySelector("[data-testid=playback-time]");
    if (clockEl) {
      clockEl.textContent = zoned(new Date(this.at).toISOString(), this.zone);
      clockEl.dataset.at = new Date(this.at).toISOString();
    }
    const distance = this.box.querySelector("[data-testid=playback-distance]");
    if (distance) {
      const known = here.length === 2 ? here[0].distanceTo(here[1]) : null;
      distance.dataset.metres = known === null ? "" : String(Math.round(known));
      distance.textContent = known === null ? "–" : metres(known);
    }
  }

  play() {
    if (this.timer) return this.pause();
    if (this.at >= this.until) this.move(this.since);
    const step = Math.max(1000, (this.until - this.since) / PLAY_TICKS);
    this.timer = setInterval(() => {
      this.move(this.at + step);
      if (this.at >= this.until) this.pause();
    }, TICK_MS);
    this.renderPlay();
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.renderPlay();
  }

  renderPlay() {
    const button = this.box.querySelector("[data-testid=playback-play]");
    if (button) {
      button.textContent = t(this.timer ? "playback.pause" : "playback.play");
      button.setAttribute("aria-pressed", String(Boolean(this.timer)));
    }
  }

  stop() {
    this.pause();
    this.spec = null;
    this.tracks = [];
    this.layer.clearLayers();
    this.box.hidden = true;
    this.box.replaceChildren();
  }

  render() {
    const spec = this.spec;
    if (!spec) return;
    this.box.hidden = false;
    const span = Math.round((this.until - this.since) / 1000);
    const ranges = spec.ranges.map((r) => `<option value="${esc(r.key)}"${r.key === spec.range ? " selected" : ""}>${esc(r.label)}</option>`).join("");
    const people = this.tracks.map((x) => `<li data-testid="playback-pos-${esc(x.id)}" data-kind="${esc(x.kind)}"><i class="dot" style="background:${colour(x.kind === "protected_person" ? "protected" : "subject")}"></i>
      <span class="mono">${esc(x.id)}</span> <span class="muted small">${esc(t("playback.fixes", { n: x.points.length }))}${x.cut ? ` · ${esc(t("playback.cut"))}` : ""}</span> <span class="where mono"></span></li>`).join("");
    const missing = this.missing.map((id) => `<li class="muted" data-testid="playback-missing"><span class="mono">${esc(id)}</span> ${esc(t("playback.not_shown"))}</li>`).join("");
    this.box.innerHTML = `<div class="playback-head"><b data-testid="playback-title">${esc(spec.title)}</b>
        <label class="small">${esc(t("playback.range"))} <select data-testid="playback-range">${ranges}</select></label>
        <button type="button" data-testid="playback-close" aria-label="${esc(t("playback.close"))}">✕</button></div>
      ${this.loading ? `<p class="muted small" data-testid="playback-loading">${esc(t("playback.loading"))}</p>` : `
      <div class="playback-controls"><button type="button" class="primary" data-testid="playback-play" aria-pressed="false">${esc(t("playback.play"))}</button>
        <input type="range" min="0" max="${span}" step="1" value="0" data-testid="playback-slider" aria-label="${esc(t("playback.slider"))}">
        <span class="mono" data-testid="playback-time"></span></div>
      <div class="playback-facts"><span>${esc(t("playback.distance"))} <b data-testid="playback-distance">–</b></span>
        <span class="muted small">${esc(zoned(new Date(this.since).toISOString(), this.zone))} – ${esc(zoned(new Date(this.until).toISOString(), this.zone))}</span></div>
      <ul class="playback-people">${people}${missing}</ul>`}`;
    this.box.querySelector("[data-testid=playback-close]").addEventListener("click", () => this.stop());
    this.box.querySelector("[data-testid=playback-range]").addEventListener("change", (e) => {
      this.pause();
      this.spec.range = e.target.value;
      this.load();
    });
    const slider = this.box.querySelector("[data-testid=playback-slider]");
    if (slider) {
      slider.addEventListener("input", () => {
        this.pause();
        this.move(this.since + Number(slider.value) * 1000);
      });
      this.box.querySelector("[data-testid=playback-play]").addEventListener("click", () => this.play());
    }
  }

  relabel() {
    if (!this.spec || this.loading) return;
    const at = this.at;
    this.render();
    this.move(at);
    this.renderPlay();
  }
}

// The ranges offered for an incident: from its first alert minus a few minutes to its close (plus
// two minutes) or now.
export function incidentRanges(incident, now = Date.now()) {
  const first = Math.min(...incident.alerts.map((a) => Date.parse(a.opened_at)), Date.parse(incident.opened_at));
  const until = incident.closed_at ? Date.parse(incident.closed_at) + 2 * 60000 : now;
  return [5, 15, 60].map((m) => ({ key: `m${m}`, label: t("playback.before", { n: m }), since: first - m * 60000, until }));
}

// The ranges offered for a person: the last hours up to now.
export function personRanges(now = Date.now()) {
  return [1, 6, 24, 72].map((h) => ({ key: `h${h}`, label: t("playback.last", { n: h }), since: now - h * 3600000, until: now }));
}

export const elPlaybackBox = () => el(`<div class="playback panel" data-testid="playback" hidden></div>`);
