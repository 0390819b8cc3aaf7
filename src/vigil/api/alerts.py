"""Alerts: the queue, one alert with its timeline, and lifecycle steps."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from vigil.api.auth import require
from vigil.api.dispatch import deliveries_of
from vigil.api.policy import Action
from vigil.api.views import alert_json, change_json
from vigil.dispatch.links import live_track_url
from vigil.domain.alerts import AlertChange, AlertState
from vigil.processor import CommandFailed, Move
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
    """Alerts, newest change first; by default only those not yet resolved."""
    return [
        alert_json(a)
        for a in request.app.state.reader.alerts(open_only=open_only, subject=subject, limit=limit)
    ]


@router.get("/{alert_id}")
def get_alert(
    request: Request, alert_id: str, _: Annotated[Principal, Depends(require(Action.ALERTS_READ))]
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
        "live_track_url": link,  # the field terminal's link for this incident, to hand to a unit
    }


@router.post("/{alert_id}/steps")
async def move_alert(
    request: Request,
    alert_id: str,
    step: Step,
    principal: Annotated[Principal, Depends(require(Action.ALERTS_MOVE))],
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
