"""Approved absences in the store: approved, revoked, and asked whether one covers a zone alert."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from vigil.commands import Conflict, NotFound, Refused, Touched
from vigil.store import tables as t
from vigil.store.codec import iso


def approve(
    conn: Connection, now: datetime, *, subject_id: str, zone_id: str | None, starts_at: datetime,
    ends_at: datetime, reason: str, by: str,
) -> Touched:  # fmt: skip
    """Record an approval (answers its id). The zone, when named, must be one of his in force."""
    if conn.execute(select(t.subjects.c.id).where(t.subjects.c.id == subject_id)).first() is None:
        raise NotFound(f"no subject {subject_id!r}")
    if zone_id is not None:
        zone = conn.execute(
            select(t.zones.c.subject_id, t.zones.c.removed_at).where(t.zones.c.id == zone_id)
        ).first()
        if zone is None or zone.subject_id != subject_id or zone.removed_at is not None:
            raise Refused("zone_id", f"{zone_id!r} is not a zone of his in force")
    absence_id = f"abs-{uuid.uuid4().hex[:16]}"
    conn.execute(
        insert(t.absences).values(
            id=absence_id, subject_id=subject_id, zone_id=zone_id, starts_at=starts_at, ends_at=ends_at,
            reason=reason, approved_by=by, approved_at=now,
        )
    )  # fmt: skip
    return Touched(result=absence_id)


def revoke(conn: Connection, now: datetime, *, subject_id: str, absence_id: str, by: str) -> Touched:
    row = conn.execute(
        select(t.absences).where(t.absences.c.id == absence_id, t.absences.c.subject_id == subject_id)
    ).first()
    if row is None:
        raise NotFound(f"no absence {absence_id!r} of {subject_id!r}")
    if row.revoked_at is not None:
        raise Conflict(f"absence {absence_id!r} was revoked already")
    conn.execute(
        update(t.absences).where(t.absences.c.id == absence_id).values(revoked_at=now, revoked_by=by)
    )
    return Touched(result=absence_id)


def covering(conn: Connection, subject_id: str | None, zone_id: str | None, at: datetime) -> Any | None:
    """The approved absence in force at `at` that covers his zone (or all his zones), if any."""
    if subject_id is None:
        return None
    a = t.absences.c
    query = (
        select(t.absences)
        .where(
            a.subject_id == subject_id,
            a.revoked_at.is_(None),
            a.starts_at <= at,
            a.ends_at > at,
            or_(a.zone_id.is_(None), a.zone_id == zone_id),
        )
        .order_by(a.approved_at)
        .limit(1)
    )
    return conn.execute(query).first()


def current(conn: Connection, subject_ids: Iterable[str], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Each subject's approved absences not over yet (in force now or upcoming, not revoked), with
    the zone's label: what his caseload card and the police case matched to him show, so both
    agencies know why a zone violation of his was not pushed to 112. One query for them all."""
    ids = sorted(set(subject_ids))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return out
    ab, z = t.absences.c, t.zones.c
    for row in conn.execute(
        select(ab.id, ab.subject_id, ab.zone_id, z.label, ab.starts_at, ab.ends_at, ab.reason)
        .select_from(t.absences.outerjoin(t.zones, z.id == ab.zone_id))
        .where(ab.subject_id.in_(ids), ab.revoked_at.is_(None), ab.ends_at > now)
        .order_by(ab.starts_at, ab.id)
    ):
        out[row.subject_id].append(
            {"id": row.id, "zone": row.zone_id, "zone_label": row.label, "starts_at": iso(row.starts_at),
             "ends_at": iso(row.ends_at), "reason": row.reason, "in_force": row.starts_at <= now}
        )  # fmt: skip
    return out
