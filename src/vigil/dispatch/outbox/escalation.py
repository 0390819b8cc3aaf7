"""Escalation: a pushed violation its target did not acknowledge in time (or rejected) is re-sent,
marked as escalated, to the next target by priority, and flagged on the alert's timeline. The new
push is staged like any other (the same sequence, references and links), so escalation asks the
stager for it. It reads the engine through `EscalationView` only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from vigil.dispatch import routing
from vigil.dispatch.dossier import PushType
from vigil.dispatch.outbox.messages import Pending
from vigil.dispatch.outbox.scene import scene
from vigil.dispatch.outbox.staging import Stager
from vigil.dispatch.outbox.views import EscalationView
from vigil.dispatch.targets import load_targets
from vigil.domain.alerts import AlertChange, Change
from vigil.store import tables as t


def escalate(
    conn: Connection, stager: Stager, delivery_id: int, reason: str, engine: EscalationView, now: datetime
) -> tuple[list[Pending], list[AlertChange]]:
    """A pushed violation that its target did not acknowledge in time (or rejected): re-send it,
    marked as escalated, to the next target by priority, and flag it on the alert's timeline. Once:
    a delivery already acknowledged or escalated is left alone. Returns the deliveries made and the
    flag."""
    row = conn.execute(
        select(t.deliveries, t.dispatch_events.c.escalation, t.dispatch_events.c.push_type)
        .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
        .where(t.deliveries.c.id == delivery_id)
    ).first()
    if row is None or row.acked_at is not None or row.escalated_at is not None:
        return [], []
    conn.execute(update(t.deliveries).where(t.deliveries.c.id == delivery_id).values(escalated_at=now))
    alert = engine.book.get(row.alert_id)
    if alert is None:
        return [], []  # closed meanwhile: nothing left to escalate
    level = row.escalation + 1
    targets = load_targets(conn)
    pending: list[Pending] = []
    names = ""
    if level <= routing.MAX_ESCALATION:
        # Re-plan at the next level, and send to the legs the silent target had.
        found = scene(conn, alert, engine, now, stager.settings.stale_after_s)
        current = routing.plan(alert.kind, found.offender_at, found.victim_at, targets, row.escalation)
        legs = {task.agency for task in current if row.target_id in task.targets}
        following = routing.plan(alert.kind, found.offender_at, found.victim_at, targets, level)
        acked = {
            target_id
            for (target_id,) in conn.execute(
                select(t.deliveries.c.target_id).where(
                    t.deliveries.c.alert_id == alert.id, t.deliveries.c.acked_at.is_not(None)
                )
            )
        }  # those already on it need no reminder
        wanted = {tid for task in following if task.agency in legs for tid in task.targets} - acked
        wanted = wanted or {row.target_id}  # no one left to tell: remind the silent one
        change = AlertChange(alert, Change.UPDATED, now)
        pending = stager.push(
            conn,
            change,
            PushType(row.push_type),
            engine,
            targets,
            now,
            level,
            wanted.__contains__,
            reason,
        )
        names = ", ".join(sorted({p.target_id for p in pending}))
    note = f"{reason}; re-sent to {names}" if names else f"{reason}; no other target to escalate to"
    flagged = engine.note(
        alert.id, Change.UNACKNOWLEDGED, actor=f"dispatch:{row.target_id}", now=now, note=note
    )
    return pending, [flagged]
