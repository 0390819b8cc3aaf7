// A subject's approved absences, in the registry beside his record (GET /v1/subjects/{id}/absences,
// api/absences.py): each window in force now, upcoming, ended or revoked, with the zone it covers (or
// every zone and his curfew), the reason and who approved it. Whoever may read his record reads them,
// the police included, so both agencies see why a zone violation inside one was not pushed to 112.
// His probation officer and operators approve one here (checked first by the server's own rules, each
// problem next to its field, the server's refusals too) and revoke one in force or upcoming, after
// a confirmation: from then on his zone violations are pushed as any other.
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc, dateTime, msg, problem, say } from "./util.js";

const LONGEST_MS = 31 * 24 * 3600 * 1000; // as api/absences.py LONGEST: longer is a change of his order
const REASON = [5, 500]; // as the server's reason: 5 to 500 characters
const FIELDS = ["zone_id", "starts_at", "ends_at", "reason"];

// A datetime-local input's value for a moment, in the browser's time (what a user types there).
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// in_force comes from the server (its clock); upcoming and ended are read against this one's.
export function absenceState(a, now = Date.now()) {
  if (a.revoked_at) return "revoked";
  if (a.in_force) return "in_force";
  return new Date(a.starts_at).getTime() > now ? "upcoming" : "ended";
}

// What the server would refuse, found here first: {field: {key, vars}}. body: the form's raw values.
export function checkAbsence(body, now = Date.now()) {
  const errors = {};
  const starts = body.starts_at ? new Date(body.starts_at).getTime() : NaN;
  const ends = body.ends_at ? new Date(body.ends_at).getTime() : NaN;
  if (!body.starts_at) errors.starts_at = msg("err.starts_at.missing");
  else if (Number.isNaN(starts)) errors.starts_at = msg("err.datetime_parsing");
  if (!body.ends_at) errors.ends_at = msg("err.ends_at.missing");
  else if (Number.isNaN(ends)) errors.ends_at = msg("err.datetime_parsing");
  else if (!Number.isNaN(starts) && ends <= starts) errors.ends_at = msg("err.ends_at.after_start");
  else if (!Number.isNaN(starts) && ends - starts > LONGEST_MS) errors.ends_at = msg("err.ends_at.too_long");
  else if (ends <= now) errors.ends_at = msg("err.ends_at.refused");
  const reason = (body.reason || "").trim();
  if (reason.length < REASON[0]) errors.reason = msg("err.reason.string_too_short");
  else if (reason.length > REASON[1]) errors.reason = msg("err.reason.string_too_long");
  return errors;
}

export class Absences {
  // canApprove: the role may approve and revoke (policy.py ABSENCES_APPROVE: probation officers, for
  // their caseload, and operators)
  constructor(root, { canApprove = false } = {}) {
    this.root = root;
    this.canApprove = canApprove;
    this.path = null;
    this.zones = [];
    this.absences = [];
    this.loading = false;
    this.error = null; // the list could not be read: {key, vars}
    this.errors = {}; // the form's problems: {field: {key, vars}}, "" for the form as a whole
    this.message = null;
    this.formOpen = false; // the approver unfolded the form
    this.confirming = null; // the absence whose revocation is being asked about
    this.revokeError = null;
    window.addEventListener("languagechange", () => this.render());
  }

  // kind: the registry's tab; record: the person open there (only a subject has absences)
  async show(kind, record) {
    const before = this.path;
    this.path = kind === "subjects" && record ? `/v1/subjects/${encodeURIComponent(record.id)}/absences` : null;
    this.zones = this.path ? (record.zones || []) : [];
    this.absences = [];
    this.error = null;
    this.confirming = null;
    this.revokeError = null;
    this.loading = Boolean(this.path); // "none" only once the list is known
    if (this.path !== before) {
      this.root.innerHTML = ""; // another subject: nothing typed carries over
      this.errors = {};
      this.message = null;
      this.formOpen = false;
    }
    this.render();
    if (!this.path) return;
    const path = this.path;
    try {
      const listed = await api("GET", path);
      if (this.path === path) this.absences = listed;
    } catch (e) {
      if (this.path === path) this.error = msg("error.generic", { detail: e.message });
    }
    if (this.path !== path) return;
    this.loading = false;
    this.render();
  }

  zoneName(id) {
    if (id === null || id === undefined) return t("abs.all_zones");
    const z = this.zones.find((x) => x.id === id);
    return z && z.label ? `${z.label} (${z.id})` : id;
  }

