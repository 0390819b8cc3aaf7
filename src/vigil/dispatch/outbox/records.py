"""The delivery records: each attempt the deliverer reports is written to its delivery, and what
they come to is raised to the operators (a push undelivered for too long, a target gone). Also the
deliverer's view of the records: what is still to send and what still awaits an acknowledgement.
It reads the engine through `RecordView` only: it raises and clears alarms, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from vigil.dispatch.outbox.messages import Attempt, Pending
from vigil.dispatch.outbox.views import RecordView
from vigil.domain.alerts import TERMINAL, AlertChange, AlertKey, AlertKind, Facts, Signal
from vigil.store import tables as t


def record(
    conn: Connection, attempts: Sequence[Attempt], engine: RecordView, now: datetime
) -> list[AlertChange]:
    """Record delivery attempts; raise (or clear) the operators' alarm where one is due."""
    changes: list[AlertChange] = []
    writes: dict[int, dict[str, Any]] = {}  # delivery -> its new values, written together (`_write`)
    # One read for the batch's deliveries, not one per attempt: after a burst of alerts the
    # deliverer reports thousands of attempts, and on PostgreSQL each read is a round trip.
    ids = sorted({a.delivery_id for a in attempts})
    found = conn.execute(select(*_READ).where(t.deliveries.c.id.in_(ids))) if ids else ()
    rows = {r.id: SimpleNamespace(**r._asdict()) for r in found}
    for attempt in attempts:
        row = rows.get(attempt.delivery_id)
        if row is None or row.state != "pending":
            continue
        values: dict[str, Any] = {
            "attempts": row.attempts + 1,
            "last_attempt_at": attempt.at,
            "last_status": attempt.status,
            "last_error": attempt.error[:1000],
        }
        if attempt.delivered:
            values.update(state="delivered", delivered_at=attempt.at)
        elif attempt.gone:
            values.update(state="gone")
        if attempt.next_attempt_at is not None:
            values["next_attempt_at"] = attempt.next_attempt_at
        if attempt.alarm and row.alarmed_at is None:
            values["alarmed_at"] = now
        if attempt.body and not row.has_body:
            # what was rendered and sent: kept, so a retry after a restart sends these very bytes
            values["body"] = attempt.body.decode()
            row.has_body = True
        writes.setdefault(row.id, {}).update(values)
        # his id, for an alarm raised or cleared, or a target gone: most attempts need none
        needs_subject = (
            attempt.gone
            or (attempt.alarm and row.alarmed_at is None)
            or (attempt.delivered and row.alarmed_at is not None)
        )
        subject = _subject_of(conn, row.alert_id) if needs_subject else None
        key = AlertKey("dispatch", row.target_id, row.alert_id)
        if attempt.alarm and row.alarmed_at is None:
            seconds = round((attempt.at - row.created_at).total_seconds())
            text = f"push to {row.target_id} undelivered for {seconds} s: {attempt.error or attempt.status}"
            changes += engine.alarm(alarm_signal(key, subject, text, True), now)
        elif attempt.delivered and row.alarmed_at is not None:
            changes += engine.alarm(
                alarm_signal(key, subject, f"push to {row.target_id} delivered", False), now
            )
        # the same delivery twice in one batch: the second attempt sees what the first wrote
        for name, value in values.items():
            setattr(row, name, value)
        if attempt.gone:
            _write(conn, writes)  # before the target's queue is dropped: it writes those rows too
            changes += _gone(conn, row.target_id, attempt, subject, engine, now)
            for other in rows.values():  # as `_gone` left them: later attempts to them are moot
                if other.target_id == row.target_id and other.state == "pending":
                    other.state = "gone"
    _write(conn, writes)
    return changes


# What `record` reads of a delivery: not its body (a rendered CAP, EIDO or CloudEvent, kilobytes
# each, read back for every attempt only to see whether one was kept), just whether it has one.
_READ = (
    t.deliveries.c.id,
    t.deliveries.c.state,
    t.deliveries.c.attempts,
    t.deliveries.c.alarmed_at,
    t.deliveries.c.alert_id,
    t.deliveries.c.target_id,
    t.deliveries.c.created_at,
    (t.deliveries.c.body != "").label("has_body"),
)


