"""Callbacks: a dispatch system's signed report about an alert it was sent (accepted, on scene,
closed, rejected...). The report goes on the alert's timeline and may move its lifecycle; any report
but a rejection acknowledges the target's pushes, and a rejection escalates the push to the next
target. Each report is recorded once (a retried webhook is a duplicate). It reads the engine through
`CallbackView` only, and escalates through the function it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from vigil.dispatch.outbox.messages import Callback, Pending, Reported
from vigil.dispatch.outbox.views import CallbackView
from vigil.dispatch.reports import Status, judge, latest
from vigil.domain.alerts import AlertChange, AlertState, Change, UnknownAlert
from vigil.store import tables as t
from vigil.store.codec import alert_from_row

# Escalate a delivery for a reason: the deliveries made and the alert changes.
Escalator = Callable[[int, str], tuple[list[Pending], list[AlertChange]]]


def report(
    conn: Connection, report: Callback, engine: CallbackView, escalate: Escalator, now: datetime
) -> tuple[Reported, list[AlertChange], list[Pending], list[tuple[str, str]]]:
    """Apply a dispatch system's report: the alert's timeline and lifecycle, the target's
    acknowledgement, and escalation on rejection. Raises UnknownAlert or IllegalReport and then
    changes nothing. Returns the outcome, alert changes, new deliveries and (alert, target) acks."""
    seen = conn.execute(
        select(t.dispatch_callbacks.c.id).where(
            t.dispatch_callbacks.c.target_id == report.target_id,
            t.dispatch_callbacks.c.id == report.callback_id,
        )
    ).first()
    row = conn.execute(select(t.alerts).where(t.alerts.c.id == report.alert_id)).first()
    told = conn.execute(
        select(t.deliveries.c.id)
        .where(t.deliveries.c.alert_id == report.alert_id, t.deliveries.c.target_id == report.target_id)
        .limit(1)
    ).first()
    if row is None or told is None:  # a target may report only on what it was sent
        raise UnknownAlert(report.alert_id)
    if seen is not None:
        return Reported(report.alert_id, row.state, duplicate=True), [], [], []
    before = [
        Status(s)
        for (s,) in conn.execute(
            select(t.dispatch_callbacks.c.status)
            .where(
                t.dispatch_callbacks.c.target_id == report.target_id,
                t.dispatch_callbacks.c.alert_id == report.alert_id,
            )
            .order_by(t.dispatch_callbacks.c.received_at)
        )
    ]
    verdict = judge(report.status, report.outcome, AlertState(row.state), latest(before))
    conn.execute(
        insert(t.dispatch_callbacks).values(
            target_id=report.target_id,
            id=report.callback_id,
            alert_id=report.alert_id,
            status=report.status.value,
            received_at=now,
            body=report.body,
        )
    )
    actor = f"dispatch:{report.target_id}"
    note = " ".join(p for p in (report.status.value, report.note) if p)
    if verdict.move_to is not None:
        change = engine.move(report.alert_id, verdict.move_to, actor=actor, now=now, note=note)
    elif engine.book.get(report.alert_id) is not None:
        change = engine.note(report.alert_id, Change.CALLBACK, actor=actor, now=now, note=note)
    else:  # closed already: the report still belongs in its timeline
        closed = alert_from_row(row)
        change = AlertChange(replace(closed, updated_at=now), Change.CALLBACK, now, actor, note)
    changes, pending, acks = [change], [], []
    if report.status is Status.REJECTED:
        newest = conn.execute(
            select(t.deliveries.c.id)
            .where(t.deliveries.c.alert_id == report.alert_id, t.deliveries.c.target_id == report.target_id)
            .order_by(t.deliveries.c.id.desc())
            .limit(1)
        ).first()
        for (delivery_id,) in [newest] if newest is not None else []:
            more, flagged = escalate(
                delivery_id, f"{report.target_id} rejected it: {report.note or 'no reason given'}"
            )
            pending += more
            changes += flagged
    else:
        conn.execute(
            update(t.deliveries)
            .where(
                t.deliveries.c.alert_id == report.alert_id,
                t.deliveries.c.target_id == report.target_id,
                t.deliveries.c.acked_at.is_(None),
            )
            .values(acked_at=now)
        )
        acks.append((report.alert_id, report.target_id))
    return Reported(report.alert_id, change.alert.state.value), changes, pending, acks
