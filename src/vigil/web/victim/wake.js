// Waking her when the app is closed: Web Push (RFC 8030), subscribed on this phone after she turns
// alerts on (the browser asks her to allow notifications), with the server's VAPID public key as the
// applicationServerKey (RFC 8292). The subscription (its endpoint and her browser's keys) is handed
// to the server, which encrypts every push for this browser alone (RFC 8291). The service worker
// (sw.js) shows the notification: which kind of news it is, never where he is.
//
// The service worker cannot read localStorage, so what it needs to word a notification (discreet
// mode, the language) is kept for it in the Cache Storage (`savePrefs`).

import { api, ApiError } from "/web/common/api.js";

const PREFS_CACHE = "vigil-prefs";
const PREFS_KEY = "/victim/__prefs";
const READY_MS = 10000;

export function supported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// What the service worker reads when a push arrives (never sent anywhere).
export async function savePrefs(prefs) {
  if (!("caches" in window)) return;
  try {
    const cache = await caches.open(PREFS_CACHE);
    await cache.put(PREFS_KEY, new Response(JSON.stringify(prefs), { headers: { "Content-Type": "application/json" } }));
  } catch {
    // storage refused (private mode): notifications use the plain wording
  }
}

function keyBytes(base64url) {
  const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(subscription, base64url) {
  const held = subscription.options && subscription.options.applicationServerKey;
  if (!held) return false;
  const a = new Uint8Array(held);
  const b = keyBytes(base64url);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function registration() {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no service worker")), READY_MS));
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

async function held() {
  if (!supported()) return null;
  try {
    return await (await registration()).pushManager.getSubscription();
  } catch {
    return null;
  }
}

// Where alerts stand on this phone: unsupported | blocked | off | on.
export async function state() {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  if (Notification.permission !== "granted") return "off";
  return (await held()) ? "on" : "off";
}

// Turn alerts on (from her tap: browsers ask for permission only then). Resolves to the new state;
// rejects when the server or the push service could not be reached.
export async function enable() {
  const permission = await Notification.requestPermission();
  if (permission === "denied") return "blocked";
  if (permission !== "granted") return "off";
  const { public_key: key } = await api("GET", "/v1/me/push-key");
  const reg = await registration();
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe(); // made for another server key: pushes signed now would be refused
    subscription = null;
  }
  if (!subscription) {
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  await api("PUT", "/v1/me/push-subscription", subscription.toJSON());
  return "on";
}

// At sign-in: a subscription this browser already holds is told to the server again (it may have
// been renewed by the browser, or removed after the push service said it was gone).
export async function renew() {
  const now = await state();
  if (now !== "on") return now;
  try {
    await enable();
    return "on";
  } catch {
    return "on"; // kept here; told again at the next sign-in
  }
}

async function remove(subscription, bearer) {
  const path = `/v1/me/push-subscription?endpoint=${encodeURIComponent(subscription.endpoint)}`;
  try {
    await api("DELETE", path, undefined, bearer ? { token: bearer } : {});
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
}

// Turn alerts off on this phone: the server forgets the subscription, the browser drops it.
export async function disable() {
  const subscription = await held();
  if (!subscription) return "off";
  await remove(subscription, null);
  await subscription.unsubscribe();
  return "off";
}

// Signing out: alerts for her account stop on this phone (someone else may use it next). `bearer`:
// her token, taken before the sign-out forgets it. Never rejects.
export async function leave(bearer) {
  const subscription = await held();
  if (!subscription) return;
  try {
    await remove(subscription, bearer);
  } catch {
    // the server is out of reach: the browser's unsubscribe below makes the push service answer
    // 410 to the next push, and the server then forgets it
  }
  try {
    await subscription.unsubscribe();
  } catch {
    // nothing more to do
  }
}
