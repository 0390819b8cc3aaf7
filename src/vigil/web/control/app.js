// The control centre: sign-in with a token, the role's screens, and switching between them.
import { api, token, setToken, ApiError } from "/web/common/api.js";
import { t, translatePage, languageSwitch, initLanguage } from "/web/common/i18n.js";
import "./strings.js";
import { Monitor } from "./monitor.js";
import { Registry } from "./registry.js";
import { Targets } from "./targets.js";

const WATCHERS = new Set(["operator", "probation_officer", "police_dispatcher"]);
const REGISTRY = new Set([...WATCHERS, "admin"]);
const TARGETS = new Set(["operator", "admin"]);

const $ = (selector) => document.querySelector(selector);
const state = { config: { tile_url: null, language: "ko" }, me: null, view: null, screens: {} };

function showOnly(id) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
}

function showLogin(message = "") {
  for (const el of document.querySelectorAll("[data-testid=nav], [data-testid=role], [data-testid=logout], [data-testid=live]")) el.hidden = true;
  showOnly("login");
  const error = $("[data-testid=login-error]");
  error.textContent = message;
  error.hidden = !message;
  $("[data-testid=token-input]").focus();
}

function renderRole() {
  if (!state.me) return;
  const role = $("[data-testid=role]");
  role.textContent = `${t(`role.${state.me.role}`)} · ${state.me.id}`;
  role.dataset.role = state.me.role;
}

async function show(view) {
  const role = state.me.role;
  state.view = view;
  for (const b of document.querySelectorAll("[data-testid=nav] button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (view === "monitor") {
    if (!WATCHERS.has(role)) return notAllowed();
    showOnly("monitor");
    if (!state.screens.monitor) state.screens.monitor = new Monitor($("#monitor"), state.config, { onForbidden: notAllowed });
    await state.screens.monitor.start();
  } else if (view === "registry") {
    showOnly("registry");
    if (!state.screens.registry) state.screens.registry = new Registry($("#registry"), state.config, role);
    await state.screens.registry.start();
  } else if (view === "targets") {
    showOnly("targets");
    if (!state.screens.targets) state.screens.targets = new Targets($("#targets"));
    await state.screens.targets.start();
  }
}

function notAllowed() {
  showOnly("not-allowed");
  const note = $("[data-testid=not-allowed-note]");
  note.dataset.role = state.me.role;
  note.textContent = t("role.not_allowed", { role: t(`role.${state.me.role}`) });
}

async function enter() {
  try {
    state.me = await api("GET", "/v1/me");
  } catch (error) {
    setToken(null);
    if (error instanceof ApiError && error.status === 401) return showLogin(t("login.bad"));
    return showLogin(t("login.failed", { detail: error.message }));
  }
  const role = state.me.role;
  renderRole();
  for (const el of document.querySelectorAll("[data-testid=nav], [data-testid=role], [data-testid=logout]")) el.hidden = false;
  $("[data-testid=nav-registry]").hidden = !REGISTRY.has(role);
  $("[data-testid=nav-targets]").hidden = !TARGETS.has(role);
  await show("monitor");
}

async function boot() {
  token(); // moves a ?token= out of the address bar
  try {
    state.config = await api("GET", "/v1/web/config", undefined, { token: null });
  } catch {
    /* the defaults will do */
  }
  await initLanguage(state.config.language);
  languageSwitch($("[data-testid=language]"));
  translatePage();
  document.title = t("app.title");
  window.addEventListener("languagechange", () => {
    document.title = t("app.title");
    renderRole();
    if (state.view && !$("#not-allowed").hidden) notAllowed();
  });
  $("[data-testid=login-form]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("[data-testid=token-input]").value.trim();
    if (!value) return;
    setToken(value);
    $("[data-testid=token-input]").value = "";
    await enter();
  });
  $("[data-testid=logout]").addEventListener("click", () => {
    setToken(null);
    for (const screen of Object.values(state.screens)) if (screen.stop) screen.stop();
    location.replace(location.pathname);
  });
  for (const b of document.querySelectorAll("[data-testid=nav] button")) b.addEventListener("click", () => show(b.dataset.view));
  if (token()) await enter();
  else showLogin();
}

boot();
