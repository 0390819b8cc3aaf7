"""Alerts: the queue, one alert with its timeline, lifecycle steps, and the field units sent to it
with their live-track links."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Connection, delete, insert, select

from vigil.api import deps, writer
from vigil.api.auth import require, scope
from vigil.api.bodies import Ident
from vigil.api.deps import Wired
from vigil.api.dispatch import deliveries_of
from vigil.api.policy import Action, Record, allows
from vigil.api.registry import write
from vigil.api.views import alert_json, change_json
from vigil.commands import Conflict, Move, NotFound, Refused, Touched
from vigil.dispatch import links
from vigil.dispatch.links import Holder, Issued
from vigil.domain.alerts import TERMINAL, AlertState
from vigil.domain.model import Role
from vigil.notify import records as notify_records
from vigil.services import Services
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
NOT_FOUND = "no such alert"


class Step(BaseModel):
    state: AlertState = Field(description="acknowledged, dispatched, on_scene, resolved or false_alarm")
    note: str = Field(
        default="",
        max_length=2000,
        description="required (not blank) to close a critical alert: 422 otherwise",
    )


@router.get("")
def list_alerts(
    request: Request,
    services: Wired,
    _: Annotated[Principal, Depends(require(Action.ALERTS_READ))],
    open_only: bool = True,
    subject: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Alerts the caller may see (their caseload, jurisdictions or incidents; operators: all), newest
    change first; by default only those not yet resolved."""
    within = scope(request).alert_filter()
    alerts = services.reader.alerts(open_only=open_only, subject=subject, limit=limit, within=within)
    return [alert_json(a) for a in alerts]


def notifications_of(services: Services, alert_id: str) -> list[dict[str, Any]]:
    with services.db.connect() as conn:
        return notify_records.of_alert(conn, alert_id)


@router.get("/{alert_id}/notifications")
def get_notifications(
    services: Wired,
    alert_id: str,
    principal: Annotated[Principal, Depends(require(Action.ALERTS_READ, on=Record.ALERT))],
) -> list[dict[str, Any]]:
    """What was sent to the protected person about this alert, each message with its delivery
    record: channel (push, sms), kind (near, danger, sos_answered, distance), the recipient shown as
    the push service's host or the number's last four digits, state (pending, delivered, gone,
    failed, expired), attempts and the last answer. A text's words are shown; a push's are not (it
    names only its kind). Readable by whoever may read the alert."""
    if services.reader.alert(alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return notifications_of(services, alert_id)


@router.get("/{alert_id}")
def get_alert(
    request: Request,
    services: Wired,
    alert_id: str,
    principal: Annotated[Principal, Depends(require(Action.ALERTS_READ, on=Record.ALERT))],
) -> dict[str, Any]:
    """One alert, its full timeline (every change, with actor, time and note; dispatch reports
    included), the delivery state of every push about it, and the field units sent to it. Everyone
    who may read the alert sees how many live-track links are out (`live_track.links`) and which
    units hold one; those who send units (operators, dispatchers) also see each link's record
    (`links`: holder, expiry, revocation), never its URL: that is handed out once, when issued."""
    reader = services.reader
    alert = reader.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    timeline = [
        {"change": r["change"], "at": iso(r["at"]), "actor": r["actor"], "note": r["note"], "kind": r["kind"],
         "state": r["state"], "active": r["active"], "facts": r["facts"]}
        for r in reader.timeline(alert_id)
    ]  # fmt: skip
    now = services.clock()
    assignees = list(reader.assignees(alert_id))
    paths = [f"/v1/incidents/{i}" for i in (alert_id, alert.incident_id) if i]
    with services.db.connect() as conn:
        held = links.of_alert(conn, alert_id)
        opened = _opened(conn, [r["user_id"] for r in assignees], {link.id for link in held}, paths)
    live = [link for link in held if link.live(now)]
    linked = {link.holder_id for link in live if link.holder_kind is Holder.UNIT}
    body = {
        **alert_json(alert),
        "timeline": timeline,
        "deliveries": deliveries_of(request, alert_id),
        "notifications": notifications_of(services, alert_id),
        "assigned": [
            {"user": r["user_id"], "by": r["assigned_by"], "at": iso(r["assigned_at"]),
             "has_link": r["user_id"] in linked, "opened_at": iso(opened.get(r["user_id"]))}
            for r in assignees
        ],
        "live_track": {"links": len(live)},
    }  # fmt: skip
    if allows(principal.role, Action.INCIDENTS_ASSIGN):
        body["links"] = [link.json(now) for link in held]
    return body


@router.post("/{alert_id}/steps")
async def move_alert(
    request: Request,
    services: Wired,
    alert_id: str,
    step: Step,
    principal: Annotated[Principal, Depends(require(Action.ALERTS_MOVE, on=Record.ALERT))],
) -> dict[str, Any]:
    """Take a lifecycle step (open -> acknowledged -> dispatched -> on_scene -> resolved | false_alarm).
    Steps go forward only; 409 for an illegal one, 404 for an alert that is not open. Closing a
    critical alert (resolved or false_alarm) needs a note: 422 naming the field `note` without one."""
    if step.state is AlertState.OPEN:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "state", "reason": "an alert cannot be reopened"}],
        )
    try:
        result = await writer.run(request, Move(alert_id, step.state, actor=principal.id, note=step.note))
    except Conflict:
        # not open: 404 if there is no such alert at all, else the 409 as it stands
        known = await asyncio.to_thread(services.reader.alert, alert_id)
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND) from None
        raise
    return change_json(result)


