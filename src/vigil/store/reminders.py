"""Reminders before an order ends, sent to both agencies (issue 18): the subject's probation officer
and the police who handle the case whose court decision made the order.

One sweep (`remind`, a single writer transaction) finds the orders ending within the longest lead
time, asks the pure rule (`domain/reminders.py`) which reminder is due, and for each one writes, in
the same transaction: the `order_reminders` rows (keyed by order, end and lead time: a second sweep,
from a retry or another process of a cluster, finds them and sends nothing), a notice to every
account told (`account_notices`, kind `order_expiring`: what the control centre shows them) and an
audit entry naming who was told.

The police told are the investigator who recorded the case and the one who recorded the decision,
while their accounts are active and still cover the case's area; when neither does (moved, left),
every active investigator of the station's area, so the reminder reaches the station rather than
no one. An order made in the registry, not through a case, has no police side: probation alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from vigil.commands import Touched
from vigil.domain import reminders as rule
from vigil.domain.model import Role
from vigil.store import notices
from vigil.store import tables as t
from vigil.store.audit import Entry
from vigil.store.codec import iso

SYSTEM = "vigil"
KIND = "order_expiring"  # the notice's kind


@dataclass(frozen=True, slots=True)
class Sent:
    order_id: str
    lead_days: int
    days_left: int
    recipients: tuple[str, ...]


def _active(conn: Connection, ids: Iterable[str], role: Role) -> dict[str, tuple[str, ...]]:
    """The active accounts among these ids with this role, with their areas."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    u = t.users.c
    rows = conn.execute(
        select(u.id, u.areas).where(u.id.in_(wanted), u.role == role.value, u.disabled.is_(False))
    )
    return {r.id: tuple(a for a in (r.areas or "").split(",") if a) for r in rows}


def _station(conn: Connection, area: str) -> list[str]:
    """Every active investigator whose areas cover this case's area."""
    u = t.users.c
    rows = conn.execute(
        select(u.id, u.areas).where(u.role == Role.POLICE_INVESTIGATOR.value, u.disabled.is_(False))
    )
    return sorted(r.id for r in rows if any(area.startswith(p) for p in (r.areas or "").split(",") if p))


def _police(conn: Connection, order_id: str) -> tuple[list[str], list[str]]:
    """The investigators to tell of this order's end, and the cases it came from."""
    d, c = t.case_decisions.c, t.cases.c
    rows = conn.execute(
        select(c.id, c.area, c.created_by, d.recorded_by)
        .select_from(t.case_decisions.join(t.cases, c.id == d.case_id))
        .where(d.order_id == order_id, d.granted.is_(True))
        .order_by(d.recorded_at)
    ).all()
    told: set[str] = set()
    for row in rows:
        named = _active(conn, (row.created_by, row.recorded_by), Role.POLICE_INVESTIGATOR)
        handling = [uid for uid, areas in named.items() if any(row.area.startswith(p) for p in areas)]
        told.update(handling or _station(conn, row.area))
    return sorted(told), sorted({row.id for row in rows})


def remind(conn: Connection, now: datetime, lead_days: Iterable[int] = rule.LEAD_DAYS) -> Touched:
    """Send every reminder due now; answers the list of `Sent`."""
    leads = tuple(sorted({d for d in lead_days if d > 0}))
    if not leads:
        return Touched(result=[])
    o, s = t.orders.c, t.subjects.c
    ending = conn.execute(
        select(o.id, o.subject_id, o.protected_person_id, o.valid_until, o.ended_at, s.probation_officer)
        .select_from(t.orders.join(t.subjects, s.id == o.subject_id))
        .where(
            o.ended_at.is_(None),
            o.valid_until.is_not(None),
            o.valid_until > now,
            o.valid_until <= now + timedelta(days=max(leads)),
        )
        .order_by(o.valid_until, o.id)
    ).all()
    if not ending:
        return Touched(result=[])
    r = t.order_reminders.c
    sent_before: dict[tuple[str, datetime], set[int]] = {}
    for row in conn.execute(
        select(r.order_id, r.valid_until, r.lead_days).where(r.order_id.in_([e.id for e in ending]))
    ):
        sent_before.setdefault((row.order_id, row.valid_until), set()).add(row.lead_days)
    out: list[Sent] = []
    audit: list[Entry] = []
    for order in ending:
        due = rule.due(
            now, order.valid_until, order.ended_at, sent_before.get((order.id, order.valid_until), ()), leads
        )
        if due is None:
            continue
        probation = list(
            _active(
                conn, [order.probation_officer] if order.probation_officer else [], Role.PROBATION_OFFICER
            )
        )
        police, cases = _police(conn, order.id)
        recipients = tuple(dict.fromkeys([*probation, *police]))
        conn.execute(
            insert(t.order_reminders),
            [
                {
                    "order_id": order.id, "valid_until": order.valid_until, "lead_days": lead,
                    "sent_at": now, "days_left": due.days_left, "sent_for": due.lead_days,
                    "recipients": list(recipients),
                }
                for lead in due.covers
            ],
        )  # fmt: skip
        detail: dict[str, Any] = {
            "order": order.id,
            "subject": order.subject_id,
            "protected_person": order.protected_person_id,
            "valid_until": iso(order.valid_until),
            "days_left": due.days_left,
            "lead_days": due.lead_days,
            "cases": cases,
        }
        reason = f"order {order.id} ends in {due.days_left} day(s): an extension needs a court decision before then"
        notices.tell(conn, list(recipients), KIND, now, actor=SYSTEM, reason=reason, detail=detail)
        audit.append(
            Entry(
                actor=SYSTEM,
                role="system",
                action="order.expiry_reminder",
                target=f"orders/{order.id}",
                reason=reason,
                detail={
                    **detail,
                    "probation": probation,
                    "police": police,
                    # Said aloud so the trail shows a reminder that reached one agency only.
                    "no_probation_officer": not probation,
                    "no_police": not police,
                },
            )
        )
        out.append(Sent(order.id, due.lead_days, due.days_left, recipients))
    return Touched(result=out, audit=tuple(audit))


def latest(conn: Connection, ends: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """The last reminder sent for each order's current end (`ends`: order id -> its valid_until now,
    as the views give it: `codec.iso`), for the views both agencies read beside the order (the
    caseload, the case)."""
    ids = sorted(oid for oid, end in ends.items() if end is not None)
    if not ids:
        return {}
    r = t.order_reminders.c
    out: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        select(r.order_id, r.valid_until, r.sent_at, r.sent_for, r.days_left, r.recipients)
        .where(r.order_id.in_(ids), r.lead_days == r.sent_for)
        .order_by(r.sent_at)
    )
    for row in rows:
        if iso(row.valid_until) == ends[row.order_id]:  # an earlier end's series is history
            out[row.order_id] = {
                "sent_at": iso(row.sent_at),
                "lead_days": row.sent_for,
                "days_left": row.days_left,
                "told": len(row.recipients or []),
            }
    return out
