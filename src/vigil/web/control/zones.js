// Zones drawn and typed in: one editor, used by the registry (a subject's zones, an order's zones)
// and by a case's decision form (the zones a court's 3-2 sets). A zone is drawn on the map by
// clicking (circle: centre then edge; polygon: corners then Finish), typed in (a circle's centre and
// radius in numbers), or found by address through the deployment's geocoder (a circle placed on it),
// with an optional weekly schedule. The editor holds the drafts and renders their cards into a box;
// whoever uses it owns the map it draws on (attach) and saves the zones as it must (`body` gives
// each as the server takes it: api/bodies.py ZoneIn).
/* global L */
import { api, ApiError } from "/web/common/api.js";
import { language, t } from "/web/common/i18n.js";
import { drawZone } from "./monitor.js";
import { esc, el, metres, msg, say } from "./util.js";

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const RADIUS = [1, 100000]; // metres, as the server's circles
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

export class ZoneEditor {
  // box: the element the editor renders into. canWrite: may change them; config: /v1/web/config
  // (a geocoder named there offers "zone by address"); mode: "order" or "subject" (a subject's own
  // zones are saved one by one: `save`/`remove` do it); idPrefix: the HTML ids' prefix, distinct per
  // screen (two editors may be in the page); newId(n): a new zone's default id ("" for none).
  constructor(box, { canWrite = false, config = null, mode = "order", title = "reg.order_zones", idPrefix = "zone", newId = () => "", save = null, remove = null } = {}) {
    this.box = box;
    this.canWrite = canWrite;
    this.config = config;
    this.mode = mode;
    this.title = title;
    this.idPrefix = idPrefix;
    this.newId = newId;
    this.onSave = save;
    this.onRemove = remove;
    this.zones = []; // drafts: {id, label, kind, shape, schedule: [{days, start, end}], saved}
    this.errors = {}; // zone index -> {part, problem}
    this.drawing = null;
    this.address = null;
    this.map = null;
  }

  // The map the zones are drawn on, and clicked on to draw.
  attach(map) {
    this.map = map;
    this.zoneLayer = L.layerGroup().addTo(map);
    this.draftLayer = L.layerGroup().addTo(map);
    map.on("click", (e) => this.drawClick(e.latlng));
    map.on("mousemove", (e) => this.drawMove(e.latlng));
    return this.zoneLayer;
  }

  // Zones as the server lists them (saved), or none.
  load(zones = [], fromOrder = () => false) {
    this.cancelDraw();
    this.errors = {};
    this.address = null;
    this.zones = zones.map((z) => ({
      id: z.id, label: z.label, kind: z.kind, shape: z.shape, saved: true, fromOrder: fromOrder(z),
      schedule: z.schedule ? z.schedule.windows.map((w) => ({ ...w, days: [...w.days] })) : [],
      timezone: z.schedule ? z.schedule.timezone : "Asia/Seoul",
    }));
  }

  // One zone as the server takes it.
  body(z) {
    const out = { id: z.id || undefined, kind: z.kind, label: z.label || "", timezone: z.timezone || "Asia/Seoul" };
    Object.assign(out, z.shape);
    const windows = z.schedule.filter((w) => w.days.length);
    if (windows.length) out.schedule = windows.map((w) => ({ days: w.days, start: w.start, end: w.end }));
    return out;
  }

  bodies() {
    return this.zones.map((z) => this.body(z));
  }

  // What the server would refuse in them, found here first: {index: {part, problem}}.
  check() {
    const errors = {};
    this.zones.forEach((z, i) => {
      const c = z.shape.circle;
      if (c && !(c.radius_m >= RADIUS[0] && c.radius_m <= RADIUS[1])) errors[i] = { part: "circle.radius_m", problem: msg("err.range", { min: RADIUS[0], max: RADIUS[1] }) };
      else if ((z.label || "").length > 200) errors[i] = { part: msg("reg.zone_label"), problem: msg("err.string_too_long") };
      else if (z.schedule.some((w) => w.days.length && !(TIME.test(w.start) && TIME.test(w.end)))) errors[i] = { part: msg("reg.schedule"), problem: msg("err.missing") };
    });
    return errors;
  }

  // Problems the server named under "zones.<n>..." or "zones[<n>]...": each on its zone's card.
  // Answers the problems that are not about a zone, to be shown by the form.
  refused(fields) {
    const rest = {};
    this.errors = {};
    for (const [name, problem] of Object.entries(fields)) {
      const zone = name.match(/^zones[.[](\d+)/);
      if (zone) this.errors[Number(zone[1])] = { part: name.slice(zone[0].length).replace(/^[\].]+/, ""), problem };
      else rest[name] = problem;
    }
    return rest;
  }

