"""Rate limits at the edge: token buckets per credential, as one ASGI middleware.

The credential is the Bearer token, `?token=` or the OsmAnd path token, hashed (never kept in
clear), classified once a minute by who it belongs to: a device bound to one device id, a gateway
(a device token for every device behind it: its own, much higher limit), or a person. Calls without
a known token share one bucket per client address. A victim app's own position reports
(`POST /v1/me/position`) also draw on a bucket of their own per account, whatever session or token
they come from: each one is a probe of the status she reads; so do her evidence packs
(`GET /v1/me/evidence`), each a whole period gathered and drawn. Over the limit: 429 with Retry-After
(a WebSocket is closed with 1013). The buckets live in one LRU map: buckets that have refilled
(idle) are dropped first, and the map never holds more than `max_buckets`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.api.hardening.refusal import refuse
from vigil.domain.model import Role

log = logging.getLogger(__name__)

TOO_MANY = "too many requests: slow down and retry after {seconds} s"
CLASS_TTL_S: Final = 60.0  # how long a token's class (device, gateway, user, unknown) is remembered
MY_POSITION: Final = "/v1/me/position"  # her phone's reports: a bucket per account besides the token's
MY_EVIDENCE: Final = "/v1/me/evidence"  # her evidence pack: a whole period gathered and drawn, per account


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
    # The token cache is the app's (built beside the routers, after the middleware is installed):
    # read where the app keeps it, at the call. Without one (a bare app) every call is anonymous.
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


class RateLimit:
    """Refuses a call (429, or a WebSocket closed with 1013) once its credential's bucket is empty.

    One limit per class of credential (a bound device, a gateway, a person, anyone else: by client
    address), one for the victim app's own position reports (per account), and the memory bound."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        device: Limit,
        gateway: Limit,
        user: Limit,
        anonymous: Limit,
        my_position: Limit,
        max_buckets: int,
        my_evidence: Limit = Limit(0, 1),
    ) -> None:
        self.app = app
        self.limits = {"device": device, "gateway": gateway, "user": user, "unknown": anonymous}
        self.my_position = my_position
        self.my_evidence = my_evidence
        self.limiter = Limiter(max_buckets)
        self.classes = _Classes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        wait = await self._throttle(scope)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await refuse(
                scope, receive, send, 429, TOO_MANY.format(seconds=seconds), {"Retry-After": str(seconds)}
            )
            return
        await self.app(scope, receive, send)

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
        if wait == 0 and account and scope.get("method") == "GET" and scope.get("path") == MY_EVIDENCE:
            wait = self.limiter.take(f"my-evidence:{account}", self.my_evidence)
        return wait
