// Small helpers shared by the control centre's screens.
import { t, language } from "/web/common/i18n.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// A message to show, kept as a string key and its values so that it can be said again in another
// language: {key, vars}.
export const msg = (key, vars = {}) => ({ key, vars });

// Said in the current language. A problem with a part that has no field of its own is
// {parts: [{field, problem}]}, said in a row.
export function say(m) {
  if (!m) return "";
  if (m.parts) return m.parts.map((p) => `${p.field ? `${p.field}: ` : ""}${say(p.problem)}`).join("; ");
  return t(m.key, m.vars);
}

// The words for one problem the server named: "err.<field>.<code>", else "err.<code>", else its own
// (English) reason, said as such.
export function problem(field, code, reason) {
  const last = String(field || "").split(".").pop();
  for (const key of [`err.${last}.${code}`, `err.${code}`]) if (code && t(key) !== key) return msg(key);
  return msg("err.other", { reason: String(reason || "").replace(/^Value error, /, "") });
}

export function locale() {
  return language() === "en" ? "en-GB" : "ko-KR";
}

export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(locale(), { dateStyle: "short", timeStyle: "medium" });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t("unit.s", { n: s });
  if (s < 5400) return t("unit.min", { n: Math.round(s / 60) });
  return t("unit.h", { n: Math.round(s / 360) / 10 });
}

export function metres(m) {
  if (m === null || m === undefined) return "–";
  return m >= 1000 ? `${(m / 1000).toFixed(m >= 10000 ? 0 : 1)} km` : `${Math.round(m)} m`;
}

export function el(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

// A time in the control centre's time zone (a report printed elsewhere keeps its times), with the
// date unless `timeOnly`. zone: an IANA name (VIGIL_TIMEZONE, from /v1/web/config); null: the browser's.
export function zoned(iso, zone, { timeOnly = false } = {}) {
  if (!iso) return "";
  const options = timeOnly ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false } : { dateStyle: "short", timeStyle: "medium", hour12: false };
  try {
    return new Date(iso).toLocaleString(locale(), zone ? { ...options, timeZone: zone } : options);
  } catch {
    return new Date(iso).toLocaleString(locale(), options); // a zone this browser does not know
  }
}

// One approved absence of his not over yet, in words: in force until when, or from when to when.
export function absenceLine(a) {
  const zone = a.zone ? (a.zone_label ? `${a.zone_label} (${a.zone})` : a.zone) : t("abs.all_zones");
  return a.in_force
    ? t("caseload.absence_until", { end: dateTime(a.ends_at), zone })
    : t("caseload.absence_from", { start: dateTime(a.starts_at), end: dateTime(a.ends_at), zone });
}