  render() {
    const box = this.box;
    if (this.map) this.map.invalidateSize();
    box.innerHTML = `<h3>${esc(t(this.title))}</h3>
      <div class="steps"${this.canWrite ? "" : " hidden"}><button type="button" data-testid="zone-draw-circle">${esc(t("reg.add_circle"))}</button>
        <button type="button" data-testid="zone-draw-polygon">${esc(t("reg.add_polygon"))}</button>
        <button type="button" data-testid="zone-add-numeric">${esc(t("reg.add_circle_numbers"))}</button>
        ${this.drawing ? `<span class="drawhelp" data-testid="draw-help">${esc(t(this.drawing.type === "circle" ? "reg.draw_circle_help" : "reg.draw_polygon_help"))}</span>
          ${this.drawing.type === "polygon" ? `<button type="button" class="primary" data-testid="zone-finish">${esc(t("reg.finish"))}</button>` : ""}
          <button type="button" data-testid="zone-cancel">${esc(t("reg.cancel"))}</button>` : ""}</div>
      ${this.canWrite && this.config && this.config.geocoder ? this.addressForm() : ""}
      <div data-slot="cards"></div>`;
    this.wireAddress(box);
    box.querySelector("[data-testid=zone-draw-circle]").addEventListener("click", () => this.startDraw("circle"));
    box.querySelector("[data-testid=zone-draw-polygon]").addEventListener("click", () => this.startDraw("polygon"));
    // A circle typed in rather than drawn: placed at the map's centre, its numbers then set in its card.
    box.querySelector("[data-testid=zone-add-numeric]").addEventListener("click", () => {
      const centre = this.map ? this.map.getCenter() : { lat: 37.5665, lng: 126.978 };
      this.addZone({ circle: { lat: +centre.lat.toFixed(6), lon: +centre.lng.toFixed(6), radius_m: 200 } });
    });
    const finish = box.querySelector("[data-testid=zone-finish]");
    if (finish) finish.addEventListener("click", () => this.finishPolygon());
    const cancel = box.querySelector("[data-testid=zone-cancel]");
    if (cancel) cancel.addEventListener("click", () => { this.cancelDraw(); this.render(); });
    const cards = box.querySelector("[data-slot=cards]");
    this.zones.forEach((z, i) => cards.appendChild(this.card(z, i, this.errors[i])));
    this.drawOnMap();
  }

