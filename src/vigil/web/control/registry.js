// The shared registry: subjects, protected persons, devices, orders and zones. Each form is checked
// here before it is sent (the same rules the server applies), and whatever the server still refuses
// is shown next to its field in the user's language: its field errors carry a code (`missing`,
// `phone`...) looked up in strings.js as "err.<field>.<code>", then "err.<code>", with the server's
// own words as the fallback. Messages are kept as keys, so switching language translates them.
// People are picked by searching (/v1/registry/search: what the caller's lists would show), and an
// order shows its parties by name. Zones are edited by zones.js (drawn on the map, typed in or
// found by address, with an optional weekly schedule; a case's decision form uses the same editor).
// Roles that may only read it (112
// dispatchers) get the same screens without anything to change; the server lists only what the
// caller may see.
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { addOverlay, makeMap } from "/web/common/map.js";
import { photoUrl, uploadPhoto, PHOTO_TYPES, PHOTO_MAX_BYTES } from "./profile.js";
import { esc, el, msg, problem, say } from "./util.js";
import { Absences } from "./absences.js";
import { Notes } from "./notes.js";
import { ZoneEditor } from "./zones.js";

const LEGAL = ["sex_offence_em_order", "parole", "bail", "stalking_provisional_measure", "other"];
const DEVICE_KINDS = ["ankle_monitor", "smartwatch", "phone"];

const KINDS = {
  subjects: {
    label: "reg.subjects", path: "/v1/subjects", zones: "subject", sub: (r) => r.name,
    fields: [
      { name: "name", required: true },
      { name: "legal_basis", type: "select", options: LEGAL, prefix: "legal." },
      { name: "case_reference" },
      // whose caseload he is: operators assign it (a probation officer's new subject is theirs)
      { name: "probation_officer", optional: true, caseloads: true },
      { name: "notes", type: "textarea", wide: true },
      // his profile for the police sent to find him (each shown in the alert detail's profile)
      { name: "description", type: "textarea", wide: true, maxLength: 2000 },
      { name: "vehicle_plate", plate: true, maxLength: 20 },
      { name: "vehicle", maxLength: 200 },
      { name: "home_address", wide: true, maxLength: 300 },
      { name: "work_address", wide: true, maxLength: 300 },
    ],
  },
  protected: {
    label: "reg.protected", path: "/v1/protected-persons", sub: (r) => r.name,
    fields: [{ name: "name", required: true }, { name: "phone", type: "tel", phone: true }, { name: "notes", type: "textarea", wide: true }],
  },
  devices: {
    label: "reg.devices", path: "/v1/devices", sub: (r) => `${t(`device.${r.kind}`)}${r.person_id ? ` · ${r.person_id}` : ""}`,
    fields: [
      { name: "kind", type: "select", options: DEVICE_KINDS, prefix: "device." },
      { name: "person_id", optional: true, pick: ["subject", "protected_person"] },
      { name: "silence_limit_s", type: "number", optional: true, min: 0, max: 86400 },
    ],
  },
  orders: {
    label: "reg.orders", path: "/v1/orders", zones: "order",
    sub: (r) => `${r.subject_name || r.subject_id} → ${r.protected_person_name || r.protected_person_id}`,
    fields: [
      { name: "subject_id", pick: ["subject"], names: "subject_name" },
      { name: "protected_person_id", pick: ["protected_person"], names: "protected_person_name" },
      { name: "violation_distance_m", type: "number", min: 0, max: 100000 },
      { name: "warning_distance_m", type: "number", min: 0, max: 200000 },
      { name: "victim_view_m", type: "number", value: 600, min: 0, max: 100000, zero: true },
      { name: "legal_basis", type: "select", options: LEGAL, prefix: "legal." },
      { name: "valid_from", type: "datetime-local", optional: true },
      { name: "valid_until", type: "datetime-local", optional: true },
      { name: "issuing_agency" },
      { name: "reference" },
    ],
  },
};

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/; // as the server's ids
const PHONE_DIGITS = [7, 15]; // as the server's phone numbers


// problem(): the words for one problem the server named (util.js, shared with absences.js); exported
// here as well, where the registry's tests look for it.
export { problem };

