// Police cases (issue 18; api/cases.py). One screen, three uses:
// - a police investigator records a stalking or domestic-violence case for their station's areas
//   and lists their station's cases with how each matched: a case whose suspect is a monitored man
//   shows "already monitored" (his devices, his probation officer's contact) and Vigil's 3-2
//   proposal with the facts a court application needs, and takes the court's decision;
// - a probation officer lists the cases matched to his caseload (and records decisions too);
// - an operator lists the near matches waiting for review, to confirm or dismiss each.
// Every order a case's decision made shows its end, with a reminder when it is near. The decision
// form takes the order's start and its zones (zones.js, the registry's editor, on a map of its own).
// A recorded case is edited in the same form as a new one (its national id is never shown back: left
// empty, the stored one stays), and closed with its outcome or reopened, saying why. The forms are
// checked here first (the server's rules) and whatever the server still refuses is shown next to
// its field, in the user's language, like the registry's forms.
import { api, ApiError } from "/web/common/api.js";
import { language, t } from "/web/common/i18n.js";
import { makeMap } from "/web/common/map.js";
import { problem, isPhone } from "./registry.js";
import { esc, el, dateTime, msg, say, absenceLine } from "./util.js";
import { ZoneEditor } from "./zones.js";

const KINDS = ["stalking", "domestic_violence"];
const MEASURES = ["1", "2", "3", "3-2", "4"];
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/; // as the server's ids
const NATIONAL_ID = /^\d{6}-?\d{7}$/; // as the server's (api/national_id.py)
const NEW_VICTIM = "";
const OUTCOMES = ["charged", "no_further_action", "withdrawn", "transferred", "other"]; // store/cases.py
const REASON_MAX = 2000;

// The server's reasons for a near match (domain/identity.py), in the user's language; any other
// (two subjects matching equally) is shown in the server's words.
const WHY = {
  "the same name; a birth date is not known": "cases.why.no_date",
  "the same name; birth dates one slip apart": "cases.why.date_slip",
  "the same birth date; names one letter apart": "cases.why.name_slip",
};
const why = (text) => (WHY[text] ? t(WHY[text]) : text);

function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : null;
}

