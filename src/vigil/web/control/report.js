// The printable incident report (GET /v1/incidents/{id}/report): the incident, its alerts, the key
// moments with both parties' positions and the distance between them, the whole timeline (the
// system's own updates folded), units, pushes to dispatch and what dispatch reported back, the claim
// and the notes on its parties. Drawn in the user's language with times in the control centre's
// time zone (the report's `timezone`), printed alone (control.css: no header, menu or buttons).
import { api } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc, metres, zoned } from "./util.js";
import { foldTimeline } from "./monitor.js";

const KEY = new Set(["opened", "escalated", "acknowledged", "dispatched", "on_scene", "resolved", "false_alarm", "cleared", "callback", "unacknowledged"]);

export class Report {
  // onBack: back to the monitor.
  constructor(root, { onBack }) {
    this.root = root;
    this.onBack = onBack;
    this.data = null;
    this.error = null;
    window.addEventListener("languagechange", () => {
      if (!this.root.hidden) this.render();
    });
  }

  async open(id) {
    this.data = null;
    this.error = null;
    this.render();
    try {
      this.data = await api("GET", `/v1/incidents/${encodeURIComponent(id)}/report`);
    } catch (e) {
      this.error = e.message;
    }
    this.render();
  }

  render() {
    const d = this.data;
    const head = `<div class="report-actions no-print"><button type="button" data-testid="report-back">${esc(t("detail.back"))}</button>
      <button type="button" class="primary" data-testid="report-print"${d ? "" : " disabled"}>${esc(t("report.print"))}</button></div>`;
    const body = this.error ? `<p class="error" data-testid="report-error">${esc(t("error.generic", { detail: this.error }))}</p>`
      : d ? this.body(d) : `<p class="muted">${esc(t("report.loading"))}</p>`;
    this.root.innerHTML = `<article class="report-page" data-testid="report">${head}${body}</article>`;
    this.root.querySelector("[data-testid=report-back]").addEventListener("click", () => this.onBack());
    this.root.querySelector("[data-testid=report-print]").addEventListener("click", () => window.print());
  }

