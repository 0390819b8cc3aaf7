"""Her browsers' Web Push subscriptions (the victim app): the server's VAPID public key to subscribe
with, and her subscription registered, listed and removed. Only a protected person's own account,
for herself; the push service's endpoint and keys are checked before they are kept, since the
server will POST to that endpoint."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, func, insert, select, update

from vigil.api import writer
from vigil.api.deps import Wired
from vigil.api.me import Self, _herself
from vigil.commands import Conflict, NotFound, Refused, Touched, Write
from vigil.config import Settings
from vigil.store import notices
from vigil.store import tables as t
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/me", tags=["victim app"])

MAX_PER_PERSON = 10  # her browsers; more is not one person's phones
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class Keys(BaseModel):
    p256dh: str = Field(min_length=1, max_length=100)
    auth: str = Field(min_length=1, max_length=40)


class Subscription(BaseModel):
    """What `PushSubscription.toJSON()` gives in her browser (`expirationTime` is accepted and not
    kept)."""

    model_config = ConfigDict(extra="ignore")
    endpoint: str = Field(min_length=1, max_length=2000)
    keys: Keys


@router.get("/push-key")
def push_key(services: Wired, principal: Self) -> dict[str, Any]:
    """The server's VAPID public key (base64url, uncompressed P-256 point): her app subscribes with
    it as `applicationServerKey`, and push services accept only pushes signed by its private half."""
    _herself(principal)
    if services.vapid is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Web Push is not available on this server")
    return {"public_key": services.vapid.public_key}


@router.get("/push-subscriptions")
def my_subscriptions(services: Wired, principal: Self) -> list[dict[str, Any]]:
    """Her subscriptions: the push service's host and when each was registered (never the endpoint
    itself: it is a capability)."""
    person = _herself(principal)
    c = t.push_subscriptions.c
    with services.db.connect() as conn:
        rows = conn.execute(select(t.push_subscriptions).where(c.person_id == person).order_by(c.id)).all()
    return [
        {"id": r.id, "service": urlsplit(r.endpoint).hostname, "created_at": iso(r.created_at),
         "updated_at": iso(r.updated_at)}
        for r in rows
    ]  # fmt: skip


@router.put("/push-subscription")
async def subscribe(request: Request, services: Wired, body: Subscription, principal: Self) -> dict[str, Any]:
    """Register (or refresh) one of her browsers' subscriptions. 422 names the field at fault: an
    endpoint that is not https:// (or points inside the server's own network), a p256dh that is not
    a P-256 public key (65 bytes, uncompressed), an auth secret that is not 16 bytes. 409 when the
    endpoint is registered for someone else."""
    person = _herself(principal)
    endpoint = _endpoint(body.endpoint, services.settings)
    p256dh = _key(body.keys.p256dh)
    auth = _auth(body.keys.auth)

    def apply(conn: Connection, now: datetime) -> Touched:
        c = t.push_subscriptions.c
        known = conn.execute(select(t.push_subscriptions).where(c.endpoint == endpoint)).first()
        if known is not None and known.person_id != person:
            raise Conflict("this endpoint is registered for another account", "endpoint")
        if known is not None:
            conn.execute(
                update(t.push_subscriptions)
                .where(c.id == known.id)
                .values(p256dh=p256dh, auth=auth, updated_at=now)
            )
            return Touched(result={"id": known.id, "created": False})
        count = conn.execute(
            select(func.count()).select_from(t.push_subscriptions).where(c.person_id == person)
        ).scalar_one()
        if count >= MAX_PER_PERSON:
            raise Refused("endpoint", f"at most {MAX_PER_PERSON} subscriptions; remove an old one first")
        inserted = conn.execute(
            insert(t.push_subscriptions),
            {"person_id": person, "endpoint": endpoint, "p256dh": p256dh, "auth": auth,
             "created_at": now, "updated_at": now},
        ).inserted_primary_key  # fmt: skip
        assert inserted is not None
        # told to her account, on every phone she uses (GET /v1/me/status): it may not have been her
        detail = {"service": urlsplit(endpoint).hostname or ""}
        notices.tell(conn, notices.accounts_of(conn, person), notices.PUSH_SUBSCRIBED, now,
                     actor=principal.id, reason="", detail=detail)  # fmt: skip
        return Touched(result={"id": int(inserted[0]), "created": True})

    result: dict[str, Any] = await writer.run(request, Write(apply))
    return result


@router.delete("/push-subscription", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(
    request: Request,
    principal: Self,
    endpoint: str = Query(min_length=1, max_length=2000),
) -> None:
    """Remove one of her subscriptions (signing out, or turning notifications off). 404 when she has
    none with that endpoint (someone else's is never touched)."""
    person = _herself(principal)

    def apply(conn: Connection, now: datetime) -> Touched:
        c = t.push_subscriptions.c
        gone = conn.execute(
            delete(t.push_subscriptions).where(c.endpoint == endpoint, c.person_id == person)
        ).rowcount
        if not gone:
            raise NotFound("no such subscription of yours")
        return Touched()

    await writer.run(request, Write(apply))


def _endpoint(value: str, settings: Settings) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
    except ValueError:  # "https://[::1" and the like
        raise Refused("endpoint", "must be an absolute URL with a host and no credentials") from None
    if not host or parts.username or parts.password:
        raise Refused("endpoint", "must be an absolute URL with a host and no credentials")
    if parts.scheme == "http":
        if not (settings.push_allow_loopback_http and host in LOOPBACK):
            raise Refused("endpoint", "must use https:// (a push service's endpoint)")
        return value
    if parts.scheme != "https":
        raise Refused("endpoint", "must use https:// (a push service's endpoint)")
    if host in LOOPBACK and not settings.push_allow_loopback_http:
        raise Refused("endpoint", "must be a push service on the internet, not this machine")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return value
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved) and not (
        settings.push_allow_loopback_http and address.is_loopback
    ):
        raise Refused("endpoint", "must be a push service on the internet, not a private address")
    return value


def _decode(value: str, field: str) -> bytes:
    text = value.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Refused(field, "must be base64url") from None


def _key(value: str) -> str:
    raw = _decode(value, "keys.p256dh")
    if len(raw) != 65 or raw[0] != 4:
        raise Refused("keys.p256dh", "must be an uncompressed P-256 public key (65 bytes, base64url)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise Refused("keys.p256dh", "is not a point on P-256") from None
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _auth(value: str) -> str:
    raw = _decode(value, "keys.auth")
    if len(raw) != 16:
        raise Refused("keys.auth", "must be the 16-byte auth secret (base64url)")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