# --- field officers' accounts sent to an incident ---------------------------------------------------

Assigner = Annotated[Principal, Depends(require(Action.INCIDENTS_ASSIGN, on=Record.ALERT))]


@router.put("/{alert_id}/assignments/{user_id}")
async def assign(request: Request, alert_id: str, user_id: Ident, principal: Assigner) -> dict[str, Any]:
    """Send a field officer (their own account) to this incident: they see it, its parties' live
    positions and its stream while it is open and for 15 minutes after it closes. While the incident
    is open, a unit with no live link is issued one (`link`, with its `url`, shown this once: hand it
    to the unit); a unit that holds one gets `link: null` (a new one: POST .../link). 422 unless the
    user is a field officer; 404 for an unknown alert."""

    _known(request, alert_id)
    lifetime = _lifetime(request)

    def apply(conn: Connection, now: datetime) -> Touched:
        role = conn.execute(select(t.users.c.role).where(t.users.c.id == user_id)).scalar()
        if role != Role.FIELD_OFFICER.value:
            raise Refused("user_id", f"{user_id!r} is not a field officer's account")
        if not _is_assigned(conn, alert_id, user_id):
            conn.execute(
                insert(t.assignments).values(
                    alert_id=alert_id, user_id=user_id, assigned_by=principal.id, assigned_at=now
                )
            )
        if not _is_open(conn, alert_id) or _holds_link(conn, alert_id, user_id, now):
            return Touched(result=None)  # one link per unit per incident, however many alerts
        incident_id = links.incident_of(conn, alert_id)
        return Touched(
            result=links.issue(
                conn, alert_id, Holder.UNIT, user_id, principal.id, now, lifetime, incident_id=incident_id
            )
        )

    issued: Issued | None = await write(request, apply)
    return {**_assigned(request, alert_id), "link": _issued_json(request, issued)}


@router.post("/{alert_id}/assignments/{user_id}/link")
async def reissue(request: Request, alert_id: str, user_id: Ident, principal: Assigner) -> dict[str, Any]:
    """A new live-track link for a unit sent to this incident (its link was lost, or may have been
    seen by someone else): the unit's earlier links stop working at once. The URL is shown this once.
    404 unless the unit is assigned; 409 once the incident is closed."""
    _known(request, alert_id)
    lifetime = _lifetime(request)

    def apply(conn: Connection, now: datetime) -> Touched:
        if not _is_assigned(conn, alert_id, user_id):
            raise NotFound(f"{user_id} is not assigned to this incident")
        if not _is_open(conn, alert_id):
            raise Conflict("the incident is closed: no new links are issued for it")
        links.revoke(
            conn, alert_id, now, f"replaced by a new link from {principal.id}", holder=(Holder.UNIT, user_id)
        )
        incident_id = links.incident_of(conn, alert_id)
        return Touched(
            result=links.issue(
                conn, alert_id, Holder.UNIT, user_id, principal.id, now, lifetime, incident_id=incident_id
            )
        )

    issued: Issued = await write(request, apply)
    return {**_assigned(request, alert_id), "link": _issued_json(request, issued)}


