// A subject's profile for the police sent to find him (issue 17): his photo, what he looks like, what
// he drives, where he lives and works, what his orders forbid, and whom to call, each number a
// one-tap tel: link. Read from /v1/subjects/{id}/profile with the session's stated purpose (the
// server records every read with it); the photo likewise, held in memory as a data: URL only.
import { api, token, purpose, hasSession, refreshSession } from "/web/common/api.js";
import { addStrings, t } from "/web/common/i18n.js";
import { esc, dateTime, metres, el } from "./util.js";

addStrings("ko", {
  "profile.title": "대상자 프로필",
  "profile.photo": "대상자 사진",
  "profile.no_photo": "사진 없음",
  "profile.description": "인상착의",
  "profile.vehicle": "차량",
  "profile.home": "주거지",
  "profile.work": "직장",
  "profile.orders": "준수사항",
  "profile.order": "{violation} 이내 접근 금지 · {warning}에서 경고",
  "profile.valid": "유효 {from} ~ {until}",
  "profile.open_ended": "기한 없음",
  "profile.zones": "구역",
  "profile.zone.exclusion": "출입 금지",
  "profile.zone.inclusion": "머물러야 할 곳",
  "profile.contacts": "연락처",
  "profile.contact.protected_person": "피해자",
  "profile.contact.probation_officer": "보호관찰관",
  "profile.contact.desk": "112 상황실",
  "profile.call": "{who}에게 전화",
  "profile.none": "등록되지 않음",
  "profile.failed": "프로필을 불러오지 못했습니다: {detail}",
});

addStrings("en", {
  "profile.title": "Subject profile",
  "profile.photo": "Photo of the subject",
  "profile.no_photo": "No photo",
  "profile.description": "Description",
  "profile.vehicle": "Vehicle",
  "profile.home": "Home",
  "profile.work": "Work",
  "profile.orders": "Order conditions",
  "profile.order": "No closer than {violation} · warned at {warning}",
  "profile.valid": "Valid {from} to {until}",
  "profile.open_ended": "no end date",
  "profile.zones": "Zones",
  "profile.zone.exclusion": "keep out",
  "profile.zone.inclusion": "stay inside",
  "profile.contacts": "Contacts",
  "profile.contact.protected_person": "Victim",
  "profile.contact.probation_officer": "Probation officer",
  "profile.contact.desk": "112 desk",
  "profile.call": "Call {who}",
  "profile.none": "not on record",
  "profile.failed": "The profile could not be loaded: {detail}",
});

export const PHOTO_TYPES = ["image/jpeg", "image/png"];
export const PHOTO_MAX_BYTES = 1_000_000; // the server's default limit (photo_max_bytes)

function headers(bearer) {
  const out = { Authorization: `Bearer ${bearer}` };
  const stated = purpose();
  if (stated) {
    out["X-Purpose"] = stated.code;
    out["X-Purpose-Reason"] = encodeURIComponent(stated.reason);
  }
  return out;
}

// A request with the session's token and purpose, retried once after a refresh on 401.
async function authed(path, init) {
  const once = (bearer) => fetch(path, { ...init, headers: { ...headers(bearer), ...(init.headers || {}) }, cache: "no-store" });
  let response = await once(token());
  if (response.status === 401 && hasSession() && (await refreshSession())) response = await once(token());
  return response;
}

// Upload his photo (the file itself as the body, typed as the file says; the server checks the bytes).
export async function uploadPhoto(path, file) {
  const response = await authed(path, { method: "PUT", body: file, headers: { "Content-Type": file.type } });
  if (!response.ok) {
    let detail = "";
    try {
      detail = JSON.stringify((await response.json()).detail);
    } catch {
      detail = response.statusText;
    }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// A tel: URI (RFC 3966) from a number as stored: its digits and a leading +, nothing else.
export function telHref(phone) {
  const text = String(phone || "").trim();
  const digits = text.replace(/[^0-9]/g, "");
  return digits ? `tel:${text.startsWith("+") ? "+" : ""}${digits}` : null;
}

// The photo's bytes with the session's token and purpose (an <img src> could carry neither), as a
// data: URL; null when there is none or it is not an image this page shows.
export async function photoUrl(path) {
  const response = await authed(path, { method: "GET" });
  if (!response.ok) return null;
  const blob = await response.blob();
  if (!["image/jpeg", "image/png"].includes(blob.type)) return null;
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => resolve(null);
    reader.readAsDataURL(blob);
  });
}

