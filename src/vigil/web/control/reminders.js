// Reminders before an order ends (GET /v1/me/reminders; store/reminders.py): the subject's
// probation officer and the case's police are told 14 and 3 days ahead, so that an extension can
// be asked of the court in time. The top bar counts the reminders that still stand (an extension or
// the order's end settles one by itself: nothing to dismiss) and lists them on a click; each
// leads to where the order is worked on (the case for the police, the caseload for probation).
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc, dateTime, locale } from "./util.js";

const EVERY_MS = 5 * 60 * 1000; // reminders come at most every sweep (10 min): this is soon enough

// An order's end to the minute: a court's order ends on a date at a time, never at a second.
function endOf(iso) {
  return iso ? new Date(iso).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "";
}

export class Reminders {
  // button: the top bar's counter; panel: the list it opens; onOpen(reminder): go to its order.
  constructor(button, panel, { onOpen }) {
    this.button = button;
    this.panel = panel;
    this.onOpen = onOpen;
    this.items = [];
    this.timer = null;
    button.addEventListener("click", () => this.toggle());
    // Esc closes the list wherever the focus went (the language switch, the page behind it)
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) this.close(true);
    });
    window.addEventListener("languagechange", () => this.render());
  }

  async start() {
    await this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load().catch(() => {}), EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.button.hidden = true;
    this.panel.hidden = true;
  }

  async load() {
    try {
      this.items = await api("GET", "/v1/me/reminders");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      return; // kept as they were: the next turn tries again
    }
    this.render();
  }

  toggle() {
    if (this.panel.hidden) {
      // just below the button, wherever the top bar's wrapping put it
      this.panel.style.top = `${Math.round(this.button.getBoundingClientRect().bottom + 6)}px`;
      this.panel.hidden = false;
      this.button.setAttribute("aria-expanded", "true");
      this.panel.querySelector("button")?.focus();
    } else this.close(true);
  }

  close(refocus) {
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (refocus) this.button.focus();
  }

  render() {
    const n = this.items.length;
    this.button.hidden = false;
    this.button.textContent = t("reminders.button", { n });
    this.button.dataset.count = String(n);
    this.button.classList.toggle("due", n > 0);
    const rows = this.items
      .map(
        (r, i) => `<li data-testid="reminder" data-order="${esc(r.order)}">
          <strong>${esc(t(r.days_left === 0 ? "reminders.today" : "reminders.ends", { order: r.order, n: r.days_left }))}</strong>
          <span class="muted small">${esc(t("reminders.detail", { subject: r.subject, end: endOf(r.valid_until), sent: dateTime(r.sent_at) }))}${
            r.cases.length ? ` · ${esc(t("reminders.cases", { cases: r.cases.join(", ") }))}` : ""
          }</span>
          <button type="button" data-testid="reminder-open" data-index="${i}">${esc(t("reminders.open"))}</button>
        </li>`,
      )
      .join("");
    this.panel.innerHTML = `<h2 id="reminders-title">${esc(t("reminders.title"))}</h2>
      <p class="muted small">${esc(t("reminders.why"))}</p>
      ${n ? `<ul class="reminder-list">${rows}</ul>` : `<p data-testid="reminders-none">${esc(t("reminders.none"))}</p>`}
      <button type="button" data-testid="reminders-close">${esc(t("reminders.close"))}</button>`;
    this.panel.querySelector("[data-testid=reminders-close]").addEventListener("click", () => this.close(true));
    for (const b of this.panel.querySelectorAll("[data-testid=reminder-open]")) {
      b.addEventListener("click", () => {
        this.close(false);
        this.onOpen(this.items[Number(b.dataset.index)]);
      });
    }
  }
}
