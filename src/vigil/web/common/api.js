// Talking to the server: the sign-in, JSON calls with readable errors, and the live stream.
//
// Two ways to be signed in, both kept in sessionStorage (this tab only, gone when it closes):
// - a session from a password login (or a protected person's activation): a short-lived access
//   token and a refresh token. A call answered 401 is retried once after exchanging the refresh
//   token for a new pair; when the server refuses the exchange the session is cleared and a
//   "vigil:signedout" event goes to the page, which shows its login.
// - a pasted long-lived token (issued from the command line): no refresh token, used as it is.
// A page may be opened with ?token=... (a link from the control centre, or a dispatch push); the
// token then moves to sessionStorage and out of the address bar, so it is not bookmarked or shared.
//
// Beside the session, the purpose it serves (a reason code and a few words), stated once at sign-in
// in the control centre: views beyond live alerts (the whole map, a track outside any alert) need
// one, and the server records it with every access. It goes with every call and stream, and is
// forgotten with the session.

const KEY = "vigil.token";
const REFRESH_KEY = "vigil.refresh";
const PURPOSE_KEY = "vigil.purpose";

// The server's reason codes, in the order the sign-in offers them.
export const PURPOSES = [
  "alert_response", "investigation", "court_order", "supervision",
  "victim_safety", "audit_review", "data_subject_request", "monitoring",
];
export const MIN_REASON = 5; // the server's minimum, counted after trimming as it does

export function token() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    setToken(fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return sessionStorage.getItem(KEY);
}

// A pasted token (or null to forget everything): it replaces any session this tab had, and with it
// the purpose that session was for.
export function setToken(value) {
  sessionStorage.removeItem(REFRESH_KEY);
  sessionStorage.removeItem(PURPOSE_KEY);
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

// The stated purpose, {code, reason}, or null when none (or a stored one the server would refuse).
export function purpose() {
  let held = null;
  try {
    held = JSON.parse(sessionStorage.getItem(PURPOSE_KEY) || "null");
  } catch {
    return null;
  }
  if (!held || !PURPOSES.includes(held.code) || typeof held.reason !== "string") return null;
  return held.reason.trim().length >= MIN_REASON ? held : null;
}

// State the purpose for the calls that follow (null: forget it).
export function setPurpose(code, reason = "") {
  if (code) sessionStorage.setItem(PURPOSE_KEY, JSON.stringify({ code, reason: reason.trim() }));
  else sessionStorage.removeItem(PURPOSE_KEY);
}

// True while signed in with a session that can be refreshed (not a pasted token).
export function hasSession() {
  return sessionStorage.getItem(REFRESH_KEY) !== null;
}

function keep(session) {
  sessionStorage.setItem(KEY, session.access_token);
  sessionStorage.setItem(REFRESH_KEY, session.refresh_token);
}

export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail; // a string, or [{field, reason}] for 422
    this.retryAfter = retryAfter; // seconds, from a Retry-After header (423 when locked)
  }
  // {field: reason} for showing each problem next to its field
  fields() {
    const out = {};
    if (Array.isArray(this.detail)) for (const e of this.detail) out[e.field || ""] = e.reason;
    return out;
  }
  // True when the server refused for want of a (valid) stated purpose, not for the request itself.
  wantsPurpose() {
    const names = Object.keys(this.fields());
    return this.status === 422 && names.length > 0 && names.every((n) => n === "purpose" || n === "reason");
  }
}

// One request with the given bearer token (or none), nothing more.
async function call(method, path, body, bearer) {
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const stated = bearer ? purpose() : null;
  if (stated) {
    headers["X-Purpose"] = stated.code;
    // header values are Latin-1: a reason in Korean travels percent-encoded, and the server decodes it
    headers["X-Purpose-Reason"] = encodeURIComponent(stated.reason);
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // not JSON (a proxy's error page): the text is the detail
  }
  if (!response.ok) {
    const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : text, Number.isFinite(wait) ? wait : null);
  }
  return data;
}

// Exchange the refresh token for a new pair. Only one exchange runs at a time: a refresh token is
// spent when used, and a second exchange with it would look like a stolen one and end the session.
// Resolves true when there is a new access token; false when there is no session or the server
// refused (then the session is cleared and "vigil:signedout" fired). A network failure rejects and
// keeps the session, to try again when the server is back.
let refreshing = null;

