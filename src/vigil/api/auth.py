"""Authentication at the edge: every call carries a token (Authorization: Bearer, or ?token= where a
client cannot set headers: browsers' WebSockets, OsmAnd phone apps). No anonymous access to anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import HTTPException, Request, WebSocket, status
from sqlalchemy import Engine

from vigil.api import trail
from vigil.api.policy import RECORDLESS, Action, Record, Scope, allows, reaches, scope_of
from vigil.store.accounts import Principal, lookup

NO_TOKEN = "a token is required (Authorization: Bearer <token>)"
BAD_TOKEN = "the token is unknown, expired or revoked"
FORBIDDEN = "your role may not do this"
OUT_OF_SCOPE = "outside what you may see (your caseload, jurisdictions or incidents)"


class Tokens:
    """Token look-ups with a short cache, so the hot ingest path does not hit the database per call."""

    def __init__(
        self, db: Engine, ttl_s: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._db = db
        self._ttl = ttl_s
        self._clock = clock  # the server's clock decides expiry, as it decided issue
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def principal(self, token: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        found = lookup(self._db, token, self._clock())
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now, found)
        return found

    def forget(self, token: str) -> None:
        self._cache.pop(token, None)

    def clear(self) -> None:
        """After a revocation: every token is looked up afresh."""
        self._cache.clear()


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
    tokens: Tokens = conn.app.state.tokens
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
            reader = request.app.state.reader
            scope = scope_of(principal, reader, request.app.state.clock())
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
