"""The victim app's API: her own status, what she may see of him (decided by the server, in
`domain.victim_view`), her phone's position, and her SOS. Only a protected person's own account
reaches it, and only for herself."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from vigil.api.auth import identify, require
from vigil.api.policy import Action
from vigil.domain import victim_view
from vigil.domain.alerts import TERMINAL, AlertKind
from vigil.domain.model import DeviceEvent, EventKind, Fix, FixSource, PersonKind, protected_ref, subject_ref
from vigil.domain.victim_view import Limits, Near, Sighting, Warning
from vigil.processor import Ingest, IngestOutcome
from vigil.store import notices
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/me", tags=["victim app"])


class Here(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class Sos(BaseModel):
    position: Here | None = None


@router.get("", tags=["accounts"])
def who_am_i(request: Request) -> dict[str, Any]:
    """The caller's own account: id, role, for a protected person whom it speaks for, and the
    account's recent notices (a new activation code, a device credential rotated)."""
    principal = identify(request)
    told = notices.recent(request.app.state.db, principal.id, request.app.state.clock())
    return {
        "id": principal.id,
        "role": principal.role.value,
        "person_id": principal.person_id,
        "notices": told,
    }


def _herself(principal: Principal) -> str:
    if principal.person_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this account is not bound to a protected person")
    return principal.person_id


Self = Annotated[Principal, Depends(require(Action.SELF))]


@router.get("/status")
def my_status(request: Request, principal: Self) -> dict[str, Any]:
    """Safe / nearby / danger, her own last position, and what she may see of each man an order
    protects her from: position and heading within the order's view, a distance band inside the
    warning distance, nothing beyond."""
    person = _herself(principal)
    now: datetime = request.app.state.clock()
    db = request.app.state.db
    with db.connect() as conn:
        orders = conn.execute(
            select(t.orders).where(t.orders.c.protected_person_id == person, t.orders.c.ended_at.is_(None))
        ).all()
        open_kinds = {
            row.kind
            for row in conn.execute(
                select(t.alerts.c.kind).where(
                    t.alerts.c.protected_person_id == person,
                    t.alerts.c.state.not_in([s.value for s in TERMINAL]),
                    t.alerts.c.active.is_(True),
                )
            )
        }
    orders = [
        o
        for o in orders
        if (o.valid_from is None or o.valid_from <= now) and (o.valid_until is None or now < o.valid_until)
    ]
    reader = request.app.state.reader
    people = [protected_ref(person), *{subject_ref(o.subject_id) for o in orders}]
    latest: dict[str, Sighting] = {}
    for row in reader.latest_positions(people):
        seen = Sighting(
            row["lat"], row["lon"], row["time"], row["accuracy_m"], row["heading_deg"], row["speed_mps"]
        )
        if row["person_id"] not in latest or latest[row["person_id"]].time < seen.time:
            latest[row["person_id"]] = seen
    her = latest.get(person)
    views: list[victim_view.View | None] = []
    offenders: list[dict[str, Any]] = []
    for order in orders:
        limits = Limits(order.violation_distance_m, order.warning_distance_m, order.victim_view_m)
        shown = victim_view.view(her, latest.get(order.subject_id), limits, now)
        views.append(shown)
        if isinstance(shown, Near):
            offenders.append(
                {"band": "near", "distance_m": shown.distance_m, "lat": shown.lat, "lon": shown.lon,
                 "bearing_deg": shown.bearing_deg, "compass": shown.compass, "heading_deg": shown.heading_deg,
                 "speed_mps": shown.speed_mps, "age_s": round(shown.age_s), "danger": shown.danger}
            )  # fmt: skip
        elif isinstance(shown, Warning):
            offenders.append({"band": "warning", "from_m": shown.band_from_m, "to_m": shown.band_to_m})
    verdict = victim_view.status(
        views,
        open_violation=bool(open_kinds & {AlertKind.PROXIMITY_VIOLATION.value, AlertKind.SOS.value}),
        open_warning=AlertKind.PROXIMITY_WARNING.value in open_kinds,
    )
    own = None
    if her is not None:
        own = {"lat": her.lat, "lon": her.lon, "accuracy_m": her.accuracy_m, "time": iso(her.time)}
    told = notices.recent(db, principal.id, now)  # what was done to her account (store/notices.py)
    return {"status": verdict.value, "own": own, "offenders": offenders, "at": iso(now), "notices": told}


async def _report(request: Request, person: str, report: Fix | DeviceEvent) -> IngestOutcome:
    outcome = await asyncio.wrap_future(
        request.app.state.runner.submit(Ingest([(0, report)], request.app.state.clock(), report.device_id))
    )
    assert isinstance(outcome, IngestOutcome)
    if outcome.errors:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": "", "reason": outcome.errors[0].reason}]
        )
    return outcome


def _device_of(request: Request, person: str) -> str:
    """Her device: the app speaks for the phone or watch bound to her (a phone first)."""
    with request.app.state.db.connect() as conn:
        rows = conn.execute(
            select(t.devices.c.id, t.devices.c.kind).where(
                t.devices.c.person_id == person, t.devices.c.person_kind == PersonKind.PROTECTED_PERSON.value
            )
        ).all()
    if not rows:
        raise HTTPException(status.HTTP_409_CONFLICT, "no device is bound to this protected person")
    return str(sorted(rows, key=lambda r: (r.kind != "phone", r.id))[0].id)


@router.post("/position")
async def my_position(request: Request, here: Here, principal: Self) -> dict[str, Any]:
    """Her phone's own position (browser geolocation) while the app is open: it moves her dynamic
    zone like any fix from her device."""
    person = _herself(principal)
    device = await asyncio.to_thread(_device_of, request, person)
    now = request.app.state.clock()
    fix = Fix(device, now, here.lat, here.lon, here.accuracy_m, source=FixSource.GNSS)
    outcome = await _report(request, person, fix)
    return {"stored": outcome.stored, "alerts": outcome.alerts}


@router.post("/sos")
async def my_sos(request: Request, body: Sos, principal: Self) -> dict[str, Any]:
    """The SOS button (held for 3 seconds in the app): an sos event from her device, with her
    position when the phone knows it."""
    person = _herself(principal)
    device = await asyncio.to_thread(_device_of, request, person)
    now = request.app.state.clock()
    here = body.position
    fix = None if here is None else Fix(device, now, here.lat, here.lon, here.accuracy_m)
    outcome = await _report(request, person, DeviceEvent(device, now, EventKind.SOS, fix))
    return {"stored": outcome.stored, "alerts": outcome.alerts}
