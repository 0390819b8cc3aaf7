"""Staging: the messages to her that committed-to-be alert changes call for, written as
`notifications` rows in the writer's transaction (so a change and its messages are committed
together or not at all). Nothing is sent here: the sender does that after the commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

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
        staged: list[Notice] = []
        for change in changes:
            alert = change.alert
            if alert.protected_person_id is None or alert.kind not in _CONCERNS_HER:
                continue  # most changes: one look and out
            try:
                with conn.begin_nested():
                    staged += self._one(conn, change, now)
            except Exception:
                # Her messages must not cost the devices their answer, nor the alert its commit: the
                # operators have the alert; the failure is in the log.
                log.exception("could not stage the messages to her about alert %s", alert.id)
        return staged

    def _one(self, conn: Connection, change: AlertChange, now: datetime) -> list[Notice]:
        alert = change.alert
        person = alert.protected_person_id
        assert person is not None
        out: list[Notice] = []
        kind = planning.push_kind(change)
        if kind is not None:
            payload = json.dumps({"v": 1, "kind": kind.value, "alert": alert.id, "at": iso(change.at)})
            subscriptions = conn.execute(
                select(t.push_subscriptions).where(t.push_subscriptions.c.person_id == person)
            ).all()
            for sub in subscriptions:
                row_id = _insert(conn, alert.id, person, Channel.PUSH, kind.value, sub.id, sub.endpoint,
                                 payload, None, now)  # fmt: skip
                out.append(Notice(row_id, Channel.PUSH, alert.id, sub.endpoint, payload, now, now,
                                  p256dh=sub.p256dh, auth=sub.auth))  # fmt: skip
        if self.settings.sms and alert.kind in planning.PROXIMITY:
            step = self.settings.sms_step_m
            due = planning.text_due(change, _last_told(conn, alert.id), step)
            phone = _phone(conn, person) if due is not None else ""
            if due is not None and phone:
                text_kind, distance = due
                body = planning.text(text_kind, distance, self.settings.language, step)
                row_id = _insert(conn, alert.id, person, Channel.SMS, text_kind.value, None, phone, body,
                                 distance, now)  # fmt: skip
                out.append(Notice(row_id, Channel.SMS, alert.id, phone, body, now, now))
        return out


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


def _last_told(conn: Connection, alert_id: str) -> float | None:
    """The distance the last text about this alert told (whatever became of it): the per-pair state
    that keeps texts to one per step, kept in the records themselves so it survives a restart."""
    c = t.notifications.c
    row = conn.execute(
        select(c.distance_m)
        .where(c.alert_id == alert_id, c.channel == Channel.SMS.value)
        .order_by(c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else row.distance_m


def _phone(conn: Connection, person: str) -> str:
    """Her number from the registry ('' when none is recorded)."""
    c = t.protected_persons.c
    row = conn.execute(select(c.phone).where(c.id == person)).first()
    return "" if row is None else str(row.phone or "").strip()
