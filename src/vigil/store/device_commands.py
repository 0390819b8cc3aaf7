"""Commands to devices, kept durably: queued, sent, answered, expired or failed.

Each write runs in the single writer's transaction (a `Write` command), so a command queued is on
disk before the caller hears of it, and a restart finds every pending command where it was (an
in-memory queue would lose them). Status moves one way: pending -> sent -> acknowledged, and pending
or sent -> expired (past `expires_at`) or failed (the device's protocol cannot say it, or the device
refused it); a command that is done stays done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from vigil.commands import Touched
from vigil.domain.model import CommandKind
from vigil.rules.pursuit import ModeChange
from vigil.store import tables as t

REPLY_MAX = 500
SYSTEM = "vigil"  # who asks for what pursuit mode asks


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    EXPIRED = "expired"
    FAILED = "failed"


OPEN = (Status.PENDING.value, Status.SENT.value)


@dataclass(frozen=True, slots=True)
class Queued:
    """A command as the gateway needs it to put it on the wire."""

    id: str
    device_id: str
    ref: int
    kind: CommandKind
    params: Mapping[str, str]
    expires_at: datetime


def queue(
    conn: Connection,
    now: datetime,
    *,
    command_id: str,
    device_id: str,
    kind: CommandKind,
    params: Mapping[str, str],
    expires_at: datetime,
    requested_by: str,
    reason: str = "",
) -> Touched:
    """Queue a command for `device_id` (pending). Its `ref` is the device's next number. Answers
    the command as the gateway puts it on the wire (`Touched.result`)."""
    last = conn.execute(
        select(func.max(t.device_commands.c.ref)).where(t.device_commands.c.device_id == device_id)
    ).scalar()
    ref = (last or 0) + 1
    conn.execute(
        insert(t.device_commands).values(
            id=command_id,
            device_id=device_id,
            ref=ref,
            type=kind.value,
            params=dict(params),
            status=Status.PENDING.value,
            requested_by=requested_by,
            reason=reason,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return Touched(result=Queued(command_id, device_id, ref, kind, dict(params), expires_at))


def _queued(row: Any) -> Queued:
    return Queued(row.id, row.device_id, row.ref, CommandKind(row.type), dict(row.params), row.expires_at)


def pending(conn: Connection, device_id: str, now: datetime) -> list[Queued]:
    """The device's commands still to send, oldest first (expired ones are left to `expire`)."""
    rows = conn.execute(
        select(t.device_commands)
        .where(
            t.device_commands.c.device_id == device_id,
            t.device_commands.c.status == Status.PENDING.value,
            t.device_commands.c.expires_at > now,
        )
        .order_by(t.device_commands.c.ref)
    )
    return [_queued(row) for row in rows]


def devices_with_pending(conn: Connection, now: datetime) -> list[str]:
    rows = conn.execute(
        select(t.device_commands.c.device_id)
        .where(t.device_commands.c.status == Status.PENDING.value, t.device_commands.c.expires_at > now)
        .distinct()
    )
    return [r[0] for r in rows]


def _move(conn: Connection, command_id: str, from_: tuple[str, ...], **values: Any) -> bool:
    done = conn.execute(
        update(t.device_commands)
        .where(t.device_commands.c.id == command_id, t.device_commands.c.status.in_(from_))
        .values(**values)
    )
    return done.rowcount == 1


def sent(conn: Connection, now: datetime, command_id: str) -> Touched:
    return Touched(
        result=_move(conn, command_id, (Status.PENDING.value,), status=Status.SENT.value, sent_at=now)
    )


def failed(conn: Connection, now: datetime, command_id: str, why: str) -> Touched:
    moved = _move(conn, command_id, OPEN, status=Status.FAILED.value, done_at=now, reply=why[:REPLY_MAX])
    return Touched(result=moved)


