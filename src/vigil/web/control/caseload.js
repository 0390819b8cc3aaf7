// The caseload view (GET /v1/caseload; api/caseload.py). A probation officer: his load against the
// guideline of 10 subjects per officer (the field average is 21.6), the orders that end soon, and
// each subject with the police cases matched to him, his orders with their ends, his approved absences
// in force or upcoming (absences.js approves them, in the registry), and his alerts of the last week. An operator: every officer's load and every order ending soon, or one officer's
// caseload as he sees it.
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { orderEnd, remindedText } from "./cases.js";
import { esc, dateTime, absenceLine } from "./util.js";

export class Caseload {
  constructor(root, { operator = false } = {}) {
    this.root = root;
    this.operator = operator;
    this.officer = null; // an operator's choice; null: every officer's load
    this.data = null;
    this.error = null;
  }

  async start() {
    if (!this.built) {
      this.built = true;
      window.addEventListener("languagechange", () => this.render());
    }
    await this.load();
  }

  async load() {
    const query = this.officer ? `?officer=${encodeURIComponent(this.officer)}` : "";
    try {
      this.data = await api("GET", `/v1/caseload${query}`);
      this.error = null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      this.error = error.message;
    }
    this.render();
  }

  render() {
    const d = this.data;
    const error = this.error ? `<p class="error" role="alert">${esc(t("error.generic", { detail: this.error }))}</p>` : "";
    const back = this.operator && this.officer ? `<button type="button" data-testid="caseload-all">${esc(t("caseload.all"))}</button>` : "";
    this.root.innerHTML = `<div class="caseload-page" data-testid="caseload-page">
      <header class="handover-head"><h2>${esc(t(this.operator && !this.officer ? "caseload.title_all" : "caseload.title"))}</h2>${back}
        <button type="button" data-testid="caseload-refresh">${esc(t("handover.refresh"))}</button></header>
      ${error}${d ? this.body(d) : ""}</div>`;
    this.root.querySelector("[data-testid=caseload-refresh]").addEventListener("click", () => this.load());
    this.root.querySelector("[data-testid=caseload-all]")?.addEventListener("click", () => {
      this.officer = null;
      this.load();
    });
    for (const b of this.root.querySelectorAll("[data-testid=caseload-officer]")) {
      b.addEventListener("click", () => {
        this.officer = b.dataset.officer;
        this.load();
      });
    }
  }

  body(d) {
    return `${this.loads(d)}${this.expiring(d)}${d.subjects ? this.subjects(d) : ""}`;
  }

  loads(d) {
    const one = (x) => {
      const over = x.over_field_average ? "caseload.over_average" : x.over_guideline ? "caseload.over" : "caseload.within";
      const name = this.operator && !this.officer
        ? `<button type="button" class="link" data-testid="caseload-officer" data-officer="${esc(x.officer)}">${esc(x.name)} <span class="mono">${esc(x.officer)}</span></button>`
        : `${esc(x.name)} <span class="mono">${esc(x.officer)}</span>`;
      const width = Math.min(100, Math.round((x.subjects / (d.field_average * 1.5)) * 100));
      return `<li class="load${x.over_guideline ? " over" : ""}" data-testid="caseload-load" data-officer="${esc(x.officer)}">
        <span class="who">${name}</span>
        <span class="figure" data-testid="caseload-load-figure">${esc(t("caseload.load", { n: x.subjects, guideline: d.guideline, average: d.field_average }))}</span>
        <span class="bar" aria-hidden="true"><span style="width:${width}%"></span><i style="left:${Math.round((d.guideline / (d.field_average * 1.5)) * 100)}%"></i></span>
        <span class="verdict">${esc(t(over))}</span></li>`;
    };
    const unassigned = d.unassigned ? `<p class="muted">${esc(t("caseload.unassigned", { n: d.unassigned }))}</p>` : "";
    return `<section aria-labelledby="load-title"><h3 id="load-title">${esc(t("caseload.load_title"))}</h3>
      <ul class="loads">${d.load.map(one).join("")}</ul>${unassigned}</section>`;
  }

