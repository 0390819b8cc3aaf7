"""Police cases in the store: recorded, matched to monitored subjects, decided by courts.

Everything here runs as a registry write in the single writer (commands.Write), so a case, its match,
the `case_match` alert it raises for probation and an order a court grants commit together or not
at all. Matching itself is pure (domain/identity.py); this module reads the subjects to match
against and writes what the verdict says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from vigil.commands import Conflict, NotFound, Refused, Touched
from vigil.domain.alerts import AlertKey, AlertKind, Facts, Signal
from vigil.domain.identity import Basis, Candidate, Identity, Verdict, match
from vigil.domain.model import LegalBasis
from vigil.store import records
from vigil.store import tables as t

MEASURE_EM = "3-2"  # the stalking provisional measure that adds her to his electronic monitoring
# The distances a 3-2 application proposes when the investigator gives none: those of the orders
# Korean courts most often set (100 m; a warning band to 1 km).
PROPOSED_VIOLATION_M = 100.0
PROPOSED_WARNING_M = 1000.0


@dataclass(frozen=True, slots=True)
class CaseIn:
    """A case as recorded (api/cases.py has validated every field)."""

    case_id: str
    kind: str
    area: str
    station: str
    suspect: Identity
    suspect_subject_id: str | None
    victim_id: str | None
    victim_name: str
    victim_phone: str
    offences: Sequence[str]
    reports: Sequence[dict[str, Any]]
    measures_requested: Sequence[str]
    by: str
    forget_national_id: bool = False  # remove the stored hash (a wrong number), rather than keep it


def _identity(row: Any) -> Identity:
    born = date.fromisoformat(row.birth_date) if row.birth_date else None
    return Identity(name=row.name, birth_date=born, national_id_hash=row.national_id_hash)


def _subjects(conn: Connection, suspect: Identity, named: str | None) -> Iterable[tuple[str, Identity]]:
    """The subjects worth comparing: those sharing an identifier with the suspect or named; every
    subject with a name when names are compared (the name is normalised in Python, not in SQL)."""
    c = t.subjects.c
    query = select(c.id, c.name, c.birth_date, c.national_id_hash)
    wanted = [c.name != ""]
    if suspect.national_id_hash:
        wanted.append(c.national_id_hash == suspect.national_id_hash)
    if named:
        wanted.append(c.id == named)
    for row in conn.execute(query.where(or_(*wanted))):
        yield row.id, _identity(row)


def _monitored(conn: Connection, subject_id: str) -> list[str]:
    """The devices he wears (a case that matches him says he is already monitored)."""
    d = t.devices.c
    query = select(d.id).where(d.person_kind == "subject", d.person_id == subject_id).order_by(d.id)
    return [r.id for r in conn.execute(query)]


def _found(conn: Connection, case_id: str) -> Any:
    """The case's row; NotFound when there is none."""
    case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()
    if case is None:
        raise NotFound(f"no case {case_id!r}")
    return case


def put_case(conn: Connection, now: datetime, case: CaseIn) -> Touched:
    """Record (or update) a case and match it. A case matched once stays matched to that subject
    (a later edit of the suspect's details does not un-tell his officer); an unmatched one is matched
    again on every write. Answers (created, verdict)."""
    existing = conn.execute(select(t.cases).where(t.cases.c.id == case.case_id)).first()
    if existing is not None and existing.area != case.area:
        raise Refused("area", "a case stays with the station that recorded it")
    if existing is not None and existing.status == "closed":
        raise Conflict(f"case {case.case_id!r} is closed: reopen it first to change it", "status")
    suspect = case.suspect
    if suspect.national_id_hash is None and existing is not None and not case.forget_national_id:
        # The number is never shown back, so the edit form cannot hold it: left empty, the stored
        # hash stays (and is matched on), rather than an edit silently forgetting it.
        suspect = Identity(suspect.name, suspect.birth_date, existing.suspect_national_id_hash)
    # A named subject id that does not exist is kept and matches no one: refusing it would tell an
    # investigator which ids are monitored subjects.
    if case.victim_id is not None and not records.exists(conn, t.protected_persons, case.victim_id):
        raise Refused("victim.protected_person_id", f"no protected person {case.victim_id!r}")
    values: dict[str, Any] = {
        "kind": case.kind,
        "area": case.area,
        "station": case.station,
        "suspect_name": suspect.name,
        "suspect_birth_date": suspect.birth_date.isoformat() if suspect.birth_date else None,
        "suspect_national_id_hash": suspect.national_id_hash,
        "suspect_subject_id": case.suspect_subject_id,
        "victim_id": case.victim_id,
        "victim_name": case.victim_name,
        "victim_phone": case.victim_phone,
        "offences": list(case.offences),
        "reports": list(case.reports),
        "measures_requested": list(case.measures_requested),
        "updated_at": now,
    }
    if existing is None:
        conn.execute(
            insert(t.cases).values(
                id=case.case_id, status="open", match_state="none", match_basis="", review=[],
                created_by=case.by, created_at=now, **values,
            )
        )  # fmt: skip
    else:
        conn.execute(update(t.cases).where(t.cases.c.id == case.case_id).values(**values))
    alarms: tuple[Signal, ...] = ()
    verdict = Verdict(None, ())
    if existing is None or existing.match_state in ("none", "review"):
        verdict = match(suspect, _subjects(conn, suspect, case.suspect_subject_id), case.suspect_subject_id)
        alarms = _settle(conn, now, case.case_id, verdict, by=None)
    return Touched(result=(existing is None, verdict), alarms=alarms)


