"""Dispatch over REST: the targets alerts are pushed to, the signed way back for their reports, and
the delivery state of every push."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
)
from sqlalchemy import Connection, func, select

from vigil.api import deps, trail, writer
from vigil.api.auth import require
from vigil.api.bodies import ID_PATTERN, Ident
from vigil.api.deps import Wired
from vigil.api.ingest import read_body
from vigil.api.policy import Action, Record
from vigil.api.registry import refused, write
from vigil.commands import Callback, Touched
from vigil.dispatch import signing
from vigil.dispatch.dossier import Agency
from vigil.dispatch.reports import Outcome, Status
from vigil.dispatch.routing import INTERNAL, Target
from vigil.dispatch.targets import ENV_TARGET, put_target, target_json
from vigil.domain.alerts import AlertKind
from vigil.store import tables as t
from vigil.store.codec import iso, reject_constant

router = APIRouter(prefix="/v1", tags=["dispatch"])


def _printable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no dispatch system means one: refuse it at the edge. A
    # lone surrogate (a JSON escape such as "\ud800" that names no character) is no text either: no
    # store can encode it, and the whole batch it was written in would fail. The signed callbacks
    # check their own bodies (the edge's body checks leave them alone), so this is where it is caught.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_printable)]
TARGET_ID = re.compile(ID_PATTERN)


def _all_formats() -> list[Literal["cap", "eido"]]:
    return ["cap", "eido"]


class TargetIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    url: HttpUrl = Field(description="where pushes are POSTed (https in production)")
    secret: str | None = Field(
        default=None, description="whsec_<base64>; made by the server (and shown once) when absent"
    )
    agency: Agency = Field(description="police, probation, or any (both legs of the response)")
    codes: list[Annotated[str, Field(pattern=r"^\d{2,5}$")]] = Field(
        default_factory=list,
        max_length=500,
        description="municipality code prefixes served ('11' is all of Seoul); empty serves everywhere",
    )
    formats: list[Literal["cap", "eido"]] = Field(default_factory=_all_formats)
    kinds: list[AlertKind] | None = Field(default=None, description="alert kinds taken; null is all")
    priority: int = Field(default=1, ge=1, le=100, description="1 is told first; higher on escalation")
    enabled: bool = True

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not signing.valid_secret(value):
            raise ValueError("must be whsec_ followed by at least 16 bytes in base64")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[AlertKind] | None) -> list[AlertKind] | None:
        if value is not None and any(k in INTERNAL for k in value):
            internal = ", ".join(sorted(INTERNAL))
            raise ValueError(f"{internal} alarms are for the control centre and are never pushed")
        return value


class CallbackIn(BaseModel):
    """A dispatch system's report about an alert Vigil pushed to it."""

    alert: Text = Field(min_length=1, max_length=64, description="the alert id (the CloudEvent subject)")
    status: Status
    reason: Text = Field(default="", max_length=2000, description="why, when rejected")
    units: list[Annotated[Text, Field(max_length=100)]] = Field(default_factory=list, max_length=50)
    outcome: Outcome | None = Field(default=None, description="when closed: resolved or false_alarm")
    note: Text = Field(default="", max_length=2000)
    at: AwareDatetime | None = Field(default=None, description="when it happened on their side")
    incident: Text = Field(default="", max_length=200, description="their own incident reference")


# --- targets ----------------------------------------------------------------------------------------


@router.get("/dispatch/targets")
def list_targets(
    services: Wired, _: Annotated[Any, Depends(require(Action.TARGETS_READ))]
) -> list[dict[str, Any]]:
    """Every dispatch target, enabled or not (never their secrets)."""
    with services.db.connect() as conn:
        return [
            target_json(r) for r in conn.execute(select(t.dispatch_targets).order_by(t.dispatch_targets.c.id))
        ]


@router.put("/dispatch/targets/{target_id}")
async def put_dispatch_target(
    request: Request,
    services: Wired,
    response: Response,
    target_id: Ident,
    body: TargetIn,
    _: Annotated[Any, Depends(require(Action.TARGETS_MANAGE))],
) -> dict[str, Any]:
    """Create or replace a target (201 when created). The secret is shown only when the server made it."""
    if target_id == ENV_TARGET:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "this target is set by VIGIL_DISPATCH_URL; change it there"
        )
    secret = body.secret
    made = secret is None
    if secret is None:
        with services.db.connect() as conn:
            row = conn.execute(
                select(t.dispatch_targets.c.secret).where(t.dispatch_targets.c.id == target_id)
            ).first()
        made = row is None
        secret = signing.new_secret() if row is None else row.secret
    target = Target(
        id=target_id,
        name=body.name,
        url=str(body.url),
        secret=secret,
        agency=body.agency,
        codes=frozenset(body.codes),
        formats=frozenset(body.formats),
        kinds=None if body.kinds is None else frozenset(body.kinds),
        priority=body.priority,
        enabled=body.enabled,
    )

    def apply(conn: Connection, now: Any) -> Touched:
        return Touched(result=put_target(conn, target, now, "disabled by an administrator"))

    created = await write(request, apply)
    services.deliverer.refresh()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    with services.db.connect() as conn:
        row = conn.execute(select(t.dispatch_targets).where(t.dispatch_targets.c.id == target_id)).one()
    shown = target_json(row)
    if made:
        shown["secret"] = secret  # once: only a hash-free copy lives in the database, for signing
    return shown


# A push waiting longer than this is the outbox backing up: the operators' panel says so.
OUTBOX_ALARM_S = 60.0


