// The shift handover: what the outgoing shift hands to the next one (GET /v1/handover): the open
// incidents with their latest escalation and who is working each, what was opened, escalated and
// closed since, and the notes written on people. One page, printable (control.css's print rules).
import { api } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc, clock, dateTime } from "./util.js";

const HOURS = [4, 8, 12, 24];

export class Handover {
  constructor(root) {
    this.root = root;
    this.hours = 12;
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
    const since = new Date(Date.now() - this.hours * 3600 * 1000).toISOString();
    try {
      this.data = await api("GET", `/v1/handover?since=${encodeURIComponent(since)}`);
      this.error = null;
    } catch (e) {
      this.error = e.message;
    }
    this.render();
  }

  render() {
    const d = this.data;
    const options = HOURS.map((h) => `<option value="${h}"${h === this.hours ? " selected" : ""}>${esc(t("handover.hours", { n: h }))}</option>`).join("");
    const head = `<header class="handover-head"><h2>${esc(t("handover.title"))}</h2>
      <label class="no-print">${esc(t("handover.since"))} <select data-testid="handover-hours">${options}</select></label>
      <button type="button" class="no-print" data-testid="handover-refresh">${esc(t("handover.refresh"))}</button>
      <button type="button" class="no-print primary" data-testid="handover-print">${esc(t("handover.print"))}</button>
      ${d ? `<p class="range" data-testid="handover-range">${esc(t("handover.range", { since: dateTime(d.since), until: dateTime(d.until) }))}</p>` : ""}</header>`;
    const error = this.error ? `<p class="error">${esc(t("error.generic", { detail: this.error }))}</p>` : "";
    this.root.innerHTML = `<div class="handover-page" data-testid="handover-page">${head}${error}${d ? this.body(d) : ""}</div>`;
    this.root.querySelector("[data-testid=handover-hours]").addEventListener("change", (e) => {
      this.hours = Number(e.target.value);
      this.load();
    });
    this.root.querySelector("[data-testid=handover-refresh]").addEventListener("click", () => this.load());
    this.root.querySelector("[data-testid=handover-print]").addEventListener("click", () => window.print());
  }

  body(d) {
    const people = (i) => [i.subject, i.protected_person].filter(Boolean).map(esc).join(" → ");
    const open = d.open.map((i) => {
      const last = i.latest_escalation;
      const claim = i.claim ? t("claim.by", { user: i.claim.user }) + ` · ${clock(i.claim.at)}` : t("handover.unclaimed");
      return `<tr data-testid="handover-open-row" data-incident-id="${esc(i.id)}">
        <td class="mono">${esc(i.number)}</td>
        <td><span class="chip ${esc(i.severity)}">${esc(t(`severity.${i.severity}`))}</span> ${esc(t(`kind.${i.kind}`))}</td>
        <td>${people(i)}</td>
        <td>${last ? `${esc(t(`kind.${last.kind}`))} · ${esc(clock(last.at))}` : esc(clock(i.escalated_at))}</td>
        <td data-testid="handover-claim">${esc(claim)}</td></tr>`;
    }).join("");
    const list = (items, testid) => (items.length
      ? `<ul data-testid="${testid}">${items.map((i) => `<li><span class="mono">${esc(i.number)}</span> ${esc(t(`kind.${i.kind}`))} · ${people(i)} · ${esc(clock(i.at))}</li>`).join("")}</ul>`
      : `<p class="muted" data-testid="${testid}">${esc(t("handover.none"))}</p>`);
    const c = d.counts;
    const notes = d.notes.map((n) => `<li data-testid="handover-note"><span class="mono">${esc(n.person)}</span> (${esc(t(`reg.kind.${n.person_kind}`))}) · <span class="mono">${esc(n.author)}</span> · ${esc(dateTime(n.at))}<div>${esc(n.text)}</div></li>`).join("");
    return `
      <section><h3 data-testid="handover-open-title">${esc(t("handover.open", { n: c.open }))}</h3>
        ${d.open.length ? `<table class="handover-open" data-testid="handover-open"><thead><tr>${["handover.col.number", "handover.col.kind", "handover.col.parties", "handover.latest", "handover.col.claim"].map((k) => `<th scope="col">${esc(t(k))}</th>`).join("")}</tr></thead><tbody>${open}</tbody></table>` : `<p class="muted">${esc(t("handover.open_none"))}</p>`}</section>
      <section><h3>${esc(t("handover.changes"))}</h3>
        <p class="counts" data-testid="handover-counts">${esc(t("handover.opened", { n: c.opened }))} · ${esc(t("handover.escalated", { n: c.escalated }))} · ${esc(t("handover.closed", { n: c.closed }))}</p>
        <div class="changes"><div><h4>${esc(t("handover.opened", { n: c.opened }))}</h4>${list(d.changes.opened, "handover-opened")}</div>
        <div><h4>${esc(t("handover.escalated", { n: c.escalated }))}</h4>${list(d.changes.escalated, "handover-escalated")}</div>
        <div><h4>${esc(t("handover.closed", { n: c.closed }))}</h4>${list(d.changes.closed, "handover-closed")}</div></div></section>
      <section><h3>${esc(t("handover.notes", { n: c.notes }))}</h3>
        ${notes ? `<ol class="notes-list" data-testid="handover-notes">${notes}</ol>` : `<p class="muted">${esc(t("handover.notes_none"))}</p>`}</section>`;
  }
}