// An instant as a datetime-local input shows it (the browser's time zone, to the minute).
function localInput(iso) {
  const d = iso ? new Date(iso) : new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function day(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleDateString(language() === "en" ? "en-GB" : "ko-KR", { dateStyle: "medium" });
}

// "ends in 10 days (16 Dec 2026)": an order's end, with the reminder when it is near.
export function orderEnd(order) {
  if (!order.valid_until) return t("cases.order.open_ended");
  if (!order.in_force && order.days_left === null) return t("cases.order.lapsed", { date: day(order.valid_until) });
  const left = order.days_left === 0 ? t("cases.order.today") : t("cases.order.days", { n: order.days_left });
  return t("cases.order.ends", { left, date: day(order.valid_until) });
}

// When both agencies were last reminded of this order's end (store/reminders.py), if they were.
export function remindedText(order) {
  if (!order.reminded) return "";
  return t("cases.order.reminded", { date: day(order.reminded.sent_at), n: order.reminded.lead_days });
}

export class Cases {
  // me: GET /v1/me (role and scope); config: /v1/web/config (the map, the geocoder); canWrite:
  // record and edit cases; canDecide: record decisions; canReview: confirm or dismiss near matches;
  // canClose: close and reopen cases.
  constructor(root, { me, config = null, canWrite = false, canDecide = false, canReview = false, canClose = false }) {
    this.root = root;
    this.me = me;
    this.config = config;
    this.canWrite = canWrite;
    this.canDecide = canDecide;
    this.canReview = canReview;
    this.canClose = canClose;
    this.editing = null; // the case being edited in the form (null with `creating`: a new one)
    this.closing = null; // "close" or "reopen": its form is showing
    this.closeErrors = {};
    this.cases = [];
    this.review = [];
    this.current = null; // the case shown; null with `creating`: the new-case form
    this.creating = false;
    this.errors = {};
    this.decisionErrors = {};
    this.message = null;
    this.reports = 1;
  }

  async start() {
    if (!this.built) {
      this.built = true;
      // said again in the new language, keeping what was typed in the form
      window.addEventListener("languagechange", () => (this.creating ? this.keeping(() => {}) : this.again()));
    }
    await this.load();
  }

  async load() {
    try {
      this.cases = await api("GET", "/v1/cases?state=all");
      this.review = this.canReview ? await api("GET", "/v1/cases/review") : [];
      this.failed = null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      this.failed = error.message;
    }
    if (this.current) this.current = this.cases.find((c) => c.id === this.current.id) || this.current;
    if (!this.current && !this.creating && this.canWrite) this.creating = true;
    this.render();
  }

  // --- the page -------------------------------------------------------------------------------

  render() {
    const failed = this.failed ? `<p class="error" role="alert">${esc(t("error.generic", { detail: this.failed }))}</p>` : "";
    this.root.innerHTML = `<div class="cases-page">
      <div class="col panel cases-list">
        <h2>${esc(t("cases.title"))}</h2>
        ${this.canWrite ? `<button type="button" class="primary" data-testid="case-new">${esc(t("cases.new"))}</button>` : ""}
        ${failed}${this.canReview ? this.reviewList() : ""}
        <h3>${esc(t(this.canReview ? "cases.all" : "cases.yours"))}</h3>
        ${this.list(this.cases, "case-list")}
      </div>
      <div class="col panel cases-main" data-testid="case-main">${this.creating ? this.form() : this.current ? this.detail(this.current) : `<p class="muted">${esc(t("cases.pick"))}</p>`}</div>
    </div>`;
    this.wire();
  }

  list(cases, testid) {
    if (!cases.length) return `<p class="muted" data-testid="${testid}-empty">${esc(t("cases.none"))}</p>`;
    const items = cases.map((c) => {
      const current = this.current && !this.creating && this.current.id === c.id;
      const soon = (c.orders || []).some((o) => o.expires_soon);
      return `<li><button type="button" class="case-item" data-testid="case-item" data-case-id="${esc(c.id)}"${current ? ' aria-current="true"' : ""}>
        <span class="mono">${esc(c.id)}</span> ${esc(t(`cases.kind.${c.kind}`))}
        <span class="chip ${stateClass(c.match.state)}" data-testid="case-state">${esc(t(`cases.match.${c.match.state}`))}</span>
        ${soon ? `<span class="chip warning">${esc(t("cases.expiring"))}</span>` : ""}
        ${c.status === "closed" ? `<span class="chip outline" data-testid="case-closed-chip">${esc(t("cases.closed"))}</span>` : ""}
        <span class="sub">${esc(c.suspect.name)}</span></button></li>`;
    }).join("");
    return `<ul class="list" data-testid="${testid}">${items}</ul>`;
  }

  reviewList() {
    return `<section class="review" aria-labelledby="review-title"><h3 id="review-title">${esc(t("cases.review.title", { n: this.review.length }))}</h3>
      <p class="muted small">${esc(t("cases.review.hint"))}</p>${this.list(this.review, "review-list")}</section>`;
  }

  wire() {
    const root = this.root;
    root.querySelector("[data-testid=case-new]")?.addEventListener("click", () => {
      this.creating = true;
      this.editing = null;
      this.reports = 1;
      this.picked = NEW_VICTIM;
      this.current = null;
      this.errors = {};
      this.message = null;
      this.render();
    });
    for (const b of root.querySelectorAll("[data-testid=case-item]")) {
      b.addEventListener("click", () => this.open(b.dataset.caseId));
    }
    const form = root.querySelector("[data-testid=case-form]");
    if (form) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.save();
      });
      root.querySelector("[data-testid=case-add-report]").addEventListener("click", () => {
        this.keeping(() => {
          this.reports += 1;
        });
      });
      root.querySelector("[data-testid=case-victim-pick]").addEventListener("change", () => this.keeping(() => {}));
    }
    const decision = root.querySelector("[data-testid=decision-form]");
    if (decision) {
      decision.addEventListener("submit", (e) => {
        e.preventDefault();
        this.decide();
      });
      this.mountZones();
    }
    root.querySelector("[data-testid=case-edit]")?.addEventListener("click", () => this.edit(this.current));
    root.querySelector("[data-testid=case-cancel-edit]")?.addEventListener("click", () => {
      this.creating = false;
      this.editing = null;
      this.errors = {};
      this.render();
    });
    for (const b of root.querySelectorAll("[data-testid=case-close], [data-testid=case-reopen]")) {
      b.addEventListener("click", () => {
        this.closing = b.dataset.testid === "case-close" ? "close" : "reopen";
        this.closeErrors = {};
        this.render();
        this.root.querySelector("[data-testid=close-form] select, [data-testid=close-form] textarea")?.focus();
      });
    }
    const closeForm = root.querySelector("[data-testid=close-form]");
    if (closeForm) {
      closeForm.addEventListener("submit", (e) => {
        e.preventDefault();
        this.close();
      });
      closeForm.querySelector("[data-testid=close-cancel]").addEventListener("click", () => {
        this.closing = null;
        this.render();
      });
    }
    for (const b of root.querySelectorAll("[data-testid=review-confirm], [data-testid=review-dismiss]")) {
      b.addEventListener("click", () => this.confirm(b.dataset.subjectId || null));
    }
  }

  async open(id) {
    this.creating = false;
    this.editing = null;
    this.closing = null;
    this.errors = {};
    this.decisionErrors = {};
    this.decisionValues = null;
    this.message = null;
    if (this.zones && (!this.current || this.current.id !== id)) this.zones.load([]);
    this.current = this.cases.find((c) => c.id === id) || this.review.find((c) => c.id === id);
    try {
      this.current = await api("GET", `/v1/cases/${encodeURIComponent(id)}`);
      if (this.canReview && this.current.review) await this.lookUp(this.current.review.map((x) => x.subject_id));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
    }
    this.render();
    this.root.querySelector("[data-testid=case-main] h2")?.focus();
  }

  // --- one case ---------------------------------------------------------------------------------

  // The candidates' own records, for the reviewer to compare with the suspect (operators read them).
  async lookUp(ids) {
    this.subjects = this.subjects || {};
    for (const id of ids) {
      if (this.subjects[id]) continue;
      try {
        this.subjects[id] = await api("GET", `/v1/subjects/${encodeURIComponent(id)}`);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) throw error;
      }
    }
  }

  detail(c) {
    const m = c.match;
    const reports = c.reports.map((r) => `<li>${esc(dateTime(r.at))}: ${esc(r.summary)}</li>`).join("");
    const victim = c.victim.protected_person_id ? `${esc(c.victim.name || "")} <span class="mono">${esc(c.victim.protected_person_id)}</span>` : esc(c.victim.name);
    const measures = c.measures_requested.map((x) => esc(t(`cases.measure.${x}`))).join(", ") || esc(t("cases.none_short"));
    const message = this.message ? `<p class="notice" role="status" data-testid="case-message">${esc(say(this.message))}</p>` : "";
    const open = c.status !== "closed";
    const actions = [
      this.canWrite && open ? `<button type="button" data-testid="case-edit">${esc(t("cases.edit"))}</button>` : "",
      this.canClose && open && !this.closing ? `<button type="button" data-testid="case-close">${esc(t("cases.close"))}</button>` : "",
      this.canClose && !open && !this.closing ? `<button type="button" data-testid="case-reopen">${esc(t("cases.reopen"))}</button>` : "",
    ].join("");
    return `<article class="case" data-testid="case-detail" data-case-id="${esc(c.id)}" data-status="${esc(c.status)}">
      <h2 tabindex="-1"><span class="mono">${esc(c.id)}</span> · ${esc(t(`cases.kind.${c.kind}`))}${open ? "" : ` <span class="chip outline">${esc(t("cases.closed"))}</span>`}</h2>
      ${message}
      ${this.closedNote(c)}
      ${actions ? `<div class="steps case-actions">${actions}</div>` : ""}
      ${this.closing ? this.closeForm(c) : ""}
      <dl class="facts">
        <dt>${esc(t("cases.f.station"))}</dt><dd>${esc(c.station || "–")} (${esc(c.area)})</dd>
        <dt>${esc(t("cases.f.suspect"))}</dt><dd>${esc(c.suspect.name)}${c.suspect.birth_date ? ` · ${esc(c.suspect.birth_date)}` : ""}${c.suspect.has_national_id ? ` · ${esc(t("cases.has_national_id"))}` : ""}${c.suspect.subject_id ? ` · <span class="mono">${esc(c.suspect.subject_id)}</span>` : ""}</dd>
        <dt>${esc(t("cases.f.victim"))}</dt><dd>${victim}${c.victim.phone ? ` · ${esc(c.victim.phone)}` : ""}</dd>
        <dt>${esc(t("cases.f.offences"))}</dt><dd>${c.offences.map(esc).join("<br>")}</dd>
        <dt>${esc(t("cases.f.measures"))}</dt><dd>${measures}</dd>
        <dt>${esc(t("cases.f.match"))}</dt><dd><span class="chip ${stateClass(m.state)}" data-testid="case-detail-state">${esc(t(`cases.match.${m.state}`))}</span>${m.basis ? ` ${esc(t(`cases.basis.${m.basis}`))}` : ""}</dd>
      </dl>
      ${reports ? `<h3>${esc(t("cases.f.reports", { n: c.reports.length }))}</h3><ol class="reports">${reports}</ol>` : ""}
      ${m.state === "matched" ? this.monitored(m) : ""}
      ${c.review && this.canReview && m.state === "review" ? this.candidates(c) : ""}
      ${c.proposal ? this.proposal(c.proposal) : ""}
      ${this.orders(c)}
      ${this.decisions(c)}
      ${this.canDecide && open ? this.decisionForm(c) : ""}
    </article>`;
  }

  // --- closing and reopening --------------------------------------------------------------------

  // How a closed case ended; on a reopened one, when and why it was reopened.
  closedNote(c) {
    if (c.closed) {
      const outcome = t(`cases.outcome.${c.closed.outcome}`);
      return `<section class="notice closed" data-testid="case-closed" aria-labelledby="closed-title">
        <h3 id="closed-title">${esc(t("cases.closed_title", { outcome }))}</h3>
        <p>${esc(c.closed.reason)}</p>
        <p class="muted small">${esc(t("cases.closed_by", { by: c.closed.by, at: dateTime(c.closed.at) }))}</p>
        <p class="small">${esc(t("cases.closed_orders"))}</p></section>`;
    }
    if (c.reopened) {
      return `<p class="muted small" data-testid="case-reopened">${esc(t("cases.reopened_by", { by: c.reopened.by, at: dateTime(c.reopened.at), reason: c.reopened.reason }))}</p>`;
    }
    return "";
  }

  closeForm(c) {
    const e = this.closeErrors;
    const f = (name, label, control, opts = {}) => this.field(`close.${name}`, label, control, { ...opts, errors: e });
    const closing = this.closing === "close";
    const general = e[""];
    return `<form class="record close-form" data-testid="close-form" data-action="${esc(this.closing)}" novalidate aria-labelledby="close-title">
      <h3 id="close-title" class="wide">${esc(t(closing ? "cases.close_title" : "cases.reopen_title", { id: c.id }))}</h3>
      ${closing ? f("outcome", "cases.f.close_outcome", (id, a) => `<select id="${id}" name="outcome"${a}><option value="">${esc(t("cases.outcome.pick"))}</option>${OUTCOMES.map((x) => `<option value="${esc(x)}">${esc(t(`cases.outcome.${x}`))}</option>`).join("")}</select>`, { required: true }) : ""}
      ${f("reason", closing ? "cases.f.close_reason" : "cases.f.reopen_reason", (id, a) => `<textarea id="${id}" name="reason" rows="3" maxlength="${REASON_MAX}"${a}></textarea>`, { wide: true, required: true })}
      ${closing ? `<p class="muted small wide">${esc(t("cases.closed_orders"))}</p>` : ""}
      <div class="actions wide"><button type="submit" class="primary" data-testid="close-confirm">${esc(t(closing ? "cases.close_confirm" : "cases.reopen_confirm"))}</button>
        <button type="button" data-testid="close-cancel">${esc(t("cases.cancel"))}</button>
        <span class="error" role="alert" data-testid="close-error-general"${general ? "" : " hidden"}>${esc(say(general))}</span></div>
    </form>`;
  }

  async close() {
    const form = this.root.querySelector("[data-testid=close-form]");
    const action = this.closing;
    const values = Object.fromEntries([...form.elements].filter((x) => x.name).map((x) => [x.name, x.value]));
    const errors = {};
    const body = { reason: values.reason.trim() };
    if (!body.reason) errors["close.reason"] = msg("err.missing");
    else if (body.reason.length > REASON_MAX) errors["close.reason"] = msg("err.string_too_long");
    if (action === "close") {
      body.outcome = values.outcome;
      if (!OUTCOMES.includes(body.outcome)) errors["close.outcome"] = msg("err.missing");
    }
    const shown = (found) => {
      this.closeErrors = found;
      this.render();
      const again = this.root.querySelector("[data-testid=close-form]");
      for (const [k, val] of Object.entries(values)) if (again.elements[k]) again.elements[k].value = val;
      again.querySelector("[aria-invalid=true]")?.focus();
    };
    if (Object.keys(errors).length) return shown(errors);
    try {
      this.current = await api("POST", `/v1/cases/${encodeURIComponent(this.current.id)}/${action}`, body);
      this.closing = null;
      this.closeErrors = {};
      this.message = msg(action === "close" ? "cases.closed_now" : "cases.reopened_now");
      await this.load();
      this.root.querySelector("[data-testid=case-main] h2")?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      const found = refusal(error, new Set(Object.keys(values)));
      shown(Object.fromEntries(Object.entries(found).map(([k, val]) => [k ? `close.${k}` : "", val])));
    }
  }

  monitored(m) {
    const po = m.probation_officer;
    const contact = po ? `${esc(po.name)} <span class="mono">${esc(po.id)}</span>${po.phone ? ` · <a href="tel:${esc(po.phone)}">${esc(po.phone)}</a>` : ""}` : esc(t("cases.no_officer"));
    return `<section class="monitored notice" data-testid="case-monitored" aria-labelledby="monitored-title">
      <h3 id="monitored-title">${esc(t(m.already_monitored ? "cases.monitored" : "cases.matched_unworn", { subject: m.subject_id }))}</h3>
      <p>${esc(t("cases.devices"))}: <span class="mono" data-testid="case-devices">${m.devices.map(esc).join(", ") || "–"}</span></p>
      <p data-testid="case-officer">${esc(t("cases.officer"))}: ${contact}</p>
      ${(m.absences || []).length ? `<ul class="absences-short" data-testid="case-absences">${m.absences.map((a) => `<li data-testid="case-absence">${esc(absenceLine(a))} · <span class="muted small">${esc(a.reason)}</span></li>`).join("")}</ul>` : ""}
    </section>`;
  }

  candidates(c) {
    const known = (id) => {
      const s = (this.subjects || {})[id];
      if (!s) return "";
      const born = s.birth_date ? ` · ${esc(t("cases.f.birth_date"))} ${esc(s.birth_date)}` : "";
      const officer = s.probation_officer ? ` · ${esc(t("cases.officer"))} <span class="mono">${esc(s.probation_officer)}</span>` : "";
      return ` · ${esc(s.name)}${born}${s.has_national_id ? ` · ${esc(t("cases.has_national_id"))}` : ""}${officer}`;
    };
    const rows = c.review.map((x) => `<li data-testid="review-candidate" data-subject-id="${esc(x.subject_id)}"><span class="mono">${esc(x.subject_id)}</span>${known(x.subject_id)} · ${esc(why(x.why))}
      <button type="button" data-testid="review-confirm" data-subject-id="${esc(x.subject_id)}">${esc(t("cases.review.confirm", { subject: x.subject_id }))}</button></li>`).join("");
    return `<section class="candidates" aria-labelledby="candidates-title"><h3 id="candidates-title">${esc(t("cases.review.candidates"))}</h3>
      <ul data-testid="review-candidates">${rows}</ul>
      <button type="button" data-testid="review-dismiss">${esc(t("cases.review.dismiss"))}</button>
      <p class="error" role="alert" data-testid="review-error" hidden></p></section>`;
  }

  proposal(p) {
    const f = p.facts;
    const reports = f.reports ? t("cases.proposal.reports", { n: f.reports, first: day(f.first_report), last: day(f.last_report) }) : t("cases.proposal.no_reports");
    return `<section class="proposal" data-testid="case-proposal" aria-labelledby="proposal-title">
      <h3 id="proposal-title">${esc(t("cases.proposal.title"))}</h3>
      <p>${esc(t("cases.proposal.why", { subject: p.subject_id }))}</p>
      <dl class="facts">
        <dt>${esc(t("cases.f.suspect"))}</dt><dd>${esc(f.suspect.name)}${f.suspect.birth_date ? ` · ${esc(f.suspect.birth_date)}` : ""} · ${esc(t(`legal.${f.suspect.legal_basis}`))}</dd>
        <dt>${esc(t("cases.proposal.monitoring"))}</dt><dd class="mono">${f.monitoring.devices.map(esc).join(", ") || "–"}${f.monitoring.case_reference ? ` · ${esc(f.monitoring.case_reference)}` : ""}</dd>
        <dt>${esc(t("cases.f.offences"))}</dt><dd>${f.offences.map(esc).join("<br>")}</dd>
        <dt>${esc(t("cases.f.reports_short"))}</dt><dd>${esc(reports)}</dd>
        <dt>${esc(t("cases.proposal.distances"))}</dt><dd>${esc(t("cases.proposal.distances_are", { v: p.proposed_order.violation_distance_m, w: p.proposed_order.warning_distance_m }))}</dd>
      </dl></section>`;
  }

  orders(c) {
    if (!c.orders || !c.orders.length) return "";
    const rows = c.orders.map((o) => `<li data-testid="case-order" data-order-id="${esc(o.id)}" class="${o.expires_soon ? "expiring" : ""}">
      <span class="mono">${esc(o.id)}</span> · ${esc(t(o.in_force ? "cases.order.in_force" : "cases.order.not_in_force"))} · <span data-testid="case-order-end">${esc(orderEnd(o))}</span>
      ${o.expires_soon ? `<strong class="reminder" data-testid="case-expiring">${esc(t("cases.order.remind"))}</strong>` : ""}
      ${o.reminded ? `<span class="muted small" data-testid="case-order-reminded">${esc(remindedText(o))}</span>` : ""}</li>`).join("");
    return `<section aria-labelledby="orders-title"><h3 id="orders-title">${esc(t("cases.orders"))}</h3><ul class="orders">${rows}</ul></section>`;
  }

  decisions(c) {
    if (!c.decisions.length) return "";
    const rows = c.decisions.map((d) => `<li data-testid="case-decision">${esc(t(`cases.measure.${d.measure}`))} · <b>${esc(t(d.granted ? "cases.granted" : "cases.refused"))}</b> · ${esc(d.court || "")} ${esc(d.court_reference)} · ${esc(d.decided_on)}${d.order_id ? ` · <span class="mono">${esc(d.order_id)}</span>` : ""}</li>`).join("");
    return `<section aria-labelledby="decisions-title"><h3 id="decisions-title">${esc(t("cases.decisions"))}</h3><ul class="decisions">${rows}</ul></section>`;
  }

  // --- the forms --------------------------------------------------------------------------------

  // One field: a label, the control, and its error (announced by aria-describedby).
  field(name, label, control, { wide = false, required = false, errors = this.errors } = {}) {
    const id = `c-${name.replace(/\W/g, "-")}`;
    const error = errors[name];
    const star = required ? ' <span aria-hidden="true">*</span>' : "";
    const input = control(id, `${error ? ` aria-invalid="true"` : ""} aria-describedby="e-${id}"${required ? ' aria-required="true"' : ""}`);
    return `<div class="field${wide ? " wide" : ""}" data-field="${esc(name)}"><label for="${id}">${esc(t(label))}${star}</label>${input}
      <div class="error" id="e-${id}" data-testid="case-error-${esc(name)}"${error ? "" : " hidden"}>${esc(say(error))}</div></div>`;
  }

  victims() {
    const seen = new Map();
    for (const c of this.cases) if (c.victim.protected_person_id) seen.set(c.victim.protected_person_id, c.victim.name);
    return [...seen].map(([id, name]) => ({ id, name }));
  }

  form() {
    const editing = this.editing;
    // A case stays with its station's area (the server refuses a move): editing shows only its own.
    const scoped = this.me.scope?.areas || [];
    const areas = editing ? [scoped.find((x) => x.code === editing.area) || { code: editing.area }] : scoped;
    const english = language() === "en";
    const text = (name, extra = "") => (id, a) => `<input id="${id}" name="${name}" type="text"${a}${extra}>`;
    const opts = (values, prefix) => values.map((v) => `<option value="${esc(v)}">${esc(t(`${prefix}${v}`))}</option>`).join("");
    const picked = this.picked ?? NEW_VICTIM;
    const reportRows = Array.from({ length: this.reports }, (_, i) => `<div class="report-row">
        ${this.field(`reports.${i}.at`, "cases.f.report_at", (id, a) => `<input id="${id}" name="reports.${i}.at" type="datetime-local"${a}>`)}
        ${this.field(`reports.${i}.summary`, "cases.f.report_summary", text(`reports.${i}.summary`, ' maxlength="2000"'), { wide: true })}</div>`).join("");
    const general = this.errors[""];
    const nidHint = editing && editing.suspect.has_national_id
      ? `<p class="muted small wide" id="c-nid-kept" data-testid="case-nid-kept">${esc(t("cases.f.national_id_kept"))}</p>
        <label class="check wide"><input type="checkbox" name="suspect.forget_national_id" data-testid="case-nid-forget"> ${esc(t("cases.f.national_id_forget"))}</label>`
      : "";
    return `<form class="record case-form" data-testid="case-form" data-editing="${esc(editing ? editing.id : "")}" novalidate>
      <h2 class="wide" tabindex="-1">${esc(editing ? t("cases.edit_title", { id: editing.id }) : t("cases.new_title"))}</h2>
      ${this.field("id", "cases.f.id", text("id", editing ? " readonly" : ` placeholder="${esc(t("cases.f.id_hint"))}"`), { required: true })}
      ${this.field("kind", "cases.f.kind", (id, a) => `<select id="${id}" name="kind"${a}>${opts(KINDS, "cases.kind.")}</select>`)}
      ${this.field("area", "cases.f.area", (id, a) => `<select id="${id}" name="area"${a}>${areas.map((x) => `<option value="${esc(x.code)}">${esc((english ? x.name_en : x.name) || x.code)} (${esc(x.code)})</option>`).join("")}</select>`, { required: true })}
      ${this.field("station", "cases.f.station", text("station", ' maxlength="200"'))}
      <fieldset class="wide"><legend>${esc(t("cases.f.suspect"))}</legend>
        ${this.field("suspect.name", "cases.f.name", text("suspect.name", ' maxlength="200" autocomplete="off"'), { required: true })}
        ${this.field("suspect.birth_date", "cases.f.birth_date", (id, a) => `<input id="${id}" name="suspect.birth_date" type="date"${a}>`)}
        ${this.field("suspect.national_id", "cases.f.national_id", text("suspect.national_id", ' autocomplete="off" inputmode="numeric"'))}
        ${nidHint}
        ${this.field("suspect.subject_id", "cases.f.subject_id", text("suspect.subject_id", ' autocomplete="off"'))}
        <p class="muted small wide">${esc(t("cases.f.suspect_hint"))}</p>
      </fieldset>
      <fieldset class="wide"><legend>${esc(t("cases.f.victim"))}</legend>
        ${this.field("victim.protected_person_id", "cases.f.victim_pick", (id, a) => `<select id="${id}" name="victim.protected_person_id" data-testid="case-victim-pick"${a}>
          <option value="${NEW_VICTIM}"${picked === NEW_VICTIM ? " selected" : ""}>${esc(t("cases.f.victim_new"))}</option>
          ${this.victims().map((v) => `<option value="${esc(v.id)}"${picked === v.id ? " selected" : ""}>${esc(v.name || v.id)} (${esc(v.id)})</option>`).join("")}</select>`)}
        ${picked === NEW_VICTIM ? `${this.field("victim.name", "cases.f.name", text("victim.name", ' maxlength="200" autocomplete="off"'), { required: true })}
        ${this.field("victim.phone", "cases.f.phone", (id, a) => `<input id="${id}" name="victim.phone" type="tel" autocomplete="off"${a}>`)}` : ""}
      </fieldset>
      ${this.field("offences", "cases.f.offences_lines", (id, a) => `<textarea id="${id}" name="offences" rows="3"${a}></textarea>`, { wide: true, required: true })}
      <fieldset class="wide"><legend>${esc(t("cases.f.reports_legend"))}</legend>${reportRows}
        <button type="button" class="add-report" data-testid="case-add-report">${esc(t("cases.f.add_report"))}</button></fieldset>
      <fieldset class="wide measures" data-testid="case-measures"><legend>${esc(t("cases.f.measures"))}</legend>
        ${MEASURES.map((x) => `<label class="check"><input type="checkbox" name="measures_requested" value="${esc(x)}"> ${esc(t(`cases.measure.${x}`))}</label>`).join("")}</fieldset>
      <div class="actions wide"><button type="submit" class="primary" data-testid="case-save">${esc(t(editing ? "cases.save_changes" : "cases.save"))}</button>
        ${editing ? `<button type="button" data-testid="case-cancel-edit">${esc(t("cases.cancel"))}</button>` : ""}
        <span class="error" role="alert" data-testid="case-error-general"${general ? "" : " hidden"}>${esc(say(general))}</span></div>
    </form>`;
  }

  // A recorded case in the form, as it stands: everything but the national id, which is never shown
  // back (left empty, the stored one stays: api/cases.py).
  edit(c) {
    this.creating = true;
    this.editing = c;
    this.closing = null;
    this.errors = {};
    this.message = null;
    this.reports = Math.max(1, c.reports.length);
    this.picked = c.victim.protected_person_id || NEW_VICTIM;
    const values = {
      id: c.id, kind: c.kind, area: c.area, station: c.station || "",
      "suspect.name": c.suspect.name, "suspect.birth_date": c.suspect.birth_date || "", "suspect.national_id": "",
      "suspect.subject_id": c.suspect.subject_id || "", "victim.name": c.victim.name || "", "victim.phone": c.victim.phone || "",
      offences: c.offences.join("\n"),
    };
    c.reports.forEach((r, i) => {
      values[`reports.${i}.at`] = localInput(r.at);
      values[`reports.${i}.summary`] = r.summary;
    });
    for (const m of MEASURES) values[`measures_requested=${m}`] = c.measures_requested.includes(m);
    this.render();
    this.restore(values);
    this.root.querySelector("[data-testid=case-form] h2")?.focus();
  }

  // Re-render the form keeping what the user typed (a report row added, the victim picked).
  keeping(change) {
    const form = this.root.querySelector("[data-testid=case-form]");
    const values = this.values(form);
    this.picked = form.elements["victim.protected_person_id"].value;
    change();
    this.render();
    this.restore(values);
  }

  values(form) {
    const out = {};
    for (const e of form.elements) {
      if (!e.name) continue;
      if (e.type === "checkbox") out[`${e.name}=${e.value}`] = e.checked;
      else out[e.name] = e.value;
    }
    return out;
  }

  restore(values) {
    const form = this.root.querySelector("[data-testid=case-form]");
    if (!form) return;
    for (const e of form.elements) {
      if (!e.name) continue;
      if (e.type === "checkbox") e.checked = Boolean(values[`${e.name}=${e.value}`]);
      else if (values[e.name] !== undefined && e.name !== "victim.protected_person_id") e.value = values[e.name];
    }
  }

  // The body to PUT and what the server would refuse in it: {id, body, errors}.
  read(form) {
    const v = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
    const errors = {};
    const id = v("id");
    if (!id) errors.id = msg("err.missing");
    else if (!ID.test(id)) errors.id = msg("err.string_pattern_mismatch");
    const suspect = { name: v("suspect.name") };
    if (!suspect.name) errors["suspect.name"] = msg("err.name.missing");
    const born = v("suspect.birth_date");
    if (born) {
      if (born < "1900-01-01" || born > new Date().toISOString().slice(0, 10)) errors["suspect.birth_date"] = msg("err.birth_date.value_error");
      suspect.birth_date = born;
    }
    const nid = v("suspect.national_id");
    if (nid) {
      if (!NATIONAL_ID.test(nid)) errors["suspect.national_id"] = msg("err.national_id.string_pattern_mismatch");
      suspect.national_id = nid;
    }
    // a stored number found to be wrong: removed, so it matches no one any more
    if (form.querySelector("[name='suspect.forget_national_id']")?.checked) {
      if (nid) errors["suspect.national_id"] = msg("err.national_id.forget_and_new");
      suspect.forget_national_id = true;
    }
    const sid = v("suspect.subject_id");
    if (sid) {
      if (!ID.test(sid)) errors["suspect.subject_id"] = msg("err.string_pattern_mismatch");
      suspect.subject_id = sid;
    }
    const victim = {};
    const picked = v("victim.protected_person_id");
    if (picked) victim.protected_person_id = picked;
    else {
      victim.name = v("victim.name");
      victim.phone = v("victim.phone");
      if (!victim.name) errors["victim.name"] = msg("err.victim.missing");
      if (!isPhone(victim.phone)) errors["victim.phone"] = msg("err.phone");
    }
    const offences = v("offences").split("\n").map((x) => x.trim()).filter(Boolean);
    if (!offences.length) errors.offences = msg("err.offences.missing");
    else if (offences.length > 20 || offences.some((x) => x.length > 200)) errors.offences = msg("err.offences.too_many");
    const reports = [];
    for (let i = 0; i < this.reports; i += 1) {
      const at = v(`reports.${i}.at`);
      const summary = v(`reports.${i}.summary`);
      if (!at && !summary) continue;
      if (!at) errors[`reports.${i}.at`] = msg("err.report.at");
      if (!summary) errors[`reports.${i}.summary`] = msg("err.report.summary");
      if (at && summary) reports.push({ at: isoFromLocal(at), summary });
    }
    const measures = [...form.querySelectorAll("input[name=measures_requested]:checked")].map((x) => x.value);
    const body = { kind: v("kind"), area: v("area"), station: v("station"), suspect, victim, offences, reports, measures_requested: measures };
    if (!body.area) errors.area = msg("err.area.string_pattern_mismatch");
    return { id, body, errors };
  }

  async save() {
    const form = this.root.querySelector("[data-testid=case-form]");
    const values = this.values(form);
    this.picked = form.elements["victim.protected_person_id"].value;
    const { id, body, errors } = this.read(form);
    if (Object.keys(errors).length) return this.showErrors(errors, values);
    const button = form.querySelector("[data-testid=case-save]");
    button.disabled = true;
    try {
      const saved = await api("PUT", `/v1/cases/${encodeURIComponent(id)}`, body);
      const edited = Boolean(this.editing);
      this.creating = false;
      this.editing = null;
      this.current = saved;
      this.errors = {};
      this.reports = 1;
      this.picked = NEW_VICTIM;
      this.message = msg(edited ? "cases.updated" : saved.match.state === "matched" ? "cases.saved_matched" : "cases.saved");
      await this.load();
      this.root.querySelector("[data-testid=case-main] h2")?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      this.showErrors(refusal(error, formFields(form)), values);
    }
  }

  showErrors(errors, values) {
    this.errors = errors;
    this.render();
    this.restore(values);
    const first = this.root.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }

  decisionForm(c) {
    const e = this.decisionErrors;
    const f = (name, label, control, opts = {}) => this.field(`d.${name}`, label, control, { ...opts, errors: e });
    const proposed = c.proposal?.proposed_order || { violation_distance_m: 100, warning_distance_m: 1000 };
    const general = e[""];
    // The zones' editor holds a form of its own (the address search), and forms do not nest: the
    // decision's fields, then its zones, then the button that sends them all (form="…").
    return `<section class="decision" data-testid="decision" aria-labelledby="decision-title">
      <form class="record decision-form" id="decision-form" data-testid="decision-form" novalidate>
      <h3 id="decision-title" class="wide">${esc(t("cases.decision.title"))}</h3>
      ${f("measure", "cases.f.measure", (id, a) => `<select id="${id}" name="measure"${a}>${MEASURES.map((x) => `<option value="${esc(x)}"${x === "3-2" ? " selected" : ""}>${esc(t(`cases.measure.${x}`))}</option>`).join("")}</select>`)}
      ${f("granted", "cases.f.outcome", (id, a) => `<select id="${id}" name="granted"${a}><option value="true">${esc(t("cases.granted"))}</option><option value="false">${esc(t("cases.refused"))}</option></select>`)}
      ${f("court", "cases.f.court", (id, a) => `<input id="${id}" name="court" type="text" maxlength="200"${a}>`)}
      ${f("court_reference", "cases.f.court_reference", (id, a) => `<input id="${id}" name="court_reference" type="text" maxlength="100"${a}>`, { required: true })}
      ${f("decided_on", "cases.f.decided_on", (id, a) => `<input id="${id}" name="decided_on" type="date"${a}>`, { required: true })}
      ${f("valid_from", "cases.f.valid_from", (id, a) => `<input id="${id}" name="valid_from" type="datetime-local" value="${esc(localInput(null))}"${a}>`)}
      ${f("valid_until", "cases.f.valid_until", (id, a) => `<input id="${id}" name="valid_until" type="datetime-local"${a}>`)}
      ${f("violation_distance_m", "cases.f.violation_m", (id, a) => `<input id="${id}" name="violation_distance_m" type="number" step="any" value="${esc(proposed.violation_distance_m)}"${a}>`)}
      ${f("warning_distance_m", "cases.f.warning_m", (id, a) => `<input id="${id}" name="warning_distance_m" type="number" step="any" value="${esc(proposed.warning_distance_m)}"${a}>`)}
      <p class="muted small wide">${esc(t("cases.decision.zones_hint"))}</p>
      </form>
      <div data-slot="decision-zones"></div>
      <div class="actions"><button type="submit" form="decision-form" class="primary" data-testid="decision-save">${esc(t("cases.decision.save"))}</button>
        <span class="error" role="alert" data-testid="decision-error-general"${general ? "" : " hidden"}>${esc(say(general))}</span></div>
    </section>`;
  }

  // The zones of the decision: the registry's editor (zones.js) with a map of its own, made once and
  // moved into each rendering of the page, so what is drawn survives a re-render.
  mountZones() {
    const slot = this.root.querySelector("[data-slot=decision-zones]");
    if (!slot) return;
    if (!this.zoneArea) {
      this.zoneArea = el(`<div class="decision-zones"><div class="decision-map" data-testid="decision-map"></div><div class="zones" data-testid="decision-zones"></div></div>`);
      this.zones = new ZoneEditor(this.zoneArea.querySelector("[data-testid=decision-zones]"), {
        canWrite: true, config: this.config, idPrefix: "dzone", title: "cases.decision.zones",
        newId: (n) => (this.current ? `O-${this.current.id}.z${n}`.slice(0, 64) : ""),
      });
    }
    slot.replaceWith(this.zoneArea);
    this.zones.render();
    if (!this.mapReady) {
      const centre = [37.64, 127.21]; // Namyangju, till a zone is placed
      this.mapReady = makeMap(this.zoneArea.querySelector("[data-testid=decision-map]"), { center: centre, zoom: 12, config: this.config })
        .then((map) => {
          this.zones.attach(map);
          this.zones.drawOnMap();
        })
        .catch(() => {}); // no map: circles are still typed in or found by address
    } else if (this.zones.map) {
      this.zones.map.invalidateSize();
    }
  }

  // Re-render keeping what was typed in the decision form.
  again() {
    const form = this.root.querySelector("[data-testid=decision-form]");
    const values = form ? Object.fromEntries([...form.elements].filter((x) => x.name).map((x) => [x.name, x.value])) : null;
    this.render();
    const after = this.root.querySelector("[data-testid=decision-form]");
    if (values && after) for (const [k, val] of Object.entries(values)) if (after.elements[k]) after.elements[k].value = val;
  }

  async decide() {
    const form = this.root.querySelector("[data-testid=decision-form]");
    const v = (name) => form.elements[name].value.trim();
    const errors = {};
    const body = { measure: v("measure"), granted: v("granted") === "true", court: v("court"), court_reference: v("court_reference"), decided_on: v("decided_on") };
    if (!body.court_reference) errors["d.court_reference"] = msg("err.missing");
    if (!body.decided_on) errors["d.decided_on"] = msg("err.missing");
    // valid_from: the server's default is now; a start typed in is sent as such (a past one too: a
    // court's order may be recorded after the hour it began).
    const from = v("valid_from") ? new Date(v("valid_from")) : new Date();
    if (v("valid_from")) {
      if (Number.isNaN(from.getTime())) errors["d.valid_from"] = msg("err.missing");
      else body.valid_from = from.toISOString();
    }
    if (v("valid_until")) {
      body.valid_until = isoFromLocal(v("valid_until"));
      if (new Date(body.valid_until) <= from) errors["d.valid_until"] = msg("err.valid_until.value_error");
    }
    for (const name of ["violation_distance_m", "warning_distance_m"]) {
      const n = Number(v(name));
      const max = name === "violation_distance_m" ? 10000 : 50000;
      if (!v(name) || !(n > 0 && n <= max)) errors[`d.${name}`] = msg("err.range", { min: 0, max });
      else body[name] = n;
    }
    if (!errors["d.violation_distance_m"] && !errors["d.warning_distance_m"] && body.warning_distance_m < body.violation_distance_m) {
      errors["d.warning_distance_m"] = msg("err.warning_distance_m.value_error");
    }
    const zones = this.zones ? this.zones.bodies() : [];
    if (zones.length > 20) errors[""] = msg("err.zones.too_many");
    if (zones.length) body.zones = zones;
    const zoneErrors = this.zones ? this.zones.check() : {};
    const values = Object.fromEntries([...form.elements].filter((x) => x.name).map((x) => [x.name, x.value]));
    const again = () => {
      const f = this.root.querySelector("[data-testid=decision-form]");
      for (const [k, val] of Object.entries(values)) if (f.elements[k]) f.elements[k].value = val;
      this.root.querySelector("[data-testid=decision] [aria-invalid=true], [data-testid=decision] .zone-card .error:not([hidden])")?.scrollIntoView({ block: "center" });
      this.root.querySelector("[data-testid=decision-form] [aria-invalid=true]")?.focus();
    };
    if (Object.keys(errors).length || Object.keys(zoneErrors).length) {
      this.decisionErrors = errors;
      if (this.zones) this.zones.errors = zoneErrors;
      this.render();
      return again();
    }
    try {
      const done = await api("POST", `/v1/cases/${encodeURIComponent(this.current.id)}/decisions`, body);
      this.current = done.case;
      this.decisionErrors = {};
      if (this.zones) this.zones.load([]);
      this.message = msg(done.order_id ? "cases.decision.ordered" : "cases.decision.saved", { order: done.order_id || "" });
      await this.load();
      this.root.querySelector("[data-testid=case-main] h2")?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      // a zone's problem goes on its card ("zones.0.circle.radius_m", "zones[1].schedule"), the rest
      // next to its field in the form
      const raw = refusal(error, new Set([...Object.keys(values), "zones"]), { keep: /^zones[.[]\d/ });
      const rest = this.zones ? this.zones.refused(raw) : raw;
      this.decisionErrors = Object.fromEntries(Object.entries(rest).map(([k, val]) => [k ? `d.${k}` : "", val]));
      this.render();
      again();
    }
  }

  async confirm(subject) {
    try {
      this.current = await api("POST", `/v1/cases/${encodeURIComponent(this.current.id)}/match`, { subject_id: subject });
      this.message = msg(subject ? "cases.review.confirmed" : "cases.review.dismissed", { subject: subject || "" });
      await this.load();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      const box = this.root.querySelector("[data-testid=review-error]");
      box.hidden = false;
      box.textContent = t("err.other", { reason: error.message });
    }
  }
}

