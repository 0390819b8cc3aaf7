"""Incidents: the alerts of one danger (domain/incidents.py), for the control centre's queue and for
the field units sent to them.

Staff (whoever may read alerts) list incidents at `/v1/incidents`, latest escalation first, and read
one at `/v1/incidents/{id}`: scoped exactly like alerts (an incident is seen by whoever sees one of
its alerts, and shows only the alerts they see), 403 outside the caller's scope.

The same `GET /v1/incidents/{id}` is the live view behind a live-track link: for the unit or dispatch
target the link was issued to, where the offender is now (with his last 30 minutes) and where the
victim is, while the link lives (not revoked, not expired, and at most 15 minutes after the incident
closes). A call with a link's token (`?token=inc_...`, no Authorization header) is a link holder's;
any other is staff's. A link opens its own incident and nothing else (a link issued before incidents
opens its one alert, by the alert's id, as it always did), and every use is audited under its holder.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Connection, delete, insert, select, update

from vigil.api import deps, trail, writer
from vigil.api.auth import require, scope
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record
from vigil.api.positions import _Row
from vigil.api.registry import write
from vigil.api.views import alert_json, position_feature
from vigil.commands import Conflict, Move, NotFound, Refusal, Touched
from vigil.dispatch import links
from vigil.domain.alerts import TERMINAL, Alert, AlertChange, AlertKind, AlertState, Severity
from vigil.domain.incidents import weight
from vigil.domain.model import PersonKind, PersonRef
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso
from vigil.store.reader import IncidentSearch
from vigil.store.registry import fix_from_row

router = APIRouter(prefix="/v1", tags=["incidents"])

GRACE = links.GRACE  # units still on their way when the alert is closed can finish the job
TRACK = timedelta(minutes=30)
INVALID = "this link is not valid for this incident"


def _link_holder(request: Request, incident_id: str, token: str = "") -> links.Link:
    return link_holder(request, incident_id, token)


def link_holder(request: Request, incident_id: str, token: str, what: str | None = None) -> links.Link:
    """A dependency, so a bad link is refused before the body is even looked at: 401 for a token
    that is not a live link of this incident (unknown, another incident's, revoked, expired, its
    unit no longer sent), 410 for one whose incident closed more than GRACE ago. Every use of a real
    link, refused or not, is audited under its holder with the link's id, before anything is served."""
    with deps.services(request).db.connect() as conn:
        link = links.find(conn, token)
        if link is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID)
        refusal = _refusal(request, conn, link, incident_id)
    detail: dict[str, Any] = {"alert": incident_id, "link": link.id, "holder_kind": link.holder_kind.value}
    if what is not None:
        detail["read"] = what  # a part of the incident read on its own (the subject's profile)
    if link.incident_id is not None:
        detail["incident"] = link.incident_id  # `alert` is the id in the path, as before incidents
    detail |= {"allowed": False, "refused": refusal[1]} if refusal else {"allowed": True}
    role = "field_unit" if link.holder_kind is links.Holder.UNIT else "dispatch_unit"
    trail.record_sync(request, trail.entry(request, link.actor, role, "incident", **detail))
    if refusal is not None:
        raise HTTPException(*refusal)
    return link


def _refusal(
    request: Request, conn: Connection, link: links.Link, incident_id: str
) -> tuple[int, str] | None:
    """Why this link may not open this incident now (status, reason), or None: it may. A link opens
    its own incident only: by the incident's id (its URL), or by the id of the alert it was issued for
    (the form of links before incidents, which stay valid for their one alert)."""
    if incident_id not in (link.opens, link.alert_id):
        return status.HTTP_401_UNAUTHORIZED, INVALID
    if link.revoked_at is not None:
        return status.HTTP_401_UNAUTHORIZED, "this link has been revoked"
    services = deps.services(request)
    now, reader = services.clock(), services.reader
    if link.incident_id is not None:
        row = reader.incident(link.incident_id)
        closed_at = None if row is None or row.open else row.closed_at
    else:
        alert = reader.alert(link.alert_id)
        closed_at = alert.updated_at if alert is not None and alert.state in TERMINAL else None
    if closed_at is not None and (now >= link.expires_at or now - closed_at > GRACE):
        return status.HTTP_410_GONE, "the incident is closed; this link has expired"
    if now >= link.expires_at:
        return status.HTTP_401_UNAUTHORIZED, "this link has expired"
    if not links.holder_on_duty(conn, link):
        return status.HTTP_401_UNAUTHORIZED, "the unit this link was issued to is no longer on this incident"
    return None