@router.delete("/{alert_id}/assignments/{user_id}")
async def unassign(request: Request, alert_id: str, user_id: Ident, principal: Assigner) -> dict[str, Any]:
    """Take a field officer off this incident: their access, and every link issued to them for it,
    end at once."""
    _known(request, alert_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        known = t.assignments.c
        conn.execute(delete(t.assignments).where(known.alert_id == alert_id, known.user_id == user_id))
        # The unit's link is for the incident: it ends when the unit is sent to none of its alerts.
        if not _sent_to_incident(conn, alert_id, user_id):
            links.revoke(
                conn,
                alert_id,
                now,
                f"taken off the incident by {principal.id}",
                holder=(Holder.UNIT, user_id),
            )
        return Touched()

    await write(request, apply)
    return _assigned(request, alert_id)


@router.delete("/{alert_id}/links/{link_id}")
async def revoke_link(
    request: Request, services: Wired, alert_id: str, link_id: Ident, principal: Assigner
) -> dict[str, Any]:
    """Revoke one live-track link of this incident (a unit's or a dispatch target's), e.g. one that
    was forwarded where it should not be: it stops working at once. A target's next push carries a
    new link. 404 for a link this incident does not have."""
    _known(request, alert_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        links.revoke(conn, alert_id, now, f"revoked by {principal.id}", link_id=link_id)
        found = [link for link in links.of_alert(conn, alert_id) if link.id == link_id]
        if not found:
            raise NotFound("no such link for this incident")
        return Touched(result=found[0])

    link: links.Link = await write(request, apply)
    return link.json(deps.services(request).clock())


def _known(request: Request, alert_id: str) -> None:
    if deps.services(request).reader.alert(alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)


def _assigned(request: Request, alert_id: str) -> dict[str, Any]:
    return {
        "alert": alert_id,
        "assigned": [r["user_id"] for r in deps.services(request).reader.assignees(alert_id)],
    }


def _lifetime(request: Request) -> timedelta:
    return timedelta(seconds=deps.services(request).settings.incident_link_s)


def _issued_json(request: Request, issued: Issued | None) -> dict[str, Any] | None:
    """A link just issued, with its URL: the public URL if one is set, else the address this
    request came to (the one the operator reaches the server by)."""
    if issued is None:
        return None
    services = deps.services(request)
    return issued.json(services.settings.link_base(str(request.base_url)), services.clock())


def _is_assigned(conn: Connection, alert_id: str, user_id: str) -> bool:
    known = t.assignments.c
    query = select(known.user_id).where(known.alert_id == alert_id, known.user_id == user_id)
    return conn.execute(query).first() is not None


def _sent_to_incident(conn: Connection, alert_id: str, user_id: str) -> bool:
    """Whether the unit is still assigned to another alert of this alert's incident."""
    incident_id = links.incident_of(conn, alert_id)
    if incident_id is None:
        return False
    a = t.assignments.c
    siblings = select(t.alerts.c.id).where(t.alerts.c.incident_id == incident_id)
    query = select(a.alert_id).where(a.user_id == user_id, a.alert_id.in_(siblings)).limit(1)
    return conn.execute(query).first() is not None


def _is_open(conn: Connection, alert_id: str) -> bool:
    state = conn.execute(select(t.alerts.c.state).where(t.alerts.c.id == alert_id)).scalar()
    return state is not None and AlertState(state) not in TERMINAL


def _holds_link(conn: Connection, alert_id: str, user_id: str, now: datetime) -> bool:
    return any(
        link.live(now) and link.holder_kind is Holder.UNIT and link.holder_id == user_id
        for link in links.of_alert(conn, alert_id)
    )


def _opened(conn: Connection, units: list[str], link_ids: set[str], paths: list[str]) -> dict[str, datetime]:
    """When each unit first opened one of this alert's links, from the audit trail, where every use
    of a link is recorded under its holder with the link's id (api/incidents.py `link_holder`); a
    refused use is not an opening. Read by the incident's own path (the trail's `target`, indexed):
    the terminal's first call fetches it."""
    if not units or not link_ids:
        return {}
    log = t.audit_log.c
    rows = conn.execute(
        select(log.actor, log.at, log.detail)
        .where(log.target.in_(paths), log.action == "incident", log.actor.in_(units))
        .order_by(log.seq)
    )
    found: dict[str, datetime] = {}
    for row in rows:
        detail = row.detail or {}
        if detail.get("allowed") and detail.get("link") in link_ids and row.actor not in found:
            found[row.actor] = row.at
    return found
