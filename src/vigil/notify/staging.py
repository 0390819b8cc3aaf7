"""Staging: the messages to her that committed-to-be alert changes call for, written as
`notifications` rows in the writer's transaction (so a change and its messages are committed
together or not at all). Nothing is sent here: the sender does that after the commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from vigil.domain.alerts import AlertChange, AlertKind
from vigil.notify import planning
from vigil.notify.messages import Channel, Notice
from vigil.store import tables as t
from vigil.store.codec import iso

log = logging.getLogger(__name__)

_CONCERNS_HER = planning.PROXIMITY | {AlertKind.SOS}


@dataclass(frozen=True, slots=True)
class NotifySettings:
    sms: bool = False  # an SMS gateway is configured: texts are staged
    sms_step_m: float = 100.0
    language: str = "ko"


class Notifier:
    """The in-transaction half of waking her (the processor's thread only)."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def stage(self, conn: Connection, changes: Iterable[AlertChange], now: datetime) -> list[Notice]:
        """Her messages for these changes. A burst of alerts costs a few queries for the whole batch
        (her subscriptions, her number, the last distance texted), not a few per change."""
        concern = [
            c for c in changes if c.alert.protected_person_id is not None and c.alert.kind in _CONCERNS_HER
        ]
        if not concern:
            return []  # most batches: one look at each change and out
        try:
            with conn.begin_nested():
                return self._stage(conn, concern, now)
        except Exception:
            # Her messages must not cost the devices their answer, nor the alerts their commit: the
            # operators have the alerts; the failure is in the log.
            log.exception("could not stage the messages to her about %d alert changes", len(concern))
            return []

    def _stage(self, conn: Connection, changes: list[AlertChange], now: datetime) -> list[Notice]:
        views = _views(conn, {c.alert.order_id for c in changes if c.alert.order_id is not None})
        pushed = _pushed(conn, {c.alert.id for c in changes if c.alert.kind in planning.PROXIMITY})
        pushes: list[tuple[AlertChange, planning.Kind]] = []
        for c in changes:  # in the batch's order: a later change sees what an earlier one pushed
            kind = planning.push_kind(c, views.get(c.alert.order_id or ""), pushed.get(c.alert.id, set()))
            if kind is not None:
                pushes.append((c, kind))
                pushed.setdefault(c.alert.id, set()).add(kind.value)
        subscriptions = _subscriptions(conn, {_her(c) for c, _ in pushes})
        texting = [c for c in changes if self.settings.sms and planning.text_due(c, None, 1.0) is not None]
        told = _last_told(conn, {c.alert.id for c in texting})
        phones = _phones(conn, {_her(c) for c in texting})
        out: list[Notice] = []
        for change, kind in pushes:
            alert = change.alert
            payload = json.dumps({"v": 1, "kind": kind.value, "alert": alert.id, "at": iso(change.at)})
            for sub in subscriptions.get(_her(change), ()):
                row_id = _insert(conn, alert.id, _her(change), Channel.PUSH, kind.value, sub.id, sub.endpoint,
                                 payload, None, now)  # fmt: skip
                out.append(Notice(row_id, Channel.PUSH, alert.id, sub.endpoint, payload, now, now,
                                  p256dh=sub.p256dh, auth=sub.auth, person_id=_her(change)))  # fmt: skip
        step = self.settings.sms_step_m
        for change in texting:  # in the batch's order: a second change sees the first one's text
            alert = change.alert
            phone = phones.get(_her(change), "")
            due = planning.text_due(change, told.get(alert.id), step)
            if due is None or not phone:
                continue
            text_kind, distance = due
            body = planning.text(text_kind, distance, self.settings.language, step)
            row_id = _insert(conn, alert.id, _her(change), Channel.SMS, text_kind.value, None, phone, body,
                             distance, now)  # fmt: skip
            told[alert.id] = distance
            out.append(Notice(row_id, Channel.SMS, alert.id, phone, body, now, now, person_id=_her(change)))
        return out


def _her(change: AlertChange) -> str:
    person = change.alert.protected_person_id
    assert person is not None  # only such changes are staged
    return person


def _insert(
    conn: Connection,
    alert_id: str,
    person: str,
    channel: Channel,
    kind: str,
    subscription_id: int | None,
    recipient: str,
    payload: str,
    distance_m: float | None,
    now: datetime,
) -> int:
    inserted = conn.execute(
        insert(t.notifications),
        {
            "alert_id": alert_id,
            "person_id": person,
            "channel": channel.value,
            "kind": kind,
            "subscription_id": subscription_id,
            "recipient": recipient,
            "payload": payload,
            "distance_m": distance_m,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "last_error": "",
        },
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def _subscriptions(conn: Connection, people: set[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    if people:
        c = t.push_subscriptions.c
        for row in conn.execute(select(t.push_subscriptions).where(c.person_id.in_(sorted(people)))):
            found.setdefault(row.person_id, []).append(row)
    return found


def _views(conn: Connection, order_ids: set[str]) -> dict[str, float]:
    """Each order's victim view: how far she is shown him exactly."""
    if not order_ids:
        return {}
    c = t.orders.c
    rows = conn.execute(select(c.id, c.victim_view_m).where(c.id.in_(sorted(order_ids))))
    return {r.id: float(r.victim_view_m) for r in rows}


def _pushed(conn: Connection, alert_ids: set[str]) -> dict[str, set[str]]:
    """The kinds already pushed about each alert (to any of her browsers)."""
    if not alert_ids:
        return {}
    c = t.notifications.c
    rows = conn.execute(
        select(c.alert_id, c.kind)
        .where(c.alert_id.in_(sorted(alert_ids)), c.channel == Channel.PUSH.value)
        .distinct()
    )
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r.alert_id, set()).add(r.kind)
    return found


def _last_told(conn: Connection, alert_ids: set[str]) -> dict[str, float]:
    """The distance the last text about each alert told (whatever became of it): the per-pair state
    that keeps texts to one per step, kept in the records themselves so it survives a restart."""
    if not alert_ids:
        return {}
    c = t.notifications.c
    last = (
        select(func.max(c.id))
        .where(c.alert_id.in_(sorted(alert_ids)), c.channel == Channel.SMS.value)
        .group_by(c.alert_id)
    )
    rows = conn.execute(select(c.alert_id, c.distance_m).where(c.id.in_(last)))
    return {r.alert_id: r.distance_m for r in rows if r.distance_m is not None}


def _phones(conn: Connection, people: set[str]) -> dict[str, str]:
    """Their numbers from the registry (none recorded: left out)."""
    if not people:
        return {}
    c = t.protected_persons.c
    rows = conn.execute(select(c.id, c.phone).where(c.id.in_(sorted(people))))
    return {r.id: str(r.phone).strip() for r in rows if r.phone and str(r.phone).strip()}
