"""Approved absences (issue 18): his probation officer lets a subject be away from a curfew or one
of his zones for a window (a night shift, a hospital stay), with a reason. A zone violation inside
the window is still raised and watched by the control centre, but held back from dispatch and marked
in its timeline as covered (dispatch/outbox/staging.py); the approval is read by whoever may read
his record, police included, so both agencies see why no push came. Approving and revoking are
probation's (for their caseload) and operators' (who run the night); every step is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from vigil.api import deps, trail
from vigil.api.auth import require
from vigil.api.bodies import Ident
from vigil.api.policy import Action, Record
from vigil.api.registry import write
from vigil.store import absences as store
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["absences"])

LONGEST = timedelta(days=31)  # longer than a month is a change of his order, for a court


class AbsenceIn(BaseModel):
    zone_id: Ident | None = Field(default=None, description="one of his zones; null: every zone and curfew")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=5, max_length=500, description="why, in words (a night shift at ...)")

    # Checked on the later field (starts_at is in `info.data` when it was valid), so the refusal names
    # the field to change and the control centre shows it there; each rule has its own code
    # (`after_start`, `too_long`) for the app to say in its user's language.
    @field_validator("ends_at")
    @classmethod
    def a_window(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("starts_at")
        if start is None:
            return value
        if value <= start:
            raise PydanticCustomError("after_start", "ends_at must be after starts_at")
        if value - start > LONGEST:
            raise PydanticCustomError(
                "too_long", "at most 31 days: a longer absence is a change of his order"
            )
        return value


def absence_json(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject": row.subject_id,
        "zone": row.zone_id,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "reason": row.reason,
        "approved_by": row.approved_by,
        "approved_at": iso(row.approved_at),
        "revoked_at": iso(row.revoked_at),
        "revoked_by": row.revoked_by,
        "in_force": row.revoked_at is None and row.starts_at <= now < row.ends_at,
    }


Reader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.SUBJECT))]
Approver = Annotated[Principal, Depends(require(Action.ABSENCES_APPROVE, on=Record.SUBJECT))]


def _one(request: Request, absence_id: str) -> Any:
    with deps.services(request).db.connect() as conn:
        return conn.execute(select(t.absences).where(t.absences.c.id == absence_id)).one()


@router.get("/subjects/{subject_id}/absences")
def list_absences(request: Request, subject_id: str, _: Reader) -> list[dict[str, Any]]:
    """His approved absences, newest first, revoked ones included (the record of what was allowed)."""
    services = deps.services(request)
    a = t.absences.c
    with services.db.connect() as conn:
        if conn.execute(select(t.subjects.c.id).where(t.subjects.c.id == subject_id)).first() is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subject {subject_id!r}")
        rows = conn.execute(select(t.absences).where(a.subject_id == subject_id).order_by(a.starts_at.desc()))
        now = services.clock()
        return [absence_json(r, now) for r in rows]


@router.post("/subjects/{subject_id}/absences", status_code=status.HTTP_201_CREATED)
async def approve(request: Request, subject_id: str, body: AbsenceIn, principal: Approver) -> dict[str, Any]:
    """Approve an absence. A zone violation inside it is held back from dispatch and shown as covered;
    an approach to her, a cut strap or her SOS are never covered."""
    now = deps.services(request).clock()
    if body.ends_at <= now:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "ends_at", "reason": "the window is over already"}],
        )
    absence_id = await write(
        request,
        lambda c, at: store.approve(
            c, at, subject_id=subject_id, zone_id=body.zone_id, starts_at=body.starts_at,
            ends_at=body.ends_at, reason=body.reason.strip(), by=principal.id,
        ),
    )  # fmt: skip
    entry = trail.entry(request, principal.id, principal.role.value, "absence.approve", absence=absence_id)
    await trail.record(request, entry)
    return absence_json(_one(request, absence_id), now)


@router.delete("/subjects/{subject_id}/absences/{absence_id}")
async def revoke(request: Request, subject_id: str, absence_id: str, principal: Approver) -> dict[str, Any]:
    """Revoke an approval: from now on his zone violations are pushed as any other."""
    await write(
        request,
        lambda c, at: store.revoke(c, at, subject_id=subject_id, absence_id=absence_id, by=principal.id),
    )
    entry = trail.entry(request, principal.id, principal.role.value, "absence.revoke", absence=absence_id)
    await trail.record(request, entry)
    return absence_json(_one(request, absence_id), deps.services(request).clock())
