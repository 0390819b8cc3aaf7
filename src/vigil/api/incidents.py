"""The live incident view behind a live-track link: for the unit or dispatch target the link was
issued to, where the offender is now (with his last 30 minutes) and where the victim is, while the
link lives (not revoked, not expired, and at most 15 minutes after the incident closes). The link's
token opens this one incident and nothing else, and every use is audited under its holder."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from vigil.api import trail
from vigil.api.positions import _Row
from vigil.api.views import alert_json, position_feature
from vigil.dispatch import links
from vigil.domain.alerts import TERMINAL, AlertChange, AlertState
from vigil.domain.model import PersonKind, PersonRef
from vigil.processor import CommandFailed, Move
from vigil.store.registry import fix_from_row

router = APIRouter(prefix="/v1", tags=["incidents"])

GRACE = links.GRACE  # units still on their way when the alert is closed can finish the job
TRACK = timedelta(minutes=30)
INVALID = "this link is not valid for this incident"


def _link_holder(request: Request, alert_id: str, token: str = "") -> links.Link:
    """A dependency, so a bad link is refused before the body is even looked at: 401 for a token
    that is not a live link of this incident (unknown, another incident's, revoked, expired, its
    unit no longer sent), 410 for one whose incident closed more than GRACE ago. Every use of a real
    link, refused or not, is audited under its holder with the link's id, before anything is served."""
    with request.app.state.db.connect() as conn:
        link = links.find(conn, token)
        if link is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID)
        refusal = _refusal(request, conn, link, alert_id)
    detail: dict[str, Any] = {"alert": alert_id, "link": link.id, "holder_kind": link.holder_kind.value}
    detail |= {"allowed": False, "refused": refusal[1]} if refusal else {"allowed": True}
    role = "field_unit" if link.holder_kind is links.Holder.UNIT else "dispatch_unit"
    trail.record_sync(request, trail.entry(request, link.actor, role, "incident", **detail))
    if refusal is not None:
        raise HTTPException(*refusal)
    return link


def _refusal(request: Request, conn: Connection, link: links.Link, alert_id: str) -> tuple[int, str] | None:
    """Why this link may not open this incident now (status, reason), or None: it may."""
    if link.alert_id != alert_id:
        return status.HTTP_401_UNAUTHORIZED, INVALID
    if link.revoked_at is not None:
        return status.HTTP_401_UNAUTHORIZED, "this link has been revoked"
    now = request.app.state.clock()
    alert = request.app.state.reader.alert(alert_id)
    if (
        alert is not None
        and alert.state in TERMINAL
        and (now >= link.expires_at or now - alert.updated_at > GRACE)
    ):
        return status.HTTP_410_GONE, "the incident is closed; this link has expired"
    if now >= link.expires_at:
        return status.HTTP_401_UNAUTHORIZED, "this link has expired"
    if not links.holder_on_duty(conn, link):
        return status.HTTP_401_UNAUTHORIZED, "the unit this link was issued to is no longer on this incident"
    return None


Holding = Annotated[links.Link, Depends(_link_holder)]


@router.get("/incidents/{alert_id}")
def incident(request: Request, alert_id: str, _: Holding) -> dict[str, Any]:
    """One incident for the unit holding its link: the alert, the offender's live position and
    track, the victim's position. 401 without a live link of this incident; 410 once it has been
    closed a while."""
    reader = request.app.state.reader
    alert = reader.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    now = request.app.state.clock()
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


@router.post("/incidents/{alert_id}/status")
async def field_status(request: Request, alert_id: str, step: FieldStep, link: Holding) -> dict[str, Any]:
    """The field terminal's buttons: en route, on scene, closed (with an outcome). Forward only:
    409 for a step the incident has passed, 410 once it is closed."""
    target = _FIELD_STATE.get(step.status) or AlertState(step.outcome)
    note = " ".join(p for p in (f"field unit: {step.status}", step.note) if p)
    result = await asyncio.wrap_future(
        request.app.state.runner.submit(Move(alert_id, target, actor=link.actor, note=note))
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
