// Dispatch targets, read-only here (administrators set them over the API): where alerts are pushed.
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc } from "./util.js";

export class Targets {
  constructor(root) {
    this.root = root;
    window.addEventListener("languagechange", () => this.render());
  }

  async start() {
    try {
      this.rows = await api("GET", "/v1/dispatch/targets");
      this.forbidden = false;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 403)) throw error;
      this.forbidden = true;
    }
    this.render();
  }

  render() {
    if (this.forbidden) {
      this.root.innerHTML = `<p class="notice" data-testid="targets-not-allowed">${esc(t("targets.not_allowed"))}</p>`;
      return;
    }
    if (!this.rows) return;
    const rows = this.rows.map((r) => `<tr data-testid="target-${esc(r.id)}">
      <td class="mono">${esc(r.id)}</td><td>${esc(r.name)}</td><td>${esc(r.agency)}</td>
      <td class="mono">${esc(r.url)}</td><td>${esc((r.codes || []).join(", ") || "*")}</td><td>${r.priority}</td>
      <td>${r.enabled ? t("yes") : `<span class="chip violation">${t("no")}</span>`}</td><td>${esc(r.disabled_reason || "")}</td></tr>`).join("");
    this.root.innerHTML = `<div class="panel"><h2>${esc(t("targets.title"))}</h2>
      ${this.rows.length ? `<table data-testid="targets-table"><thead><tr><th>ID</th><th>${t("reg.name")}</th><th>${t("targets.agency")}</th>
      <th>${t("targets.url")}</th><th>${t("targets.codes")}</th><th>${t("targets.priority")}</th><th>${t("targets.enabled")}</th>
      <th>${t("targets.disabled_reason")}</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">${t("targets.none")}</p>`}</div>`;
  }
}
