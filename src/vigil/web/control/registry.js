// The shared registry: subjects, protected persons, devices, orders and zones, with each 422 reason
// shown next to its field. Zones are drawn on the map by clicking (circle: centre then edge;
// polygon: corners then Finish), with an optional weekly schedule. Roles that may only read it (112
// dispatchers) get the same screens without anything to change; the server lists only what the
// caller may see.
/* global L */
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { makeMap } from "/web/common/map.js";
import { drawZone } from "./monitor.js";
import { esc, el, metres } from "./util.js";

const LEGAL = ["sex_offence_em_order", "parole", "bail", "stalking_provisional_measure", "other"];
const DEVICE_KINDS = ["ankle_monitor", "smartwatch", "phone"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const KINDS = {
  subjects: {
    label: "reg.subjects", path: "/v1/subjects", zones: "subject", sub: (r) => r.name,
    fields: [
      { name: "name" },
      { name: "legal_basis", type: "select", options: LEGAL, prefix: "legal." },
      { name: "case_reference" },
      // whose caseload he is: operators assign it (a probation officer's new subject is theirs)
      { name: "probation_officer", optional: true, caseloads: true },
      { name: "notes", type: "textarea", wide: true },
    ],
  },
  protected: {
    label: "reg.protected", path: "/v1/protected-persons", sub: (r) => r.name,
    fields: [{ name: "name" }, { name: "phone" }, { name: "notes", type: "textarea", wide: true }],
  },
  devices: {
    label: "reg.devices", path: "/v1/devices", sub: (r) => `${t(`device.${r.kind}`)}${r.person_id ? ` · ${r.person_id}` : ""}`,
    fields: [
      { name: "kind", type: "select", options: DEVICE_KINDS, prefix: "device." },
      { name: "person_id", optional: true },
      { name: "silence_limit_s", type: "number", optional: true },
    ],
  },
  orders: {
    label: "reg.orders", path: "/v1/orders", zones: "order", sub: (r) => `${r.subject_id} → ${r.protected_person_id}`,
    fields: [
      { name: "subject_id" },
      { name: "protected_person_id" },
      { name: "violation_distance_m", type: "number" },
      { name: "warning_distance_m", type: "number" },
      { name: "victim_view_m", type: "number", value: 600 },
      { name: "legal_basis", type: "select", options: LEGAL, prefix: "legal." },
      { name: "valid_from", type: "datetime-local", optional: true },
      { name: "valid_until", type: "datetime-local", optional: true },
      { name: "issuing_agency" },
      { name: "reference" },
    ],
  },
};

function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export class Registry {
  // canWrite: the role may change the registry; caseloads: it assigns subjects to probation officers.
  constructor(root, config, { role, canWrite = false, caseloads = false }) {
    this.root = root;
    this.config = config;
    this.role = role;
    this.canWrite = canWrite;
    this.caseloads = caseloads;
    this.kind = "subjects";
    this.rows = [];
    this.current = null; // the record being edited (null: a new one)
    this.zones = []; // zone drafts: {id, label, kind, shape, schedule: [{days, start, end}], saved}
    this.drawing = null;
  }

  async start() {
    if (!this.built) {
      this.build();
      this.built = true;
      window.addEventListener("languagechange", () => this.relabel());
    }
    if (this.map) this.map.invalidateSize();
    await this.list();
  }

  build() {
    this.root.innerHTML = `
      <div class="col panel"><div class="subtabs" data-testid="reg-tabs"></div>
        <button type="button" class="primary" data-testid="reg-new"></button>
        <ul class="list" data-testid="reg-list"></ul></div>
      <div class="col panel" data-testid="reg-form-col"></div>
      <div class="col panel mapcol"><div id="regmap" data-testid="reg-map"></div><div class="zones" data-testid="reg-zones"></div></div>`;
    const add = this.root.querySelector("[data-testid=reg-new]");
    add.hidden = !this.canWrite;
    add.addEventListener("click", () => this.edit(null));
    this.tabs();
  }

  // The fields of the current kind this user sees.
  fields() {
    return KINDS[this.kind].fields.filter((f) => !f.caseloads || this.caseloads);
  }

  tabs() {
    const box = this.root.querySelector("[data-testid=reg-tabs]");
    box.innerHTML = "";
    for (const [key, spec] of Object.entries(KINDS)) {
      const b = el(`<button type="button" data-testid="reg-tab-${key}">${esc(t(spec.label))}</button>`);
      if (key === this.kind) b.setAttribute("aria-current", "page");
      b.addEventListener("click", async () => {
        this.kind = key;
        this.tabs();
        await this.list();
        this.edit(null);
      });
      box.appendChild(b);
    }
    this.root.querySelector("[data-testid=reg-new]").textContent = t("reg.new");
  }

  relabel() {
    this.tabs();
    this.renderList();
    this.renderForm(this.lastErrors || {});
    this.renderZones();
  }

  async ensureMap() {
    if (this.map) return;
    this.map = await makeMap(this.root.querySelector("#regmap"), { center: [37.56, 126.98], zoom: 11, config: this.config });
    this.zoneLayer = L.layerGroup().addTo(this.map);
    this.draftLayer = L.layerGroup().addTo(this.map);
    this.map.on("click", (e) => this.drawClick(e.latlng));
    this.map.on("mousemove", (e) => this.drawMove(e.latlng));
  }

  async list() {
    const spec = KINDS[this.kind];
    this.rows = await api("GET", spec.path);
    this.renderList();
    if (!this.formShown) this.edit(null);
  }

  renderList() {
    const spec = KINDS[this.kind];
    const ul = this.root.querySelector("[data-testid=reg-list]");
    ul.innerHTML = this.rows.length ? "" : `<li class="muted">${esc(t("reg.none"))}</li>`;
    for (const row of this.rows) {
      const li = el(`<li data-testid="reg-row-${esc(row.id)}"><span class="mono">${esc(row.id)}</span><span class="sub">${esc(spec.sub(row) || "")}</span></li>`);
      if (this.current && this.current.id === row.id) li.setAttribute("aria-selected", "true");
      li.addEventListener("click", () => this.open(row.id));
      ul.appendChild(li);
    }
  }

  async open(id) {
    const spec = KINDS[this.kind];
    const record = await api("GET", `${spec.path}/${encodeURIComponent(id)}`);
    this.edit(record);
  }

  async edit(record) {
    this.current = record;
    this.formShown = true;
    this.lastErrors = {};
    this.message = "";
    this.cancelDraw();
    const zones = record && KINDS[this.kind].zones ? record.zones || [] : [];
    this.zones = zones.map((z) => ({
      id: z.id, label: z.label, kind: z.kind, shape: z.shape, saved: true,
      fromOrder: this.kind === "subjects" && Boolean(z.order_id),
      schedule: z.schedule ? z.schedule.windows.map((w) => ({ ...w, days: [...w.days] })) : [],
      timezone: z.schedule ? z.schedule.timezone : "Asia/Seoul",
    }));
    this.renderList();
    this.renderForm({});
    await this.ensureMap();
    this.renderZones();
    this.fitZones();
  }

  renderForm(errors) {
    const spec = KINDS[this.kind];
    const col = this.root.querySelector("[data-testid=reg-form-col]");
    const record = this.current;
    if (!this.canWrite && !record) {
      col.innerHTML = `<h2>${esc(t(spec.label))}</h2><p class="muted" data-testid="reg-read-only">${esc(t("reg.read_only", { role: t(`role.${this.role}`) }))}</p>
        <p class="muted small">${esc(t("reg.pick"))}</p>`;
      return;
    }
    const lock = this.canWrite ? "" : " disabled";
    const field = (f) => {
      const value = record ? record[f.name] : f.value;
      const label = `<label for="f-${f.name}">${esc(t(`reg.${f.name}`))}</label>`;
      let input;
      if (f.type === "select") {
        input = `<select id="f-${f.name}" name="${f.name}" data-testid="field-${f.name}"${lock}>${f.options.map((o) =>
          `<option value="${o}"${value === o ? " selected" : ""}>${esc(t(f.prefix + o))}</option>`).join("")}</select>`;
      } else if (f.type === "textarea") {
        input = `<textarea id="f-${f.name}" name="${f.name}" rows="3" data-testid="field-${f.name}"${lock}>${esc(value ?? "")}</textarea>`;
      } else {
        const shown = f.type === "datetime-local" ? localInput(value) : value ?? "";
        input = `<input id="f-${f.name}" name="${f.name}" type="${f.type || "text"}" ${f.type === "number" ? 'step="any"' : ""} value="${esc(shown)}" data-testid="field-${f.name}"${lock}>`;
      }
      const error = errors[f.name];
      return `<div class="field${f.wide ? " wide" : ""}" data-field="${f.name}">${label}${input}
        <div class="error" data-testid="error-${f.name}"${error ? "" : " hidden"}>${esc(error || "")}</div></div>`;
    };
    const idError = errors.id;
    const ended = record && record.ended_at;
    col.innerHTML = `<h2>${esc(t(spec.label))}${record ? ` · <span class="mono">${esc(record.id)}</span>` : ` · ${esc(t("reg.new"))}`}
        ${ended ? `<span class="chip silent">${esc(t("reg.ended"))}</span>` : ""}</h2>
      <form class="record" data-testid="reg-form" novalidate>
        <div class="field" data-field="id"><label for="f-id">${esc(t("reg.id"))}</label>
          <input id="f-id" name="id" data-testid="field-id" value="${esc(record ? record.id : "")}" ${record ? "readonly" : ""} placeholder="${esc(t("reg.id_hint"))}">
          <div class="error" data-testid="error-id"${idError ? "" : " hidden"}>${esc(idError || "")}</div></div>
        ${this.fields().map(field).join("")}
        ${this.canWrite ? `<div class="actions"><button type="submit" class="primary" data-testid="reg-save">${esc(t("reg.save"))}</button>
          ${this.kind === "orders" && record && !ended ? `<button type="button" class="danger" data-testid="reg-end-order">${esc(t("reg.end_order"))}</button>` : ""}
          <span class="ok-msg" data-testid="reg-message">${esc(this.message || "")}</span>
          <span class="error" data-testid="error-general"${errors[""] ? "" : " hidden"}>${esc(errors[""] || "")}</span></div>`
          : `<p class="muted small read-only" data-testid="reg-read-only">${esc(t("reg.read_only", { role: t(`role.${this.role}`) }))}</p>`}
      </form>
      ${record && record.devices ? `<h3>${esc(t("reg.devices_of"))}</h3><p class="mono">${record.devices.map((d) => `${esc(d.id)} (${esc(t(`device.${d.kind}`))})`).join(", ") || "–"}</p>` : ""}
      ${record && record.orders ? `<h3>${esc(t("reg.orders_of"))}</h3><p class="mono">${record.orders.map((o) => esc(o.id) + (o.ended_at ? ` (${esc(t("reg.ended"))})` : "")).join(", ") || "–"}</p>` : ""}`;
    for (const [name, reason] of Object.entries(errors)) {
      const input = col.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input && reason) input.setAttribute("aria-invalid", "true");
    }
    col.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); if (this.canWrite) this.save(); });
    const end = col.querySelector("[data-testid=reg-end-order]");
    if (end) end.addEventListener("click", () => this.endOrder());
  }

  body() {
    const spec = KINDS[this.kind];
    const form = this.root.querySelector("[data-testid=reg-form]");
    const body = {};
    for (const f of this.fields()) {
      const raw = form.elements[f.name].value.trim();
      if (f.type === "number") body[f.name] = raw === "" ? (f.optional ? null : undefined) : Number(raw);
      else if (f.type === "datetime-local") body[f.name] = raw ? new Date(raw).toISOString() : null;
      else body[f.name] = raw === "" && f.optional ? null : raw;
    }
    if (spec.zones === "order") body.zones = this.zones.map((z) => this.zoneBody(z));
    return { id: form.elements.id.value.trim(), body };
  }

  zoneBody(z) {
    const out = { id: z.id || undefined, kind: z.kind, label: z.label || "", timezone: z.timezone || "Asia/Seoul" };
    Object.assign(out, z.shape);
    const windows = z.schedule.filter((w) => w.days.length);
    if (windows.length) out.schedule = windows.map((w) => ({ days: w.days, start: w.start, end: w.end }));
    return out;
  }

  async save() {
    const spec = KINDS[this.kind];
    const { id, body } = this.body();
    if (!id) return this.showErrors({ id: "required" });
    try {
      const saved = await api("PUT", `${spec.path}/${encodeURIComponent(id)}`, body);
      this.message = t("reg.saved");
      await this.list();
      await this.edit(await api("GET", `${spec.path}/${encodeURIComponent(saved.id)}`));
      this.message = t("reg.saved");
      this.root.querySelector("[data-testid=reg-message]").textContent = this.message;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.showErrors(error.status === 422 ? error.fields() : { "": typeof error.detail === "string" ? error.detail : error.message });
    }
  }

  // 422 reasons next to their fields: "warning_distance_m", "path.subject_id" (the id in the URL),
  // "zones.0.circle.radius_m" or "zones[0].schedule" (a zone's card); anything else at the bottom.
  showErrors(fields) {
    const known = new Set(["id", ...this.fields().map((f) => f.name)]);
    const errors = {};
    const zoneErrors = {};
    for (let [key, reason] of Object.entries(fields)) {
      const name = key.replace(/^path\.\w+$/, "id");
      reason = String(reason).replace(/^Value error, /, "");
      const zone = name.match(/^zones[.[](\d+)/);
      if (known.has(name)) errors[name] = reason;
      else if (zone) zoneErrors[Number(zone[1])] = `${name.slice(zone[0].length).replace(/^[\].]+/, "")}: ${reason}`;
      else errors[""] = errors[""] ? `${errors[""]}; ${name ? `${name}: ` : ""}${reason}` : `${name ? `${name}: ` : ""}${reason}`;
    }
    this.lastErrors = errors;
    this.message = "";
    this.keepingInputs(() => this.renderForm(errors));
    this.zoneErrors = zoneErrors;
    this.renderZones();
  }

  // Re-render the form without losing what the user typed.
  keepingInputs(render) {
    const form = this.root.querySelector("[data-testid=reg-form]");
    const values = form ? Object.fromEntries([...form.elements].filter((e) => e.name).map((e) => [e.name, e.value])) : {};
    render();
    const again = this.root.querySelector("[data-testid=reg-form]");
    for (const [name, value] of Object.entries(values)) if (again.elements[name]) again.elements[name].value = value;
  }

  async endOrder() {
    await api("POST", `/v1/orders/${encodeURIComponent(this.current.id)}/end`);
    await this.list();
    this.edit(await api("GET", `/v1/orders/${encodeURIComponent(this.current.id)}`));
  }

  // --- zones ---------------------------------------------------------------------------------------

  renderZones() {
    const box = this.root.querySelector("[data-testid=reg-zones]");
    const mode = KINDS[this.kind].zones;
    const mapcol = this.root.querySelector(".mapcol");
    mapcol.hidden = !mode;
    if (!mode) return;
    if (this.map) this.map.invalidateSize();
    if (mode === "subject" && !this.current) {
      box.innerHTML = `<p class="muted small">${esc(t("reg.pick"))}</p>`;
      this.drawZonesOnMap();
      return;
    }
    const errors = this.zoneErrors || {};
    box.innerHTML = `<h3>${esc(t(mode === "order" ? "reg.order_zones" : "reg.subject_zones"))}</h3>
      <div class="steps"${this.canWrite ? "" : " hidden"}><button type="button" data-testid="zone-draw-circle">${esc(t("reg.add_circle"))}</button>
        <button type="button" data-testid="zone-draw-polygon">${esc(t("reg.add_polygon"))}</button>
        ${this.drawing ? `<span class="drawhelp" data-testid="draw-help">${esc(t(this.drawing.type === "circle" ? "reg.draw_circle_help" : "reg.draw_polygon_help"))}</span>
          ${this.drawing.type === "polygon" ? `<button type="button" class="primary" data-testid="zone-finish">${esc(t("reg.finish"))}</button>` : ""}
          <button type="button" data-testid="zone-cancel">${esc(t("reg.cancel"))}</button>` : ""}</div>
      <div data-slot="cards"></div>`;
    box.querySelector("[data-testid=zone-draw-circle]").addEventListener("click", () => this.startDraw("circle"));
    box.querySelector("[data-testid=zone-draw-polygon]").addEventListener("click", () => this.startDraw("polygon"));
    const finish = box.querySelector("[data-testid=zone-finish]");
    if (finish) finish.addEventListener("click", () => this.finishPolygon());
    const cancel = box.querySelector("[data-testid=zone-cancel]");
    if (cancel) cancel.addEventListener("click", () => { this.cancelDraw(); this.renderZones(); });
    const cards = box.querySelector("[data-slot=cards]");
    this.zones.forEach((z, i) => cards.appendChild(this.zoneCard(z, i, mode, errors[i])));
    this.drawZonesOnMap();
  }

  zoneCard(z, i, mode, error) {
    const shape = z.shape.circle ? `○ ${metres(z.shape.circle.radius_m)}` : `▱ ${(z.shape.polygon || []).length}`;
    const lock = this.canWrite ? "" : " disabled";
    const card = el(`<div class="zone-card" data-testid="zone-card-${i}">
      <div><label>${esc(t("reg.zone_id"))}</label><input data-k="id" value="${esc(z.id || "")}" ${z.saved ? "readonly" : ""}${lock}></div>
      <div><label>${esc(t("reg.zone_label"))}</label><input data-k="label" value="${esc(z.label || "")}"${lock}></div>
      <div><label>${esc(t("reg.zone_kind"))}</label><select data-k="kind"${lock}>
        <option value="exclusion"${z.kind === "exclusion" ? " selected" : ""}>${esc(t("reg.exclusion"))}</option>
        <option value="inclusion"${z.kind === "inclusion" ? " selected" : ""}>${esc(t("reg.inclusion"))}</option></select></div>
      <div class="wide small">${esc(t("reg.shape"))}: <b>${shape}</b></div>
      <div class="wide"><label>${esc(t("reg.schedule"))}</label><div data-slot="windows"></div>
        <button type="button" data-testid="zone-add-window"${this.canWrite ? "" : " hidden"}>${esc(t("reg.add_window"))}</button></div>
      <div class="wide steps"${this.canWrite ? "" : " hidden"}>
        ${mode === "subject" && !z.fromOrder ? `<button type="button" class="primary" data-testid="zone-save-${i}">${esc(t("reg.save"))}</button>` : ""}
        ${z.fromOrder ? "" : `<button type="button" data-testid="zone-remove-${i}">${esc(t("reg.remove"))}</button>`}
        <span class="error" data-testid="zone-error-${i}"${error ? "" : " hidden"}>${esc(error || "")}</span>
        <span class="ok-msg" data-testid="zone-message-${i}"></span></div></div>`);
    for (const input of card.querySelectorAll("[data-k]")) {
      input.addEventListener("input", () => { z[input.dataset.k] = input.value; });
      input.addEventListener("change", () => { z[input.dataset.k] = input.value; this.drawZonesOnMap(); });
    }
    const windows = card.querySelector("[data-slot=windows]");
    z.schedule.forEach((w, j) => windows.appendChild(this.windowRow(z, w, j)));
    card.querySelector("[data-testid=zone-add-window]").addEventListener("click", () => {
      z.schedule.push({ days: [...DAYS], start: "22:00", end: "06:00" });
      this.renderZones();
    });
    const save = card.querySelector(`[data-testid=zone-save-${i}]`);
    if (save) save.addEventListener("click", () => this.saveSubjectZone(z, i));
    const remove = card.querySelector(`[data-testid=zone-remove-${i}]`);
    if (remove) remove.addEventListener("click", () => this.removeZone(z, i, mode));
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
    row.querySelector("button").addEventListener("click", () => { z.schedule.splice(j, 1); this.renderZones(); });
    return row;
  }

  async saveSubjectZone(z, i) {
    if (!z.id) {
      this.zoneErrors = { ...(this.zoneErrors || {}), [i]: `${t("reg.zone_id")}: required` };
      return this.renderZones();
    }
    const { id, ...body } = this.zoneBody(z);
    try {
      await api("PUT", `/v1/subjects/${encodeURIComponent(this.current.id)}/zones/${encodeURIComponent(id)}`, body);
      z.saved = true;
      this.zoneErrors = {};
      this.renderZones();
      this.root.querySelector(`[data-testid=zone-message-${i}]`).textContent = t("reg.saved");
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const reasons = error.status === 422 ? Object.entries(error.fields()).map(([k, r]) => `${k.replace(/^body\.?/, "")}${k ? ": " : ""}${r}`).join("; ") : String(error.detail);
      this.zoneErrors = { ...(this.zoneErrors || {}), [i]: reasons };
      this.renderZones();
    }
  }

  async removeZone(z, i, mode) {
    if (mode === "subject" && z.saved) {
      await api("DELETE", `/v1/subjects/${encodeURIComponent(this.current.id)}/zones/${encodeURIComponent(z.id)}`);
    }
    this.zones.splice(i, 1);
    this.zoneErrors = {};
    this.renderZones();
  }

  drawZonesOnMap() {
    if (!this.zoneLayer) return;
    this.zoneLayer.clearLayers();
    for (const z of this.zones) drawZone(z).addTo(this.zoneLayer);
  }

  fitZones() {
    const layers = this.zoneLayer ? this.zoneLayer.getLayers() : [];
    if (!layers.length) return;
    this.map.fitBounds(L.featureGroup(layers).getBounds().pad(0.3), { maxZoom: 16 });
  }

  // --- drawing by clicking ----------------------------------------------------------------------------

  startDraw(type) {
    this.cancelDraw();
    this.drawing = { type, points: [] };
    this.map.getContainer().style.cursor = "crosshair";
    this.renderZones();
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

  addZone(shape) {
    this.cancelDraw();
    const id = this.current ? `${this.current.id}.z${this.zones.length + 1}` : "";
    this.zones.push({ id, label: "", kind: "exclusion", shape, schedule: [], timezone: "Asia/Seoul", saved: false });
    this.renderZones();
  }
}
