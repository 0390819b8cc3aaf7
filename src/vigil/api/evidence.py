"""Evidence and retention over REST: the breach report of an alert (JSON with its SHA-256, or PDF) and
legal holds that keep history from the retention purge."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import Connection, insert, select, update

from vigil import streetmap
from vigil.api import deps
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record
from vigil.api.registry import write
from vigil.api.trail import require_purpose
from vigil.commands import Conflict, Refused, Touched
from vigil.evidence import issued, pdf
from vigil.evidence.report import Sealed, alert_evidence, person_evidence, seal
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["evidence"])
EvidenceReader = Annotated[Principal, Depends(require(Action.EVIDENCE_READ, on=Record.ALERT))]
PersonEvidenceReader = Annotated[Principal, Depends(require(Action.EVIDENCE_READ, on=Record.PERSON))]
Verifier = Annotated[Principal, Depends(require(Action.EVIDENCE_VERIFY))]
MAX_PERIOD = timedelta(days=366)
HoldKeeper = Annotated[Principal, Depends(require(Action.LEGAL_HOLD))]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HASH_HEADER = "X-Content-SHA256"


# --- the breach report ----------------------------------------------------------------------------


def _sealed(request: Request, alert_id: str, by: str) -> Sealed | None:
    services = deps.services(request)
    with services.db.connect() as conn:
        evidence = alert_evidence(
            conn,
            alert_id,
            generated_at=services.clock(),
            generated_by=by,
            timezone=services.settings.timezone,
        )
    return None if evidence is None else seal(evidence)


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


async def hand_out(request: Request, sealed: Sealed, fmt: str, issued_to: str, name: str) -> Response:
    """The file (JSON envelope or PDF), recorded as issued (its hashes, for whom) before it is sent.
    A PDF's map shows the deployment's streets when it has a street map (`streetmap`)."""
    settings = deps.services(request).settings

    def drawn() -> bytes:
        return pdf.render(sealed, streetmap.tile_source(settings))

    body = await asyncio.to_thread(drawn) if fmt == "pdf" else sealed.envelope()

    def apply(conn: Connection, now: datetime) -> Touched:
        issued.issue(conn, sealed, body, fmt, issued_to=issued_to, at=now)
        return Touched()

    await write(request, apply)
    headers = {
        HASH_HEADER: sealed.sha256,
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{safe_name(name)}.{fmt}"',
    }
    media = "application/pdf" if fmt == "pdf" else "application/json"
    return Response(body, media_type=media, headers=headers)


def period(since: datetime, until: datetime) -> None:
    """A period for evidence: forward, and at most a year (422 naming the field)."""
    if until <= since:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": "until", "reason": "must be after from"}]
        )
    if until - since > MAX_PERIOD:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "until", "reason": f"a period of at most {MAX_PERIOD.days} days"}],
        )


Format = Annotated[Literal["json", "pdf"], Query(description="json (canonical, hashed) or pdf")]


@router.get("/alerts/{alert_id}/evidence")
async def alert_evidence_export(
    request: Request, alert_id: str, principal: EvidenceReader, format: Format = "json"
) -> Response:
    """The breach report of one alert for a court: the alert and its timeline, both parties' tracks
    and device events in its window (30 min either side), dispatch deliveries and reports back, the
    order and its zones. JSON: `{"evidence": …, "sha256": …}` where the hash is over the canonical
    bytes of `evidence` (sorted keys, no spaces, UTF-8), also in the X-Content-SHA256 header. PDF:
    a summary in Korean and English in local time, a map and a distance chart, then the tables, with
    that hash on every page. An export: it needs a purpose (`purpose` and `reason`), recorded in the
    audit trail; the file is recorded as issued (`POST /v1/evidence/verify`)."""
    require_purpose(request)
    sealed = await asyncio.to_thread(_sealed, request, alert_id, principal.id)
    if sealed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return await hand_out(request, sealed, format, principal.id, f"evidence-{alert_id}")


def evidence_of(request: Request, person_id: str, since: datetime, until: datetime, by: str) -> Any:
    """Her full evidence over the period, as of now (None: no such protected person): what the court's
    version seals whole and her own pack (api/me.py) cuts down."""
    services = deps.services(request)
    with services.db.connect() as conn:
        return person_evidence(
            conn,
            person_id,
            since=since,
            until=until,
            generated_at=services.clock(),
            generated_by=by,
            timezone=services.settings.timezone,
        )


def sealed_person(
    request: Request, person_id: str, since: datetime, until: datetime, by: str
) -> Sealed | None:
    evidence = evidence_of(request, person_id, since, until, by)
    return None if evidence is None else seal(evidence)


@router.get("/protected-persons/{person_id}/evidence")
async def person_evidence_export(
    request: Request,
    person_id: str,
    principal: PersonEvidenceReader,
    since: Annotated[AwareDatetime, Query(alias="from", description="start, with a time zone")],
    until: Annotated[AwareDatetime, Query(description="end, with a time zone (at most a year on)")],
    format: Format = "json",
) -> Response:
    """The full, sealed evidence for a court of everything that concerned one protected person over a
    period: her orders, every alert that concerned her with its timeline and dispatch, both parties'
    tracks (hers and his) and device events. The same period as her own pack (`GET /v1/me/evidence`),
    which shows nothing of his whereabouts. Needs a purpose; recorded as issued."""
    require_purpose(request)
    period(since, until)
    sealed = await asyncio.to_thread(sealed_person, request, person_id, since, until, principal.id)
    if sealed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such protected person")
    return await hand_out(request, sealed, format, principal.id, f"evidence-{person_id}-full")


@router.post(
    "/evidence/verify",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def verify_evidence(
    request: Request,
    _: Verifier,
    sha256: Annotated[str | None, Query(description="a hash instead of the file", max_length=64)] = None,
) -> dict[str, Any]:
    """Whether Vigil issued an evidence file: send its bytes as the body (the JSON envelope or the
    PDF), or only its `sha256` (of the content or of the file). The answer: `issued`, `intact` (the
    content hashes to what the file states), the content hash, and each time it was issued (when,
    for whom, what it covers). A file with one byte changed is not one Vigil issued."""
    data = await request.body()
    services = deps.services(request)
    if not data and sha256 is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "body", "reason": "send the file as the body, or a sha256 in the query"}],
        )

    def check() -> issued.Verdict:
        with services.db.connect() as conn:
            return issued.verify_file(conn, data) if data else issued.verify_hash(conn, sha256 or "")

    return (await asyncio.to_thread(check)).as_json()


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
