"""The records of messages to her: each attempt the sender reports, written through the single
writer; a subscription its push service says is gone (404, 410) removed; and the sender's view of
what is left to send (at start-up, after a crash)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, and_, delete, select, update

from vigil.commands import Sent
from vigil.notify.messages import Channel, Notice
from vigil.store import tables as t
from vigil.store.codec import iso

TERMINAL = frozenset({"delivered", "gone", "failed", "expired"})


def record(conn: Connection, sent: Sequence[Sent]) -> None:
    n = t.notifications.c
    for attempt in sent:
        row = conn.execute(select(t.notifications).where(n.id == attempt.notification_id)).first()
        if row is None or row.state != "pending":
            continue
        values: dict[str, Any] = {
            "attempts": row.attempts + 1,
            "last_attempt_at": attempt.at,
            "last_status": attempt.status,
            "last_error": attempt.error[:1000],
            "state": attempt.state,
        }
        if attempt.state == "delivered":
            values["delivered_at"] = attempt.at
        if attempt.next_attempt_at is not None:
            values["next_attempt_at"] = attempt.next_attempt_at
        conn.execute(update(t.notifications).where(n.id == row.id).values(**values))
        if attempt.state == "gone" and row.subscription_id is not None:
            # The push service says this browser's subscription no longer exists: forget it, and
            # what was still waiting for it.
            conn.execute(delete(t.push_subscriptions).where(t.push_subscriptions.c.id == row.subscription_id))
            conn.execute(
                update(t.notifications)
                .where(and_(n.subscription_id == row.subscription_id, n.state == "pending"))
                .values(state="gone", last_error="the subscription is gone")
            )


def pending(conn: Connection) -> list[Notice]:
    """Every message still to send, oldest first, with its subscription's keys (a push whose
    subscription was removed meanwhile is not taken back)."""
    n, s = t.notifications.c, t.push_subscriptions.c
    query = (
        select(t.notifications, s.p256dh, s.auth)
        .select_from(t.notifications.outerjoin(t.push_subscriptions, s.id == n.subscription_id))
        .where(n.state == "pending")
        .order_by(n.id)
    )
    out = []
    for r in conn.execute(query):
        channel = Channel(r.channel)
        if channel is Channel.PUSH and r.p256dh is None:
            continue
        notice = Notice(r.id, channel, r.alert_id, r.recipient, r.payload, r.created_at, r.next_attempt_at,
                        r.attempts, r.p256dh or "", r.auth or "", r.person_id)  # fmt: skip
        out.append(notice)
    return out


def of_alert(conn: Connection, alert_id: str) -> list[dict[str, Any]]:
    """What was sent to her about an alert, for the control centre: channel, kind, state and the
    attempts; the recipient shown as the push service's host or the number's last four digits."""
    n = t.notifications.c
    rows = conn.execute(select(t.notifications).where(n.alert_id == alert_id).order_by(n.id)).all()
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "kind": r.kind,
            "to": _shown(r.channel, r.recipient),
            "text": r.payload if r.channel == Channel.SMS.value else "",
            "distance_m": r.distance_m,
            "state": r.state,
            "attempts": r.attempts,
            "created_at": iso(r.created_at),
            "last_attempt_at": iso(r.last_attempt_at),
            "last_status": r.last_status,
            "last_error": r.last_error,
            "delivered_at": iso(r.delivered_at),
        }
        for r in rows
    ]


def _shown(channel: str, recipient: str) -> str:
    if channel == Channel.SMS.value:
        digits = "".join(ch for ch in recipient if ch.isdigit())
        return "…" + digits[-4:]
    return urlsplit(recipient).hostname or ""