  card(z, i, error) {
    const p = `${this.idPrefix}-${i}`;
    const shape = z.shape.circle ? `○ ${metres(z.shape.circle.radius_m)}` : `▱ ${(z.shape.polygon || []).length}`;
    const lock = this.canWrite ? "" : " disabled";
    const card = el(`<div class="zone-card" data-testid="zone-card-${i}">
      <div><label for="${p}-id">${esc(t("reg.zone_id"))}</label><input id="${p}-id" data-k="id" value="${esc(z.id || "")}" ${z.saved ? "readonly" : ""}${lock}></div>
      <div><label for="${p}-label">${esc(t("reg.zone_label"))}</label><input id="${p}-label" data-k="label" value="${esc(z.label || "")}"${lock}></div>
      ${z.shape.circle ? `<div class="circle-numbers">
        <label>${esc(t("reg.lat"))}<input type="number" step="0.000001" min="-90" max="90" data-c="lat" value="${z.shape.circle.lat}"${lock}></label>
        <label>${esc(t("reg.lon"))}<input type="number" step="0.000001" min="-180" max="180" data-c="lon" value="${z.shape.circle.lon}"${lock}></label>
        <label>${esc(t("reg.radius_m"))}<input type="number" step="1" min="${RADIUS[0]}" max="${RADIUS[1]}" data-c="radius_m" value="${z.shape.circle.radius_m}"${lock}></label></div>` : ""}
      <div><label for="${p}-kind">${esc(t("reg.zone_kind"))}</label><select id="${p}-kind" data-k="kind"${lock}>
        <option value="exclusion"${z.kind === "exclusion" ? " selected" : ""}>${esc(t("reg.exclusion"))}</option>
        <option value="inclusion"${z.kind === "inclusion" ? " selected" : ""}>${esc(t("reg.inclusion"))}</option></select></div>
      <div class="wide small">${esc(t("reg.shape"))}: <b>${shape}</b></div>
      <div class="wide"><label>${esc(t("reg.schedule"))}</label><div data-slot="windows"></div>
        <button type="button" data-testid="zone-add-window"${this.canWrite ? "" : " hidden"}>${esc(t("reg.add_window"))}</button></div>
      <div class="wide steps"${this.canWrite ? "" : " hidden"}>
        ${this.mode === "subject" && !z.fromOrder ? `<button type="button" class="primary" data-testid="zone-save-${i}">${esc(t("reg.save"))}</button>` : ""}
        ${z.fromOrder ? "" : `<button type="button" data-testid="zone-remove-${i}">${esc(t("reg.remove"))}</button>`}
        <span class="error" data-testid="zone-error-${i}"${error ? "" : " hidden"}>${esc(error ? `${error.part ? `${typeof error.part === "string" ? error.part : say(error.part)}: ` : ""}${say(error.problem)}` : "")}</span>
        <span class="ok-msg" data-testid="zone-message-${i}" role="status">${esc(say(z.message))}</span></div></div>`);
    for (const input of card.querySelectorAll("[data-k]")) {
      input.addEventListener("input", () => { z[input.dataset.k] = input.value; });
      input.addEventListener("change", () => { z[input.dataset.k] = input.value; this.drawOnMap(); });
    }
    for (const input of card.querySelectorAll("[data-c]")) {
      // A number out of its range is shown as such and not taken; the server checks it again.
      input.addEventListener("change", () => {
        const value = Number(input.value);
        const ok = input.value !== "" && Number.isFinite(value) && value >= Number(input.min) && value <= Number(input.max);
        input.setCustomValidity(ok ? "" : t("reg.number_range", { min: input.min, max: input.max }));
        input.reportValidity();
        if (!ok) return;
        z.shape = { circle: { ...z.shape.circle, [input.dataset.c]: value } };
        this.drawOnMap();
        if (this.map) this.map.panTo([z.shape.circle.lat, z.shape.circle.lon]);
      });
    }
    const windows = card.querySelector("[data-slot=windows]");
    z.schedule.forEach((w, j) => windows.appendChild(this.windowRow(z, w, j)));
    card.querySelector("[data-testid=zone-add-window]").addEventListener("click", () => {
      z.schedule.push({ days: [...DAYS], start: "22:00", end: "06:00" });
      this.render();
    });
    const save = card.querySelector(`[data-testid=zone-save-${i}]`);
    if (save && this.onSave) save.addEventListener("click", () => this.onSave(z, i));
    const remove = card.querySelector(`[data-testid=zone-remove-${i}]`);
    if (remove) remove.addEventListener("click", () => this.remove(z, i));
    return card;
  }

  windowRow(z, w, j) {
    const lock = this.canWrite ? "" : " disabled";
    const row = el(`<div class="window" data-testid="window-${j}">
      ${DAYS.map((d) => `<label><input type="checkbox" value="${d}"${w.days.includes(d) ? " checked" : ""}${lock}>${esc(t(`day.${d}`))}</label>`).join("")}
      <input type="time" data-k="start" value="${esc(w.start)}" aria-label="${esc(t("reg.start"))}"${lock}> –
      <input type="time" data-k="end" value="${esc(w.end === "24:00" ? "23:59" : w.end)}" aria-label="${esc(t("reg.end"))}"${lock}>
      <button type="button" aria-label="${esc(t("reg.remove"))}"${this.canWrite ? "" : " hidden"}>✕</button></div>`);
    for (const box of row.querySelectorAll("input[type=checkbox]")) {
      box.addEventListener("change", () => { w.days = DAYS.filter((d) => row.querySelector(`input[value=${d}]`).checked); });
    }
    for (const input of row.querySelectorAll("input[type=time]")) input.addEventListener("change", () => { w[input.dataset.k] = input.value; });
    row.querySelector("button").addEventListener("click", () => { z.schedule.splice(j, 1); this.render(); });
    return row;
  }

  async remove(z, i) {
    if (this.onRemove) await this.onRemove(z, i);
    this.zones.splice(i, 1);
    this.errors = {};
    this.render();
  }

  drawOnMap() {
    if (!this.zoneLayer) return;
    this.zoneLayer.clearLayers();
    for (const z of this.zones) drawZone(z).addTo(this.zoneLayer);
  }

  fit() {
    const layers = this.zoneLayer ? this.zoneLayer.getLayers() : [];
    if (!layers.length) return;
    this.map.fitBounds(L.featureGroup(layers).getBounds().pad(0.3), { maxZoom: 16 });
  }

  // --- drawing by clicking ----------------------------------------------------------------------------

  startDraw(type) {
    this.cancelDraw();
    this.drawing = { type, points: [] };
    if (this.map) this.map.getContainer().style.cursor = "crosshair";
    this.render();
  }