def acknowledged(
    conn: Connection,
    now: datetime,
    device_id: str,
    ref: int | None,
    reply: str,
    kind: CommandKind | None = None,
) -> Touched:
    """The device answered: the sent command with that `ref`, or (a protocol that echoes none) its
    oldest sent command of that `kind` (of any, when the answer does not say). Answers the command's
    id, or None when nothing sent was waiting."""
    where = [t.device_commands.c.device_id == device_id, t.device_commands.c.status == Status.SENT.value]
    if ref is not None:
        where.append(t.device_commands.c.ref == ref)
    elif kind is not None:
        where.append(t.device_commands.c.type == kind.value)
    found = conn.execute(
        select(t.device_commands.c.id).where(*where).order_by(t.device_commands.c.ref).limit(1)
    ).scalar()
    if found is None:
        return Touched(result=None)
    _move(
        conn,
        found,
        (Status.SENT.value,),
        status=Status.ACKNOWLEDGED.value,
        done_at=now,
        reply=reply[:REPLY_MAX],
    )
    return Touched(result=found)


def answered_by_id(conn: Connection, now: datetime, device_id: str, command_id: str, reply: str) -> Touched:
    """An HTTP device's answer to a command it was handed, by the command's id: True when it was
    sent to that device and waiting; False otherwise (unknown, another device's, already done)."""
    row = conn.execute(
        select(t.device_commands.c.status).where(
            t.device_commands.c.id == command_id, t.device_commands.c.device_id == device_id
        )
    ).first()
    if row is None or row.status != Status.SENT.value:
        return Touched(result=False)
    moved = _move(conn, command_id, (Status.SENT.value,), status=Status.ACKNOWLEDGED.value, done_at=now,
                  reply=reply[:REPLY_MAX])  # fmt: skip
    return Touched(result=moved)


def expire(conn: Connection, now: datetime) -> Touched:
    """Pending or sent commands past their time: expired. Answers how many."""
    done = conn.execute(
        update(t.device_commands)
        .where(t.device_commands.c.status.in_(OPEN), t.device_commands.c.expires_at <= now)
        .values(status=Status.EXPIRED.value, done_at=now)
    )
    return Touched(result=done.rowcount)


# --- pursuit mode ---------------------------------------------------------------------------------

# Protocols Vigil can command (the gateway's); native and OsmAnd devices have no channel back yet.
COMMANDABLE = frozenset({"gt06", "watch", "teltonika", "owntracks"})
PURSUIT_LIFETIME = timedelta(minutes=10)  # a fast-reporting order that waited this long is stale
NORMAL_LIFETIME = timedelta(hours=1)
_CHUNK = 200  # ids per IN (...): SQLite caps an expression's depth


def pursue(
    conn: Connection,
    now: datetime,
    changes: Sequence[ModeChange],
    normal_s: Callable[[str], float],
    fast_s: float,
) -> list[Queued]:
    """Write pursuit-mode changes: the device's mode, and where its protocol can take one, a
    `set_interval` command (`fast_s`, or back to `normal_s(device)`). Answers the commands queued,
    which the gateway sends to the devices connected to it without reading them back."""
    commanded: list[Queued] = []
    if not changes:
        return commanded
    # All the batch's changes in one statement and their protocols in one read per chunk, not two
    # round trips per device: a burst of alerts puts thousands of devices into pursuit at once.
    device = t.devices.c
    conn.execute(
        update(t.devices)
        .where(device.id == bindparam("b_id"))
        .values(pursuit_since=bindparam("b_since"), pursuit_reason=bindparam("b_reason")),
        [
            {
                "b_id": change.device_id,
                "b_since": now if change.pursuit else None,
                "b_reason": change.reason[:200] if change.pursuit else None,
            }
            for change in changes
        ],
    )
    ids = sorted({change.device_id for change in changes})
    protocols: dict[str, str | None] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(select(device.id, device.protocol).where(device.id.in_(chunk)))
        protocols.update((str(i), p) for i, p in rows)
    for change in changes:
        on = change.pursuit
        protocol = protocols.get(change.device_id)
        if protocol not in COMMANDABLE:
            continue
        seconds = fast_s if on else normal_s(change.device_id)
        queued = queue(
            conn,
            now,
            command_id=f"cmd-{uuid.uuid4().hex[:16]}",
            device_id=change.device_id,
            kind=CommandKind.SET_INTERVAL,
            params={"seconds": str(round(seconds))},
            expires_at=now + (PURSUIT_LIFETIME if on else NORMAL_LIFETIME),
            requested_by=SYSTEM,
            reason=("pursuit: " if on else "normal: ") + change.reason[:180],
        )
        commanded.append(queued.result)
    return commanded