  item(a) {
    const state = absenceState(a);
    const chip = { in_force: "ok", upcoming: "warning", ended: "silent", revoked: "silent" }[state];
    const revocable = this.canApprove && (state === "in_force" || state === "upcoming");
    const asking = revocable && this.confirming === a.id;
    const revoked = a.revoked_at
      ? `<div class="meta" data-testid="absence-revoked">${esc(t("abs.revoked_by", { who: a.revoked_by, at: dateTime(a.revoked_at) }))}</div>`
      : "";
    const confirm = asking
      ? `<div class="confirm" role="alertdialog" aria-labelledby="abs-confirm-${esc(a.id)}" data-testid="absence-revoke-confirm-box">
          <p id="abs-confirm-${esc(a.id)}">${esc(t("abs.revoke_confirm", { zone: this.zoneName(a.zone) }))}</p>
          <button type="button" class="danger" data-testid="absence-revoke-confirm">${esc(t("abs.revoke_now"))}</button>
          <button type="button" data-testid="absence-revoke-cancel">${esc(t("reg.cancel"))}</button>
          ${this.revokeError ? `<span class="error" role="alert" data-testid="absence-revoke-error">${esc(say(this.revokeError))}</span>` : ""}</div>`
      : "";
    return `<li data-testid="absence" data-absence-id="${esc(a.id)}" data-state="${state}">
      <div><span class="chip ${chip}" data-testid="absence-state">${esc(t(`abs.state.${state}`))}</span>
        <strong data-testid="absence-zone">${esc(this.zoneName(a.zone))}</strong></div>
      <div data-testid="absence-window"><time datetime="${esc(a.starts_at)}">${esc(dateTime(a.starts_at))}</time> – <time datetime="${esc(a.ends_at)}">${esc(dateTime(a.ends_at))}</time></div>
      <div class="text" data-testid="absence-reason">${esc(a.reason)}</div>
      <div class="meta">${esc(t("abs.approved_by", { who: a.approved_by, at: dateTime(a.approved_at) }))}</div>${revoked}
      ${revocable && !asking ? `<button type="button" class="danger" data-testid="absence-revoke">${esc(t("abs.revoke"))}</button>` : ""}${confirm}</li>`;
  }

  form() {
    if (!this.canApprove) return "";
    const e = this.errors;
    const field = (name, label, input) => `<div class="field" data-field="${name}"><label for="abs-${name}">${esc(t(label))}</label>${input}
      <div class="error" data-testid="absence-error-${name}" id="abs-e-${name}"${e[name] ? "" : " hidden"}>${esc(say(e[name]))}</div></div>`;
    const invalid = (name) => (e[name] ? ` aria-invalid="true" aria-describedby="abs-e-${name}"` : "");
    const zones = this.zones.map((z) => `<option value="${esc(z.id)}">${esc(this.zoneName(z.id))}</option>`).join("");
    // folded until asked for: the map column it shares with his zones and notes is short
    return `<details class="absence-new" data-testid="absence-new"${this.formOpen ? " open" : ""}>
      <summary data-testid="absence-new-toggle">${esc(t("abs.new"))}</summary>
      <form class="absence-form" data-testid="absence-form" novalidate>
      <p class="muted small">${esc(t("abs.why"))}</p>
      ${field("zone_id", "abs.zone", `<select id="abs-zone_id" name="zone_id" data-testid="absence-zone"${invalid("zone_id")}><option value="">${esc(t("abs.all_zones"))}</option>${zones}</select>`)}
      ${field("starts_at", "abs.starts_at", `<input id="abs-starts_at" name="starts_at" type="datetime-local" data-testid="absence-starts" aria-required="true"${invalid("starts_at")}>`)}
      ${field("ends_at", "abs.ends_at", `<input id="abs-ends_at" name="ends_at" type="datetime-local" data-testid="absence-ends" aria-required="true"${invalid("ends_at")}>`)}
      ${field("reason", "abs.reason", `<textarea id="abs-reason" name="reason" rows="2" maxlength="${REASON[1]}" data-testid="absence-reason-input" aria-required="true"${invalid("reason")}></textarea>`)}
      <div class="actions"><button type="submit" class="primary" data-testid="absence-approve">${esc(t("abs.approve"))}</button>
        <span class="ok-msg" role="status" data-testid="absence-message">${esc(say(this.message))}</span>
        <span class="error" role="alert" data-testid="absence-error"${e[""] ? "" : " hidden"}>${esc(say(e[""]))}</span></div></form></details>`;
  }

