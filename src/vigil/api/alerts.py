"""Alerts: the queue, one alert with its timeline, and lifecycle steps."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Connection, delete, insert, select

from vigil.api.auth import require, scope
from vigil.api.dispatch import deliveries_of
from vigil.api.policy import Action, Record
from vigil.api.registry import Ident, write
from vigil.api.views import alert_json, change_json
from vigil.dispatch.links import live_track_url
from vigil.domain.alerts import AlertChange, AlertState
from vigil.domain.model import Role
from vigil.processor import CommandFailed, Move, Touched
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
NOT_FOUND = "no such alert"


class Step(BaseModel):
    state: AlertState = Field(description="acknowledged, dispatched, on_scene, resolved or false_alarm")
    note: str = Field(default="", max_length=2000)


@router.get("")
def list_alerts(
    request: Request,
    _: Annotated[Principal, Depends(require(Action.ALERTS_READ))],
    open_only: bool = True,
    subject: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Alerts the caller may see (their caseload, jurisdictions or incidents; operators: all), newest
    change first; by default only those not yet resolved."""
    within = scope(request).alert_filter()
    alerts = request.app.state.reader.alerts(open_only=open_only, subject=subject, limit=limit, within=within)
    return [alert_json(a) for a in alerts]


@router.get("/{alert_id}")
def get_alert(
    request: Request,
    alert_id: str,
    _: Annotated[Principal, Depends(require(Action.ALERTS_READ, on=Record.ALERT))],
) -> dict[str, Any]:
    """One alert, its full timeline (every change, with actor, time and note; dispatch reports
    included) and the delivery state of every push about it."""
    reader = request.app.state.reader
    alert = reader.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    timeline = [
        {"change": r["change"], "at": iso(r["at"]), "actor": r["actor"], "note": r["note"], "kind": r["kind"],
         "state": r["state"], "active": r["active"], "facts": r["facts"]}
        for r in reader.timeline(alert_id)
    ]  # fmt: skip
    link = live_track_url(request.app.state.settings.link_base(), request.app.state.link_key, alert_id)
    return {
        **alert_json(alert),
        "timeline": timeline,
        "deliveries": deliveries_of(request, alert_id),
        "assigned": [
            {"user": r["user_id"], "by": r["assigned_by"], "at": iso(r["assigned_at"])}
            for r in reader.assignees(alert_id)
        ],
        "live_track_url": link,  # the field terminal's link for this incident, to hand to a unit
    }


@router.post("/{alert_id}/steps")
async def move_alert(
    request: Request,
    alert_id: str,
    step: Step,
    principal: Annotated[Principal, Depends(require(Action.ALERTS_MOVE, on=Record.ALERT))],
) -> dict[str, Any]:
    """Take a lifecycle step (open -> acknowledged -> dispatched -> on_scene -> resolved | false_alarm).
    Steps go forward only; 409 for an illegal one, 404 for an alert that is not open."""
    if step.state is AlertState.OPEN:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "state", "reason": "an alert cannot be reopened"}],
        )
    future = request.app.state.runner.submit(Move(alert_id, step.state, actor=principal.id, note=step.note))
    result = await asyncio.wrap_future(future)
    if isinstance(result, CommandFailed):
        known = await asyncio.to_thread(request.app.state.reader.alert, alert_id)
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
        raise HTTPException(status.HTTP_409_CONFLICT, str(result))
    assert isinstance(result, AlertChange)
    return change_json(result)


# --- field officers' accounts sent to an incident ---------------------------------------------------

Assigner = Annotated[Principal, Depends(require(Action.INCIDENTS_ASSIGN, on=Record.ALERT))]


@router.put("/{alert_id}/assignments/{user_id}")
async def assign(request: Request, alert_id: str, user_id: Ident, principal: Assigner) -> dict[str, Any]:
    """Send a field officer (their own account) to this incident: they see it, its parties' live
    positions and its stream while it is open and for 15 minutes after it closes. 422 unless the user
    is a field officer; 404 for an unknown alert."""

    _known(request, alert_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        role = conn.execute(select(t.users.c.role).where(t.users.c.id == user_id)).scalar()
        if role != Role.FIELD_OFFICER.value:
            raise CommandFailed(f"user_id: {user_id!r} is not a field officer's account")
        known = t.assignments.c
        if (
            conn.execute(
                select(known.user_id).where(known.alert_id == alert_id, known.user_id == user_id)
            ).first()
            is None
        ):
            conn.execute(
                insert(t.assignments).values(
                    alert_id=alert_id, user_id=user_id, assigned_by=principal.id, assigned_at=now
                )
            )
        return Touched()

    await write(request, apply)
    return _assigned(request, alert_id)


@router.delete("/{alert_id}/assignments/{user_id}")
async def unassign(request: Request, alert_id: str, user_id: Ident, _: Assigner) -> dict[str, Any]:
    """Take a field officer off this incident: their access ends at once."""
    _known(request, alert_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        known = t.assignments.c
        conn.execute(delete(t.assignments).where(known.alert_id == alert_id, known.user_id == user_id))
        return Touched()

    await write(request, apply)
    return _assigned(request, alert_id)


def _known(request: Request, alert_id: str) -> None:
    if request.app.state.reader.alert(alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)


def _assigned(request: Request, alert_id: str) -> dict[str, Any]:
    return {
        "alert": alert_id,
        "assigned": [r["user_id"] for r in request.app.state.reader.assignees(alert_id)],
    }
