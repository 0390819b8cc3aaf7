// Talking to the server: the token, JSON calls with readable errors, and the live stream.
// A page may be opened with ?token=... (a link from the control centre, or a dispatch push); the
// token then moves to sessionStorage and out of the address bar, so it is not bookmarked or shared.

const KEY = "vigil.token";

export function token() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem(KEY, fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail; // a string, or [{field, reason}] for 422
  }
  // {field: reason} for showing each problem next to its field
  fields() {
    const out = {};
    if (Array.isArray(this.detail)) for (const e of this.detail) out[e.field || ""] = e.reason;
    return out;
  }
}

export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  const bearer = options.token === undefined ? token() : options.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : text);
  return data;
}

// The live stream: calls onMessage(object) for each message; reconnects after a drop (a slow
// viewer is closed by the server with 4008 and simply comes back).
export function stream(params, onMessage, onState = () => {}) {
  let socket = null;
  let closed = false;
  let delay = 500;
  const open = () => {
    const query = new URLSearchParams({ ...params, token: token() || "" });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/v1/stream?${query}`);
    socket.onopen = () => { delay = 500; onState("live"); };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      onState("offline");
      if (closed || event.code === 1008) return; // 1008: not allowed; reconnecting will not help
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return { close() { closed = true; if (socket) socket.close(); } };
}