def _write(conn: Connection, writes: dict[int, dict[str, Any]]) -> None:
    """The deliveries' new values, one statement per set of columns changed, each run for all its
    deliveries at once (an executemany: on PostgreSQL, pipelined rather than a round trip per
    delivery; after a burst the deliverer reports thousands of attempts). Emptied."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for delivery_id, values in writes.items():
        columns = tuple(sorted(values))
        groups.setdefault(columns, []).append({"b_id": delivery_id, **{f"b_{c}": values[c] for c in columns}})
    for columns, params in groups.items():
        if conn.dialect.name == "postgresql" and all(c in _TYPES for c in columns):
            _write_arrays(conn, columns, params)
            continue
        statement = (
            update(t.deliveries)
            .where(t.deliveries.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns})
        )
        conn.execute(statement, params)
    writes.clear()


# The columns an attempt's record writes, as PostgreSQL holds them (`_write_arrays`).
_TYPES = {
    "attempts": "int8", "last_attempt_at": "timestamptz", "last_status": "int8", "last_error": "text",
    "state": "text", "delivered_at": "timestamptz", "next_attempt_at": "timestamptz",
    "alarmed_at": "timestamptz", "body": "text",
}  # fmt: skip


def _write_arrays(conn: Connection, columns: tuple[str, ...], params: list[dict[str, Any]]) -> None:
    """One set of columns for many deliveries as one UPDATE joined to arrays of the new values, one
    per column, in the binary format: an executemany, even pipelined, was a statement per delivery
    for PostgreSQL to run and for psycopg to adapt (a tenth of a worker's time while a burst's pushes
    were being delivered). The same rows change to the same values."""
    names = ("id", *columns)
    types = ("int8", *(_TYPES[c] for c in columns))
    arrays = [[p["b_id"] for p in params], *([p[f"b_{c}"] for p in params] for c in columns)]
    for i, kind in enumerate(types):
        if kind == "int8":  # ints of any size as one type (psycopg picks one by the values)
            arrays[i] = [None if v is None else int(v) for v in arrays[i]]
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    unnest = ", ".join(f"%b::{kind}[]" for kind in types)
    sql = (
        f"UPDATE deliveries AS d SET {sets} FROM unnest({unnest}) AS v({', '.join(names)}) WHERE d.id = v.id"
    )
    conn.exec_driver_sql(sql, tuple(arrays))


def _gone(
    conn: Connection,
    target_id: str,
    attempt: Attempt,
    subject: str | None,
    engine: RecordView,
    now: datetime,
) -> list[AlertChange]:
    """A target that answered 410 Gone is disabled, its queue dropped, and operators told."""
    reason = f"answered 410 Gone at {attempt.at.isoformat()}"
    conn.execute(
        update(t.dispatch_targets)
        .where(t.dispatch_targets.c.id == target_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    conn.execute(
        update(t.deliveries)
        .where(and_(t.deliveries.c.target_id == target_id, t.deliveries.c.state == "pending"))
        .values(state="gone", last_error=reason)
    )
    text = f"dispatch target {target_id} {reason}: disabled; pushes to it stopped"
    return engine.alarm(alarm_signal(AlertKey("dispatch", target_id, ""), subject, text, True), now)


def pending(conn: Connection) -> list[Pending]:
    """Every delivery still to make, in commit order (at start-up, after a crash)."""
    query = (
        select(
            t.deliveries,
            t.dispatch_events.c.sequence,
            t.dispatch_events.c.needs_ack,
            t.dispatch_events.c.draft,
        )
        .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
        .where(t.deliveries.c.state == "pending")
        .order_by(t.deliveries.c.id)
    )
    return [
        Pending(
            delivery_id=r.id,
            event_id=r.event_id,
            target_id=r.target_id,
            alert_id=r.alert_id,
            sequence=r.sequence,
            body=r.body.encode(),
            created_at=r.created_at,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            needs_ack=r.needs_ack,
            alarmed=r.alarmed_at is not None,
            draft=r.draft or "",
        )
        for r in conn.execute(query)
    ]


def awaiting_ack(conn: Connection) -> list[tuple[int, str, str, datetime]]:
    """(delivery, alert, target, pushed at) of violations pushed and not yet acknowledged."""
    query = (
        select(
            t.deliveries.c.id,
            t.deliveries.c.alert_id,
            t.deliveries.c.target_id,
            t.deliveries.c.created_at,
        )
        .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
        .join(t.alerts, t.alerts.c.id == t.deliveries.c.alert_id)
        .where(
            t.dispatch_events.c.needs_ack.is_(True),
            t.deliveries.c.acked_at.is_(None),
            t.deliveries.c.escalated_at.is_(None),
            t.deliveries.c.state != "gone",
            t.alerts.c.state.not_in([s.value for s in TERMINAL]),
        )
    )
    return [(r.id, r.alert_id, r.target_id, r.created_at) for r in conn.execute(query)]


def alarm_signal(key: AlertKey, subject: str | None, text: str, active: bool) -> Signal:
    """The operators' `dispatch_failure` alarm about a push (raised, or cleared)."""
    return Signal(
        key=key,
        kind=AlertKind.DISPATCH_FAILURE,
        active=active,
        onset=active,
        facts=Facts(event=text),
        subject_id=subject,
    )


def _subject_of(conn: Connection, alert_id: str) -> str | None:
    row = conn.execute(select(t.alerts.c.subject_id).where(t.alerts.c.id == alert_id)).first()
    return None if row is None else row.subject_id