@router.get("/dispatch/status")
def dispatch_status(
    services: Wired, _: Annotated[Any, Depends(require(Action.TARGETS_READ))]
) -> dict[str, Any]:
    """For the operators' panel: pushes waiting, the oldest of them, and targets switched off."""
    with services.db.connect() as conn:
        waiting = conn.execute(
            select(func.count(), func.min(t.deliveries.c.created_at)).where(t.deliveries.c.state == "pending")
        ).one()
        failing = conn.execute(
            select(t.deliveries.c.target_id, func.count())
            .where(t.deliveries.c.state == "pending", t.deliveries.c.attempts > 0)
            .group_by(t.deliveries.c.target_id)
        ).all()
        disabled = conn.execute(
            select(t.dispatch_targets.c.id, t.dispatch_targets.c.disabled_reason).where(
                t.dispatch_targets.c.enabled.is_(False)
            )
        ).all()
    alarms: list[dict[str, Any]] = []
    oldest = waiting[1]
    if oldest is not None:
        waited = (services.clock() - oldest).total_seconds()
        if waited > OUTBOX_ALARM_S:
            alarms.append(
                {
                    "kind": "outbox_backlog",
                    "detail": f"{waiting[0]} pushes waiting, the oldest for {waited:.0f} s",
                }
            )
    body: dict[str, Any] = {
        "pending": waiting[0],
        "oldest_pending": iso(oldest) if oldest is not None else None,
        "retrying_by_target": {target: count for target, count in failing},
        "disabled_targets": [{"id": i, "reason": r} for i, r in disabled],
    }
    if services.cluster is not None:  # cluster mode: the workers and the log, as this edge sees them
        cluster = services.cluster.status.as_json()
        alarms += cluster["alarms"]
        body["cluster"] = cluster
    body["alarms"] = alarms
    return body


@router.get("/alerts/{alert_id}/deliveries", tags=["alerts"])
def alert_deliveries(
    request: Request, alert_id: str, _: Annotated[Any, Depends(require(Action.ALERTS_READ, on=Record.ALERT))]
) -> list[dict[str, Any]]:
    """Every push about one alert and where it stands, per target."""
    return deliveries_of(request, alert_id)


def deliveries_of(request: Request, alert_id: str) -> list[dict[str, Any]]:
    query = (
        select(
            t.deliveries,
            t.dispatch_events.c.sequence,
            t.dispatch_events.c.push_type,
            t.dispatch_events.c.escalation,
        )
        .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
        .where(t.deliveries.c.alert_id == alert_id)
        .order_by(t.deliveries.c.id)
    )
    with deps.services(request).db.connect() as conn:
        return [
            {
                "event": r.event_id,
                "target": r.target_id,
                "sequence": r.sequence,
                "type": r.push_type,
                "escalation": r.escalation,
                "state": r.state,
                "attempts": r.attempts,
                "created_at": iso(r.created_at),
                "last_attempt_at": iso(r.last_attempt_at),
                "last_status": r.last_status,
                "last_error": r.last_error,
                "delivered_at": iso(r.delivered_at),
                "acknowledged_at": iso(r.acked_at),
                "escalated_at": iso(r.escalated_at),
                "alarmed_at": iso(r.alarmed_at),
            }
            for r in conn.execute(query)
        ]


# --- the way back -----------------------------------------------------------------------------------


@router.post("/dispatch/callbacks/{target_id}", tags=["dispatch"])
async def dispatch_callback(request: Request, services: Wired, target_id: str) -> dict[str, Any]:
    """A dispatch system reports on an alert: received, accepted, rejected (with a reason), units
    assigned, en route, on scene, closed (with an outcome). Signed with Standard Webhooks using the
    target's own secret; a retried report (same webhook-id) is recorded once. 401 for a bad or old
    signature or an unknown target, 400 for a body that is not usable JSON, 404 for an unknown alert,
    409 for a report the alert's history does not allow, 422 for a bad body. Nothing changes unless it
    is accepted."""
    row = None
    if TARGET_ID.fullmatch(target_id):
        with services.db.connect() as conn:
            row = conn.execute(
                select(t.dispatch_targets.c.secret, t.dispatch_targets.c.enabled).where(
                    t.dispatch_targets.c.id == target_id
                )
            ).first()
    if row is None:  # refused like a bad signature: the answer must not tell which targets exist
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "signature refused: unknown dispatch target")
    raw = await read_body(request)
    try:
        callback_id = signing.verify(row.secret, request.headers, raw, services.clock())
    except signing.BadSignature as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"signature refused: {exc}") from None
    await trail.record(
        request, trail.entry(request, f"dispatch:{target_id}", "dispatch_system", "dispatch.callback")
    )
    if not row.enabled:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this dispatch target is disabled")
    try:
        data = json.loads(raw, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:  # bad JSON, NaN, absurd nesting or numbers
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"the body is not usable JSON: {exc}"[:300]
        ) from None
    try:
        body = CallbackIn.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    if body.status is Status.REJECTED and not body.reason.strip():
        raise refused("reason", "a rejection needs a reason")
    if body.status is Status.UNITS_ASSIGNED and not body.units:
        raise refused("units", "name at least one unit")
    if body.status is Status.CLOSED and body.outcome is None:
        raise refused("outcome", "closed needs an outcome: resolved or false_alarm")
    note = "; ".join(
        part
        for part in (
            body.reason,
            ("units " + ", ".join(body.units)) if body.units else "",
            body.outcome.value if body.outcome else "",
            f"their ref {body.incident}" if body.incident else "",
            body.note,
        )
        if part
    )
    command = Callback(target_id, callback_id, body.alert, body.status, body.outcome, note, data)
    result = await writer.run(request, command)  # 404 for no such alert, 409 for a report out of turn
    return {"alert": result.alert_id, "state": result.state, "duplicate": result.duplicate}
