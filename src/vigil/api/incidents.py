"""The live incident view behind the link a dispatch push carries: for the units sent to one alert,
where the offender is now (with his last 30 minutes) and where the victim is, while the incident is
open and for a short grace after. The link's token opens this one incident and nothing else."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from vigil.api import trail
from vigil.api.positions import _Row
from vigil.api.views import alert_json, position_feature
from vigil.dispatch import links
from vigil.domain.alerts import TERMINAL, AlertChange, AlertState
from vigil.domain.model import PersonKind, PersonRef
from vigil.processor import CommandFailed, Move
from vigil.store.registry import fix_from_row

router = APIRouter(prefix="/v1", tags=["incidents"])

GRACE = timedelta(minutes=15)  # units still on their way when the alert is closed can finish the job
TRACK = timedelta(minutes=30)


def _link_holder(request: Request, alert_id: str, token: str = "") -> None:
    """A dependency, so a bad link is refused (401) before the body is even looked at; a good one
    is audited (the link stands for the unit holding it) before anything is served."""
    if not token or not links.token_matches(request.app.state.link_key, alert_id, token):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this link is not valid for this incident")
    trail.record_sync(
        request, trail.entry(request, "incident-link", "field_unit", "incident", alert=alert_id)
    )


@router.get("/incidents/{alert_id}", dependencies=[Depends(_link_holder)])
def incident(request: Request, alert_id: str) -> dict[str, Any]:
    """One incident for the units sent to it: the alert, the offender's live position and track, the
    victim's position. 401 without the incident's own token; 410 once it has been closed a while."""
    reader = request.app.state.reader
    alert = reader.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    now = request.app.state.clock()
    if alert.state in TERMINAL and now - alert.updated_at > GRACE:
        raise HTTPException(status.HTTP_410_GONE, "the incident is closed; this link has expired")
    subject = alert.subject_id
    if subject is None and alert.protected_person_id is not None:
        # Her SOS names only her; the units going to her must see the man her order keeps away.
        subject = next(iter(reader.subjects_of(alert.protected_person_id)), None)
    parties: dict[str, Any] = {}
    for role, person in (("subject", subject), ("protected_person", alert.protected_person_id)):
        if person is None:
            continue
        rows = reader.track(PersonRef(PersonKind(role), person), now - TRACK, None, 2000)
        features = [position_feature(person, role, fix_from_row(_Row(r))) for r in rows]
        parties[role] = {
            "id": person,
            "position": features[-1] if features else None,
            "track": {"type": "FeatureCollection", "features": features} if role == "subject" else None,
        }
    return {"alert": alert_json(alert), **parties}


class FieldStep(BaseModel):
    status: Literal["en_route", "on_scene", "closed"]
    outcome: Literal["resolved", "false_alarm"] = "resolved"
    note: str = Field(default="", max_length=2000)


_FIELD_STATE = {"en_route": AlertState.DISPATCHED, "on_scene": AlertState.ON_SCENE}


@router.post("/incidents/{alert_id}/status", dependencies=[Depends(_link_holder)])
async def field_status(request: Request, alert_id: str, step: FieldStep) -> dict[str, Any]:
    """The field terminal's buttons: en route, on scene, closed (with an outcome). Forward only:
    409 for a step the incident has passed, 410 once it is closed."""
    target = _FIELD_STATE.get(step.status) or AlertState(step.outcome)
    note = " ".join(p for p in (f"field unit: {step.status}", step.note) if p)
    result = await asyncio.wrap_future(
        request.app.state.runner.submit(Move(alert_id, target, actor="field-unit", note=note))
    )
    if isinstance(result, CommandFailed):
        known = await asyncio.to_thread(request.app.state.reader.alert, alert_id)
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
        if known.state in TERMINAL:
            raise HTTPException(status.HTTP_410_GONE, "the incident is closed")
        raise HTTPException(status.HTTP_409_CONFLICT, str(result))
    assert isinstance(result, AlertChange)
    return {"state": result.alert.state.value}
