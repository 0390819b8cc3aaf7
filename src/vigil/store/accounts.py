"""Users and tokens. A token is shown once, when made; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select

from vigil.domain.model import Role
from vigil.store import tables as t


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user with a role, or a device (optionally bound to one device id)."""

    id: str
    role: Role
    device_id: str | None = None
    person_id: str | None = None  # the protected person a victim's account speaks for


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    conn: Connection, *, user_id: str, name: str, role: Role, now: datetime, person_id: str | None = None
) -> None:
    conn.execute(
        insert(t.users).values(
            id=user_id,
            name=name,
            role=role.value,
            person_id=person_id,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
    )


def issue_token(
    conn: Connection, *, role: Role, now: datetime, user_id: str | None = None, device_id: str | None = None
) -> str:
    token = f"vgl_{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(t.tokens).values(
            hash=token_hash(token), user_id=user_id, device_id=device_id, role=role.value, created_at=now
        )
    )
    return token


def lookup(db: Engine, token: str, now: datetime) -> Principal | None:
    """The principal a token stands for, or None if unknown, revoked, expired or disabled."""
    query = (
        select(t.tokens, t.users.c.disabled, t.users.c.person_id)
        .select_from(t.tokens.outerjoin(t.users, t.users.c.id == t.tokens.c.user_id))
        .where(t.tokens.c.hash == token_hash(token))
    )
    with db.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.revoked_at is not None or row.disabled:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    ident = row.user_id or (f"device:{row.device_id}" if row.device_id else "device:gateway")
    return Principal(id=ident, role=Role(row.role), device_id=row.device_id, person_id=row.person_id)


def bootstrap(conn: Connection, now: datetime) -> dict[str, str]:
    """On an empty system, make a first admin, a first operator and a device-gateway token, so the
    people installing it can log in. Returns {label: token}; empty when users already exist."""
    if conn.execute(select(t.users.c.id).limit(1)).first() is not None:
        return {}
    tokens: dict[str, str] = {}
    for user_id, role in (("admin", Role.ADMIN), ("operator", Role.OPERATOR)):
        create_user(conn, user_id=user_id, name=user_id, role=role, now=now)
        tokens[user_id] = issue_token(conn, role=role, now=now, user_id=user_id)
    tokens["device gateway"] = issue_token(conn, role=Role.DEVICE, now=now)
    return tokens


def instance_secret(conn: Connection, name: str, now: datetime) -> bytes:
    """A secret this installation made for itself on first use (kept in the database, so every
    server of the installation and every restart share it)."""
    row = conn.execute(select(t.instance_secrets.c.value).where(t.instance_secrets.c.name == name)).first()
    if row is not None:
        return bytes.fromhex(row.value)
    value = secrets.token_bytes(32)
    conn.execute(insert(t.instance_secrets).values(name=name, value=value.hex(), created_at=now))
    return value
