"""Authentication at the edge: every call carries a token (Authorization: Bearer, or ?token= where a
client cannot set headers: browsers' WebSockets, OsmAnd phone apps). No anonymous access to anything."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from fastapi import HTTPException, Request, WebSocket, status
from sqlalchemy import Engine

from vigil.api import deps, trail
from vigil.api.policy import RECORDLESS, Action, Record, Scope, allows, reaches, scope_of
from vigil.store.accounts import Principal, find, lookup
from vigil.store.revocations import EVERYTHING, Key, Watcher

NO_TOKEN = "a token is required (Authorization: Bearer <token>)"
BAD_TOKEN = "the token is unknown, expired or revoked"
FORBIDDEN = "your role may not do this"
OUT_OF_SCOPE = "outside what you may see (your caseload, jurisdictions or incidents)"


class Tokens:
    """Token look-ups with a short cache, so the hot ingest path does not hit the database per call.

    The cache hears of every revocation before it answers (`store.revocations`): whatever a revoked
    token, session, user or device stood for is forgotten at once, here and in every other process
    on the database, so a token is honoured from the cache only while nothing revoked it. When the
    signal cannot be heard (PostgreSQL's listening connection lost), every call is looked up."""

    MAX_ENTRIES = 10_000

    def __init__(
        self,
        db: Engine,
        ttl_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        revocations: Watcher | None = None,
    ) -> None:
        self._db = db
        self._ttl = ttl_s
        self._clock = clock  # the server's clock decides expiry, as it decided issue
        self._revocations = revocations or Watcher(db)
        self._revocations.listen(self._forget)
        self._lock = threading.Lock()
        # token -> (monotonic time cached, the answer, when the token expires by itself)
        self._cache: dict[str, tuple[float, Principal | None, datetime | None]] = {}
        self._under: dict[Key, set[str]] = {}  # which cached tokens each revocation would make stale
        # Bumped by every revocation heard: a look-up that raced one is not cached (it may have read
        # the row just before the revocation committed).
        self._generation = 0

    def principal(self, token: str) -> Principal | None:
        if self._ttl <= 0:
            return lookup(self._db, token, self._clock())
        trusted = self._revocations.check()  # before the cache is read: it may have just heard
        now = time.monotonic()
        if trusted:
            hit = self._cache.get(token)
            # A login's token is not honoured past its expiry (device tokens have none).
            if hit is not None and now - hit[0] < self._ttl and (hit[2] is None or hit[2] > self._clock()):
                return hit[1]
        generation = self._generation
        found = find(self._db, token, self._clock())
        if trusted:
            with self._lock:
                if generation == self._generation:
                    if len(self._cache) >= self.MAX_ENTRIES:
                        self._cache.clear()
                        self._under.clear()
                    self._cache[token] = (now, found.principal, found.expires_at)
                    for key in found.stale_on:
                        self._under.setdefault(key, set()).add(token)
        return found.principal

    def clear(self) -> None:
        """Every token is looked up afresh."""
        self._forget([EVERYTHING])

    def _forget(self, keys: Collection[Key]) -> None:
        with self._lock:
            self._generation += 1
            if EVERYTHING in keys:
                self._cache.clear()
                self._under.clear()
                return
            for key in keys:
                for token in self._under.pop(key, ()):
                    self._cache.pop(token, None)


def token_of(conn: Request | WebSocket) -> str | None:
    """The token a call carries: the Bearer header, else ?token=."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return conn.query_params.get("token") or None


def identify(conn: Request | WebSocket) -> Principal:
    token = token_of(conn)
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NO_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    tokens: Tokens = deps.services(conn).tokens
    principal = tokens.principal(token)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(action: Action, on: Record | None = None) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller, if their role allows `action` and, with `on`, the record
    that path parameter names is within their scope; 401/403 otherwise. The caller's scope is left
    in `request.state.scope` for the handler to narrow lists with."""

    def dependency(request: Request) -> Principal:
        principal = identify(request)
        allowed = allows(principal.role, action)
        why = FORBIDDEN
        if allowed and action not in RECORDLESS:
            services = deps.services(request)
            reader = services.reader
            scope = scope_of(principal, reader, services.clock())
            request.state.scope = scope
            if on is not None and not reaches(scope, on, request.path_params[on.param], reader):
                allowed, why = False, OUT_OF_SCOPE
        # Recorded before anything is served, refused attempts too: misuse must be visible.
        trail.access(request, principal, action, allowed)
        if not allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, why)
        return principal

    return dependency


def scope(request: Request) -> Scope:
    """The scope `require` found for this request."""
    found: Scope = request.state.scope
    return found


def refuse_out_of_scope(request: Request, principal: Principal, action: Action, what: str) -> HTTPException:
    """A refusal found in the body (a device bound to someone outside the caller's scope): recorded
    like any refused access, and the 403 to raise."""
    trail.access(request, principal, action, False, refused=what)
    return HTTPException(status.HTTP_403_FORBIDDEN, f"{what}: {OUT_OF_SCOPE}")
