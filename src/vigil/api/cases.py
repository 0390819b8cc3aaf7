"""Police cases, the automatic join to probation, and the courts' decisions (issue 18).

A police investigator records a stalking or domestic-violence case for their station's area
(`PUT /v1/cases/{id}`). At that moment it is matched to the monitored subjects on identity (the
subject's id, the national identifier's keyed hash, or name with birth date: domain/identity.py):
a match raises `case_match` in his probation officer's queue (and a push to probation's dispatch
targets), and the case shows that he already wears a monitor, with the facts a court application for
measure 3-2 needs. A near match waits in the operators' review list (`GET /v1/cases/review`,
`POST /v1/cases/{id}/match`). A court's decision (`POST /v1/cases/{id}/decisions`) that grants 3-2
makes the order at once; the case then shows that order as it stands, with a reminder when it ends
within 14 days (domain/caseload.py), so the police see what probation sees. Who reads a case: its
station's investigators (the case's area within theirs), the matched subject's probation officer,
operators and auditors. Every access is in the audit trail (auth.require), each write also with
what it did.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import false, or_, select

from vigil.api import deps, trail
from vigil.api.auth import require, scope
from vigil.api.bodies import Ident, Name, Phone, Text, ZoneIn
from vigil.api.national_id import PATTERN, keyed_hash
from vigil.api.policy import Action
from vigil.api.registry import _zone_spec, write
from vigil.domain import caseload
from vigil.domain.identity import Identity, Verdict
from vigil.domain.model import Role
from vigil.store import absences as store_absences
from vigil.store import cases as store
from vigil.store import reminders
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["cases"])

MEASURES = ("1", "2", "3", "3-2", "4")  # the Stalking Act's provisional measures (3-2: monitoring)
AREA = r"^\d{2,10}$"


class SuspectIn(BaseModel):
    name: Name
    birth_date: date | None = None
    national_id: str | None = Field(
        default=None,
        pattern=PATTERN,
        description="the resident registration number (13 digits, a hyphen after six allowed); "
        "stored only as a keyed hash, never shown back",
    )
    subject_id: Ident | None = Field(default=None, description="the monitored subject, when known")
    # On an edit the stored number is kept when `national_id` is left out (it is never shown back);
    # a number found to be wrong is removed with this, so it can no longer match anyone.
    forget_national_id: bool = Field(
        default=False, description="remove the stored national id (it was wrong); not with a new one"
    )

    @model_validator(mode="after")
    def one_or_the_other(self) -> SuspectIn:
        if self.forget_national_id and self.national_id:
            raise ValueError("give a new national_id or forget the stored one, not both")
        return self

    @field_validator("birth_date")
    @classmethod
    def born(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= datetime.now(UTC).date():
            raise ValueError("a birth date between 1900-01-01 and today")
        return value


class VictimIn(BaseModel):
    protected_person_id: Ident | None = Field(
        default=None, description="a protected person already registered"
    )
    name: Text = ""
    phone: Phone = ""

    @model_validator(mode="after")
    def someone(self) -> VictimIn:
        if self.protected_person_id is None and not self.name.strip():
            raise ValueError("name her: a protected_person_id, or her name for a new record")
        return self


class ReportIn(BaseModel):
    at: AwareDatetime
    summary: str = Field(min_length=1, max_length=2000)


class CaseIn(BaseModel):
    kind: Literal["stalking", "domestic_violence"]
    area: str = Field(pattern=AREA, description="the municipality code the case belongs to (the station's)")
    station: Text = ""
    suspect: SuspectIn
    victim: VictimIn
    offences: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=20)
    reports: list[ReportIn] = Field(default_factory=list, max_length=200)
    measures_requested: list[Literal["1", "2", "3", "3-2", "4"]] = Field(default_factory=list, max_length=5)


class DecisionIn(BaseModel):
    measure: Literal["1", "2", "3", "3-2", "4"]
    granted: bool
    court: Text = ""
    court_reference: str = Field(min_length=1, max_length=100)
    decided_on: date
    valid_from: AwareDatetime | None = Field(default=None, description="default: now")
    valid_until: AwareDatetime | None = None
    violation_distance_m: float = Field(default=store.PROPOSED_VIOLATION_M, gt=0, le=10_000)
    warning_distance_m: float = Field(default=store.PROPOSED_WARNING_M, gt=0, le=50_000)
    victim_view_m: float = Field(default=600.0, ge=0, le=5_000)
    zones: list[ZoneIn] = Field(default_factory=list, max_length=20)
    order_id: Ident | None = Field(
        default=None, description="an existing order to change; default: a new one"
    )

    # Checked on the later field of each pair (fields are validated in order, so the earlier one is
    # in `info.data` when it was valid): the refusal names the field to change, and the control
    # centre shows it there.
    @field_validator("valid_until")
    @classmethod
    def ends_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("valid_until must be after valid_from")
        return value

    @field_validator("warning_distance_m")
    @classmethod
    def warns_before(cls, value: float, info: ValidationInfo) -> float:
        violation = info.data.get("violation_distance_m")
        if violation is not None and value < violation:
            raise ValueError("warning_distance_m must be at least violation_distance_m")
        return value


# How a case ended (store.cases.OUTCOMES, spelled out for the schema and checked the same below).
Outcome = Literal["charged", "no_further_action", "withdrawn", "transferred", "other"]
assert get_args(Outcome) == store.OUTCOMES


class ReopenIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why, in a sentence or two")

    @field_validator("reason")
    @classmethod
    def said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why")
        return value.strip()


class CloseIn(ReopenIn):
    outcome: Outcome


class MatchIn(BaseModel):
    subject_id: Ident | None = Field(description="the subject the suspect is; null: none of them (dismissed)")


# --- who may see which case ---------------------------------------------------------------------------


def _reaches(request: Request, principal: Principal, case: Any) -> bool:
    role = principal.role
    if role in (Role.OPERATOR, Role.AUDITOR):
        return True
    if role is Role.POLICE_INVESTIGATOR:
        return any(case.area.startswith(prefix) for prefix in principal.areas)
    if role is Role.PROBATION_OFFICER:
        return case.matched_subject_id is not None and case.matched_subject_id in scope(request).caseload
    return False


def _case(request: Request, principal: Principal, case_id: str) -> Any:
    with deps.services(request).db.connect() as conn:
        row = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id!r}")
    if not _reaches(request, principal, row):
        trail.access(request, principal, Action.CASES_READ, False, refused=f"case:{case_id}")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "this case is outside your station's areas or caseload"
        )
    return row


def case_json(request: Request, principal: Principal, row: Any) -> dict[str, Any]:
    services = deps.services(request)
    with services.db.connect() as conn:
        decisions = conn.execute(
            select(t.case_decisions)
            .where(t.case_decisions.c.case_id == row.id)
            .order_by(t.case_decisions.c.recorded_at)
        ).all()
        made = sorted({d.order_id for d in decisions if d.order_id})
        orders = conn.execute(select(t.orders).where(t.orders.c.id.in_(made))).all() if made else []
        reminded = reminders.latest(conn, {o.id: iso(o.valid_until) for o in orders})
        absences = (
            store_absences.current(conn, [row.matched_subject_id], services.clock()).get(
                row.matched_subject_id, []
            )
            if row.match_state == "matched" and row.matched_subject_id is not None
            else []
        )
        subject, devices, officer = None, [], None
        if row.matched_subject_id is not None:
            subject = conn.execute(
                select(t.subjects).where(t.subjects.c.id == row.matched_subject_id)
            ).first()
            devices = [
                r.id
                for r in conn.execute(
                    select(t.devices.c.id).where(
                        t.devices.c.person_kind == "subject", t.devices.c.person_id == row.matched_subject_id
                    )
                )
            ]
            if subject is not None and subject.probation_officer:
                officer = conn.execute(
                    select(t.users.c.id, t.users.c.name, t.users.c.phone).where(
                        t.users.c.id == subject.probation_officer
                    )
                ).first()
    state = row.match_state
    if principal.role is Role.POLICE_INVESTIGATOR and state in ("review", "dismissed"):
        # that some monitored subject nearly matches is for operators to weigh, not a hint to the
        # police about who is monitored: until confirmed, nothing is found
        state = "none"
    match: dict[str, Any] = {"state": state}
    if row.match_state == "matched":
        match |= {
            "subject_id": row.matched_subject_id,
            "basis": row.match_basis,
            "at": iso(row.matched_at),
            "already_monitored": bool(devices),
            "devices": devices,
            "probation_officer": None
            if officer is None
            else {"id": officer.id, "name": officer.name, "phone": officer.phone},
            # what probation allowed him (a night shift): why a zone alert of his was not pushed
            "absences": absences,
        }
    body: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "area": row.area,
        "station": row.station,
        "status": row.status,
        "suspect": {
            "name": row.suspect_name,
            "birth_date": row.suspect_birth_date,
            "has_national_id": row.suspect_national_id_hash is not None,
            "subject_id": row.suspect_subject_id,
        },
        "victim": {"protected_person_id": row.victim_id, "name": row.victim_name, "phone": row.victim_phone},
        "offences": row.offences,
        "reports": row.reports,
        "measures_requested": row.measures_requested,
        "match": match,
        "decisions": [
            {
                "id": d.id,
                "measure": d.measure,
                "granted": d.granted,
                "court": d.court,
                "court_reference": d.court_reference,
                "decided_on": d.decided_on,
                "valid_from": iso(d.valid_from),
                "valid_until": iso(d.valid_until),
                "order_id": d.order_id,
                "recorded_by": d.recorded_by,
                "recorded_at": iso(d.recorded_at),
            }
            for d in decisions
        ],
        "orders": [{**_order_state(o, services.clock()), "reminded": reminded.get(o.id)} for o in orders],
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        # closing ends the police's case, never the court's orders (they stay in `orders`, in force)
        "closed": None
        if row.status != "closed"
        else {
            "at": iso(row.closed_at),
            "by": row.closed_by,
            "outcome": row.close_outcome,
            "reason": row.close_reason,
        },
        "reopened": None
        if row.reopened_at is None
        else {"at": iso(row.reopened_at), "by": row.reopened_by, "reason": row.reopen_reason},
    }
    if principal.role is Role.OPERATOR:
        body["review"] = row.review
    granted = any(d.granted and d.measure == store.MEASURE_EM for d in decisions)
    if row.match_state == "matched" and not granted and subject is not None:
        body["proposal"] = _proposal(row, subject, devices)
    return body


def _order_state(order: Any, now: datetime) -> dict[str, Any]:
    """An order a decision of the case made, as it stands now (probation may have changed it since):
    both agencies are reminded when it ends within the reminder window (domain/caseload.py)."""
    state = caseload.expiry(now, order.valid_from, order.valid_until, order.ended_at)
    return {
        "id": order.id,
        "valid_from": iso(order.valid_from),
        "valid_until": iso(order.valid_until),
        "ended_at": iso(order.ended_at),
        "in_force": state.in_force,
        "days_left": state.days_left,
        "expires_soon": state.expires_soon,
    }


def _proposal(row: Any, subject: Any, devices: list[str]) -> dict[str, Any]:
    """Measure 3-2, proposed: add her to the monitoring he already wears, with what an application
    to the court needs (who, the monitoring in force, what happened, what is asked)."""
    reports = sorted(row.reports, key=lambda r: r["at"])
    return {
        "measure": store.MEASURE_EM,
        "why": "the suspect already wears an ankle monitor: the court can add her as a protected person at once",
        "subject_id": subject.id,
        "protected_person_id": row.victim_id,
        "victim_name": row.victim_name,
        "facts": {
            "suspect": {
                "name": subject.name,
                "birth_date": subject.birth_date,
                "legal_basis": subject.legal_basis,
            },
            "monitoring": {"devices": devices, "case_reference": subject.case_reference},
            "offences": row.offences,
            "reports": len(reports),
            "first_report": reports[0]["at"] if reports else None,
            "last_report": reports[-1]["at"] if reports else None,
            "measures_requested": row.measures_requested,
        },
        "proposed_order": {
            "violation_distance_m": store.PROPOSED_VIOLATION_M,
            "warning_distance_m": store.PROPOSED_WARNING_M,
        },
    }


# --- routes ---------------------------------------------------------------------------------------

Writer = Annotated[Principal, Depends(require(Action.CASES_WRITE))]
Reader = Annotated[Principal, Depends(require(Action.CASES_READ))]
Decider = Annotated[Principal, Depends(require(Action.CASES_DECIDE))]
Reviewer = Annotated[Principal, Depends(require(Action.CASES_REVIEW))]
Closer = Annotated[Principal, Depends(require(Action.CASES_CLOSE))]


def _station_victim(conn: Any, principal: Principal, person_id: str) -> bool:
    """Whether she is the victim of a case of the investigator's station: the only protected persons
    an investigator may name (they cannot read the registry; the form offers these)."""
    c = t.cases.c
    areas = or_(false(), *(c.area.startswith(prefix, autoescape=True) for prefix in principal.areas))
    found = conn.execute(select(c.id).where(c.victim_id == person_id, areas).limit(1)).first()
    return found is not None


@router.put("/cases/{case_id}")
async def put_case(
    request: Request, response: Response, case_id: Ident, body: CaseIn, principal: Writer
) -> dict[str, Any]:
    """Record or update a case (201 when new) and match its suspect to the monitored subjects at
    once. The case's area must be within the investigator's station's areas."""
    if not any(body.area.startswith(prefix) for prefix in principal.areas):
        trail.access(request, principal, Action.CASES_WRITE, False, refused="area")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, [{"field": "area", "reason": "not within your station's areas"}]
        )
    with deps.services(request).db.connect() as conn:
        existing = conn.execute(select(t.cases.c.area).where(t.cases.c.id == case_id)).first()
        named = body.victim.protected_person_id
        known = named is None or _station_victim(conn, principal, named)
    if existing is not None and not any(existing.area.startswith(p) for p in principal.areas):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this case is another station's")
    if not known:
        # One answer whether or not such a person exists: the registry is not the police's to probe,
        # and a granted 3-2 must not protect a stranger whose id was guessed or mistyped.
        trail.access(request, principal, Action.CASES_WRITE, False, refused="victim")
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "victim.protected_person_id",
              "reason": "not the victim of one of your station's cases: enter her name and phone instead"}],
        )  # fmt: skip
    hashed = keyed_hash(request, body.suspect.national_id) if body.suspect.national_id else None
    case = store.CaseIn(
        case_id=case_id,
        kind=body.kind,
        area=body.area,
        station=body.station,
        suspect=Identity(body.suspect.name, body.suspect.birth_date, hashed),
        suspect_subject_id=body.suspect.subject_id,
        forget_national_id=body.suspect.forget_national_id,
        victim_id=body.victim.protected_person_id,
        victim_name=body.victim.name,
        victim_phone=body.victim.phone,
        offences=body.offences,
        reports=[{"at": iso(r.at), "summary": r.summary} for r in sorted(body.reports, key=lambda r: r.at)],
        measures_requested=list(dict.fromkeys(body.measures_requested)),
        by=principal.id,
    )
    created, verdict = await write(request, lambda c, now: store.put_case(c, now, case))
    assert isinstance(verdict, Verdict)
    detail = {
        "case": case_id,
        "match": verdict.match.subject_id if verdict.match else None,
        "near": len(verdict.near),
    }
    await trail.record(
        request, trail.entry(request, principal.id, principal.role.value, "case.write", **detail)
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return case_json(request, principal, _case(request, principal, case_id))


@router.get("/cases")
def list_cases(
    request: Request,
    principal: Reader,
    state: Literal["open", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """The cases the caller may read, newest change first: an investigator's station's, a probation
    officer's matched to their caseload, everyone's for operators and auditors."""
    c = t.cases.c
    query = select(t.cases).order_by(c.updated_at.desc(), c.id).limit(limit)
    if state != "all":
        query = query.where(c.status == state)
    if principal.role is Role.PROBATION_OFFICER:
        query = query.where(c.matched_subject_id.in_(sorted(scope(request).caseload)))
    elif principal.role is Role.POLICE_INVESTIGATOR:  # narrowed before the limit, not after it
        query = query.where(
            or_(false(), *(c.area.startswith(prefix, autoescape=True) for prefix in principal.areas))
        )
    with deps.services(request).db.connect() as conn:
        rows = conn.execute(query).all()
    return [case_json(request, principal, r) for r in rows if _reaches(request, principal, r)]


@router.get("/cases/review")
def review_list(request: Request, principal: Reviewer) -> list[dict[str, Any]]:
    """Cases whose suspect only nearly matches a subject: for an operator to confirm or dismiss
    (probation is never told on a near match)."""
    with deps.services(request).db.connect() as conn:
        rows = conn.execute(
            select(t.cases)
            .where(t.cases.c.match_state == "review", t.cases.c.status == "open")
            .order_by(t.cases.c.updated_at)
        ).all()
    return [case_json(request, principal, r) for r in rows]


@router.get("/cases/{case_id}")
def get_case(request: Request, case_id: str, principal: Reader) -> dict[str, Any]:
    return case_json(request, principal, _case(request, principal, case_id))


@router.post("/cases/{case_id}/match")
async def confirm_match(request: Request, case_id: str, body: MatchIn, principal: Reviewer) -> dict[str, Any]:
    """An operator's word on a near match: this subject is the suspect (his officer is told now),
    or none is (dismissed)."""
    _case(request, principal, case_id)
    await write(request, lambda c, now: store.confirm(c, now, case_id, body.subject_id, principal.id))
    await trail.record(
        request,
        trail.entry(
            request, principal.id, principal.role.value, "case.match", case=case_id, subject=body.subject_id
        ),
    )
    return case_json(request, principal, _case(request, principal, case_id))


@router.post("/cases/{case_id}/decisions", status_code=status.HTTP_201_CREATED)
async def add_decision(
    request: Request, case_id: str, body: DecisionIn, principal: Decider
) -> dict[str, Any]:
    """A court's decision on a measure. A granted 3-2 makes the order between the matched subject and
    her (registering her first if the case holds only her details), in force from `valid_from`:
    both agencies see the same order, and the engine watches it from this minute."""
    _case(request, principal, case_id)
    services = deps.services(request)
    zones = tuple(
        _zone_spec(z, f"O-{case_id}.z{i + 1}"[: t.ID], f"zones[{i}]") for i, z in enumerate(body.zones)
    )
    decision = store.DecisionIn(
        case_id=case_id,
        measure=body.measure,
        granted=body.granted,
        court=body.court,
        court_reference=body.court_reference,
        decided_on=body.decided_on,
        valid_from=body.valid_from or services.clock(),
        valid_until=body.valid_until,
        violation_distance_m=body.violation_distance_m,
        warning_distance_m=body.warning_distance_m,
        victim_view_m=body.victim_view_m,
        zones=zones,
        order_id=body.order_id,
        by=principal.id,
    )
    decision_id, order_id = await write(request, lambda c, now: store.decide(c, now, decision))
    detail = {
        "case": case_id,
        "decision": decision_id,
        "measure": body.measure,
        "granted": body.granted,
        "order": order_id,
    }
    await trail.record(
        request, trail.entry(request, principal.id, principal.role.value, "case.decision", **detail)
    )
    found = case_json(request, principal, _case(request, principal, case_id))
    return {"decision": decision_id, "order_id": order_id, "case": found}


@router.post("/cases/{case_id}/close")
async def close_case(request: Request, case_id: str, body: CloseIn, principal: Closer) -> dict[str, Any]:
    """Close a case with its outcome and why: its station's investigators, or an operator. A closed
    case is matched no more and leaves probation's open cases; the orders its decisions made are
    court orders and stay in force. Closed already: 409."""
    _case(request, principal, case_id)
    await write(request, lambda c, now: store.close(c, now, case_id, body.outcome, body.reason, principal.id))
    await trail.record(
        request,
        trail.entry(
            request, principal.id, principal.role.value, "case.close", case=case_id, outcome=body.outcome
        ),
    )
    return case_json(request, principal, _case(request, principal, case_id))


@router.post("/cases/{case_id}/reopen")
async def reopen_case(request: Request, case_id: str, body: ReopenIn, principal: Closer) -> dict[str, Any]:
    """Reopen a closed case, saying why (open already: 409). It is matched again on its next write
    and when a subject changes, as any open case."""
    _case(request, principal, case_id)
    await write(request, lambda c, now: store.reopen(c, now, case_id, body.reason, principal.id))
    await trail.record(
        request, trail.entry(request, principal.id, principal.role.value, "case.reopen", case=case_id)
    )
    return case_json(request, principal, _case(request, principal, case_id))
