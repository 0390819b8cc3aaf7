"""Grouping alerts into incidents (domain/incidents.py): pure, times and ids handed in."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from vigil.domain.alerts import (
    Alert,
    AlertChange,
    AlertKey,
    AlertKind,
    AlertState,
    Change,
    Facts,
)
from vigil.domain.incidents import IncidentBook

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WINDOW_S = 7200.0
_ids = itertools.count(1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(kind: AlertKind, subject: str | None, protected: str | None = None, **kw: object) -> Alert:
    n = next(_ids)
    return Alert(
        id=f"a{n}",
        key=AlertKey(kind.value, subject or protected or "", str(n)),
        kind=kind,
        state=AlertState.OPEN,
        active=True,
        opened_at=T0,
        updated_at=T0,
        facts=Facts(),
        subject_id=subject,
        protected_person_id=protected,
        **kw,  # type: ignore[arg-type]
    )


def no_one(_: str) -> Iterable[str]:
    return ()


class Books:
    """A book and the alerts placed in it, as the engine drives it."""

    def __init__(self, kept: dict[str, list[str]] | None = None) -> None:
        counter = itertools.count(1)
        self.book = IncidentBook(lambda: f"i-{next(counter)}", WINDOW_S)
        self.kept = kept or {}

    def open(self, a: Alert, when: datetime) -> Alert:
        def away(him: str) -> list[str]:
            return sorted(her for her, men in self.kept.items() if him in men)

        incident = self.book.place(a, when, lambda her: self.kept.get(her, []), away)
        placed = replace(a, incident_id=incident, opened_at=when, updated_at=when)
        self.book.follow(AlertChange(placed, Change.OPENED, when))
        return placed

    def change(self, a: Alert, change: Change, when: datetime, **kw: object) -> Alert:
        moved = replace(a, updated_at=when, **kw)  # type: ignore[arg-type]
        self.book.follow(AlertChange(moved, change, when))
        return moved


def test_the_same_subjects_alerts_are_one_incident_and_another_subject_is_another() -> None:
    b = Books(kept={"P1": ["S1"]})
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    tamper = b.open(alert(AlertKind.TAMPER, "S1"), at(3))
    sos = b.open(alert(AlertKind.SOS, None, "P1"), at(4))
    other = b.open(alert(AlertKind.ZONE_VIOLATION, "S2", "P2"), at(5))
    assert warning.incident_id == tamper.incident_id == sos.incident_id == "i-1"
    assert other.incident_id == "i-2"


def test_kind_is_the_gravest_and_the_queue_time_is_the_latest_escalation() -> None:
    b = Books()
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    incident = b.book.get("i-1")
    assert incident is not None and incident.kind is AlertKind.PROXIMITY_WARNING
    assert incident.escalated_at == at(0)
    b.change(warning, Change.ESCALATED, at(30), kind=AlertKind.PROXIMITY_VIOLATION)
    incident = b.book.get("i-1")
    assert incident is not None
    assert incident.kind is AlertKind.PROXIMITY_VIOLATION and incident.escalated_at == at(30)
    # a lesser alert joining is news in the incident, not an escalation of it
    b.open(alert(AlertKind.BATTERY_LOW, "S1"), at(40))
    incident = b.book.get("i-1")
    assert incident is not None
    assert incident.kind is AlertKind.PROXIMITY_VIOLATION
    assert incident.escalated_at == at(30) and incident.updated_at == at(40)
    # an alert as grave as the incident does move it up the queue
    b.open(alert(AlertKind.TAMPER, "S1"), at(50))
    incident = b.book.get("i-1")
    assert incident is not None and incident.escalated_at == at(50)


def test_her_sos_joins_the_incident_of_the_man_her_order_keeps_from_her() -> None:
    b = Books(kept={"P1": ["S1"]})
    b.open(alert(AlertKind.PROXIMITY_VIOLATION, "S1", "P1"), at(0))
    sos = b.open(alert(AlertKind.SOS, None, "P1"), at(1))
    assert sos.incident_id == "i-1"
    # a woman no order connects to him gets her own incident
    stranger = b.open(alert(AlertKind.SOS, None, "P9"), at(2))
    assert stranger.incident_id == "i-2"


def test_his_alert_joins_the_incident_her_sos_started_and_names_him_from_then_on() -> None:
    b = Books(kept={"P1": ["S1"]})
    sos = b.open(alert(AlertKind.SOS, None, "P1"), at(0))
    approach = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(2))
    assert sos.incident_id == approach.incident_id == "i-1"
    incident = b.book.get("i-1")
    assert incident is not None and incident.subject_id == "S1" and incident.protected_person_id == "P1"
    # and his tamper, which names only him, joins it too
    assert b.open(alert(AlertKind.TAMPER, "S1"), at(3)).incident_id == "i-1"


def test_his_tamper_joins_the_incident_her_sos_started_whichever_came_first() -> None:
    """Her SOS, then his strap cut a minute later: one danger, as the other way round is. A man no
    order keeps from her starts his own."""
    b = Books(kept={"P1": ["S1"]})
    sos = b.open(alert(AlertKind.SOS, None, "P1"), at(0))
    tamper = b.open(alert(AlertKind.TAMPER, "S1"), at(1))
    assert sos.incident_id == tamper.incident_id == "i-1"
    incident = b.book.get("i-1")
    assert incident is not None and incident.subject_id == "S1"
    assert b.open(alert(AlertKind.TAMPER, "S9"), at(2)).incident_id == "i-2"


def test_a_low_battery_lasting_all_day_does_not_hold_the_incident_open() -> None:
    """His battery low from the morning, still low at night: the evening's approach is a new danger,
    not the morning's incident (it would have joined while the battery alert lasted)."""
    b = Books(kept={"P1": ["S1"]})
    battery = b.open(alert(AlertKind.BATTERY_LOW, "S1"), at(0))
    approach = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(11 * 60))
    assert battery.incident_id == "i-1" and approach.incident_id == "i-2"
    # within the window of the battery alert's opening, it is the same incident still
    c = Books(kept={"P1": ["S1"]})
    c.open(alert(AlertKind.BATTERY_LOW, "S1"), at(0))
    assert c.open(alert(AlertKind.TAMPER, "S1"), at(30)).incident_id == "i-1"


