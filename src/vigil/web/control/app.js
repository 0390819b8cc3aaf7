// The control centre: sign-in (a user id and password, or a pasted access token), the purpose of
// the session, the role's screens, and switching between them.
import { api, token, setToken, login, logout, purpose, setPurpose, PURPOSES, MIN_REASON, ApiError } from "/web/common/api.js";
import { t, translatePage, languageSwitch, initLanguage } from "/web/common/i18n.js";
import { scopeText } from "/web/common/scope.js";
import "./strings.js";
import { Monitor } from "./monitor.js";
import { Registry } from "./registry.js";
import { Targets } from "./targets.js";
import { Handover } from "./handover.js";
import { Report } from "./report.js";
import { Cases } from "./cases.js";
import { Caseload } from "./caseload.js";
import { Reminders } from "./reminders.js";

// What each role gets here, as the server's policy allows (the server narrows each to its scope).
// Field officers see the incidents they are assigned to, but report on them from their terminal.
const MOVERS = new Set(["operator", "probation_officer", "police_dispatcher"]); // take an alert's steps
const WATCHERS = new Set([...MOVERS, "field_officer"]); // the map, the queue and the stream
const REGISTRY = new Set(MOVERS); // registry read
const REGISTRY_WRITERS = new Set(["operator", "probation_officer"]);
const TARGETS = new Set(["operator", "admin"]);
const ASSIGNERS = new Set(["operator", "police_dispatcher"]); // send field units, hand them live-track links
const CLAIMERS = new Set(["operator", "police_dispatcher"]); // claim an incident, take it over, release it
const FIGURES = new Set(["operator"]);
const HANDOVER = new Set(["operator"]); // the shift handover (GET /v1/handover) // the live figures over everything monitored (GET /v1/stats)
// Police cases (issue 18): investigators record them (and see nothing else here: no map, no alerts);
// probation officers read those matched to their caseload; operators review near matches.
const CASES = new Set(["police_investigator", "probation_officer", "operator"]);
const CASE_WRITERS = new Set(["police_investigator"]);
const CASE_DECIDERS = new Set(["police_investigator", "probation_officer", "operator"]);
const CASE_REVIEWERS = new Set(["operator"]);
const CASE_CLOSERS = new Set(["police_investigator", "operator"]); // api/policy.py CASES_CLOSE
const CASELOAD = new Set(["probation_officer", "operator"]); // GET /v1/caseload
const REMINDED = new Set(["probation_officer", "police_investigator"]); // GET /v1/me/reminders
const ABSENCE_APPROVERS = new Set(["probation_officer", "operator"]); // api/policy.py ABSENCES_APPROVE

const $ = (selector) => document.querySelector(selector);
const state = { config: { tile_url: null, language: "ko" }, me: null, view: null, screens: {}, message: null, purposeErrors: {} };
const NOTICE = "vigil.control.notice"; // a message for the login screen, across a reload

function showOnly(id) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
}

// message: [key, vars] of a string, or null
function showLogin(message = null) {
  for (const el of document.querySelectorAll("[data-testid=nav], [data-testid=role], [data-testid=logout], [data-testid=live], [data-testid=purpose], [data-testid=reminders], [data-testid=reminders-panel]")) el.hidden = true;
  showOnly("login");
  state.message = message;
  renderLoginMessage();
  $("[data-testid=user-input]").focus();
}

function renderLoginMessage() {
  const error = $("[data-testid=login-error]");
  error.textContent = state.message ? t(...state.message) : "";
  error.hidden = !state.message;
}

// Back to a clean login screen (screens stopped, the page loaded afresh), with a message.
function restart(message = null) {
  for (const screen of Object.values(state.screens)) if (screen.stop) screen.stop();
  if (message) sessionStorage.setItem(NOTICE, message);
  location.replace(location.pathname);
}

async function signInWithPassword(event) {
  event.preventDefault();
  const user = $("[data-testid=user-input]").value.trim();
  const password = $("[data-testid=password-input]").value;
  if (!user || !password) return;
  const submit = $("[data-testid=password-submit]");
  submit.disabled = true;
  try {
    await login(user, password);
  } catch (error) {
    if (error instanceof ApiError && error.status === 423) {
      const minutes = Math.max(1, Math.ceil((error.retryAfter || 60) / 60));
      return showLogin(["login.locked", { n: minutes }]);
    }
    if (error instanceof ApiError && (error.status === 401 || error.status === 422)) return showLogin(["login.wrong"]);
    return showLogin(["login.failed", { detail: error.message }]);
  } finally {
    submit.disabled = false;
    $("[data-testid=password-input]").value = "";
  }
  await enter();
}

