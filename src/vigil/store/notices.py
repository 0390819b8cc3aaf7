"""Account notices: what the holder of an account must be told about it. An operator issued a new
activation code for her account (whoever holds the code can set her password), the credential of a
device bound to her was rotated (whoever holds the new one posts as her device), or a code was used
to set a password. Each is written in the same transaction as the change it tells of, so there is
no change without its notice. Her existing session keeps working: that is how she learns of it,
in GET /v1/me, /v1/me/notices and /v1/me/status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from vigil.domain.model import PersonKind, Role
from vigil.store import tables as t
from vigil.store.codec import iso

REACTIVATED = "account_reactivated"  # a new activation code for a person who has an account
DEVICE_ROTATED = "device_credential_rotated"  # a new credential for a device bound to her
CODE_USED = "activation_code_used"  # a password was set with a code where one was set before
# A new browser receives her alerts (Web Push): whoever holds her account could have registered one
# of their own, and would then learn when he comes near; she is told on every phone she uses.
PUSH_SUBSCRIBED = "push_subscribed"

RECENT = timedelta(days=30)  # what her status carries: the notices of the last 30 days...
RECENT_MAX = 5  # ...at most this many, newest first
LISTED_MAX = 200


def accounts_of(conn: Connection, person_id: str) -> list[str]:
    """The accounts that speak for a protected person (usually one: `pp-<her id>`)."""
    rows = conn.execute(
        select(t.users.c.id)
        .where(t.users.c.role == Role.PROTECTED_PERSON.value, t.users.c.person_id == person_id)
        .order_by(t.users.c.id)
    )
    return [r[0] for r in rows]


def tell(
    conn: Connection,
    user_ids: list[str],
    kind: str,
    at: datetime,
    *,
    actor: str,
    reason: str,
    detail: dict[str, Any],
) -> None:
    """One notice to each of these accounts. `actor` (who did it) is kept for the record; what the
    account holder is shown of them is their role, in `detail`."""
    if user_ids:
        conn.execute(
            insert(t.account_notices),
            [
                {"user_id": u, "kind": kind, "at": at, "actor": actor, "reason": reason, "detail": detail}
                for u in user_ids
            ],
        )


def device_credential(
    conn: Connection, device_id: str, at: datetime, *, actor: str, by_role: str, reason: str
) -> None:
    """A new credential was issued for a device: the accounts of the protected person it is bound
    to are told (a subject's device, or one in stock, tells no one)."""
    holder = conn.execute(
        select(t.devices.c.person_id, t.devices.c.person_kind).where(t.devices.c.id == device_id)
    ).first()
    if holder is None or holder.person_id is None or holder.person_kind != PersonKind.PROTECTED_PERSON.value:
        return
    detail = {"by_role": by_role, "device": device_id}
    tell(
        conn,
        accounts_of(conn, holder.person_id),
        DEVICE_ROTATED,
        at,
        actor=actor,
        reason=reason,
        detail=detail,
    )


def code_used(conn: Connection, user: Any, at: datetime) -> None:
    """A code was used to set `user`'s password: the other accounts speaking for the same person are
    told, and this one too if it had a password already (someone replaced it)."""
    told = [u for u in accounts_of(conn, user.person_id) if u != user.id] if user.person_id else []
    if user.password_hash is not None:
        told.append(user.id)
    tell(conn, told, CODE_USED, at, actor=user.id, reason="", detail={"user": user.id})


def _json(row: Any) -> dict[str, Any]:
    detail = dict(row.detail or {})
    return {
        "id": row.id,
        "kind": row.kind,
        "at": iso(row.at),
        "by": detail.pop("by_role", None),  # the role, not the person: "an operator"
        "reason": row.reason,
        "detail": detail,
    }


def listed(
    db: Engine, user_id: str, *, since: datetime | None = None, limit: int = LISTED_MAX
) -> list[dict[str, Any]]:
    """An account's own notices, newest first."""
    query = select(t.account_notices).where(t.account_notices.c.user_id == user_id)
    if since is not None:
        query = query.where(t.account_notices.c.at >= since)
    query = query.order_by(t.account_notices.c.at.desc(), t.account_notices.c.id.desc()).limit(limit)
    with db.connect() as conn:
        return [_json(r) for r in conn.execute(query)]


def recent(db: Engine, user_id: str, now: datetime) -> list[dict[str, Any]]:
    """What a status carries: the account's notices of the last 30 days, at most 5, newest first.
    There is no "read" mark on the server: the app remembers which ones she has dismissed."""
    return listed(db, user_id, since=now - RECENT, limit=RECENT_MAX)