def match_subject(conn: Connection, now: datetime, subject_id: str) -> Touched:
    """A subject registered or changed: the open cases not yet matched that he now matches."""
    row = conn.execute(select(t.subjects).where(t.subjects.c.id == subject_id)).first()
    if row is None:
        return Touched()
    theirs = _identity(row)
    c = t.cases.c
    open_cases = conn.execute(
        select(t.cases).where(c.status == "open", c.match_state.in_(["none", "review"]))
    )
    alarms: list[Signal] = []
    for case in open_cases:
        suspect = Identity(
            case.suspect_name,
            date.fromisoformat(case.suspect_birth_date) if case.suspect_birth_date else None,
            case.suspect_national_id_hash,
        )
        verdict = match(suspect, [(subject_id, theirs)], case.suspect_subject_id)
        if verdict.match is None and not verdict.near:
            continue
        if verdict.match is None:  # near: joins the case's review list, beside any there already
            known = {r["subject_id"] for r in case.review}
            fresh = [
                {"subject_id": n.subject_id, "why": n.why} for n in verdict.near if n.subject_id not in known
            ]
            if fresh:
                conn.execute(
                    update(t.cases)
                    .where(c.id == case.id)
                    .values(review=[*case.review, *fresh], match_state="review")
                )
            continue
        alarms += _settle(conn, now, case.id, verdict, by=None)
    return Touched(alarms=tuple(alarms))


def confirm(conn: Connection, now: datetime, case_id: str, subject_id: str | None, by: str) -> Touched:
    """A reviewer's word on a case waiting in review: this subject is the suspect (probation is told
    now), or none is (`subject_id` None: dismissed)."""
    case = _found(conn, case_id)
    if case.match_state == "matched":
        raise Conflict(f"case {case_id!r} is matched already (to {case.matched_subject_id})")
    if case.status == "closed":
        raise Conflict(f"case {case_id!r} is closed: reopen it first", "status")
    if subject_id is None:
        conn.execute(
            update(t.cases)
            .where(t.cases.c.id == case_id)
            .values(match_state="dismissed", matched_by=by, updated_at=now)
        )
        return Touched(result=None)
    if not records.exists(conn, t.subjects, subject_id):
        raise Refused("subject_id", f"no subject {subject_id!r}")
    verdict = Verdict(Candidate(subject_id, Basis.NEAR, "confirmed by a reviewer"), ())
    return Touched(result=subject_id, alarms=_settle(conn, now, case_id, verdict, by=by))


def _settle(
    conn: Connection, now: datetime, case_id: str, verdict: Verdict, by: str | None
) -> tuple[Signal, ...]:
    """Write the verdict on the case; a match raises `case_match` for his probation officer."""
    c = t.cases.c
    if verdict.match is None:
        review = [{"subject_id": n.subject_id, "why": n.why} for n in verdict.near]
        state = "review" if review else "none"
        conn.execute(update(t.cases).where(c.id == case_id).values(match_state=state, review=review))
        return ()
    found = verdict.match
    basis = "reviewed" if by is not None else found.basis.value
    conn.execute(
        update(t.cases)
        .where(c.id == case_id)
        .values(
            match_state="matched", matched_subject_id=found.subject_id, match_basis=basis,
            matched_at=now, matched_by=by, updated_at=now,
        )
    )  # fmt: skip
    case = conn.execute(select(t.cases).where(c.id == case_id)).one()
    devices = _monitored(conn, found.subject_id)
    wears = f"wears {', '.join(devices)}" if devices else "no device bound"
    text = (
        f"{case.kind.replace('_', ' ')} case {case_id} ({case.station or case.area}) names subject "
        f"{found.subject_id} ({found.why}); he {wears}; measures asked: {', '.join(case.measures_requested) or 'none'}"
    )
    signal = Signal(
        key=AlertKey("case", found.subject_id, f"case:{case_id}"),
        kind=AlertKind.CASE_MATCH,
        active=True,
        onset=True,
        facts=Facts(event=text[:480], device_id=devices[0] if devices else None),
        subject_id=found.subject_id,
    )
    return (signal,)