function renderRole() {
  if (!state.me) return;
  const role = $("[data-testid=role]");
  const scope = scopeText(state.me.scope);
  role.textContent = `${t(`role.${state.me.role}`)} · ${state.me.id}${scope ? ` · ${scope}` : ""}`;
  role.title = role.textContent;
  role.dataset.role = state.me.role;
  role.dataset.scope = state.me.scope?.kind || "";
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
    if (!state.screens.monitor) {
      state.screens.monitor = new Monitor($("#monitor"), state.config, {
        onForbidden: notAllowed, onPurpose: purposeRefused, canMove: MOVERS.has(role), registry: REGISTRY.has(role),
        canAssign: ASSIGNERS.has(role), canCommand: REGISTRY_WRITERS.has(role), canStats: FIGURES.has(role),
        canClaim: CLAIMERS.has(role), me: state.me.id, onReport: showReport,
        seesVictims: role !== "probation_officer", // his subjects' alerts, not the victims' records or tracks
      });
    }
    await state.screens.monitor.start();
  } else if (view === "registry") {
    showOnly("registry");
    if (!state.screens.registry) {
      state.screens.registry = new Registry($("#registry"), state.config, {
        role, canWrite: REGISTRY_WRITERS.has(role), caseloads: role === "operator", canNote: REGISTRY_WRITERS.has(role),
        canApprove: ABSENCE_APPROVERS.has(role),
      });
    }
    await state.screens.registry.start();
  } else if (view === "handover") {
    if (!HANDOVER.has(role)) return notAllowed();
    showOnly("handover");
    if (!state.screens.handover) state.screens.handover = new Handover($("#handover"));
    await state.screens.handover.start();
  } else if (view === "cases") {
    if (!CASES.has(role)) return notAllowed();
    showOnly("cases");
    if (!state.screens.cases) {
      state.screens.cases = new Cases($("#cases"), {
        me: state.me, config: state.config, canWrite: CASE_WRITERS.has(role), canDecide: CASE_DECIDERS.has(role),
        canReview: CASE_REVIEWERS.has(role), canClose: CASE_CLOSERS.has(role),
      });
    }
    await state.screens.cases.start();
  } else if (view === "caseload") {
    if (!CASELOAD.has(role)) return notAllowed();
    showOnly("caseload");
    if (!state.screens.caseload) state.screens.caseload = new Caseload($("#caseload"), { operator: role === "operator" });
    await state.screens.caseload.start();
  } else if (view === "targets") {
    showOnly("targets");
    if (!state.screens.targets) state.screens.targets = new Targets($("#targets"));
    await state.screens.targets.start();
  }
}

// An incident's printable report, over the monitor (Back returns to it as it was).
async function showReport(id) {
  showOnly("report");
  if (!state.screens.report) state.screens.report = new Report($("#report"), { onBack: () => show("monitor").catch(signedOff) });
  await state.screens.report.open(id);
}

function notAllowed() {
  showOnly("not-allowed");
  const note = $("[data-testid=not-allowed-note]");
  const role = state.me.role;
  note.dataset.role = role;
  note.textContent = t(role === "admin" ? "role.not_allowed.admin" : "role.not_allowed", { role: t(`role.${role}`) });
}

// --- the purpose of the session ----------------------------------------------------------------
// Asked once after sign-in of everyone who will see people's positions or alerts (whoever else
// signs in sees no one), kept with the session, shown in the header, and changeable there.

function renderPurpose() {
  const stated = purpose();
  const box = $("[data-testid=purpose]");
  box.hidden = !stated || !$("#purpose").hidden;
  if (!stated) return;
  const label = $("[data-testid=purpose-label]");
  label.textContent = t("purpose.now", { label: t(`purpose.${stated.code}`) });
  label.title = stated.reason;
  box.dataset.purpose = stated.code;
}

function renderPurposeErrors() {
  const errors = state.purposeErrors;
  for (const [name, testid] of [["purpose", "purpose-error"], ["reason", "reason-error"]]) {
    const box = $(`[data-testid=${testid}]`);
    box.textContent = errors[name] ? t(...errors[name]) : "";
    box.hidden = !errors[name];
  }
  $("[data-testid=purpose-select]").setAttribute("aria-invalid", String(Boolean(errors.purpose)));
  $("[data-testid=purpose-reason]").setAttribute("aria-invalid", String(Boolean(errors.reason)));
}

// The purpose form. first: right after sign-in, with no way on but stating one (or signing out);
// otherwise a change, which can be cancelled. errors: {field: [key, vars]} to show at once.
function askPurpose(first, errors = {}) {
  const stated = purpose();
  state.purposeFirst = first;
  state.purposeErrors = errors;
  $("[data-testid=nav]").hidden = true;
  showOnly("purpose");
  $("[data-testid=purpose-select]").value = stated ? stated.code : "";
  $("[data-testid=purpose-reason]").value = stated ? stated.reason : "";
  $("[data-testid=purpose-cancel]").hidden = first || !stated;
  renderPurposeErrors();
  renderPurpose();
  $("[data-testid=purpose-select]").focus();
}

