// The victim app's service worker (scope /victim/): keeps the app shell so the app opens without a
// network. The shell is fetched from the network first and the cache refreshed from each answer,
// so an online phone always runs the current app; the cache answers only when the network fails.
// Nothing under /v1/ is ever cached or answered from here: what she sees of him comes live from the
// server or not at all, so an offline app shows that it is offline, never an old position as live.

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
];

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
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
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