export function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const held = sessionStorage.getItem(REFRESH_KEY);
      if (!held) return false;
      try {
        const session = await call("POST", "/v1/auth/refresh", { refresh_token: held }, null);
        if (sessionStorage.getItem(REFRESH_KEY) !== held) return false; // signed out or in meanwhile
        keep(session);
        return true;
      } catch (error) {
        if (!(error instanceof ApiError) || error.status >= 500) throw error;
        if (sessionStorage.getItem(REFRESH_KEY) === held) {
          setToken(null);
          window.dispatchEvent(new CustomEvent("vigil:signedout", { detail: { reason: error.message } }));
        }
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// A JSON call. options.token: a token to use instead of the signed-in one (null: none, and no
// refresh). With a session, a 401 is answered by one refresh and one retry, never more.
export async function api(method, path, body, options = {}) {
  if (options.token !== undefined) return call(method, path, body, options.token);
  const bearer = token();
  try {
    return await call(method, path, body, bearer);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !bearer || !hasSession()) throw error;
    const current = sessionStorage.getItem(KEY);
    if (current && current !== bearer) return call(method, path, body, current); // refreshed meanwhile
    if (!(await refreshSession())) throw error;
    return call(method, path, body, sessionStorage.getItem(KEY));
  }
}

// A password login; the session is kept for the calls that follow. Rejects with ApiError: 401 for a
// wrong user or password, 423 when locked (retryAfter: seconds).
export async function login(user, password) {
  const session = await call("POST", "/v1/auth/login", { user, password }, null);
  setPurpose(null); // a new session: its purpose is asked afresh
  keep(session);
  return session;
}

// A protected person's first sign-in: the one-time code and the password she chooses.
export async function activate(code, password) {
  const session = await call("POST", "/v1/auth/activate", { code, password }, null);
  setPurpose(null);
  keep(session);
  return session;
}

// Sign out. A session is ended on the server too (its tokens stop working); a pasted long-lived
// token is only forgotten here, as it may be used elsewhere.
export async function logout() {
  const bearer = sessionStorage.getItem(KEY);
  const session = hasSession();
  const held = sessionStorage.getItem(REFRESH_KEY);
  setToken(null);
  if (!session || !bearer) return;
  try {
    await call("POST", "/v1/auth/logout", undefined, bearer);
  } catch (error) {
    // the access token may have expired: the refresh token still names the session
    if (error instanceof ApiError && error.status === 401 && held) {
      try {
        const fresh = await call("POST", "/v1/auth/refresh", { refresh_token: held }, null);
        await call("POST", "/v1/auth/logout", undefined, fresh.access_token);
      } catch {
        // spent or expired already: nothing left to end
      }
    }
  }
}

// The live stream: calls onMessage(object) for each message; reconnects after a drop (a slow
// viewer is closed by the server with 4008 and simply comes back), each time with the current
// access token and stated purpose. When a connection is refused (closed before the server's hello)
// and a session is held, the session is refreshed (once until a connection opens again) before the
// next try. onState gets "live"; "offline" with whether that connection had been let in (one that
// never reached the server looks like any failure: the page may ask the REST API why); or "purpose"
// when the server closed it for want of a purpose (no retry then: the page asks for one and calls
// reconnect()).
export function stream(params, onMessage, onState = () => {}) {
  let socket = null;
  let closed = false;
  let delay = 500;
  let refreshed = false;
  let timer = null;
  let generation = 0; // the current socket's: the handlers of one replaced by reconnect() do nothing
  const open = () => {
    if (closed) return;
    clearTimeout(timer);
    const mine = ++generation;
    const stated = purpose();
    // the token last: it is what a reader of the URL (and the tests) look for at its end
    const query = new URLSearchParams({ ...params, ...(stated ? { purpose: stated.code, reason: stated.reason } : {}), token: token() || "" });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let opened = false; // the server said hello: it let this viewer in
    socket = new WebSocket(`${scheme}://${location.host}/v1/stream?${query}`);
    // A refusal is an open socket closed at once with its code and reason, so a connection counts as
    // live only once the server's hello has come.
    socket.onmessage = (event) => {
      if (mine !== generation) return;
      if (!opened) {
        opened = true;
        refreshed = false;
        delay = 500;
        onState("live");
      }
      onMessage(JSON.parse(event.data));
    };
    socket.onclose = async (event) => {
      if (mine !== generation) return;
      onState("offline", opened);
      if (closed) return;
      // 1008: not allowed. For want of a purpose, the page must ask for one; otherwise reconnecting
      // will not help (unless a refresh may still).
      if (event.code === 1008 && event.reason.startsWith("a purpose is required")) return onState("purpose");
      if (event.code === 1008 && (refreshed || !hasSession())) return;
      if (!opened && !refreshed && hasSession()) { // refused: perhaps only the token had expired
        refreshed = true;
        try {
          if (!(await refreshSession())) return; // signed out: the page shows its login
          if (mine === generation) open();
          return;
        } catch {
          refreshed = false; // the server is unreachable: try again later, as for any drop
        }
      }
      if (mine !== generation) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
    // A new connection now (the stated purpose changed): the old one is closed without a retry.
    reconnect() {
      if (closed) return;
      const old = socket;
      delay = 500;
      refreshed = false;
      open();
      if (old) old.close();
    },
  };
}
