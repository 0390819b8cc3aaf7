"""The victim app's API: her own status, what she may see of him (decided by the server, in
`domain.victim_view`), her phone's position, and her SOS. Only a protected person's own account
reaches it, and only for herself.

Whoever holds her account can post any position and read the status; nothing answered here may
tell them more about him than the view allows. Her positions are judged for plausibility by the
writer (an implausible one is kept for the record and moves no one); the answers to her posts say
nothing of the alerts they caused (those are judged on his exact position); and every answer that
showed his place is in the audit trail with hers (`victim.view`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from vigil import jurisdiction
from vigil.api import deps, trail, writer
from vigil.api.auth import identify, require
from vigil.api.deps import Wired
from vigil.api.evidence import Format, evidence_of, hand_out, period
from vigil.api.policy import Action, Scope, scope_of
from vigil.commands import Ingest, IngestOutcome
from vigil.domain import victim_view
from vigil.domain.alerts import TERMINAL, AlertKind
from vigil.domain.model import (
    DeviceEvent,
    EventKind,
    Fix,
    FixSource,
    PersonKind,
    Role,
    protected_ref,
    subject_ref,
)
from vigil.domain.victim_view import Limits, Near, Offender, Sighting, Warning
from vigil.evidence.pack import victim_pack
from vigil.evidence.report import Sealed, seal
from vigil.store import notices
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso
from vigil.tally import APP

router = APIRouter(prefix="/v1/me", tags=["victim app"])


class Here(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class Sos(BaseModel):
    position: Here | None = None


@router.get("", tags=["accounts"])
def who_am_i(request: Request, services: Wired) -> dict[str, Any]:
    """The caller's own account: id, role, for a protected person whom it speaks for, its scope
    (what it may see, as the apps' headers say it), and the account's recent notices (a new
    activation code, a device credential rotated).

    `scope.kind` is `all` (operators, auditors), `caseload` (a probation officer: `subjects`, how
    many), `evidence` (a court or prosecutor: evidence files only), `jurisdiction` (a police dispatcher: `areas`, each a code prefix with its Korean and
    English names), `assigned` (a field officer: `alerts`, how many he is sent to now), `self` (a
    protected person) or `none` (an administrator: no one's records)."""
    principal = identify(request)
    now = services.clock()
    told = notices.recent(services.db, principal.id, now)
    return {
        "id": principal.id,
        "role": principal.role.value,
        "person_id": principal.person_id,
        "scope": _scope_shown(principal, scope_of(principal, services.reader, now)),
        "notices": told,
    }


def _scope_shown(principal: Principal, scope: Scope) -> dict[str, Any]:
    """The scope the policy enforces (`policy.scope_of`), in the few words a header shows."""
    role = principal.role
    if role is Role.COURT:  # everyone's evidence, with a purpose, and nothing live
        return {"kind": "evidence"}
    if scope.everything:
        return {"kind": "all"}
    if role is Role.PROBATION_OFFICER:
        return {"kind": "caseload", "subjects": len(scope.caseload)}
    if role in (Role.POLICE_DISPATCHER, Role.POLICE_INVESTIGATOR):
        areas = []
        # a dispatcher's alerts, an investigator's cases: both by the station's areas
        for code in scope.areas or principal.areas:
            ko, en = jurisdiction.area_names(code) or (code, code)
            areas.append({"code": code, "name": ko, "name_en": en})
        return {"kind": "jurisdiction" if role is Role.POLICE_DISPATCHER else "station", "areas": areas}
    if role is Role.FIELD_OFFICER:
        return {"kind": "assigned", "alerts": len(scope.incidents)}
    if role is Role.PROTECTED_PERSON and principal.person_id is not None:
        return {"kind": "self"}
    return {"kind": "none"}


def _herself(principal: Principal) -> str:
    if principal.person_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this account is not bound to a protected person")
    return principal.person_id


Self = Annotated[Principal, Depends(require(Action.SELF))]

VIEW_ACTION = "victim.view"  # an answer that showed his place, recorded with hers


@router.get("/status")
def my_status(request: Request, services: Wired, principal: Self) -> dict[str, Any]:
    """Safe / nearby / danger, her own last position, and what she may see of each man an order
    protects her from: position and heading within the order's view, a distance band inside the
    warning distance (decided on his grid cell), nothing beyond. An answer that shows his place is
    recorded in the audit trail, with her position, before it is sent."""
    person = _herself(principal)
    now: datetime = services.clock()
    db = services.db
    with db.connect() as conn:
        orders = conn.execute(
            select(t.orders).where(t.orders.c.protected_person_id == person, t.orders.c.ended_at.is_(None))
        ).all()
        open_alerts = conn.execute(
            select(t.alerts.c.kind, t.alerts.c.order_id).where(
                t.alerts.c.protected_person_id == person,
                t.alerts.c.state.not_in([s.value for s in TERMINAL]),
                t.alerts.c.active.is_(True),
            )
        ).all()
    sos = any(a.kind == AlertKind.SOS.value for a in open_alerts)
    violated = {a.order_id for a in open_alerts if a.kind == AlertKind.PROXIMITY_VIOLATION.value}
    orders = [
        o
        for o in orders
        if (o.valid_from is None or o.valid_from <= now) and (o.valid_until is None or now < o.valid_until)
    ]
    reader = services.reader
    people = [protected_ref(person), *{subject_ref(o.subject_id) for o in orders}]
    latest: dict[str, Sighting] = {}
    for row in reader.latest_positions(people):
        seen = Sighting(
            row["lat"], row["lon"], row["time"], row["accuracy_m"], row["heading_deg"], row["speed_mps"]
        )
        if row["person_id"] not in latest or latest[row["person_id"]].time < seen.time:
            latest[row["person_id"]] = seen
    her = latest.get(person)
    told = victim_view.answer(
        her,
        [
            Offender(
                latest.get(o.subject_id),
                Limits(o.violation_distance_m, o.warning_distance_m, o.victim_view_m),
                violation_open=o.id in violated,
            )
            for o in orders
        ],
        sos_open=sos,
        now=now,
    )
    offenders: list[dict[str, Any]] = []
    shown_place: list[dict[str, Any]] = []
    for order, shown in zip(orders, told.views, strict=True):
        if isinstance(shown, Near):
            shown_place.append(
                {"order": order.id, "subject": order.subject_id, "distance_m": shown.distance_m}
            )
            offenders.append(
                {"band": "near", "distance_m": shown.distance_m, "lat": shown.lat, "lon": shown.lon,
                 "bearing_deg": shown.bearing_deg, "compass": shown.compass, "heading_deg": shown.heading_deg,
                 "speed_mps": shown.speed_mps, "age_s": round(shown.age_s), "danger": shown.danger}
            )  # fmt: skip
        elif isinstance(shown, Warning):
            offenders.append({"band": "warning", "from_m": shown.band_from_m, "to_m": shown.band_to_m})
    own = None
    if her is not None:
        own = {"lat": her.lat, "lon": her.lon, "accuracy_m": her.accuracy_m, "time": iso(her.time)}
    if shown_place:
        # His place is about to leave the server: on the record first, with where she was.
        trail.record_sync(
            request,
            trail.entry(request, principal.id, principal.role.value, VIEW_ACTION, her=own, shown=shown_place),
        )
    notes = notices.recent(db, principal.id, now)  # what was done to her account (store/notices.py)
    return {"status": told.status.value, "own": own, "offenders": offenders, "at": iso(now), "notices": notes}


async def _report(request: Request, person: str, report: Fix | DeviceEvent) -> IngestOutcome:
    # vet: her positions are judged for plausibility by the writer, against her believed ones
    services = deps.services(request)
    command = Ingest([(0, report)], services.clock(), report.device_id, vet=True)
    try:
        outcome = await writer.run(request, command)
    except Exception:
        services.traffic.lost(APP, 1)
        raise
    services.traffic.took(APP, 1, outcome)
    if outcome.errors:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": "", "reason": outcome.errors[0].reason}]
        )
    return outcome


def _device_of(request: Request, person: str) -> str:
    """Her device: the app speaks for the phone or watch bound to her (a phone first)."""
    with deps.services(request).db.connect() as conn:
        rows = conn.execute(
            select(t.devices.c.id, t.devices.c.kind).where(
                t.devices.c.person_id == person, t.devices.c.person_kind == PersonKind.PROTECTED_PERSON.value
            )
        ).all()
    if not rows:
        raise HTTPException(status.HTTP_409_CONFLICT, "no device is bound to this protected person")
    return str(sorted(rows, key=lambda r: (r.kind != "phone", r.id))[0].id)


@router.post("/position")
async def my_position(request: Request, services: Wired, here: Here, principal: Self) -> dict[str, Any]:
    """Her phone's own position (browser geolocation) while the app is open: it moves her dynamic
    zone like any fix from her device, once judged plausible against her believed positions (an
    implausible one is stored for the record and moves nothing). The answer says only that it was
    stored: not whether it was believed, nor the alerts it caused (they are judged on his exact
    position). Rate limited per account (`rate_my_position_*`)."""
    person = _herself(principal)
    device = await asyncio.to_thread(_device_of, request, person)
    now = services.clock()
    fix = Fix(device, now, here.lat, here.lon, here.accuracy_m, source=FixSource.GNSS)
    outcome = await _report(request, person, fix)
    return {"stored": outcome.stored}


@router.post("/sos")
async def my_sos(request: Request, services: Wired, body: Sos, principal: Self) -> dict[str, Any]:
    """The SOS button (held for 3 seconds in the app): an sos event from her device, with her
    position when the phone knows it. The SOS always raises its alert; only its position may be
    doubted (then the alert places her where she was last believed to be). The answer does not
    count the alerts it caused, for the reason `my_position` gives."""
    person = _herself(principal)
    device = await asyncio.to_thread(_device_of, request, person)
    now = services.clock()
    here = body.position
    fix = None if here is None else Fix(device, now, here.lat, here.lon, here.accuracy_m)
    outcome = await _report(request, person, DeviceEvent(device, now, EventKind.SOS, fix))
    return {"stored": outcome.stored, "sos": "raised"}


def _pack(request: Request, person: str, since: datetime, until: datetime, by: str) -> Sealed:
    full = evidence_of(request, person, since, until, by)
    if full is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such protected person")
    return seal(victim_pack(full))


@router.get("/evidence")
async def my_evidence(
    request: Request,
    principal: Self,
    since: Annotated[AwareDatetime, Query(alias="from", description="start, with a time zone")],
    until: Annotated[AwareDatetime, Query(description="end, with a time zone (at most a year on)")],
    format: Format = "pdf",
) -> Response:
    """Her evidence pack for a petition to a court: every approach and alert that concerned her over
    the period (when, the closest distance as her app shows distances, how long, and what the
    control centre and police did and when), as PDF or as JSON sealed with its SHA-256 like every
    evidence file, and recorded as issued so a court can check it (`POST /v1/evidence/verify`). It
    shows nothing of his whereabouts her app could not show her: no position, track or zone of his,
    distances beyond her view only as the band (`evidence/pack.py`). Her own only; rate limited per
    account (`rate_my_evidence_*`). A court's full version (both tracks) is
    `GET /v1/protected-persons/{id}/evidence`."""
    person = _herself(principal)
    period(since, until)
    sealed = await asyncio.to_thread(_pack, request, person, since, until, principal.id)
    return await hand_out(
        request, sealed, format, principal.id, f"evidence-pack-{since.date()}-{until.date()}"
    )
