"""The shift handover (`GET /v1/handover?since=`): what an operator coming on shift must be told.
The open incidents (each with its latest escalation and who is working it), what changed since the
start of the outgoing shift (incidents opened, escalated, closed, with counts) and the notes on
people written since. Operators only: it covers everything monitored, like the live figures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import select

from vigil.api import deps
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.incidents import claim_json, incident_json
from vigil.api.notes import note_json
from vigil.api.policy import Action
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["handover"])

SHIFT = timedelta(hours=12)  # the default look back: a control room's shift
LONGEST = timedelta(days=7)


def _summary(row: Any, at: datetime) -> dict[str, Any]:
    return {
        "id": row.id, "number": row.number, "kind": row.kind, "severity": row.severity,
        "subject": row.subject_id, "protected_person": row.protected_person_id, "at": iso(at),
    }  # fmt: skip


@router.get("/handover")
def handover(
    request: Request,
    services: Wired,
    _: Annotated[Principal, Depends(require(Action.HANDOVER))],
    since: datetime | None = None,
) -> dict[str, Any]:
    """Open incidents (gravest and latest escalation first, as in the queue, each with its alerts, its
    latest escalation and its claim), the incidents opened, escalated and closed since `since`
    (default: 12 hours ago; at most 7 days back), their counts, and the notes written since."""
    now = services.clock()
    start = now - SHIFT if since is None else since
    if start.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": "since", "reason": "give a time zone"}]
        )
    if start > now or now - start > LONGEST:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "since", "reason": "since must be in the past, at most 7 days ago"}],
        )
    reader = services.reader
    i = t.incidents.c
    with deps.services(request).db.connect() as conn:
        open_rows = list(conn.execute(select(t.incidents).where(i.open.is_(True))))
        changed = list(
            conn.execute(
                select(t.incidents).where(
                    (i.opened_at >= start) | (i.escalated_at >= start) | (i.closed_at >= start)
                )
            )
        )
        raised = list(
            conn.execute(
                select(t.alerts.c.incident_id, t.alerts.c.kind, t.alert_changes.c.alert_id,
                       t.alert_changes.c.change, t.alert_changes.c.at)
                .join(t.alerts, t.alerts.c.id == t.alert_changes.c.alert_id)
                .where(t.alerts.c.incident_id.in_([r.id for r in open_rows]),
                       t.alert_changes.c.change.in_(("opened", "escalated")))
                .order_by(t.alert_changes.c.at, t.alert_changes.c.id)
            )
        ) if open_rows else []  # fmt: skip
        n = t.person_notes.c
        notes = list(conn.execute(select(t.person_notes).where(n.at >= start).order_by(n.at.desc(), n.id)))
    latest = {r.incident_id: r for r in raised}  # the last of each incident's, by time
    alerts: dict[str, list[Any]] = {}
    for alert in reader.incident_alerts([r.id for r in open_rows]):
        alerts.setdefault(alert.incident_id or "", []).append(alert)
    claims = reader.claims([r.id for r in open_rows])
    severity = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    open_rows.sort(key=lambda r: (severity.get(r.severity, 9), -r.escalated_at.timestamp(), r.id))
    open_json = []
    for row in open_rows:
        body = incident_json(row, alerts.get(row.id, []), claims.get(row.id))
        last = latest.get(row.id)
        body["latest_escalation"] = (
            {"alert": last.alert_id, "kind": last.kind, "change": last.change, "at": iso(last.at)}
            if last is not None
            else None
        )
        body["claim"] = claim_json(claims.get(row.id))
        open_json.append(body)
    opened = [_summary(r, r.opened_at) for r in changed if r.opened_at >= start]
    escalated = [_summary(r, r.escalated_at) for r in changed if r.opened_at < start <= r.escalated_at]
    closed = [_summary(r, r.closed_at) for r in changed if r.closed_at is not None and r.closed_at >= start]
    for group in (opened, escalated, closed):
        group.sort(key=lambda s: s["at"], reverse=True)
    return {
        "since": iso(start),
        "until": iso(now),
        "open": open_json,
        "changes": {"opened": opened, "escalated": escalated, "closed": closed},
        "counts": {"open": len(open_json), "opened": len(opened), "escalated": len(escalated),
                   "closed": len(closed), "notes": len(notes)},
        "notes": [note_json(r) for r in notes],
    }  # fmt: skip