# --- the court's decision -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionIn:
    case_id: str
    measure: str
    granted: bool
    court: str
    court_reference: str
    decided_on: date
    valid_from: datetime
    valid_until: datetime | None
    violation_distance_m: float
    warning_distance_m: float
    victim_view_m: float
    zones: tuple[records.ZoneSpec, ...]
    order_id: str | None  # the order to update; None: a new one (for measure 3-2)
    by: str


def decide(conn: Connection, now: datetime, decision: DecisionIn) -> Touched:
    """Record a court's decision. A granted 3-2 makes (or changes) the order between the matched
    subject and her at once: she is protected from that minute, and both agencies see the one order.
    A protected person is registered for her first if the case had only her details."""
    case = _found(conn, decision.case_id)
    if case.status == "closed":
        # A closed case takes no more work: a decision that comes after (an extension) is recorded
        # once the case is reopened, or on the order in the registry.
        raise Conflict(f"case {decision.case_id!r} is closed: reopen it first", "status")
    decision_id = f"dec-{uuid.uuid4().hex[:16]}"
    order_id: str | None = None
    touched = Touched()
    if decision.granted and decision.measure == MEASURE_EM:
        # Only the subject the case was matched to: an id the investigator merely named may be a
        # slip or a guess (domain/identity.py), and an order against the wrong man protects no one.
        subject = case.matched_subject_id
        if subject is None:
            raise Conflict(
                "measure 3-2 adds her to a monitored man's order: the case matches no monitored subject "
                "yet (name him in the case, or confirm a near match)",
                "measure",
            )
        victim = case.victim_id
        if victim is None:
            victim = f"P-{decision.case_id}"[: t.ID]
            records.put_protected_person(
                conn,
                now,
                person_id=victim,
                name=case.victim_name,
                phone=case.victim_phone,
                registered_by=decision.by,
            )
            conn.execute(update(t.cases).where(t.cases.c.id == case.id).values(victim_id=victim))
        order_id = decision.order_id or f"O-{decision.case_id}"[: t.ID]
        touched = records.put_order(
            conn,
            now,
            order_id=order_id,
            subject_id=subject,
            protected_person_id=victim,
            violation_distance_m=decision.violation_distance_m,
            warning_distance_m=decision.warning_distance_m,
            victim_view_m=decision.victim_view_m,
            legal_basis=LegalBasis.STALKING_PROVISIONAL_MEASURE,
            valid_from=decision.valid_from,
            valid_until=decision.valid_until,
            issuing_agency=decision.court,
            reference=decision.court_reference,
            zones=decision.zones,
        )
    conn.execute(
        insert(t.case_decisions).values(
            id=decision_id, case_id=case.id, measure=decision.measure, granted=decision.granted,
            court=decision.court, court_reference=decision.court_reference,
            decided_on=decision.decided_on.isoformat(), valid_from=decision.valid_from,
            valid_until=decision.valid_until, order_id=order_id, recorded_by=decision.by, recorded_at=now,
        )
    )  # fmt: skip
    conn.execute(update(t.cases).where(t.cases.c.id == case.id).values(updated_at=now))
    return Touched(result=(decision_id, order_id), orders=touched.orders)


# --- closing and reopening --------------------------------------------------------------------------

# How a case ended, as the police record it (a fixed list, so the figures can be counted).
OUTCOMES = ("charged", "no_further_action", "withdrawn", "transferred", "other")


def close(conn: Connection, now: datetime, case_id: str, outcome: str, reason: str, by: str) -> Touched:
    """Close a case: it is matched no more and leaves probation's open cases. The orders its decisions
    made are the court's and stay in force: closing the police case ends none of them."""
    case = _found(conn, case_id)
    if case.status == "closed":
        raise Conflict(f"case {case_id!r} is closed already", "status")
    conn.execute(
        update(t.cases)
        .where(t.cases.c.id == case_id)
        .values(
            status="closed", closed_at=now, closed_by=by, close_outcome=outcome, close_reason=reason,
            updated_at=now,
        )
    )  # fmt: skip
    return Touched(result=None)


def reopen(conn: Connection, now: datetime, case_id: str, reason: str, by: str) -> Touched:
    """Reopen a closed case: open again, matched again on its next write or a subject's change."""
    case = _found(conn, case_id)
    if case.status != "closed":
        raise Conflict(f"case {case_id!r} is open", "status")
    conn.execute(
        update(t.cases)
        .where(t.cases.c.id == case_id)
        .values(
            status="open", closed_at=None, closed_by=None, close_outcome=None, close_reason=None,
            reopened_at=now, reopened_by=by, reopen_reason=reason, updated_at=now,
        )
    )  # fmt: skip
    return Touched(result=None)
