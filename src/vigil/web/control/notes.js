// Notes on a person outside any alert (a subject or a protected person), in the registry beside the
// person's record: newest first, with author and time; those who may write add one here.
import { api, ApiError } from "/web/common/api.js";
import { t } from "/web/common/i18n.js";
import { esc, dateTime } from "./util.js";

const PATHS = { subjects: "/v1/subjects", protected: "/v1/protected-persons" };

export class Notes {
  // canWrite: the role may write notes (operators, probation officers)
  constructor(root, { canWrite = false }) {
    this.root = root;
    this.canWrite = canWrite;
    this.path = null;
    this.notes = [];
    this.loading = false;
    this.error = null;
    // the headings, labels and times follow the language switch (what is typed is kept)
    window.addEventListener("languagechange", () => this.render());
  }

  // kind: the registry's tab; record: the person open there (null: none, or not a person)
  async show(kind, record) {
    const base = PATHS[kind];
    const before = this.path;
    this.path = base && record ? `${base}/${encodeURIComponent(record.id)}/notes` : null;
    this.notes = [];
    this.error = null;
    // "No notes." only once the list is known: said while loading, it was a lie a reader (or a test)
    // could act on
    this.loading = Boolean(this.path);
    if (this.path !== before) this.root.innerHTML = ""; // another person: nothing typed carries over
    this.render();
    if (!this.path) return;
    const path = this.path;
    try {
      const notes = await api("GET", path);
      if (this.path === path) this.notes = notes;
    } catch (e) {
      if (this.path === path) this.error = e.message;
    }
    if (this.path !== path) return;
    this.loading = false;
    this.render();
  }

  render() {
    this.root.hidden = !this.path;
    if (!this.path) {
      this.root.innerHTML = "";
      return;
    }
    // a re-render (the list arriving, a note saved) keeps what is being typed
    const typed = this.root.querySelector("textarea")?.value ?? "";
    const items = this.notes.map((n) => `<li data-testid="person-note"><div class="meta"><span class="mono">${esc(n.author)}</span> · <time datetime="${esc(n.at)}">${esc(dateTime(n.at))}</time></div>
      <div class="text">${esc(n.text)}</div></li>`).join("");
    const form = this.canWrite
      ? `<form data-testid="note-form"><label for="note-text">${esc(t("notes.add"))}</label>
          <textarea id="note-text" data-testid="note-text" rows="2" maxlength="4000"></textarea>
          <button type="submit" data-testid="note-save">${esc(t("notes.save"))}</button></form>`
      : "";
    this.root.innerHTML = `<h3>${esc(t("notes.title"))}</h3>${form}
      ${this.error ? `<p class="error" data-testid="note-error">${esc(t("error.generic", { detail: this.error }))}</p>` : ""}
      <ol class="notes-list" data-testid="person-notes" aria-busy="${this.loading}">${items || (this.loading ? "" : `<li class="muted">${esc(t("notes.none"))}</li>`)}</ol>`;
    const area = this.root.querySelector("textarea");
    if (area) area.value = typed;
    const formEl = this.root.querySelector("form");
    if (formEl) formEl.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add(this.root.querySelector("textarea").value);
    });
  }

  async add(text) {
    if (!text.trim()) {
      this.error = t("notes.blank");
      return this.render();
    }
    const path = this.path;
    try {
      const note = await api("POST", path, { text });
      if (this.path !== path) return;
      this.notes = [note, ...this.notes];
      this.error = null;
      const area = this.root.querySelector("textarea");
      if (area) area.value = "";
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
    this.render();
  }
}
