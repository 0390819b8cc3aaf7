"""A probation officer's caseload view (`GET /v1/caseload`, issue 18): his subjects, each with the
open police cases matched to him, the orders in force with their expiry, his approved absences in
force or upcoming, and his recent alerts;
the orders that expire soon; and the load, subjects per officer against the guideline of 10 (the
field average is 21.6: domain/caseload.py).

A probation officer reads his own (`?officer=` naming anyone else is refused and recorded). An
operator reads any officer's with `?officer=`, and without it every officer's load with the orders
expiring soon everywhere, to share the work out; the subjects' details then stay out (thousands of
rows no one reads at once). Everyone else: 403. The call is in the audit trail (auth.require).

What it shows of the protected persons is their ids in the orders (as `/v1/orders` shows a
probation officer): no names, phones or positions of hers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy import Connection, func, select

from vigil.api import trail
from vigil.api.auth import require
from vigil.api.bodies import Ident
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.domain import caseload as figures
from vigil.domain.alerts import TERMINAL
from vigil.domain.model import Role
from vigil.store import absences as store_absences
from vigil.store import reminders
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["cases"])

Reader = Annotated[Principal, Depends(require(Action.CASELOAD))]
OPEN_ALERTS = 50  # per subject: the newest open ones (more is a matter for the queue)


@router.get("/caseload")
def caseload(
    request: Request,
    services: Wired,
    principal: Reader,
    officer: Annotated[Ident | None, Query(description="an officer's id (operators); default: yours")] = None,
    within_days: Annotated[
        int, Query(ge=1, le=120, description="orders ending within this many days are reminded of")
    ] = figures.REMINDER_DAYS,
) -> dict[str, Any]:
    """The caseload of one probation officer (yours, or for an operator `?officer=`), or for an
    operator without `?officer=` every officer's load and every order expiring soon."""
    if principal.role is Role.PROBATION_OFFICER:
        if officer is not None and officer != principal.id:
            trail.access(request, principal, Action.CASELOAD, False, refused=f"officer:{officer}")
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a probation officer reads his own caseload only")
        officer = principal.id
    now = services.clock()
    with services.db.connect() as conn:
        officers = _officers(conn)
        if officer is not None and officer not in officers:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no probation officer {officer!r}")
        counts = _counts(conn)
        body: dict[str, Any] = {
            "as_of": iso(now),
            "officer": officer,
            "guideline": figures.GUIDELINE,
            "field_average": figures.FIELD_AVERAGE,
            "reminder_days": within_days,
            "recent_days": figures.RECENT_DAYS,
        }
        shown = [officer] if officer is not None else sorted(officers)
        body["load"] = [_load(o, officers[o], counts.get(o, 0)) for o in shown]
        if officer is None:
            body["unassigned"] = counts.get(None, 0)
            body["subjects"] = None
            body["expiring"] = _expiring(conn, now, within_days, None)
            return body
        subjects = conn.execute(
            select(t.subjects).where(t.subjects.c.probation_officer == officer).order_by(t.subjects.c.id)
        ).all()
        ids = [s.id for s in subjects]
        body["subjects"] = _details(conn, now, within_days, subjects)
        body["expiring"] = _expiring(conn, now, within_days, ids)
    return body


def _officers(conn: Connection) -> dict[str, Any]:
    u = t.users.c
    rows = conn.execute(
        select(u.id, u.name, u.phone, u.disabled).where(u.role == Role.PROBATION_OFFICER.value)
    ).all()
    return {r.id: r for r in rows}


def _counts(conn: Connection) -> dict[str | None, int]:
    """Subjects per officer (None: assigned to no one)."""
    c = t.subjects.c
    rows = conn.execute(select(c.probation_officer, func.count()).group_by(c.probation_officer))
    return {r[0]: int(r[1]) for r in rows}


def _load(officer: str, user: Any, subjects: int) -> dict[str, Any]:
    found = figures.load(subjects)
    return {
        "officer": officer,
        "name": user.name,
        "phone": user.phone,
        "disabled": bool(user.disabled),
        "subjects": found.subjects,
        "ratio": found.ratio,
        "over_guideline": found.over_guideline,
        "over_field_average": found.over_field_average,
    }


def _order_json(row: Any, now: datetime, within_days: int) -> dict[str, Any]:
    state = figures.expiry(now, row.valid_from, row.valid_until, row.ended_at, within_days)
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "protected_person_id": row.protected_person_id,
        "legal_basis": row.legal_basis,
        "violation_distance_m": row.violation_distance_m,
        "valid_from": iso(row.valid_from),
        "valid_until": iso(row.valid_until),
        "issuing_agency": row.issuing_agency,
        "reference": row.reference,
        "in_force": state.in_force,
        "days_left": state.days_left,
        "expires_soon": state.expires_soon,
        "reminded": None,  # the last reminder sent for its current end (store/reminders.py)
    }


