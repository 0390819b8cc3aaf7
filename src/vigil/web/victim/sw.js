// The victim app's service worker (scope /victim/): keeps the app shell so the app opens without a
// network. The shell is fetched from the network first and the cache refreshed from each answer,
// so an online phone always runs the current app; the cache answers only when the network fails.
// Nothing under /v1/ is ever cached or answered from here: what she sees of him comes live from the
// server or not at all, so an offline app shows that it is offline, never an old position as live.
//
// It also wakes her: a Web Push (sent by the server when he comes near, or when the control centre
// answers her SOS; encrypted for this browser, RFC 8291) is shown as a notification, even with the
// app closed. The push names only its kind ("near", "danger", "sos_answered"): the notification
// never says where he is. In discreet mode (kept for this worker by the page, wake.js) it names
// nothing at all and makes no sound. A tap opens (or brings forward) the app.

const CACHE = "shell-v1";
const SHELL = [
  "/victim/",
  "/victim/victim.css",
  "/victim/victim.js",
  "/victim/manifest.webmanifest",
  "/victim/icons/icon-192.png",
  "/victim/icons/icon.svg",
  "/web/common/phone.css",
  "/web/common/palette.css",
  "/web/common/api.js",
  "/web/common/compass.js",
  "/web/common/i18n.js",
  "/web/common/notices.js",
  "/victim/wake.js",
];
const PREFS_CACHE = "vigil-prefs"; // written by the page (wake.js): discreet mode and language
const PREFS_KEY = "/victim/__prefs";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE && n !== PREFS_CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function shellKey(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return null;
  // the app's page, however it is opened (a ?token= link too)
  if (request.mode === "navigate" && ["/victim/", "/victim/index.html"].includes(url.pathname)) return "/victim/";
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const key = shellKey(request);
  if (key === null) return; // the API and everything else: the network only, as without a worker
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(() => caches.match(key).then((found) => found || Response.error())),
  );
});

// ---- waking her ---------------------------------------------------------------------------------

const WORDS = {
  ko: {
    near: ["안심: 주의하세요", "가해자가 가까운 곳에 있습니다. 앱을 열어 확인하세요."],
    danger: ["안심: 위험합니다", "가해자가 매우 가까이 있습니다. 안전한 곳으로 피하고 112에 전화하세요."],
    sos_answered: ["안심: 도움 요청 접수", "상황실이 SOS를 확인하고 대응하고 있습니다."],
    other: ["안심", "앱을 열어 확인하세요."],
    discreet: ["메모", "새 메모가 있습니다."],
  },
  en: {
    near: ["Be careful", "The offender is somewhere near. Open the app to check."],
    danger: ["Danger", "The offender is very close. Get somewhere safe and call 112."],
    sos_answered: ["Your SOS was answered", "The control centre has your SOS and is responding."],
    other: ["My safety", "Open the app to check."],
    discreet: ["Notes", "You have a new note."],
  },
};

async function prefs() {
  try {
    const found = await (await caches.open(PREFS_CACHE)).match(PREFS_KEY);
    return found ? await found.json() : {};
  } catch {
    return {};
  }
}

// What the notification says and how: its kind's words, or nothing telling in discreet mode.
function notification(data, kept) {
  const words = WORDS[kept.language] || WORDS.ko;
  const quiet = kept.discreet === true;
  const [title, body] = quiet ? words.discreet : words[data.kind] || words.other;
  const options = {
    body,
    tag: `vigil-${data.alert || "news"}`, // a newer word about the same alert replaces the older
    renotify: true,
    silent: quiet,
    requireInteraction: !quiet && data.kind === "danger",
    data: { url: "/victim/" },
  };
  if (!quiet) {
    options.icon = "/victim/icons/icon-192.png"; // in discreet mode not even the app's ring
    options.vibrate = data.kind === "danger" ? [400, 150, 400, 150, 400] : [200, 100, 200];
  }
  return [title, options];
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(prefs().then((kept) => self.registration.showNotification(...notification(data, kept))));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((open) => {
      for (const client of open) {
        if (new URL(client.url).pathname.startsWith("/victim/") && "focus" in client) return client.focus();
      }
      return self.clients.openWindow("/victim/");
    }),
  );
});
