"""Incidents in the database: written by the single writer with the alert changes that made them, and
given the short number read over the radio.

The number is `MMDD-NN`: the month and day the incident opened (in the control centre's time zone)
and a sequence for that calendar day. The sequence never starts again for a calendar day: the first
incident of 6 December next year follows the last of 6 December this year (`1206-07` is followed,
a year later, by `1206-08`). So a number is unique forever (the column is unique too) and stays short:
four digits of day and two or three of sequence, read as "twelve-oh-six, zero-seven". Incidents hold
no positions, so retention never purges them and a number is never freed for reuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from vigil.domain.alerts import AlertKind
from vigil.domain.incidents import Incident
from vigil.store import tables as t
from vigil.store.database import hold_until_commit

NUMBER_LOCK = 0x76_69_67_69_6E  # PostgreSQL's advisory lock for giving incident numbers


def number_day(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%m%d")


def next_number(conn: Connection, day: str, taken: Iterable[str] = ()) -> str:
    """The next number of a calendar day (`MMDD`): one past the highest ever given for it.

    The highest is read through the unique index on the number (a range of the day's numbers, not
    a `LIKE`, which SQLite cannot serve from an index with a bound prefix), longest first: `-100`
    follows `-99`. Scanning every number of the day for each new incident made a busy day's writes
    quadratic."""
    c = t.incidents.c
    highest_row = conn.scalar(
        select(c.number)
        .where(c.number >= f"{day}-", c.number < f"{day}.")  # "." sorts right after "-"
        .order_by(func.length(c.number).desc(), c.number.desc())
        .limit(1)
    )
    numbers = [highest_row] if highest_row is not None else []
    numbers += [n for n in taken if n.startswith(f"{day}-")]
    highest = max((int(n.split("-", 1)[1]) for n in numbers if n.split("-", 1)[1].isdigit()), default=0)
    return f"{day}-{highest + 1:02d}"


def write(conn: Connection, incidents: Iterable[Incident], tz: tzinfo) -> None:
    """Insert new incidents (numbered) and update known ones, in two statements at most."""
    wanted = list(incidents)
    if not wanted:
        return
    c = t.incidents.c
    known = set(conn.scalars(select(c.id).where(c.id.in_([i.id for i in wanted]))))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    last: dict[str, int] = {}  # day -> the highest number given so far (read once per day and batch)
    if any(i.id not in known for i in wanted):
        # Several writers (cluster workers) number incidents: the next number is read and taken
        # under one lock, held to the end of the transaction, or two would both take `-07`.
        hold_until_commit(conn, NUMBER_LOCK)
    for incident in wanted:
        row = _row(incident)
        if incident.id in known:
            updates.append({**row, "incident_id": incident.id})
        else:
            # One look-up per day, then counted on here: a burst opens hundreds of incidents in one
            # batch, and each look-up sorts the day's numbers by length.
            day = number_day(incident.opened_at, tz)
            if day not in last:
                last[day] = int(next_number(conn, day).split("-", 1)[1]) - 1
            last[day] += 1
            inserts.append({**row, "id": incident.id, "number": f"{day}-{last[day]:02d}"})
    if inserts:
        conn.execute(insert(t.incidents), inserts)
    if updates:
        statement = (
            update(t.incidents)
            .where(c.id == bindparam("incident_id"))
            .values({k: bindparam(k) for k in updates[0] if k != "incident_id"})
        )
        conn.execute(statement, updates)


def _row(incident: Incident) -> dict[str, Any]:
    return {
        "subject_id": incident.subject_id,
        "protected_person_id": incident.protected_person_id,
        "kind": incident.kind.value,
        "severity": incident.severity.value,
        "open": incident.open,
        "opened_at": incident.opened_at,
        "escalated_at": incident.escalated_at,
        "updated_at": incident.updated_at,
        "closed_at": incident.closed_at,
        "active_at": incident.active_at,
    }


def from_row(row: Any) -> Incident:
    """An incident as the engine holds it; its alerts are filled in by the engine from the open alerts."""
    return Incident(
        id=row.id,
        subject_id=row.subject_id,
        protected_person_id=row.protected_person_id,
        kind=AlertKind(row.kind),
        opened_at=row.opened_at,
        escalated_at=row.escalated_at,
        updated_at=row.updated_at,
        active_at=row.active_at,
        open=bool(row.open),
        closed_at=row.closed_at,
    )


def load_open(conn: Connection) -> list[Incident]:
    return [from_row(r) for r in conn.execute(select(t.incidents).where(t.incidents.c.open.is_(True)))]
