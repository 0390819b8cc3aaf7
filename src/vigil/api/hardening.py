"""Hardening at the edge, in front of every router: rate limits, body limits and input no store can
hold, security headers, a strict CORS policy, and log redaction of tokens and secrets.

`install(app, settings)` wires it all; a second call is a no-op. The middleware is plain ASGI (not
BaseHTTPMiddleware): WebSockets and streamed responses pass through untouched except for the
connection-time checks. See docs/deployment.md for the settings and how to run behind TLS.

Rate limits are token buckets per credential: the Bearer token, `?token=` or the OsmAnd path token,
hashed (never kept in clear), classified once a minute by who it belongs to: a device bound to one
device id, a gateway (a device token for every device behind it: its own, much higher limit), or a
person. Calls without a known token share one bucket per client address. A victim app's own
position reports (`POST /v1/me/position`) also draw on a bucket of their own per account, whatever
session or token they come from: each one is a probe of the status she reads. Over the limit: 429
with Retry-After. The buckets live in one LRU map: buckets that have refilled (idle) are dropped first,
and the map never holds more than `rate_max_buckets`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.config import Settings
from vigil.domain.model import Role

log = logging.getLogger(__name__)

TOO_MANY = "too many requests: slow down and retry after {seconds} s"
TOO_LARGE = "the body is larger than {limit} bytes"
NUL_REFUSED = "NUL characters (\\u0000, %00) are not accepted in the {where}"
BAD_NUMBER = "the JSON body holds a number that is not finite or out of range"
BAD_TEXT = "the JSON body holds text that is not valid Unicode (a lone surrogate)"
BAD_LENGTH = "the Content-Length header is not a number"

# Paths of the interactive API documentation (FastAPI's Swagger UI and ReDoc load from a CDN).
DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Integers outside 64 bits fit no column; floats must be finite (JSON has no NaN or Infinity).
INT_LIMIT: Final = 2**63
CLASS_TTL_S: Final = 60.0  # how long a token's class (device, gateway, user, unknown) is remembered
METHODS_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEVICE_PATHS: Final = ("/v1/devices/messages", "/osmand")
MY_POSITION: Final = "/v1/me/position"  # her phone's reports: a bucket per account besides the token's
SELF_CHECKED: Final = ("/v1/dispatch/callbacks/",)

# Cheap pre-check of a JSON body: only bodies with one of these are parsed here in full.
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89abAB]|NaN|Infinity|[eE][+-]?[0-9]{3,}|(?<![.0-9])-?[0-9]{19,}")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def install(app: FastAPI, settings: Settings) -> None:
    """Add the hardening middleware (and CORS when `cors_origins` lists any) and the log filter."""
    if getattr(app.state, "hardened", False):
        return
    app.state.hardened = True
    if settings.cors_origins:
        # Inside the guard, so preflights are rate limited and get the security headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Purpose", "X-Purpose-Reason"],
            allow_credentials=False,  # tokens travel in the Authorization header, never in cookies
            max_age=600,
        )
    app.add_middleware(Guard, settings=settings)
    install_log_redaction()


# --- rate limits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    per_s: float  # 0: no limit
    burst: int


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    full_at: float  # when it will have refilled: from then on it is the same as a new bucket


class Limiter:
    """Token buckets by key, least recently used first; memory bounded by `max_buckets`."""

    def __init__(self, max_buckets: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max = max_buckets
        self._clock = clock

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, limit: Limit) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        if limit.per_s <= 0:
            return 0.0
        now = self._clock()
        self._evict(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(limit.burst), now, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.stamp) * limit.per_s)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.full_at = now + (limit.burst - bucket.tokens) / limit.per_s
            return 0.0
        return (1.0 - bucket.tokens) / limit.per_s

    def _evict(self, now: float) -> None:
        """Drop refilled buckets from the least recently used end (a refilled bucket is a new one)."""
        buckets = self._buckets
        while buckets:
            key = next(iter(buckets))
            if buckets[key].full_at > now:
                return
            del buckets[key]


class _Classes:
    """A token's class, looked up once a minute through the app's token cache (in a thread: it may
    hit the database), keyed by the token's hash."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._known: OrderedDict[str, tuple[float, tuple[str, str]]] = OrderedDict()
        self._max = max_entries

    async def of(self, scope: Scope, token: str, digest: str) -> tuple[str, str]:
        """(class, account id: "" unless a person's)."""
        now = time.monotonic()
        hit = self._known.get(digest)
        if hit is not None and now - hit[0] < CLASS_TTL_S:
            return hit[1]
        found = await anyio.to_thread.run_sync(_classify, scope, token)
        self._known[digest] = (now, found)
        self._known.move_to_end(digest)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return found


def _classify(scope: Scope, token: str) -> tuple[str, str]:
    services = getattr(scope["app"].state, "services", None)  # none before the lifespan starts
    if services is None:
        return "unknown", ""
    try:
        principal = services.tokens.principal(token)
    except Exception:  # the database is down: auth will answer for itself
        log.warning("token lookup failed during rate limiting", exc_info=True)
        return "unknown", ""
    if principal is None:
        return "unknown", ""
    if principal.role is Role.DEVICE:
        return ("device" if principal.device_id else "gateway"), ""
    return "user", principal.id


