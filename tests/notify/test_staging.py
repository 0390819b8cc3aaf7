"""Staging her messages in the writer's transaction (notify/staging.py), on both backends: a batch
with several changes of one alert texts once per step, the next batch reads the last distance told
from the records, pushes go to each of her browsers, and someone else's subscriptions are not hers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from vigil.domain.alerts import Alert, AlertChange, AlertKey, AlertKind, AlertState, Change, Facts
from vigil.notify.messages import Channel
from vigil.notify.staging import Notifier, NotifySettings
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
BASE = Alert(id="a-1", key=AlertKey("proximity", "S1", "P1"), kind=AlertKind.PROXIMITY_WARNING,
             state=AlertState.OPEN, active=True, opened_at=T0, updated_at=T0, facts=Facts(),
             subject_id="S1", protected_person_id="P1", order_id="O1")  # fmt: skip


def at(metres: float, what: Change = Change.UPDATED, person: str = "P1") -> AlertChange:
    """A change of her alert (P1: a-1; P2: a-2) with him `metres` from her."""
    facts = Facts(distance_m=metres, tier="warning")
    alert = replace(BASE, id=f"a-{person[1:]}", facts=facts, protected_person_id=person)
    return AlertChange(alert, what, T0)


def test_texts_per_step_across_batches_and_pushes_to_each_of_her_browsers(empty_database_url: str) -> None:
    engine = open_engine(empty_database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            for pid, phone in (("P1", "010-1111-2222"), ("P2", "")):
                conn.execute(insert(t.protected_persons),
                             {"id": pid, "name": pid, "phone": phone, "notes": "", "created_at": T0, "updated_at": T0})  # fmt: skip
            conn.execute(insert(t.subjects), {"id": "S1", "name": "him", "legal_basis": "parole", "case_reference": "",
                                               "notes": "", "created_at": T0, "updated_at": T0})  # fmt: skip
            conn.execute(insert(t.orders), {"id": "O1", "subject_id": "S1", "protected_person_id": "P1",
                                            "violation_distance_m": 100, "warning_distance_m": 1000,
                                            "victim_view_m": 600, "legal_basis": "parole",
                                            "created_at": T0, "updated_at": T0})  # fmt: skip
            for n, pid in ((1, "P1"), (2, "P1"), (3, "P2")):
                conn.execute(insert(t.push_subscriptions),
                             {"person_id": pid, "endpoint": f"https://push.example.com/{n}", "p256dh": f"k{n}",
                              "auth": f"a{n}", "created_at": T0, "updated_at": T0})  # fmt: skip
        notifier = Notifier(NotifySettings(sms=True, sms_step_m=100, language="en"))
        with engine.begin() as conn:
            first = notifier.stage(conn, [at(850, Change.OPENED), at(790), at(745), at(700)], T0)
        with engine.begin() as conn:
            second = notifier.stage(
                conn, [at(660), at(640), at(590), at(550), at(500, Change.OPENED, "P2")], T0
            )
        # beyond her view (600 m) no push; within it one, to each of her browsers, once
        assert [n for n in first if n.channel is Channel.PUSH] == []
        pushes = [n for n in second if n.channel is Channel.PUSH and n.alert_id == "a-1"]
        assert sorted(n.recipient for n in pushes) == [
            "https://push.example.com/1",
            "https://push.example.com/2",
        ]
        assert {(n.p256dh, n.auth) for n in pushes} == {("k1", "a1"), ("k2", "a2")}
        texts = [n.payload for n in first + second if n.channel is Channel.SMS]
        assert [t_.split("about ")[1].split(" m")[0] for t_ in texts] == [
            "900",
            "800",
            "700",
        ]  # 850, 745, 640
        # P2 has a browser but no number: one push, no text
        theirs = [(n.channel, n.recipient) for n in second if n.alert_id == "a-2"]
        assert theirs == [(Channel.PUSH, "https://push.example.com/3")]
        with engine.connect() as conn:
            rows = conn.execute(select(t.notifications).order_by(t.notifications.c.id)).all()
        assert len(rows) == len(first) + len(second)
        assert {r.state for r in rows} == {"pending"}
    finally:
        engine.dispose()