Holding = Annotated[links.Link, Depends(_link_holder)]


def _link_call(request: Request) -> bool:
    """A link holder's call: a link's token in the query and no Authorization header."""
    token = request.query_params.get("token", "")
    return "authorization" not in request.headers and token.startswith(links.PREFIX)


@router.get("/incidents")
def list_incidents(
    request: Request,
    services: Wired,
    _: Annotated[Any, Depends(require(Action.ALERTS_READ))],
    state: Literal["open", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    q: Annotated[
        str,
        Query(
            max_length=100,
            description="part of a radio number, an incident's or alert's id, a party's id or name",
        ),
    ] = "",
    person: Annotated[str, Query(max_length=64, description="a party's exact id")] = "",
    area: Annotated[
        str,
        Query(pattern=r"^\d{2,10}$", description="a municipality code or its prefix (11: Seoul)"),
    ] = "",
    kind: Annotated[AlertKind | None, Query(description="one of its alerts is of this kind")] = None,
    severity: Annotated[Severity | None, Query(description="the incident's severity")] = None,
) -> list[dict[str, Any]]:
    """The incidents the caller may see (those with an alert in their caseload, jurisdictions or
    assignments; operators: all), latest escalation first, each with the alerts of it they may see.
    By default only open ones (an incident is open until people have closed all its alerts).

    Narrowed by the queue's search and filters, every one given having to match, always inside the
    caller's scope: `q` (a protected person's name only for those who may see protected persons'
    records: not probation officers), `person`, `area`, `kind`, `severity`. A bad value is a 422
    naming the parameter."""
    seen = scope(request)
    within = seen.alert_filter()
    search = IncidentSearch(
        text=q.strip(),
        person=person.strip(),
        area=area,
        kind=kind.value if kind is not None else "",
        severity=severity.value if severity is not None else "",
        victim_names=seen.everything or seen.by_alerts,
    )
    reader = services.reader
    rows = reader.incidents(state=state, limit=limit, within=within, search=search)
    alerts = reader.incident_alerts([r.id for r in rows], within)
    claims = reader.claims([r.id for r in rows])
    by_incident: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_incident.setdefault(alert.incident_id or "", []).append(alert)
    return [incident_json(r, by_incident.get(r.id, []), claims.get(r.id)) for r in rows]


@router.get("/incidents/{incident_id}")
def incident(request: Request, incident_id: str) -> dict[str, Any]:
    """For staff: the incident, the alerts of it they may see with their latest facts, and its
    timeline (every change of those alerts, oldest first); an alert's id names its incident. 403
    outside the caller's scope, 404 for no such incident.

    For the unit holding its live-track link (`?token=`): the incident, its gravest open alert
    (`alert`), the offender's live position and track, the victim's position. 401 without a live
    link of this incident; 410 once it has been closed a while."""
    if _link_call(request):
        link = _link_holder(request, incident_id, request.query_params["token"])
        return _field_view(request, link)
    require(Action.ALERTS_READ, on=Record.INCIDENT)(request)
    return _staff_view(request, incident_id)


def _staff_view(request: Request, ident: str) -> dict[str, Any]:
    reader = deps.services(request).reader
    row = reader.incident(ident)
    if row is None:
        alert = reader.alert(ident)
        row = reader.incident(alert.incident_id) if alert is not None and alert.incident_id else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    alerts = reader.incident_alerts([row.id], scope(request).alert_filter())
    timeline = sorted(
        (
            {"alert": a.id, "change": r["change"], "at": iso(r["at"]), "actor": r["actor"],
             "note": r["note"], "kind": r["kind"], "state": r["state"], "active": r["active"],
             "_order": (r["at"], r["id"])}
            for a in alerts
            for r in reader.timeline(a.id)
        ),
        key=lambda entry: entry["_order"],
    )  # fmt: skip
    for entry in timeline:
        del entry["_order"]
    claim = reader.claims([row.id]).get(row.id)
    return {**incident_json(row, alerts, claim), "timeline": timeline}


def claim_json(claim: Any | None) -> dict[str, Any] | None:
    if claim is None:
        return None
    return {"user": claim.user_id, "role": claim.role, "at": iso(claim.claimed_at)}


def incident_json(row: Any, alerts: list[Alert], claim: Any | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "kind": row.kind,
        "severity": row.severity,
        "open": bool(row.open),
        "subject": row.subject_id,
        "protected_person": row.protected_person_id,
        "opened_at": iso(row.opened_at),
        "escalated_at": iso(row.escalated_at),
        "updated_at": iso(row.updated_at),
        "closed_at": iso(row.closed_at) if row.closed_at is not None else None,
        "alerts": [alert_json(a) for a in alerts],
        "claim": claim_json(claim),
    }


def _gravest(alerts: list[Alert]) -> Alert:
    """The alert a field unit is shown first: the gravest still open, else the last closed."""
    live = [a for a in alerts if a.state not in TERMINAL]
    if live:
        return max(live, key=lambda a: (weight(a.kind), a.updated_at))
    return max(alerts, key=lambda a: a.updated_at)


def _field_view(request: Request, link: links.Link) -> dict[str, Any]:
    services = deps.services(request)
    reader = services.reader
    row = reader.incident(link.incident_id) if link.incident_id is not None else None
    alerts = reader.incident_alerts([row.id]) if row is not None else []
    if not alerts:
        one = reader.alert(link.alert_id)
        if one is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
        alerts = [one]
    alert = _gravest(alerts)
    now = services.clock()
    subject, protected = _parties(reader, row, alerts, alert)
    parties: dict[str, Any] = {}
    for role, person in (("subject", subject), ("protected_person", protected)):
        if person is None:
            continue
        rows = reader.track(PersonRef(PersonKind(role), person), now - TRACK, None, 2000)
        features = [position_feature(person, role, fix_from_row(_Row(r))) for r in rows]
        parties[role] = {
            "id": person,
            "position": features[-1] if features else None,
            "track": {"type": "FeatureCollection", "features": features} if role == "subject" else None,
        }
    body: dict[str, Any] = {"alert": alert_json(alert), **parties}
    if row is not None:
        body["incident"] = incident_json(row, alerts)
    return body


def _parties(reader: Any, row: Any, alerts: list[Alert], alert: Alert) -> tuple[str | None, str | None]:
    """The subject and the protected person a link's unit is shown."""
    subject = (row.subject_id if row is not None else None) or next(
        (a.subject_id for a in alerts if a.subject_id), None
    )
    protected = (row.protected_person_id if row is not None else None) or alert.protected_person_id
    if subject is None and protected is not None:
        # Her SOS names only her; the units going to her must see the man her order keeps away.
        subject = next(iter(reader.subjects_of(protected)), None)
    return subject, protected


def field_subject(request: Request, link: links.Link) -> str | None:
    """The subject the unit holding `link` is sent to find (as its live view shows him), or None."""
    reader = deps.services(request).reader
    row = reader.incident(link.incident_id) if link.incident_id is not None else None
    alerts = reader.incident_alerts([row.id]) if row is not None else []
    if not alerts:
        one = reader.alert(link.alert_id)
        if one is None:
            return None
        alerts = [one]
    return _parties(reader, row, alerts, _gravest(alerts))[0]


class FieldStep(BaseModel):
    status: Literal["en_route", "on_scene", "closed"]
    outcome: Literal["resolved", "false_alarm"] = "resolved"
    note: str = Field(default="", max_length=2000)


_FIELD_STATE = {"en_route": AlertState.DISPATCHED, "on_scene": AlertState.ON_SCENE}


@router.post("/incidents/{incident_id}/status")
async def field_status(
    request: Request, services: Wired, incident_id: str, step: FieldStep, link: Holding
) -> dict[str, Any]:
    """The field terminal's buttons: en route, on scene, closed (with an outcome), for every open
    alert of the incident. Forward only: 409 for a step the incident has passed, 410 once it is
    closed."""
    target = _FIELD_STATE.get(step.status) or AlertState(step.outcome)
    note = " ".join(p for p in (f"field unit: {step.status}", step.note) if p)
    reader = services.reader
    if link.incident_id is not None:
        alerts = await asyncio.to_thread(reader.incident_alerts, [link.incident_id])
        ids = [a.id for a in alerts if a.state not in TERMINAL]
        if not ids:
            raise HTTPException(status.HTTP_410_GONE, "the incident is closed")
    else:
        ids = [link.alert_id]
    moved: list[AlertChange] = []
    refusals: list[Refusal] = []
    for alert_id in ids:
        try:
            moved.append(await writer.run(request, Move(alert_id, target, actor=link.actor, note=note)))
        except Refusal as refusal:
            refusals.append(refusal)
    if not moved:
        failed = refusals[0]
        known = await asyncio.to_thread(reader.alert, ids[0])
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
        if known.state in TERMINAL:
            raise HTTPException(status.HTTP_410_GONE, "the incident is closed")
        raise HTTPException(status.HTTP_409_CONFLICT, str(failed))
    return {"state": moved[-1].alert.state.value}


# --- claims: which operator is working an incident ---------------------------------------------------


class ClaimStep(BaseModel):
    take_over: bool = Field(
        default=False,
        description="take the incident from the operator who holds it (409 without it when another does)",
    )


Claimer = Annotated[Principal, Depends(require(Action.INCIDENTS_CLAIM, on=Record.INCIDENT))]


@router.post("/incidents/{incident_id}/claim")
async def claim(
    request: Request, incident_id: str, principal: Claimer, step: ClaimStep | None = None
) -> dict[str, Any]:
    """Say "I am working this incident": everyone sees the claim in the queue and the incident. An
    incident another operator holds is refused (409, naming `take_over`) unless `take_over` is true,
    which moves the claim to the caller; both are in the trail with the one they were taken from.
    Claiming one's own claim again keeps its time. 404 for no such incident, 409 once it is closed
    (a claim ends with its incident). Refused (403) outside the caller's scope, like reading it."""
    take_over = step is not None and step.take_over
    incident_id = _incident_of(request, incident_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        held = _claim_row(conn, incident_id)
        if held is not None and held.user_id == principal.id:
            return Touched(result=(held, None, False))
        if held is not None and not take_over:
            raise Conflict(f"{held.user_id} is working this incident; take it over to work it", "take_over")
        row = {"user_id": principal.id, "role": principal.role.value, "claimed_at": now}
        c = t.incident_claims.c
        if held is None:
            conn.execute(insert(t.incident_claims).values(incident_id=incident_id, **row))
        else:
            conn.execute(update(t.incident_claims).where(c.incident_id == incident_id).values(**row))
        return Touched(
            result=(_claim_row(conn, incident_id), held.user_id if held is not None else None, True)
        )

    now_held, taken_from, changed = await write(request, apply)
    if changed:
        detail: dict[str, Any] = {"incident": incident_id, "claim": "taken_over" if taken_from else "claimed"}
        if taken_from is not None:
            detail["taken_from"] = taken_from
        await trail.record(
            request, trail.entry(request, principal.id, principal.role.value, "incident.claim", **detail)
        )
    return {"incident": incident_id, "claim": claim_json(now_held)}


@router.delete("/incidents/{incident_id}/claim")
async def release(request: Request, incident_id: str, principal: Claimer) -> dict[str, Any]:
    """Stop working this incident: the caller's claim is removed (nothing happens when there is
    none). 409 for a claim another operator holds (take it over first). 404 for no such incident."""
    incident_id = _incident_of(request, incident_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        held = _claim_row(conn, incident_id, closed_too=True)
        if held is None:
            return Touched(result=False)
        if held.user_id != principal.id:
            raise Conflict(f"{held.user_id} is working this incident; only they may release it")
        conn.execute(delete(t.incident_claims).where(t.incident_claims.c.incident_id == incident_id))
        return Touched(result=True)

    if await write(request, apply):
        detail = {"incident": incident_id, "claim": "released"}
        await trail.record(
            request, trail.entry(request, principal.id, principal.role.value, "incident.claim", **detail)
        )
    return {"incident": incident_id, "claim": None}


def _incident_of(request: Request, ident: str) -> str:
    """The incident an id names: its own, or (as in the incident's view) one of its alerts'."""
    reader = deps.services(request).reader
    if reader.incident(ident) is None:
        alert = reader.alert(ident)
        if alert is not None and alert.incident_id:
            return alert.incident_id
    return ident


def _claim_row(conn: Connection, incident_id: str, *, closed_too: bool = False) -> Any | None:
    """The claim on this incident; NotFound for no such incident, Conflict for a closed one (its
    claim is over) unless `closed_too`."""
    is_open = conn.execute(select(t.incidents.c.open).where(t.incidents.c.id == incident_id)).scalar()
    if is_open is None:
        raise NotFound("no such incident")
    if not is_open and not closed_too:
        raise Conflict("the incident is closed: its claim ended with it")
    c = t.incident_claims.c
    row = conn.execute(select(t.incident_claims).where(c.incident_id == incident_id)).first()
    return row if is_open else None
