// Account notices: what someone else did to her account or her device (a new sign-in code issued by
// an operator, her device's credential replaced, a code used to set her password). The server
// sends the recent ones with her status (GET /v1/me/status, "notices"); this shows each until she
// says she has read it. The server keeps no "read" mark: which ones she dismissed is remembered on
// this phone only, so a notice comes back on another phone, which is the safe side.

import { addStrings, language, t } from "/web/common/i18n.js";

const SEEN_KEY = "vigil.notices.seen";

addStrings("ko", {
  "notice.title": "계정 알림",
  "notice.account_reactivated": "{time}에 {by}가 회원님 계정의 새 접속 코드를 발급했습니다(계정 재활성화). 그 코드로 비밀번호를 새로 정할 수 있습니다.",
  "notice.device_credential_rotated": "{time}에 {by}가 보호 장치({device})의 접속 정보를 새로 바꿨습니다.",
  "notice.activation_code_used": "{time}에 접속 코드로 회원님 계정의 비밀번호가 새로 정해졌습니다.",
  "notice.push_subscribed": "{time}에 새 기기({service})가 회원님 계정의 알림을 받도록 등록되었습니다.",
  "notice.other": "{time}에 회원님 계정에 변경이 있었습니다.",
  "notice.reason": "사유: {reason}",
  "notice.call": "직접 요청하지 않으셨다면 지금 바로 112 또는 이 앱을 안내한 담당 기관에 전화하세요. 다른 사람이 회원님 계정을 쓰고 있을 수 있습니다.",
  "notice.call112": "112에 전화하기",
  "notice.dismiss": "확인했습니다",
  "notice.by.operator": "상황실 운영자",
  "notice.by.shell": "시스템 관리자",
  "notice.by.other": "담당 기관",
});

addStrings("en", {
  "notice.title": "About your account",
  "notice.account_reactivated": "At {time} {by} re-activated your account: a new sign-in code was issued, with which a new password can be set.",
  "notice.device_credential_rotated": "At {time} {by} replaced the credential of your device ({device}).",
  "notice.activation_code_used": "At {time} a sign-in code was used to set a new password for your account.",
  "notice.push_subscribed": "At {time} a new browser ({service}) was set to receive your account's alerts.",
  "notice.other": "At {time} something changed on your account.",
  "notice.reason": "Reason given: {reason}",
  "notice.call": "If you did not ask for this, call 112 or the agency that gave you this app now: someone else may be using your account.",
  "notice.call112": "Call 112",
  "notice.dismiss": "I have read this",
  "notice.by.operator": "an operator",
  "notice.by.shell": "a system administrator",
  "notice.by.other": "the agency",
});

const KNOWN = new Set(["account_reactivated", "device_credential_rotated", "activation_code_used", "push_subscribed"]);

function seen() {
  try {
    return new Set(JSON.parse(localStorage.getItem(SEEN_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function markSeen(id) {
  const ids = [...seen(), id].slice(-100);
  localStorage.setItem(SEEN_KEY, JSON.stringify(ids));
}

function when(iso) {
  return new Date(iso).toLocaleString(language() === "ko" ? "ko-KR" : "en-GB", {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

function card(notice, onDismiss) {
  const box = document.createElement("div");
  box.className = "notice warn account-notice";
  box.setAttribute("role", "alert");
  box.dataset.kind = notice.kind;
  box.dataset.id = String(notice.id);
  const title = document.createElement("p");
  title.className = "account-notice-title";
  title.textContent = t("notice.title");
  const text = document.createElement("p");
  const key = KNOWN.has(notice.kind) ? `notice.${notice.kind}` : "notice.other";
  const by = t(["operator", "shell"].includes(notice.by) ? `notice.by.${notice.by}` : "notice.by.other");
  const detail = notice.detail || {};
  text.textContent = t(key, { time: when(notice.at), by, device: detail.device || "", service: detail.service || "" });
  box.append(title, text);
  if (notice.reason) {
    const reason = document.createElement("p");
    reason.className = "small";
    reason.textContent = t("notice.reason", { reason: notice.reason });
    box.appendChild(reason);
  }
  const call = document.createElement("p");
  call.textContent = t("notice.call");
  const tel = document.createElement("a");
  tel.className = "button danger wide";
  tel.href = "tel:112";
  tel.textContent = t("notice.call112");
  const ok = document.createElement("button");
  ok.type = "button";
  ok.className = "wide account-notice-ok";
  ok.textContent = t("notice.dismiss");
  ok.addEventListener("click", () => onDismiss(notice.id));
  box.append(call, tel, ok);
  return box;
}

// Show in `container` the notices she has not dismissed. Redrawn only when what is shown changes
// (the status is polled every few seconds; an alert redrawn each time would be read out again).
export function showNotices(container, notices) {
  const dismissed = seen();
  const open = (notices || []).filter((n) => !dismissed.has(n.id));
  const signature = `${language()}|${open.map((n) => n.id).join(",")}`;
  if (container.dataset.signature === signature) return;
  container.dataset.signature = signature;
  container.replaceChildren(
    ...open.map((n) =>
      card(n, (id) => {
        markSeen(id);
        showNotices(container, notices);
      }),
    ),
  );
  container.hidden = open.length === 0;
}