def credential(scope: Scope) -> str | None:
    """The token a call carries, as auth reads it: Bearer header, else ?token=, else the OsmAnd path."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
            break
    query: bytes = scope.get("query_string", b"")
    if b"token=" in query:
        # the last one, as Starlette's query_params.get (what auth reads) picks it
        found = [v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == "token"]
        if found and found[-1]:
            return found[-1]
    path: str = scope.get("path", "")
    if path.startswith("/osmand/t/"):
        return path[len("/osmand/t/") :].split("/", 1)[0] or None
    return None


# --- the middleware ---------------------------------------------------------------------------------


class Guard:
    """Rate limits, body size and content checks, and security headers, as one ASGI middleware."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.limits = {
            "device": Limit(settings.rate_device_per_s, settings.rate_device_burst),
            "gateway": Limit(settings.rate_gateway_per_s, settings.rate_gateway_burst),
            "user": Limit(settings.rate_user_per_s, settings.rate_user_burst),
            "unknown": Limit(settings.rate_anonymous_per_s, settings.rate_anonymous_burst),
        }
        self.my_position = Limit(settings.rate_my_position_per_s, settings.rate_my_position_burst)
        self.limiter = Limiter(settings.rate_max_buckets)
        self.classes = _Classes()
        self.headers = SecurityHeaders(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        if kind == "http":
            send = self.headers.wrap(scope, send)
        path: str = scope.get("path", "")
        # Signed dispatch callbacks check their signature first, then size and content themselves
        # (tests/api/test_api_dispatch_fuzz.py): an unsigned caller learns nothing about its body.
        checked = not path.startswith(SELF_CHECKED)
        refusal = _refuse_url(scope) if checked else None
        if refusal is not None:
            await _refuse(scope, receive, send, 400, refusal)
            return
        wait = await self._throttle(scope)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await _refuse(
                scope, receive, send, 429, TOO_MANY.format(seconds=seconds), {"Retry-After": str(seconds)}
            )
            return
        if kind == "websocket" or not checked:  # (callbacks also limit their body size themselves)
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        length, chunked = _declared_length(scope)
        if length == -1:
            await _refuse(scope, receive, send, 400, BAD_LENGTH)
            return
        if length is not None and length > self.max_body:
            await _refuse(scope, receive, send, 413, TOO_LARGE.format(limit=self.max_body))
            return
        if not (chunked or length or method in METHODS_WITH_BODY):
            await self.app(scope, receive, send)
            return
        body = await _read(receive, self.max_body)
        if body is None:
            await _refuse(scope, receive, send, 413, TOO_LARGE.format(limit=self.max_body))
            return
        problem = _body_problem(scope, body)
        if problem is not None:
            reason, field = problem
            if field is None or path.startswith(DEVICE_PATHS):
                # devices: 400 is "nothing was stored" (422 would say some messages were)
                await _refuse(scope, receive, send, 400, reason)
            else:  # the app's own 422 shape: the field (dotted path) and the reason
                await _refuse(scope, receive, send, 422, [{"field": field, "reason": reason}])
            return
        await self.app(scope, _replay(body, receive), send)

    async def _throttle(self, scope: Scope) -> float:
        token = credential(scope)
        account = ""
        if token is None:
            kind, key = "unknown", ""
        else:
            key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
            kind, account = await self.classes.of(scope, token, key)
        if kind == "unknown":
            client = scope.get("client")
            key = "ip:" + (str(client[0]) if client else "?")
        wait = self.limiter.take(f"{kind}:{key}", self.limits[kind])
        if wait == 0 and account and scope.get("method") == "POST" and scope.get("path") == MY_POSITION:
            wait = self.limiter.take(f"my-position:{account}", self.my_position)
        return wait


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, or None if absent, -1 if not a number; whether the body is chunked)."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.strip().isdigit():
                return -1, chunked
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (what a client streams is never held)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see an empty body
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then wait for the disconnect, as the server would

    return replay


def _refuse_url(scope: Scope) -> str | None:
    path: str = scope.get("path", "")
    if "\x00" in path:
        return NUL_REFUSED.format(where="path")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return NUL_REFUSED.format(where="query string")
    return None


def _body_problem(scope: Scope, body: bytes) -> tuple[str, str | None] | None:
    """Why a body no store can hold is refused: NUL characters (PostgreSQL text cannot hold them),
    lone surrogates (not UTF-8), non-finite numbers and integers beyond 64 bits. (reason, the field
    as a dotted path or "" for a JSON body whose field is unknown; None: not readable as a whole)."""
    if not body:
        return None
    content_type = ""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
            break
    if "application/x-www-form-urlencoded" in content_type:
        return (NUL_REFUSED.format(where="form body"), None) if b"%00" in body or b"\x00" in body else None
    if b"\x00" in body:
        return NUL_REFUSED.format(where="body"), None
    if "json" not in content_type or _SUSPECT.search(body) is None:
        return None
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except _BadNumber:
        return BAD_NUMBER, ""
    except (ValueError, RecursionError):  # not JSON: the route answers that itself
        return None
    return _text_problem(value)