function stateClass(state) {
  return { matched: "violation", review: "warning", none: "outline", dismissed: "outline" }[state] || "outline";
}

function formFields(form) {
  return new Set([...form.elements].filter((e) => e.name).map((e) => e.name));
}

// What the server refused, as {field: message}: a field the form has ("suspect.national_id"), the
// nearest one it has ("offences.3" -> "offences", "victim" -> "victim.name"), else the form's.
// `keep`: fields named so are kept whole (a zone's "zones.0.circle.radius_m", for its card).
function refusal(error, fields, { keep = null } = {}) {
  if (!(error instanceof ApiError)) return { "": msg("err.unreachable") };
  const out = {};
  if (Array.isArray(error.detail)) {
    for (const e of error.detail) {
      let field = String(e.field || "").replace(/^body\.?/, "").replace(/^path\.case_id$/, "id");
      if (keep && keep.test(field)) {
        out[field] = problem(field, e.code || "refused", e.reason);
        continue;
      }
      while (field && !fields.has(field) && field.includes(".")) field = field.slice(0, field.lastIndexOf("."));
      if (field === "victim") field = fields.has("victim.name") ? "victim.name" : "victim.protected_person_id";
      if (!fields.has(field)) field = "";
      out[field] = problem(field || e.field, e.code || (error.status === 409 ? "conflict" : "refused"), e.reason);
    }
    return out;
  }
  const detail = typeof error.detail === "string" ? error.detail : error.message;
  out[""] = error.status === 403 ? msg("err.forbidden") : msg("err.other", { reason: detail });
  return out;
}