// The panel for one subject: filled in when his profile arrives (hidden if it cannot be read).
export function profilePanel(subjectId) {
  const box = el(`<section class="profile" data-testid="profile" data-subject="${esc(subjectId)}">
    <h3>${esc(t("profile.title"))}</h3><p class="muted small">…</p></section>`);
  const base = `/v1/subjects/${encodeURIComponent(subjectId)}`;
  api("GET", `${base}/profile`).then(async (p) => {
    box.replaceChildren(...render(p).childNodes);
    if (p.has_photo) {
      const url = await photoUrl(`${base}/photo`);
      const img = box.querySelector("[data-testid=profile-photo]");
      if (url && img) {
        img.src = url;
        img.hidden = false;
        box.querySelector("[data-testid=profile-no-photo]")?.remove();
      }
    }
  }).catch((e) => {
    if (e && e.status === 403) {
      box.hidden = true;
      return;
    }
    box.querySelector("p").className = "error small";
    box.querySelector("p").textContent = t("profile.failed", { detail: e.message });
  });
  return box;
}

function render(p) {
  const none = `<span class="muted">${esc(t("profile.none"))}</span>`;
  const row = (label, value, testid) => `<dt>${esc(t(label))}</dt><dd data-testid="${testid}">${value || none}</dd>`;
  const vehicle = [p.vehicle_plate ? `<b class="plate">${esc(p.vehicle_plate)}</b>` : "", esc(p.vehicle || "")].filter(Boolean).join(" · ");
  const orders = (p.orders || []).map((o) => `<li data-testid="profile-order" data-order="${esc(o.id)}">
      ${esc(t("profile.order", { violation: metres(o.violation_distance_m), warning: metres(o.warning_distance_m) }))}
      <span class="muted small">${esc(t("profile.valid", { from: o.valid_from ? dateTime(o.valid_from) : "–", until: o.valid_until ? dateTime(o.valid_until) : t("profile.open_ended") }))}</span></li>`).join("");
  const zones = (p.zones || []).map((z) => `<li data-testid="profile-zone">${esc(t(`profile.zone.${z.kind}`))}${z.label ? ` · ${esc(z.label)}` : ""}</li>`).join("");
  const contacts = (p.contacts || []).map((c) => {
    const href = telHref(c.phone);
    const who = t(`profile.contact.${c.role}`);
    const name = c.role === "desk" ? "" : ` <span class="muted">${esc(c.name || "")}</span>`;
    return `<li data-testid="profile-contact" data-role="${esc(c.role)}">${esc(who)}${name}
      ${href ? `<a class="call" data-testid="profile-call" href="${esc(href)}" aria-label="${esc(`${t("profile.call", { who })} ${c.phone}`)}">☎ ${esc(c.phone)}</a>` : none}</li>`;
  }).join("");
  return el(`<div><h3>${esc(t("profile.title"))}</h3>
    <div class="profile-head">
      <img data-testid="profile-photo" alt="${esc(t("profile.photo"))}" hidden>
      ${p.has_photo ? "" : `<div class="no-photo muted small" data-testid="profile-no-photo">${esc(t("profile.no_photo"))}</div>`}
      <div><b data-testid="profile-name">${esc(p.name)}</b> <span class="mono muted">${esc(p.id)}</span></div>
    </div>
    <dl>
      ${row("profile.description", esc(p.description || ""), "profile-description")}
      ${row("profile.vehicle", vehicle, "profile-vehicle")}
      ${row("profile.home", esc(p.home_address || ""), "profile-home")}
      ${row("profile.work", esc(p.work_address || ""), "profile-work")}
    </dl>
    <h4>${esc(t("profile.contacts"))}</h4>
    <ul class="contacts" data-testid="profile-contacts">${contacts}</ul>
    ${orders ? `<h4>${esc(t("profile.orders"))}</h4><ul data-testid="profile-orders">${orders}</ul>` : ""}
    ${zones ? `<h4>${esc(t("profile.zones"))}</h4><ul data-testid="profile-zones">${zones}</ul>` : ""}
  </div>`);
}