  render() {
    this.root.hidden = !this.path;
    if (!this.path) {
      this.root.innerHTML = "";
      return;
    }
    // a re-render (the list arriving, a refusal, the language switched) keeps what is being typed
    const old = this.root.querySelector("form");
    const typed = old ? Object.fromEntries(FIELDS.map((f) => [f, old.elements[f].value])) : null;
    const items = this.absences.map((a) => this.item(a)).join("");
    const none = this.loading ? "" : `<li class="muted">${esc(t("abs.none"))}</li>`;
    this.root.innerHTML = `<h3 id="abs-title">${esc(t("abs.title"))}</h3>
      ${this.error ? `<p class="error" role="alert" data-testid="absences-error">${esc(say(this.error))}</p>` : ""}
      <ol class="notes-list absences-list" data-testid="absences" aria-labelledby="abs-title" aria-busy="${this.loading}">${items || none}</ol>
      ${this.form()}`;
    const form = this.root.querySelector("form");
    if (form) {
      if (typed) for (const f of FIELDS) form.elements[f].value = typed[f];
      else form.elements.starts_at.value = localInput(new Date()); // from now, unless told
      if (typed && typed.zone_id && !form.elements.zone_id.value) form.elements.zone_id.value = ""; // a zone gone
      this.root.querySelector("details").addEventListener("toggle", (event) => { this.formOpen = event.target.open; });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.approve();
      });
    }
    for (const li of this.root.querySelectorAll("[data-testid=absence]")) {
      const id = li.dataset.absenceId;
      li.querySelector("[data-testid=absence-revoke]")?.addEventListener("click", () => this.ask(id));
      li.querySelector("[data-testid=absence-revoke-cancel]")?.addEventListener("click", () => this.ask(null, id));
      const yes = li.querySelector("[data-testid=absence-revoke-confirm]");
      if (yes) {
        yes.addEventListener("click", () => this.revoke(id));
        yes.focus();
      }
    }
  }

  // The question before a revocation (id), or none (null: back to the Revoke button of `back`).
  ask(id, back = null) {
    this.confirming = id;
    this.revokeError = null;
    this.render();
    if (back) this.root.querySelector(`[data-absence-id="${CSS.escape(back)}"] [data-testid=absence-revoke]`)?.focus();
  }

  // The form's values as the server wants them (times in UTC, "" zone: every zone and curfew).
  body() {
    const form = this.root.querySelector("form");
    const raw = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f].value]));
    const iso = (v) => {
      const d = new Date(v);
      return v && !Number.isNaN(d.getTime()) ? d.toISOString() : v;
    };
    return { zone_id: raw.zone_id || null, starts_at: iso(raw.starts_at), ends_at: iso(raw.ends_at), reason: raw.reason.trim() };
  }

  async approve() {
    const body = this.body();
    this.message = null;
    this.errors = checkAbsence(body);
    if (Object.keys(this.errors).length) return this.showErrors();
    const path = this.path;
    try {
      const approved = await api("POST", path, body);
      if (this.path !== path) return;
      this.absences = [approved, ...this.absences.filter((a) => a.id !== approved.id)];
      this.errors = {};
      this.message = msg("abs.approved");
      this.root.innerHTML = ""; // a fresh form: from now again, no reason typed
      this.render();
      this.root.scrollTop = 0; // the new approval, at the top of the list
    } catch (error) {
      if (this.path !== path) return;
      this.errors = this.refusal(error);
      this.showErrors();
    }
  }

  // Re-rendered with each problem at its field, the focus on the first one.
  showErrors() {
    this.render();
    const first = FIELDS.find((f) => this.errors[f]);
    if (first) this.root.querySelector(`[name="${first}"]`)?.focus();
  }

  // What the server said, as {field: {key, vars}}: its 422s name the field ("ends_at", "reason",
  // "zone_id"...), with a code when a rule has one; the rest goes under the form.
  refusal(error) {
    if (!(error instanceof ApiError)) return { "": msg("err.unreachable") };
    const out = {};
    if (Array.isArray(error.detail)) {
      const parts = [];
      for (const e of error.detail) {
        const field = String(e.field || "").replace(/^body\.?/, "");
        const said = problem(field, e.code || "refused", e.reason);
        if (FIELDS.includes(field)) out[field] = said;
        else parts.push({ field, problem: said });
      }
      if (parts.length) out[""] = { parts };
      return out;
    }
    if (error.status === 403) return { "": msg("err.out_of_scope") };
    return { "": msg("err.other", { reason: typeof error.detail === "string" ? error.detail : error.message }) };
  }

  async revoke(id) {
    const path = this.path;
    try {
      const revoked = await api("DELETE", `${path}/${encodeURIComponent(id)}`);
      if (this.path !== path) return;
      this.absences = this.absences.map((a) => (a.id === id ? revoked : a));
      this.confirming = null;
      this.message = msg("abs.revoked");
      this.render();
    } catch (error) {
      if (this.path !== path) return;
      const said = this.refusal(error);
      this.revokeError = said[""] || Object.values(said)[0];
      this.render();
    }
  }
}