  body(d) {
    const i = d.incident;
    const zone = d.timezone;
    const at = (iso) => esc(zoned(iso, zone));
    const time = (iso) => esc(zoned(iso, zone, { timeOnly: true }));
    const kinds = new Map(i.alerts.map((a) => [a.id, a.kind]));
    const where = (p) => (p ? `<span class="mono">${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}</span>${p.accuracy_m ? ` ±${metres(p.accuracy_m)}` : ""}` : "–");
    const row = (label, value, testid = "") => (value ? `<dt>${esc(t(label))}</dt><dd${testid ? ` data-testid="${testid}"` : ""}>${value}</dd>` : "");
    const table = (testid, heads, rows, none) => (rows.length
      ? `<table class="report-table" data-testid="${testid}"><thead><tr>${heads.map((h) => `<th scope="col">${esc(t(h))}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
      : `<p class="muted" data-testid="${testid}">${esc(t(none))}</p>`);
    const alerts = i.alerts.map((a) => `<tr data-testid="report-alert"><td>${esc(t(`kind.${a.kind}`))}</td><td>${esc(t(`severity.${a.severity}`))}</td>
      <td>${esc(t(`state.${a.state}`))}</td><td>${at(a.opened_at)}</td><td>${at(a.escalated_at || a.opened_at)}</td>
      <td>${a.assigned.map((u) => `<span class="mono">${esc(u.user)}</span> (${time(u.at)})`).join(", ") || "–"}</td></tr>`);
    const moments = d.timeline.filter((c) => KEY.has(c.change)).map((c) => `<tr data-testid="report-moment" data-change="${esc(c.change)}">
      <td>${time(c.at)}</td><td>${esc(t(`change.${c.change}`))} · ${esc(t(`kind.${kinds.get(c.alert) || c.kind}`))}</td>
      <td class="mono">${esc(c.actor)}</td><td>${where(c.subject_position)}</td><td>${where(c.protected_position)}</td>
      <td data-testid="report-moment-distance">${c.distance_m === null || c.distance_m === undefined ? "–" : metres(c.distance_m)}</td></tr>`);
    const timeline = foldTimeline(d.timeline).map((c) => (c.folded
      ? `<li data-folded="${c.folded.length}">${time(c.folded[0].at)}–${time(c.folded.at(-1).at)} <b>${esc(t("change.updated"))} ×${c.folded.length}</b> · vigil</li>`
      : `<li data-testid="report-timeline-entry">${time(c.at)} <b>${esc(t(`change.${c.change}`))}</b> · ${esc(t(`kind.${kinds.get(c.alert) || c.kind}`))}
        ${c.actor ? ` · <span class="mono">${esc(c.actor)}</span>` : ""}${c.note ? ` — <span data-testid="report-note">${esc(c.note)}</span>` : ""}</li>`)).join("");
    const pushes = i.alerts.flatMap((a) => a.deliveries.map((x) => `<tr data-testid="report-push"><td>${esc(t(`kind.${a.kind}`))}</td><td class="mono">${esc(x.target)}</td>
      <td>${esc(x.type)}${x.escalation ? ` ↑${x.escalation}` : ""}</td><td>${esc(x.state)}</td><td>${x.attempts}</td><td>${time(x.delivered_at)}</td><td>${time(x.acknowledged_at)}</td></tr>`));
    const callbacks = i.alerts.flatMap((a) => a.callbacks.map((x) => `<tr data-testid="report-callback"><td>${esc(t(`kind.${a.kind}`))}</td><td class="mono">${esc(x.target)}</td>
      <td>${esc(x.status)}</td><td>${time(x.at)}</td></tr>`));
    const notes = d.notes.map((n) => `<li data-testid="report-person-note"><span class="mono">${esc(n.person)}</span> · <span class="mono">${esc(n.author)}</span> · ${at(n.at)}<div>${esc(n.text)}</div></li>`).join("");
    const claims = (d.claims || []).map((c) => `<tr data-testid="report-claim-step" data-step="${esc(c.step)}"><td>${time(c.at)}</td><td class="mono">${esc(c.user)}</td>
      <td>${esc(t(`report.claim_step.${c.step}`))}${c.taken_from ? ` (${esc(t("report.taken_from", { user: c.taken_from }))})` : ""}</td></tr>`);
    const claim = d.claim ? `${esc(t("claim.by", { user: d.claim.user }))} · ${at(d.claim.at)}` : esc(t("claim.none"));
    return `<header class="report-head"><h2>${esc(t("report.title"))} <span class="mono" data-testid="report-number">${esc(i.number)}</span></h2>
        <p class="muted small" data-testid="report-generated">${esc(t("report.generated", { at: zoned(d.generated_at, zone), by: d.generated_by, zone }))}</p></header>
      <dl class="report-summary">
        ${row("report.kind", `${esc(t(`severity.${i.severity}`))} · ${esc(t(`kind.${i.kind}`))}`)}
        ${row("report.state", esc(t(i.open ? "report.state_open" : "incident.closed")), "report-state")}
        ${row("detail.subject", esc(i.subject || ""))}
        ${row("detail.protected", esc(i.protected_person || ""))}
        ${row("detail.opened", at(i.opened_at), "report-opened")}
        ${row("report.escalated", at(i.escalated_at))}
        ${row("report.closed", i.closed_at ? at(i.closed_at) : "")}
        ${row("report.claim", claim, "report-claim")}
      </dl>
      <section><h3>${esc(t("incident.alerts", { n: i.alerts.length }))}</h3>
        ${table("report-alerts", ["report.col.kind", "report.col.severity", "report.col.state", "detail.opened", "report.escalated", "units.title"], alerts, "report.none")}</section>
      <section><h3>${esc(t("report.claims"))}</h3>
        ${table("report-claims", ["report.col.time", "report.col.actor", "report.col.what"], claims, "report.none")}</section>
      <section><h3>${esc(t("report.moments"))}</h3>
        ${table("report-moments", ["report.col.time", "report.col.what", "report.col.actor", "detail.subject", "detail.protected", "report.col.distance"], moments, "report.none")}</section>
      <section><h3>${esc(t("detail.timeline"))}</h3><ol class="timeline" data-testid="report-timeline">${timeline}</ol></section>
      <section><h3>${esc(t("detail.deliveries"))}</h3>
        ${table("report-pushes", ["report.col.kind", "detail.target", "report.col.type", "report.col.state", "detail.attempts", "report.col.delivered", "report.col.acknowledged"], pushes, "detail.no_deliveries")}</section>
      <section><h3>${esc(t("report.callbacks"))}</h3>
        ${table("report-callbacks", ["report.col.kind", "detail.target", "report.col.status", "report.col.time"], callbacks, "report.none")}</section>
      <section><h3>${esc(t("report.notes"))}</h3>${notes ? `<ol class="notes-list" data-testid="report-notes">${notes}</ol>` : `<p class="muted" data-testid="report-notes">${esc(t("report.none"))}</p>`}</section>`;
  }
}
