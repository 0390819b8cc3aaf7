"""One's own reminders of orders about to end (`GET /v1/me/reminders`, issue 18): what the sweep
(store/reminders.py) sent to the caller's account, each with where its order stands now.

A reminder stands (`open`) while its order still ends when the reminder said and has not ended: an
extension (a new end) or an order ended early settles it by itself, with no one having to dismiss
it; the control centre counts the open ones. Only the caller's own: the path names no one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.store import reminders
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/me", tags=["cases"])

Reader = Annotated[Principal, Depends(require(Action.REMINDERS))]


@router.get("/reminders")
def my_reminders(
    services: Wired,
    principal: Reader,
    state: Annotated[
        str, Query(pattern="^(open|all)$", description="open (default): still standing")
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Reminders sent to you, newest first: the order, its subject and protected person (ids), the
    cases it came from, the end it was about, the days left then and now, and whether it stands."""
    now = services.clock()
    n, o = t.account_notices.c, t.orders.c
    with services.db.connect() as conn:
        rows = conn.execute(
            select(n.id, n.at, n.detail)
            .where(n.user_id == principal.id, n.kind == reminders.KIND)
            .order_by(n.at.desc(), n.id.desc())
            .limit(limit if state == "all" else max(limit, 500))
        ).all()
        order_ids = sorted({str(r.detail.get("order", "")) for r in rows})
        orders = {
            r.id: r for r in conn.execute(select(o.id, o.valid_until, o.ended_at).where(o.id.in_(order_ids)))
        }
    out: list[dict[str, Any]] = []
    for row in rows:
        detail = dict(row.detail)
        order = orders.get(str(detail.get("order", "")))
        settled = _settled(order, detail, now)
        standing = settled is None
        if state == "open" and not standing:
            continue
        out.append(
            {
                "id": row.id,
                "sent_at": iso(row.at),
                "order": detail.get("order"),
                "subject": detail.get("subject"),
                "protected_person": detail.get("protected_person"),
                "cases": detail.get("cases", []),
                "valid_until": detail.get("valid_until"),
                "lead_days": detail.get("lead_days"),
                "days_left_then": detail.get("days_left"),
                "days_left": (order.valid_until - now).days if standing and order is not None else None,
                "open": standing,
                "settled": settled,  # why it no longer stands: `changed` (a new end) or `ended`
            }
        )
        if len(out) >= limit:
            break
    return out


def _settled(order: Any, detail: dict[str, Any], now: datetime) -> str | None:
    """None while the reminder stands; else why not: its order now ends at another time (an
    extension, a change), or has ended (early, or it lapsed)."""
    if order is None or order.ended_at is not None:
        return "ended"
    if order.valid_until is None or iso(order.valid_until) != detail.get("valid_until"):
        return "changed"
    if order.valid_until <= now:
        return "ended"
    return None