class _BadNumber(Exception):
    pass


def _no_constant(_: str) -> Any:
    raise _BadNumber


def _int(text: str) -> int:
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise _BadNumber
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber
    return value


def _text_problem(value: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        texts: list[str]
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(item))
            continue
        else:
            continue
        for text in texts:
            if "\x00" in text:
                return NUL_REFUSED.format(where="body"), _printable(where)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return BAD_TEXT, _printable(where)
    return None


def _printable(where: str) -> str:
    return where.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str | list[dict[str, str]],
    headers: dict[str, str] | None = None,
) -> None:
    if scope["type"] == "websocket":
        # Refused before the handshake: the server answers 403 (or closes), the app never runs.
        await receive()
        await send(
            {"type": "websocket.close", "code": 1008 if status != 429 else 1013, "reason": str(detail)}
        )
        return
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# --- security headers -------------------------------------------------------------------------------


class SecurityHeaders:
    """The headers every HTTP response carries. The Content-Security-Policy fits the shipped web
    apps: everything from this origin, images also as data: URLs and from the tile server if one is
    set, WebSockets to this host. Inline style attributes are allowed (style-src-attr: the apps set
    a few, e.g. the field terminal's heading arrow); inline scripts, other origins and framing are not."""

    def __init__(self, settings: Settings) -> None:
        tiles = tile_source(settings.tile_url)
        self._img = " ".join(["'self'", "data:", *([tiles] if tiles else [])])
        self._hsts = _is_https(settings.public_url)
        self._csp: dict[str, str] = {}
        self._docs_csp = (
            "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )

    def policy(self, host: str | None) -> str:
        """The CSP for a page served under `host` (the Host header, if it is a plain host[:port])."""
        key = host if host is not None and _HOST.match(host) else ""
        found = self._csp.get(key)
        if found is None:
            sockets = f" ws://{key} wss://{key}" if key else ""
            found = (
                f"default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
                f"img-src {self._img}; connect-src 'self'{sockets}; font-src 'self'; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            )
            if len(self._csp) > 100:
                self._csp.clear()
            self._csp[key] = found
        return found

    def wrap(self, scope: Scope, send: Send) -> Send:
        path: str = scope.get("path", "")
        api = path.startswith(("/v1/", "/osmand"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                host = None
                for name, value in scope.get("headers", ()):
                    if name == b"host":
                        host = value.decode("latin-1")
                        break
                csp = self._docs_csp if path in DOCS_PATHS else self.policy(host)
                headers.setdefault("content-security-policy", csp)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("permissions-policy", "geolocation=(self), camera=(), microphone=()")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                if self._hsts:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
                if api:
                    headers["cache-control"] = "no-store"
            await send(message)

        return send_with_headers


def tile_source(tile_url: str | None) -> str | None:
    """The CSP source of a tile URL template: https://{s}.tile.example/{z}/{x}/{y}.png ->
    https://*.tile.example."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "sub"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    netloc = parts.netloc
    if "{s}" in tile_url and netloc.startswith("sub."):
        netloc = "*." + netloc[len("sub.") :]
    if not re.fullmatch(r"[A-Za-z0-9.*\-]+(:[0-9]{1,5})?", netloc):
        return None
    return f"{parts.scheme}://{netloc}"


def _is_https(url: str | None) -> bool:
    return url is not None and urlsplit(url).scheme.lower() == "https"


# --- log redaction ----------------------------------------------------------------------------------

_REDACTIONS: Final = (
    (re.compile(r"(?i)(\btoken=)[^&\s\"'#]+"), r"\1[redacted]"),
    # A purpose's reason is free text that may name a person: it belongs in the audit trail only.
    (re.compile(r"(?i)(\breason=)[^&\s\"'#]+"), r"\1[redacted]"),
    (re.compile(r"(/osmand/t/)[^/?\s\"'#]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"\b(whsec_|vgl_|inc_)[A-Za-z0-9_\-+/=]{6,}"), r"\1[redacted]"),
)

_ANY_SECRET: Final = re.compile(r"(?i)token=|reason=|osmand/t/|bearer|whsec_|vgl_|inc_")


def redact(text: str) -> str:
    """`text` with tokens, capability links, webhook secrets and purpose reasons replaced by [redacted]."""
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and string arguments in place (keeping the arguments' shape:
    uvicorn's access formatter unpacks them), so no handler ever sees a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


_FILTER: Final = RedactingFilter()
REDACTED_LOGGERS: Final = ("uvicorn.access", "uvicorn.error", "uvicorn")


def install_log_redaction() -> None:
    """Put the filter on uvicorn's loggers (its access log prints the request line with the query)
    and on every handler of the root logger (where Vigil's own records end up). Idempotent."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


__all__ = [
    "Guard",
    "Limit",
    "Limiter",
    "RedactingFilter",
    "SecurityHeaders",
    "credential",
    "install",
    "install_log_redaction",
    "redact",
    "tile_source",
]