def test_the_window_counts_from_the_last_alert_clearing() -> None:
    b = Books()
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    # still active three hours later: still the same danger
    b.change(warning, Change.UPDATED, at(180))
    tamper = b.open(alert(AlertKind.TAMPER, "S1"), at(181))
    assert tamper.incident_id == "i-1"
    b.change(warning, Change.CLEARED, at(200), active=False)
    incident = b.book.get("i-1")
    assert incident is not None and incident.active == {tamper.id}
    b.change(tamper, Change.CLEARED, at(210), active=False)
    incident = b.book.get("i-1")
    assert incident is not None and not incident.active and incident.active_at == at(210)
    assert b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(210 + 119)).incident_id == "i-1"


def test_after_the_window_a_new_alert_is_a_new_incident() -> None:
    b = Books()
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    b.change(warning, Change.CLEARED, at(10), active=False)
    again = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(10 + 121))
    assert again.incident_id == "i-2"
    # both stay open (no one closed the first): the queue shows both, the newest on top
    assert {i.id for i in b.book} == {"i-1", "i-2"}


def test_an_incident_closes_when_people_have_closed_all_its_alerts_and_is_never_joined_again() -> None:
    b = Books()
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    tamper = b.open(alert(AlertKind.TAMPER, "S1"), at(1))
    b.book.changed()
    b.change(warning, Change.RESOLVED, at(5), state=AlertState.RESOLVED)
    incident = b.book.get("i-1")
    assert incident is not None and incident.open
    b.change(tamper, Change.FALSE_ALARM, at(6), state=AlertState.FALSE_ALARM, active=False)
    assert b.book.get("i-1") is None
    [closed] = b.book.changed()
    assert not closed.open and closed.closed_at == at(6)
    assert b.open(alert(AlertKind.TAMPER, "S1"), at(7)).incident_id == "i-2"


def test_the_control_centres_own_alarms_belong_to_no_incident() -> None:
    b = Books()
    assert b.book.place(alert(AlertKind.DISPATCH_FAILURE, "S1"), at(0), no_one) is None
    assert b.book.place(alert(AlertKind.DISPATCH_FAILURE, None), at(0), no_one) is None


def test_restore_takes_back_open_incidents_with_their_open_alerts() -> None:
    b = Books()
    warning = b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(0))
    [stored] = b.book.changed()
    fresh = Books()
    fresh.book.restore(replace(stored, alerts=frozenset(), active=frozenset()), [warning])
    restored = fresh.book.get("i-1")
    assert restored is not None and restored.alerts == {warning.id} and restored.active == {warning.id}
    # an incident whose alerts are all closed is not taken back
    gone = Books()
    gone.book.restore(stored, [replace(warning, state=AlertState.RESOLVED)])
    assert gone.book.get("i-1") is None


def test_her_sos_joins_the_gravest_of_the_incidents_of_the_men_kept_from_her() -> None:
    """One man at her door (a violation), another who opened a warning since: her SOS belongs with
    the violation (it joined the newest, the warning)."""
    b = Books(kept={"P1": ["S1", "S2"]})
    at_door = b.open(alert(AlertKind.PROXIMITY_VIOLATION, "S2", "P1"), at(0))
    b.open(alert(AlertKind.PROXIMITY_WARNING, "S1", "P1"), at(4))
    sos = b.open(alert(AlertKind.SOS, None, "P1"), at(6))
    assert sos.incident_id == at_door.incident_id


def test_an_incident_is_not_joined_once_its_window_has_run_out() -> None:
    b = Books()
    first = b.open(alert(AlertKind.TAMPER, "S1"), at(0))
    b.change(first, Change.CLEARED, at(1), active=False)
    assert b.open(alert(AlertKind.BATTERY_LOW, "S1"), at(1 + WINDOW_S / 60)).incident_id != first.incident_id