async function statePurpose(event) {
  event.preventDefault();
  const code = $("[data-testid=purpose-select]").value;
  const reason = $("[data-testid=purpose-reason]").value.trim();
  const errors = {};
  if (!PURPOSES.includes(code)) errors.purpose = ["purpose.pick_one"];
  if (reason.length < MIN_REASON) errors.reason = ["purpose.too_short", { n: MIN_REASON }];
  state.purposeErrors = errors;
  renderPurposeErrors();
  if (Object.keys(errors).length) return;
  setPurpose(code, reason);
  await leavePurpose(true);
}

// Back from the purpose form: to the first screen after sign-in, or to where the user was. A new
// purpose reconnects the stream, so what it carries is what the user just said.
async function leavePurpose(changed) {
  const first = state.purposeFirst;
  state.purposeFirst = false;
  $("#purpose").hidden = true;
  renderPurpose();
  if (first) return proceed();
  $("[data-testid=nav]").hidden = false;
  if (changed && state.screens.monitor) state.screens.monitor.restream();
  await show(state.view || "monitor").catch(signedOff);
}

// The server wanted a purpose the page did not send (or would not take it): ask again.
function purposeRefused() {
  setPurpose(null);
  askPurpose(false, { purpose: ["purpose.needed"] });
}

// A screen's call answered 401: the session ended ("vigil:signedout" is already bringing the
// login back) or a pasted token stopped working. Anything else is a fault to report.
function signedOff(error) {
  if (!(error instanceof ApiError && error.status === 401)) throw error;
  if (token()) {
    setToken(null);
    restart("login.bad");
  }
}

async function enter() {
  try {
    state.me = await api("GET", "/v1/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setToken(null);
      return showLogin(["login.bad"]);
    }
    return showLogin(["login.failed", { detail: error.message }]);
  }
  renderRole();
  for (const el of document.querySelectorAll("[data-testid=role], [data-testid=logout]")) el.hidden = false;
  if (WATCHERS.has(state.me.role) && !purpose()) return askPurpose(true);
  await proceed();
}

// Signed in, with a purpose where one is needed: the role's menu and its first screen.
async function proceed() {
  const role = state.me.role;
  renderPurpose();
  $("[data-testid=nav]").hidden = false;
  $("[data-testid=nav-monitor]").hidden = !WATCHERS.has(role);
  $("[data-testid=nav-registry]").hidden = !REGISTRY.has(role);
  $("[data-testid=nav-targets]").hidden = !TARGETS.has(role);
  $("[data-testid=nav-handover]").hidden = !HANDOVER.has(role);
  $("[data-testid=nav-cases]").hidden = !CASES.has(role);
  $("[data-testid=nav-caseload]").hidden = !CASELOAD.has(role);
  if (REMINDED.has(role)) startReminders().catch(signedOff);
  // an investigator's first (and only) screen is their cases
  await show(WATCHERS.has(role) || !CASES.has(role) ? "monitor" : "cases").catch(signedOff);
}

// Orders about to end, in the top bar: the police go to the case the order came from, probation to
// the caseload (where the order is listed with its end).
async function startReminders() {
  if (!state.reminders) {
    state.reminders = new Reminders($("[data-testid=reminders]"), $("[data-testid=reminders-panel]"), {
      onOpen: async (reminder) => {
        if (state.me.role === "police_investigator" && reminder.cases.length) {
          await show("cases");
          await state.screens.cases.open(reminder.cases[0]);
        } else if (CASELOAD.has(state.me.role)) await show("caseload");
      },
    });
  }
  await state.reminders.start();
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
    renderLoginMessage();
    renderPurpose();
    renderPurposeErrors();
    if (state.view && !$("#not-allowed").hidden) notAllowed();
  });
  $("[data-testid=password-form]").addEventListener("submit", signInWithPassword);
  $("[data-testid=purpose-form]").addEventListener("submit", (event) => statePurpose(event).catch(signedOff));
  $("[data-testid=purpose-cancel]").addEventListener("click", () => leavePurpose(false).catch(signedOff));
  $("[data-testid=purpose-change]").addEventListener("click", () => askPurpose(false));
  $("[data-testid=login-form]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("[data-testid=token-input]").value.trim();
    if (!value) return;
    setToken(value);
    $("[data-testid=token-input]").value = "";
    await enter();
  });
  $("[data-testid=logout]").addEventListener("click", async () => {
    for (const screen of Object.values(state.screens)) if (screen.stop) screen.stop();
    state.reminders?.stop();
    await logout(); // a session ends on the server too
    restart();
  });
  // the session could not be refreshed (expired, revoked, or its refresh token used twice)
  window.addEventListener("vigil:signedout", () => restart("login.expired"));
  for (const b of document.querySelectorAll("[data-testid=nav] button")) b.addEventListener("click", () => show(b.dataset.view).catch(signedOff));
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  if (token()) await enter();
  else showLogin(notice ? [notice] : null);
}

boot();