// The server's rule for a phone number: empty, or 7 to 15 digits with spaces, '-', '.', '(' or ')'
// between them and an optional leading '+'.
export function isPhone(value) {
  const v = value.trim();
  if (!v) return true;
  const digits = (v.match(/[0-9]/g) || []).length;
  return /^\+?[0-9 ().-]+$/.test(v) && digits >= PHONE_DIGITS[0] && digits <= PHONE_DIGITS[1];
}

// The server's rule for a number plate: empty, or 2 to 20 letters (any script: "12가 3456"), digits,
// spaces and '-', with at least one digit.
export function isPlate(value) {
  const v = value.trim().replace(/\s+/g, " ");
  if (!v) return true;
  return /^[\p{L}\p{N} -]{2,20}$/u.test(v) && /[0-9]/.test(v);
}

function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export class Registry {
  // canWrite: the role may change the registry; caseloads: it assigns subjects to probation officers.
  // canNote: it may write notes on a person (read where the person is). canApprove: it may approve and
  // revoke a subject's absences (read by whoever reads him).
  constructor(root, config, { role, canWrite = false, caseloads = false, canNote = false, canApprove = false }) {
    this.root = root;
    this.config = config;
    this.role = role;
    this.canWrite = canWrite;
    this.caseloads = caseloads;
    this.canNote = canNote;
    this.canApprove = canApprove;
    this.kind = "subjects";
    this.rows = [];
    this.current = null; // the record being edited (null: a new one)
    this.confirming = false; // the "end order?" question is showing
    this.searches = {}; // field -> the latest search's sequence number (older answers are dropped)
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
      <div class="col panel mapcol"><div id="regmap" data-testid="reg-map"></div><div class="zones" data-testid="reg-zones"></div>
        <section class="absences" data-testid="reg-absences" aria-labelledby="abs-title" hidden></section><div class="notes" data-testid="reg-notes" hidden></div></div>`;
    // A subject's approved absences (absences.js): the list for every reader, the form for approvers.
    this.absences = new Absences(this.root.querySelector("[data-testid=reg-absences]"), { canApprove: this.canApprove });
    this.notes = new Notes(this.root.querySelector("[data-testid=reg-notes]"), { canWrite: this.canNote });
    // The zones of the record shown (a subject's or an order's): zones.js, shared with a case's decision.
    this.zoneEditor = new ZoneEditor(this.root.querySelector("[data-testid=reg-zones]"), {
      canWrite: this.canWrite, config: this.config, idPrefix: "zone",
      newId: (n) => (this.current ? `${this.current.id}.z${n}` : ""),
      save: (z, i) => this.saveSubjectZone(z, i), remove: (z) => this.removeZone(z),
    });
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
        // The other kind's form goes; a new one is shown once the list is in (`list`), unless "new"
        // was pressed meanwhile: showing it again then would wipe what is being typed into it.
        this.formShown = false;
        this.tabs();
        await this.list();
      });
      box.appendChild(b);
    }
    this.root.querySelector("[data-testid=reg-new]").textContent = t("reg.new");
  }

  relabel() {
    this.tabs();
    this.renderList();
    if (this.formShown) this.keepingInputs(() => this.renderForm(this.lastErrors || {}));
    this.renderZones();
  }

  // Made once: edit() may run twice before the first map is ready (a tab's click, then its list), and a
  // second makeMap on the same element throws "Map container is already initialized".
  ensureMap() {
    if (!this.mapReady) {
      this.mapReady = makeMap(this.root.querySelector("#regmap"), { center: [37.56, 126.98], zoom: 11, config: this.config }).then((map) => {
        this.map = map;
        addOverlay(map, "map.zones", this.zoneEditor.attach(map));
      });
    }
    return this.mapReady;
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
      if (this.current && this.current.id === row.id) li.setAttribute("aria-current", "true"); // aria-selected belongs to options of a listbox, not list items
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
    this.message = null;
    this.confirming = false;
    const zones = record && KINDS[this.kind].zones ? record.zones || [] : [];
    this.zoneEditor.load(zones, (z) => this.kind === "subjects" && Boolean(z.order_id));
    this.renderList();
    this.renderForm({});
    this.notes.show(this.kind, record);
    this.absences.show(this.kind, record);
    await this.ensureMap();
    this.renderZones();
    this.zoneEditor.fit();
  }

  // errors: {field: {key, vars}} ("" for the form as a whole)
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
      const label = `<label for="f-${f.name}">${esc(t(`reg.${f.name}`))}${f.required ? ' <span aria-hidden="true">*</span>' : ""}</label>`;
      let input;
      if (f.type === "select") {
        input = `<select id="f-${f.name}" name="${f.name}" data-testid="field-${f.name}"${lock}>${f.options.map((o) =>
          `<option value="${o}"${value === o ? " selected" : ""}>${esc(t(f.prefix + o))}</option>`).join("")}</select>`;
      } else if (f.type === "textarea") {
        input = `<textarea id="f-${f.name}" name="${f.name}" rows="3" data-testid="field-${f.name}"${lock}>${esc(value ?? "")}</textarea>`;
      } else {
        const shown = f.type === "datetime-local" ? localInput(value) : value ?? "";
        const extra = f.pick ? ` autocomplete="off" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="pick-${f.name}" placeholder="${esc(t("reg.search_hint"))}"` : "";
        input = `<input id="f-${f.name}" name="${f.name}" type="${f.type || "text"}" ${f.type === "number" ? 'step="any"' : ""}${f.required ? ' aria-required="true"' : ""} value="${esc(shown)}" data-testid="field-${f.name}"${extra}${lock}>`;
        if (f.pick) {
          const name = record && f.names ? record[f.names] : null;
          input += `<div class="picked muted small" data-testid="picked-${f.name}">${esc(name || "")}</div>
            <ul class="picker" role="listbox" id="pick-${f.name}" data-testid="picker-${f.name}" aria-label="${esc(t(`reg.${f.name}`))}" hidden></ul>`;
        }
      }
      const error = errors[f.name];
      return `<div class="field${f.wide ? " wide" : ""}${f.pick ? " picks" : ""}" data-field="${f.name}">${label}${input}
        <div class="error" data-testid="error-${f.name}" id="e-${f.name}"${error ? "" : " hidden"}>${esc(say(error))}</div></div>`;
    };
    const idError = errors.id;
    const ended = record && record.ended_at;
    const parties = this.kind === "orders" && record
      ? `<p class="parties" data-testid="reg-parties">${esc(record.subject_name || record.subject_id)} (<span class="mono">${esc(record.subject_id)}</span>) → ${esc(record.protected_person_name || record.protected_person_id)} (<span class="mono">${esc(record.protected_person_id)}</span>)</p>`
      : "";
    const endable = this.kind === "orders" && record && !ended;
    const confirm = endable && this.confirming
      ? `<div class="confirm" role="alertdialog" aria-labelledby="confirm-end-text" data-testid="reg-end-confirm-box">
          <p id="confirm-end-text">${esc(t("reg.end_confirm", { subject: record.subject_name || record.subject_id, person: record.protected_person_name || record.protected_person_id }))}</p>
          <button type="button" class="danger" data-testid="reg-end-confirm">${esc(t("reg.end_order_now"))}</button>
          <button type="button" data-testid="reg-end-cancel">${esc(t("reg.cancel"))}</button></div>`
      : "";
    col.innerHTML = `<h2>${esc(t(spec.label))}${record ? ` · <span class="mono">${esc(record.id)}</span>` : ` · ${esc(t("reg.new"))}`}
        ${ended ? `<span class="chip silent">${esc(t("reg.ended"))}</span>` : ""}</h2>
      ${parties}
      <form class="record" data-testid="reg-form" novalidate>
        <div class="field" data-field="id"><label for="f-id">${esc(t("reg.id"))} <span aria-hidden="true">*</span></label>
          <input id="f-id" name="id" data-testid="field-id" aria-required="true" value="${esc(record ? record.id : "")}" ${record ? "readonly" : ""} placeholder="${esc(t("reg.id_hint"))}">
          <div class="error" data-testid="error-id" id="e-id"${idError ? "" : " hidden"}>${esc(say(idError))}</div></div>
        ${this.fields().map(field).join("")}
        ${this.canWrite ? `<div class="actions"><button type="submit" class="primary" data-testid="reg-save">${esc(t("reg.save"))}</button>
          ${endable && !this.confirming ? `<button type="button" class="danger" data-testid="reg-end-order">${esc(t("reg.end_order"))}</button>` : ""}
          <span class="ok-msg" data-testid="reg-message" role="status">${esc(say(this.message))}</span>
          <span class="error" data-testid="error-general" role="alert"${errors[""] ? "" : " hidden"}>${esc(say(errors[""]))}</span></div>
          ${confirm}`
          : `<p class="muted small read-only" data-testid="reg-read-only">${esc(t("reg.read_only", { role: t(`role.${this.role}`) }))}</p>`}
      </form>
      ${this.kind === "subjects" && record ? '<div data-slot="photo"></div>' : ""}
      ${record && record.devices ? `<h3>${esc(t("reg.devices_of"))}</h3><p class="mono">${record.devices.map((d) => `${esc(d.id)} (${esc(t(`device.${d.kind}`))})`).join(", ") || "–"}</p>` : ""}
      ${record && record.orders ? `<h3>${esc(t("reg.orders_of"))}</h3><p class="mono">${record.orders.map((o) => esc(o.id) + (o.ended_at ? ` (${esc(t("reg.ended"))})` : "")).join(", ") || "–"}</p>` : ""}`;
    for (const [name, reason] of Object.entries(errors)) {
      const input = col.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input && reason) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", `e-${name}`);
      }
    }
    col.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); if (this.canWrite) this.save(); });
    const slot = col.querySelector("[data-slot=photo]");
    if (slot) slot.replaceWith(this.photoSection(record));
    const end = col.querySelector("[data-testid=reg-end-order]");
    if (end) end.addEventListener("click", () => this.askEnd(true));
    const yes = col.querySelector("[data-testid=reg-end-confirm]");
    if (yes) {
      yes.addEventListener("click", () => this.endOrder());
      col.querySelector("[data-testid=reg-end-cancel]").addEventListener("click", () => this.askEnd(false));
      yes.focus();
    }
    if (this.canWrite) for (const f of this.fields().filter((f) => f.pick)) this.wirePicker(col, f);
  }

  // --- his photo: shown, uploaded (JPEG or PNG, checked here and by its bytes on the server), removed ---

  photoSection(record) {
    const base = `/v1/subjects/${encodeURIComponent(record.id)}/photo`;
    const box = el(`<section class="photo-edit" data-testid="reg-photo">
      <h3>${esc(t("reg.photo"))}</h3>
      <img data-testid="reg-photo-img" alt="${esc(t("profile.photo"))}" hidden>
      <p class="muted small" data-testid="reg-photo-none">${esc(t("profile.no_photo"))}</p>
      ${this.canWrite ? `<label for="f-photo">${esc(t("reg.photo_pick"))}</label>
        <input id="f-photo" type="file" accept="${PHOTO_TYPES.join(",")}" data-testid="reg-photo-file">
        <button type="button" class="primary" data-testid="reg-photo-upload">${esc(t("reg.photo_upload"))}</button>
        <button type="button" data-testid="reg-photo-remove" hidden>${esc(t("reg.photo_remove"))}</button>` : ""}
      <span class="ok-msg" data-testid="reg-photo-message" role="status"></span>
      <span class="error" data-testid="reg-photo-error" role="alert" hidden></span></section>`);
    const img = box.querySelector("img");
    const none = box.querySelector("[data-testid=reg-photo-none]");
    const remove = box.querySelector("[data-testid=reg-photo-remove]");
    const error = box.querySelector("[data-testid=reg-photo-error]");
    const message = box.querySelector("[data-testid=reg-photo-message]");
    const show = (url) => {
      img.hidden = !url;
      if (url) img.src = url;
      else img.removeAttribute("src");
      none.hidden = Boolean(url);
      if (remove) remove.hidden = !url;
    };
    const fail = (key, vars = {}) => {
      error.hidden = false;
      error.textContent = t(key, vars);
    };
    const cached = this.photoCache && this.photoCache.id === record.id ? this.photoCache : null;
    if (cached) show(cached.url);
    else if (!record.has_photo) show(null);
    else photoUrl(base).then((url) => { this.photoCache = { id: record.id, url }; show(url); }).catch(() => show(null));
    if (!this.canWrite) return box;
    box.querySelector("[data-testid=reg-photo-upload]").addEventListener("click", async () => {
      error.hidden = true;
      message.textContent = "";
      const file = box.querySelector("input[type=file]").files[0];
      if (!file) return fail("err.photo.missing");
      if (!PHOTO_TYPES.includes(file.type)) return fail("err.photo.type");
      if (file.size > PHOTO_MAX_BYTES) return fail("err.photo.size", { mb: (PHOTO_MAX_BYTES / 1e6).toFixed(0) });
      try {
        await uploadPhoto(base, file);
        const url = await photoUrl(base);
        this.photoCache = { id: record.id, url };
        show(url);
        message.textContent = t("reg.photo_saved");
      } catch (e) {
        fail(e && e.status === 413 ? "err.photo.size" : e && (e.status === 415 || e.status === 422) ? "err.photo.type" : "err.other",
          { mb: (PHOTO_MAX_BYTES / 1e6).toFixed(0), reason: e && e.message });
      }
    });
    remove.addEventListener("click", async () => {
      error.hidden = true;
      try {
        await api("DELETE", base);
        this.photoCache = { id: record.id, url: null };
        show(null);
      } catch (e) {
        fail("err.other", { reason: e.message });
      }
    });
    return box;
  }

  // --- picking people by search ---------------------------------------------------------------------

  wirePicker(col, f) {
    const input = col.querySelector(`[name="${f.name}"]`);
    const list = col.querySelector(`[data-testid=picker-${f.name}]`);
    const picked = col.querySelector(`[data-testid=picked-${f.name}]`);
    let timer = null;
    input.addEventListener("input", () => {
      picked.textContent = "";
      this.searches[f.name] = (this.searches[f.name] || 0) + 1; // what is on its way is for older text
      list.replaceChildren();
      this.closePicker(input, list);
      clearTimeout(timer);
      timer = setTimeout(() => this.search(f, input, list), 200);
    });
    input.addEventListener("focus", () => { if (!input.value.trim()) this.search(f, input, list); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" && !list.hidden) {
        e.preventDefault();
        const first = list.querySelector("button");
        if (first) first.focus();
      } else if (e.key === "Escape") {
        this.closePicker(input, list);
      }
    });
    list.addEventListener("keydown", (e) => {
      const buttons = [...list.querySelectorAll("button")];
      const at = buttons.indexOf(document.activeElement);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const next = at + (e.key === "ArrowDown" ? 1 : -1);
        if (next < 0) input.focus();
        else if (buttons[next]) buttons[next].focus();
      } else if (e.key === "Escape") {
        this.closePicker(input, list);
        input.focus();
      }
    });
    // a value already there (a device's wearer): say whose it is
    if (input.value.trim() && !picked.textContent) this.nameOf(f, input.value.trim(), picked);
  }

  closePicker(input, list) {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  async search(f, input, list) {
    const seq = (this.searches[f.name] || 0) + 1;
    this.searches[f.name] = seq;
    const query = new URLSearchParams({ q: input.value.trim(), limit: "8" });
    for (const kind of f.pick) query.append("kind", kind);
    let found;
    try {
      found = await api("GET", `/v1/registry/search?${query}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      found = [];
    }
    if (this.searches[f.name] !== seq || !input.isConnected) return; // typed on meanwhile
    list.innerHTML = found.length ? "" : `<li class="muted small" data-testid="picker-none">${esc(t("reg.search_none"))}</li>`;
    for (const item of found) {
      const li = el(`<li role="presentation"><button type="button" role="option" data-testid="pick-${esc(item.id)}">
        <b>${esc(item.name || item.id)}</b> <span class="mono">${esc(item.id)}</span>
        <span class="muted small">${esc(t(`reg.kind.${item.kind}`))}${item.detail ? ` · ${esc(item.detail)}` : ""}</span></button></li>`);
      li.querySelector("button").addEventListener("click", () => {
        input.value = item.id;
        input.closest(".field").querySelector(".picked").textContent = item.name || "";
        input.removeAttribute("aria-invalid");
        this.closePicker(input, list);
        input.focus();
      });
      list.appendChild(li);
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  async nameOf(f, id, picked) {
    const query = new URLSearchParams({ q: id, limit: "5" });
    for (const kind of f.pick) query.append("kind", kind);
    try {
      const found = await api("GET", `/v1/registry/search?${query}`);
      const same = found.find((x) => x.id === id);
      if (same && picked.isConnected && !picked.textContent) picked.textContent = same.name || "";
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
  }

  // --- saving ---------------------------------------------------------------------------------------

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
    if (spec.zones === "order") body.zones = this.zoneEditor.bodies();
    return { id: form.elements.id.value.trim(), body };
  }

  // What the server would refuse, found here first: {field: {key, vars}}.
  check(id, body) {
    const errors = {};
    if (!id) errors.id = msg("err.missing");
    else if (!ID.test(id)) errors.id = msg("err.string_pattern_mismatch");
    for (const f of this.fields()) {
      const value = body[f.name];
      if (f.type === "number") {
        if (value === undefined) errors[f.name] = msg("err.missing");
        else if (value !== null && (!Number.isFinite(value) || value < f.min || (value === f.min && !f.zero) || value > f.max)) {
          errors[f.name] = msg(f.zero ? "err.range_from" : "err.range", { min: f.min, max: f.max });
        }
      } else if (f.required && !value) {
        errors[f.name] = msg(`err.${f.name}.missing`);
      } else if (f.phone && !isPhone(value || "")) {
        errors[f.name] = msg("err.phone");
      } else if (f.plate && !isPlate(value || "")) {
        errors[f.name] = msg("err.plate");
      } else if (f.maxLength && (value || "").length > f.maxLength) {
        errors[f.name] = msg("err.string_too_long");
      } else if (f.pick && value && !ID.test(value)) {
        errors[f.name] = msg("err.string_pattern_mismatch");
      } else if (f.pick && !f.optional && !value) {
        errors[f.name] = msg("err.missing");
      }
    }
    if (this.kind === "orders") {
      const { violation_distance_m: v, warning_distance_m: w, valid_from: from, valid_until: until } = body;
      if (!errors.warning_distance_m && !errors.violation_distance_m && w < v) errors.warning_distance_m = msg("err.warning_distance_m.value_error");
      if (from && until && until <= from) errors.valid_until = msg("err.valid_until.value_error");
    }
    return errors;
  }

  async save() {
    const spec = KINDS[this.kind];
    const { id, body } = this.body();
    const found = this.check(id, body);
    if (Object.keys(found).length) return this.showErrors(found);
    try {
      const saved = await api("PUT", `${spec.path}/${encodeURIComponent(id)}`, body);
      await this.list();
      await this.edit(await api("GET", `${spec.path}/${encodeURIComponent(saved.id)}`));
      this.message = msg("reg.saved");
      this.root.querySelector("[data-testid=reg-message]").textContent = say(this.message);
    } catch (error) {
      this.showErrors(this.refusal(error));
    }
  }

  // What the server said, as {field: {key, vars}} (zone problems under "zones.<n>...").
  refusal(error) {
    if (!(error instanceof ApiError)) return { "": msg("err.unreachable") };
    const out = {};
    if (Array.isArray(error.detail)) {
      for (const e of error.detail) {
        let field = String(e.field || "").replace(/^path\.\w+$/, "id").replace(/^body\.?/, "");
        // a subject's or protected person's id taken by the other kind of person (409)
        if (error.status === 409 && ["subject_id", "person_id"].includes(field) && this.kind !== "orders" && this.kind !== "devices") field = "id";
        const code = e.code || (error.status === 409 ? "taken" : "refused");
        out[field] = problem(field, code, e.reason);
      }
      return out;
    }
    const detail = typeof error.detail === "string" ? error.detail : error.message;
    const scoped = error.status === 403 && detail.match(/^(\w+): outside/);
    if (scoped) out[scoped[1]] = msg("err.out_of_scope");
    else if (error.status === 403) out[""] = msg("err.forbidden");
    else out[""] = msg("err.other", { reason: detail });
    return out;
  }

  // Each problem next to its field: "warning_distance_m", "id", "zones.0.circle.radius_m" or
  // "zones[0].schedule" (a zone's card); anything else at the bottom.
  showErrors(fields) {
    const known = new Set(["id", ...this.fields().map((f) => f.name)]);
    const errors = {};
    const parts = [];
    for (const [name, problem] of Object.entries(this.zoneEditor.refused(fields))) {
      if (known.has(name)) errors[name] = problem;
      else parts.push({ field: name, problem });
    }
    if (parts.length) errors[""] = { parts };
    this.lastErrors = errors;
    this.message = null;
    this.keepingInputs(() => this.renderForm(errors));
    this.renderZones();
  }

  // Re-render the form without losing what the user typed.
  keepingInputs(render) {
    const form = this.root.querySelector("[data-testid=reg-form]");
    const values = form ? Object.fromEntries([...form.elements].filter((e) => e.name).map((e) => [e.name, e.value])) : {};
    const names = form ? Object.fromEntries([...form.querySelectorAll(".picked")].map((p) => [p.dataset.testid, p.textContent])) : {};
    render();
    const again = this.root.querySelector("[data-testid=reg-form]");
    if (!again) return;
    for (const [name, value] of Object.entries(values)) if (again.elements[name]) again.elements[name].value = value;
    for (const p of again.querySelectorAll(".picked")) if (names[p.dataset.testid]) p.textContent = names[p.dataset.testid];
  }

  askEnd(asking) {
    this.confirming = asking;
    this.keepingInputs(() => this.renderForm(this.lastErrors || {}));
    if (!asking) {
      const end = this.root.querySelector("[data-testid=reg-end-order]");
      if (end) end.focus();
    }
  }

  async endOrder() {
    const id = this.current.id;
    try {
      await api("POST", `/v1/orders/${encodeURIComponent(id)}/end`);
    } catch (error) {
      this.confirming = false;
      return this.showErrors(this.refusal(error));
    }
    await this.list();
    await this.edit(await api("GET", `/v1/orders/${encodeURIComponent(id)}`));
    this.message = msg("reg.order_ended");
    this.root.querySelector("[data-testid=reg-message]").textContent = say(this.message);
  }

  // --- zones: zones.js edits them; a subject's are saved one by one here ------------------------

  renderZones() {
    const box = this.root.querySelector("[data-testid=reg-zones]");
    const mode = KINDS[this.kind].zones;
    const mapcol = this.root.querySelector(".mapcol");
    mapcol.hidden = !mode;
    if (!mode) return;
    const editor = this.zoneEditor;
    editor.mode = mode;
    editor.title = mode === "order" ? "reg.order_zones" : "reg.subject_zones";
    if (mode === "subject" && !this.current) {
      if (this.map) this.map.invalidateSize();
      box.innerHTML = `<p class="muted small">${esc(t("reg.pick"))}</p>`;
      editor.drawOnMap();
      return;
    }
    editor.render();
  }

  async saveSubjectZone(z, i) {
    const editor = this.zoneEditor;
    if (!z.id) {
      editor.errors = { ...editor.errors, [i]: { part: msg("reg.zone_id"), problem: msg("err.missing") } };
      return this.renderZones();
    }
    const { id, ...body } = editor.body(z);
    try {
      await api("PUT", `/v1/subjects/${encodeURIComponent(this.current.id)}/zones/${encodeURIComponent(id)}`, body);
      z.saved = true;
      z.message = msg("reg.saved"); // a key: said again in the language switched to
      editor.errors = {};
      this.renderZones();
    } catch (error) {
      const parts = Object.entries(this.refusal(error)).map(([field, problem]) => ({ field, problem }));
      editor.errors = { ...editor.errors, [i]: { part: "", problem: { parts } } };
      this.renderZones();
    }
  }

  // A subject's saved zone goes from the server; an order's leaves with the order's next save.
  async removeZone(z) {
    if (KINDS[this.kind].zones === "subject" && z.saved) {
      await api("DELETE", `/v1/subjects/${encodeURIComponent(this.current.id)}/zones/${encodeURIComponent(z.id)}`);
    }
  }
}
