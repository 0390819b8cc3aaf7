"""Evidence and retention over REST: the breach report of an alert (JSON with its SHA-256, or PDF) and
legal holds that keep history from the retention purge."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import Connection, insert, select, update

from vigil.api import deps
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record
from vigil.api.registry import write
from vigil.api.trail import require_purpose
from vigil.commands import Conflict, Refused, Touched
from vigil.evidence import pdf
from vigil.evidence.report import Sealed, alert_evidence, seal
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["evidence"])
EvidenceReader = Annotated[Principal, Depends(require(Action.EVIDENCE_READ, on=Record.ALERT))]
HoldKeeper = Annotated[Principal, Depends(require(Action.LEGAL_HOLD))]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HASH_HEADER = "X-Content-SHA256"


# --- the breach report ----------------------------------------------------------------------------


def _sealed(request: Request, alert_id: str, by: str) -> Sealed | None:
    services = deps.services(request)
    with services.db.connect() as conn:
        evidence = alert_evidence(conn, alert_id, generated_at=services.clock(), generated_by=by)
    return None if evidence is None else seal(evidence)


@router.get("/alerts/{alert_id}/evidence")
async def alert_evidence_export(
    request: Request,
    alert_id: str,
    principal: EvidenceReader,
    format: Annotated[Literal["json", "pdf"], Query(description="json (canonical, hashed) or pdf")] = "json",
) -> Response:
    """The breach report of one alert for a court: the alert and its timeline, both parties' tracks
    and device events in its window (30 min either side), dispatch deliveries and reports back, the
    order and its zones. JSON: `{"evidence": …, "sha256": …}` where the hash is over the canonical
    bytes of `evidence` (sorted keys, no spaces, UTF-8), also in the X-Content-SHA256 header. PDF:
    the same evidence, with that hash on every page. An export: it needs a purpose (`purpose` and
    `reason`), recorded in the audit trail."""
    require_purpose(request)
    sealed = await asyncio.to_thread(_sealed, request, alert_id, principal.id)
    if sealed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    headers = {HASH_HEADER: sealed.sha256, "Cache-Control": "no-store"}
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in alert_id)
    if format == "pdf":
        body = await asyncio.to_thread(pdf.render, sealed)
        headers["Content-Disposition"] = f'attachment; filename="evidence-{safe}.pdf"'
        return Response(body, media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="evidence-{safe}.json"'
    return Response(sealed.envelope(), media_type="application/json", headers=headers)


# --- legal holds ----------------------------------------------------------------------------------


class LegalHoldIn(BaseModel):
    person_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="a subject or protected person; null holds everyone's history"
    )
    held_from: AwareDatetime = Field(description="start of the held window")
    held_until: AwareDatetime | None = Field(default=None, description="end of it; null: open-ended")
    reason: str = Field(min_length=1, max_length=2000, description="e.g. the court's or prosecutor's request")

    @field_validator("held_until")
    @classmethod
    def _until_after_from(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("held_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be after held_from")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


def _hold_json(row: Any) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


def _person_exists(conn: Connection, person_id: str) -> bool:
    for table in (t.subjects, t.protected_persons):
        if conn.execute(select(table.c.id).where(table.c.id == person_id)).first() is not None:
            return True
    return False


@router.post("/legal-holds", status_code=status.HTTP_201_CREATED)
async def create_legal_hold(request: Request, body: LegalHoldIn, principal: HoldKeeper) -> dict[str, Any]:
    """Place a legal hold: the person's history (everyone's, with no person) in the window is kept
    from the retention purge until the hold is released."""
    hold_id = f"lh-{uuid.uuid4().hex[:16]}"

    def apply(conn: Connection, now: datetime) -> Touched:
        if body.person_id is not None and not _person_exists(conn, body.person_id):
            raise Refused("person_id", f"no subject or protected person {body.person_id!r}")
        conn.execute(
            insert(t.legal_holds).values(
                id=hold_id,
                person_id=body.person_id,
                held_from=body.held_from,
                held_until=body.held_until,
                reason=body.reason,
                created_by=principal.id,
                created_at=now,
            )
        )
        return Touched(result=hold_id)

    await write(request, apply)
    return _get_hold(request, hold_id)


def _get_hold(request: Request, hold_id: str) -> dict[str, Any]:
    with deps.services(request).db.connect() as conn:
        row = conn.execute(select(t.legal_holds).where(t.legal_holds.c.id == hold_id)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such legal hold")
    return _hold_json(row)


@router.get("/legal-holds")
def list_legal_holds(
    services: Wired, _: HoldKeeper, active: bool = False, person: str | None = None
) -> list[dict[str, Any]]:
    """Legal holds, newest first; `active=true`: only those not released; `person`: on this person
    (holds on everyone included)."""
    query = select(t.legal_holds).order_by(t.legal_holds.c.created_at.desc(), t.legal_holds.c.id)
    if active:
        query = query.where(t.legal_holds.c.released_at.is_(None))
    if person is not None:
        query = query.where((t.legal_holds.c.person_id == person) | t.legal_holds.c.person_id.is_(None))
    with services.db.connect() as conn:
        return [_hold_json(r) for r in conn.execute(query)]


@router.post("/legal-holds/{hold_id}/release")
async def release_legal_hold(request: Request, hold_id: str, principal: HoldKeeper) -> dict[str, Any]:
    """Release a hold: what it kept is purged at the next run, unless other evidence keeps it.
    404 for an unknown hold, 409 for one already released."""
    _get_hold(request, hold_id)

    def apply(conn: Connection, now: datetime) -> Touched:
        done = conn.execute(
            update(t.legal_holds)
            .where(t.legal_holds.c.id == hold_id, t.legal_holds.c.released_at.is_(None))
            .values(released_at=now, released_by=principal.id)
        ).rowcount
        if not done:
            raise Conflict(f"legal hold {hold_id!r} is already released")
        return Touched()

    await write(request, apply)
    return _get_hold(request, hold_id)