  cancelDraw() {
    this.drawing = null;
    if (this.draftLayer) this.draftLayer.clearLayers();
    if (this.map) this.map.getContainer().style.cursor = "";
  }

  drawClick(latlng) {
    const d = this.drawing;
    if (!d || !this.canWrite) return;
    d.points.push(latlng);
    if (d.type === "circle" && d.points.length === 2) {
      const [centre, edge] = d.points;
      const radius = Math.max(1, Math.round(centre.distanceTo(edge)));
      this.addZone({ circle: { lat: +centre.lat.toFixed(6), lon: +centre.lng.toFixed(6), radius_m: radius } });
      return;
    }
    this.preview(latlng);
  }

  drawMove(latlng) {
    if (this.drawing && this.drawing.points.length) this.preview(latlng);
  }

  preview(cursor) {
    const d = this.drawing;
    this.draftLayer.clearLayers();
    const style = { color: "#2457a6", weight: 2, dashArray: "4 4", fillOpacity: 0.05, interactive: false };
    if (d.type === "circle") {
      const centre = d.points[0];
      L.circleMarker(centre, { radius: 3, color: "#2457a6", interactive: false }).addTo(this.draftLayer);
      L.circle(centre, { radius: centre.distanceTo(cursor), ...style }).addTo(this.draftLayer);
    } else {
      for (const p of d.points) L.circleMarker(p, { radius: 3, color: "#2457a6", interactive: false }).addTo(this.draftLayer);
      L.polygon([...d.points, cursor], style).addTo(this.draftLayer);
    }
  }

  finishPolygon() {
    const d = this.drawing;
    if (!d || d.points.length < 3) return;
    this.addZone({ polygon: d.points.map((p) => [+p.lng.toFixed(6), +p.lat.toFixed(6)]) });
  }

  // --- a zone by address: the deployment's geocoder finds it, a circle is placed on it ------------

  addressForm() {
    const a = this.address || { query: "", places: null, problem: null };
    const places = a.places || [];
    const id = `${this.idPrefix}-address`;
    return `<form class="address-search" data-testid="zone-address-form">
        <label for="${id}">${esc(t("reg.by_address"))}</label>
        <input id="${id}" data-testid="zone-address" maxlength="200" autocomplete="off" value="${esc(a.query)}">
        <button type="submit" data-testid="zone-address-search">${esc(t("reg.find_address"))}</button>
        <span class="error" data-testid="zone-address-error" role="alert"${a.problem ? "" : " hidden"}>${esc(a.problem ? t(a.problem) : "")}</span>
        <ul class="address-results" data-testid="zone-address-results"${places.length ? "" : " hidden"}>
          ${places.map((p, i) => `<li><button type="button" data-place="${i}">${esc(p.name)}</button></li>`).join("")}</ul></form>`;
  }

  wireAddress(box) {
    const form = box.querySelector("[data-testid=zone-address-form]");
    if (!form) return;
    const input = form.querySelector("[data-testid=zone-address]");
    input.addEventListener("input", () => { this.address = { ...(this.address || {}), query: input.value }; });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      event.stopPropagation(); // a form inside another's box: its own submit only
      this.findAddress(input.value);
    });
    for (const button of form.querySelectorAll("[data-place]")) {
      button.addEventListener("click", () => {
        const place = this.address.places[Number(button.dataset.place)];
        this.address = { query: "", places: null, problem: null };
        this.addZone({ circle: { lat: +place.lat.toFixed(6), lon: +place.lon.toFixed(6), radius_m: 200 } }, place.name.slice(0, 200));
        if (this.map) this.map.setView([place.lat, place.lon], Math.max(this.map.getZoom(), 16));
      });
    }
  }

  async findAddress(query) {
    const text = query.trim();
    if (!text) {
      this.address = { query, places: null, problem: "reg.address_empty" };
      return this.render();
    }
    let places = null, problem = null;
    try {
      places = (await api("GET", `/v1/geocode?q=${encodeURIComponent(text)}&lang=${language()}`)).places;
      if (!places.length) problem = "reg.address_none";
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      problem = { 404: "reg.geocoder_none", 422: "reg.address_empty", 502: "reg.geocoder_down", 504: "reg.geocoder_slow" }[status] || "reg.geocoder_down";
    }
    this.address = { query, places, problem };
    this.render();
  }

  addZone(shape, label = "") {
    this.cancelDraw();
    this.zones.push({ id: this.newId(this.zones.length + 1), label, kind: "exclusion", shape, schedule: [], timezone: "Asia/Seoul", saved: false });
    this.render();
  }
}