def _with_reminders(conn: Connection, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent = reminders.latest(conn, {o["id"]: o["valid_until"] for o in orders})
    for order in orders:
        order["reminded"] = sent.get(order["id"])
    return orders


def _expiring(
    conn: Connection, now: datetime, within_days: int, subjects: list[str] | None
) -> list[dict[str, Any]]:
    """Orders not ended whose end falls within the window, soonest first (`subjects` None: all)."""
    o = t.orders.c
    query = (
        select(t.orders)
        .where(
            o.ended_at.is_(None),
            o.valid_until.is_not(None),
            o.valid_until > now,
            o.valid_until <= now + timedelta(days=within_days),
        )
        .order_by(o.valid_until, o.id)
    )
    if subjects is not None:
        query = query.where(o.subject_id.in_(subjects))
    return _with_reminders(conn, [_order_json(r, now, within_days) for r in conn.execute(query)])


def _details(
    conn: Connection, now: datetime, within_days: int, subjects: Iterable[Any]
) -> list[dict[str, Any]]:
    """Each subject with his devices, open matched cases, orders in force and recent alerts: a few
    queries over the whole caseload, not a few per subject."""
    rows = list(subjects)
    ids = [s.id for s in rows]
    devices: dict[str, list[str]] = defaultdict(list)
    d = t.devices.c
    for r in conn.execute(
        select(d.id, d.person_id).where(d.person_kind == "subject", d.person_id.in_(ids)).order_by(d.id)
    ):
        devices[r.person_id].append(r.id)

    c = t.cases.c
    cases = conn.execute(
        select(t.cases)
        .where(c.status == "open", c.match_state == "matched", c.matched_subject_id.in_(ids))
        .order_by(c.matched_at, c.id)
    ).all()
    decisions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    dc = t.case_decisions.c
    for r in conn.execute(
        select(t.case_decisions).where(dc.case_id.in_([x.id for x in cases])).order_by(dc.recorded_at)
    ):
        decisions[r.case_id].append(
            {"measure": r.measure, "granted": r.granted, "court_reference": r.court_reference,
             "decided_on": r.decided_on, "valid_until": iso(r.valid_until), "order_id": r.order_id}
        )  # fmt: skip
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in cases:
        by_subject[x.matched_subject_id].append(
            {"id": x.id, "kind": x.kind, "station": x.station, "area": x.area, "match_basis": x.match_basis,
             "matched_at": iso(x.matched_at), "measures_requested": x.measures_requested,
             "decisions": decisions.get(x.id, [])}
        )  # fmt: skip

    o = t.orders.c
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in conn.execute(
        select(t.orders)
        .where(o.subject_id.in_(ids), o.ended_at.is_(None))
        .where((o.valid_until.is_(None)) | (o.valid_until > now))
        .order_by(o.valid_until, o.id)
    ):
        orders[r.subject_id].append(_order_json(r, now, within_days))
    _with_reminders(conn, [order for listed in orders.values() for order in listed])

    a = t.alerts.c
    since = now - timedelta(days=figures.RECENT_DAYS)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for subject, kind, n in conn.execute(
        select(a.subject_id, a.kind, func.count())
        .where(a.subject_id.in_(ids), a.opened_at >= since)
        .group_by(a.subject_id, a.kind)
    ):
        counts[subject][kind] = int(n)
    open_alerts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in conn.execute(
        select(a.id, a.subject_id, a.kind, a.severity, a.state, a.opened_at, a.order_id)
        .where(a.subject_id.in_(ids), a.state.not_in([s.value for s in TERMINAL]))
        .order_by(a.opened_at.desc(), a.id)
    ):
        if len(open_alerts[alert.subject_id]) < OPEN_ALERTS:
            open_alerts[alert.subject_id].append(
                {"id": alert.id, "kind": alert.kind, "severity": alert.severity, "state": alert.state,
                 "opened_at": iso(alert.opened_at), "order": alert.order_id}
            )  # fmt: skip

    absences = store_absences.current(conn, ids, now)

    return [
        {
            "id": s.id,
            "name": s.name,
            "legal_basis": s.legal_basis,
            "case_reference": s.case_reference,
            "devices": devices.get(s.id, []),
            "cases": by_subject.get(s.id, []),
            "orders": orders.get(s.id, []),
            "absences": absences.get(s.id, []),
            "alerts": {
                "recent": dict(sorted(counts.get(s.id, {}).items())),
                "recent_total": sum(counts.get(s.id, {}).values()),
                "open": open_alerts.get(s.id, []),
            },
        }
        for s in rows
    ]