  expiring(d) {
    const rows = d.expiring.map((o) => `<li data-testid="caseload-expiring" data-order-id="${esc(o.id)}"><strong>${esc(orderEnd(o))}</strong> ·
      ${esc(t("caseload.order_of", { order: o.id, subject: o.subject_id }))}${o.reference ? ` · ${esc(o.issuing_agency)} ${esc(o.reference)}` : ""}${o.reminded ? ` · <span class="muted small" data-testid="caseload-reminded">${esc(remindedText(o))}</span>` : ""}</li>`).join("");
    return `<section class="reminders" aria-labelledby="expiring-title"><h3 id="expiring-title">${esc(t("caseload.expiring", { n: d.expiring.length, days: d.reminder_days }))}</h3>
      ${rows ? `<ul>${rows}</ul>` : `<p class="muted">${esc(t("caseload.expiring_none"))}</p>`}</section>`;
  }

  subjects(d) {
    if (!d.subjects.length) return `<p class="muted">${esc(t("caseload.no_subjects"))}</p>`;
    const one = (s) => {
      const cases = s.cases.map((c) => `<li data-testid="caseload-case" data-case-id="${esc(c.id)}"><span class="mono">${esc(c.id)}</span> · ${esc(t(`cases.kind.${c.kind}`))} · ${esc(c.station || c.area)} · ${esc(t(`cases.basis.${c.match_basis}`))}
        · ${esc(t("cases.f.measures"))}: ${c.measures_requested.map((m) => esc(t(`cases.measure.${m}`))).join(", ") || "–"}
        ${c.decisions.map((x) => `<br>${esc(t(`cases.measure.${x.measure}`))} · ${esc(t(x.granted ? "cases.granted" : "cases.refused"))} · ${esc(x.court_reference)}`).join("")}</li>`).join("");
      const orders = s.orders.map((o) => `<li class="${o.expires_soon ? "expiring" : ""}"><span class="mono">${esc(o.id)}</span> · ${esc(orderEnd(o))}</li>`).join("");
      // his approved absences not over yet: why a zone violation of his was not pushed to 112
      const absences = (s.absences || []).map((a) => `<li data-testid="caseload-absence" data-absence-id="${esc(a.id)}" data-in-force="${a.in_force}">${esc(absenceLine(a))} · <span class="muted small">${esc(a.reason)}</span></li>`).join("");
      const kinds = Object.entries(s.alerts.recent).map(([k, n]) => `${esc(t(`kind.${k}`))} ${n}`).join(", ");
      const open = s.alerts.open.map((a) => `<li><span class="chip ${esc(a.severity)}">${esc(t(`severity.${a.severity}`))}</span> ${esc(t(`kind.${a.kind}`))} · ${esc(t(`state.${a.state}`))} · ${esc(dateTime(a.opened_at))}</li>`).join("");
      return `<article class="panel subject-card" data-testid="caseload-subject" data-subject-id="${esc(s.id)}" aria-labelledby="cl-${esc(s.id)}">
        <h4 id="cl-${esc(s.id)}">${esc(s.name || s.id)} <span class="mono">${esc(s.id)}</span></h4>
        <p class="muted small">${esc(t(`legal.${s.legal_basis}`))}${s.case_reference ? ` · ${esc(s.case_reference)}` : ""} · ${esc(t("cases.devices"))}: <span class="mono">${s.devices.map(esc).join(", ") || "–"}</span></p>
        <h5>${esc(t("caseload.cases", { n: s.cases.length }))}</h5>${cases ? `<ul>${cases}</ul>` : ""}
        <h5>${esc(t("caseload.orders", { n: s.orders.length }))}</h5>${orders ? `<ul>${orders}</ul>` : ""}
        ${absences ? `<ul class="absences-short">${absences}</ul>` : ""}
        <h5>${esc(t("caseload.alerts", { days: d.recent_days, n: s.alerts.recent_total }))}</h5>
        ${kinds ? `<p data-testid="caseload-alert-kinds">${kinds}</p>` : ""}${open ? `<ul>${open}</ul>` : ""}
      </article>`;
    };
    return `<section aria-labelledby="subjects-title"><h3 id="subjects-title">${esc(t("caseload.subjects", { n: d.subjects.length }))}</h3>
      <div class="subject-cards">${d.subjects.map(one).join("")}</div></section>`;
  }
}
