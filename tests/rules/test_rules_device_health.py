"""Device health: tamper, SOS, battery and power alarms come straight from what the device says and
never wait for a position."""

from __future__ import annotations

import pytest
from rules_kit import ANKLE, HOME, PHONE, SUBJECT, VICTIM, WATCH, World, at, fix, kinds, near, summary

from vigil.domain.alerts import AlertKey, AlertKind, Change, Severity
from vigil.domain.model import TAMPER_EVENTS, DeviceEvent, EventKind
from vigil.rules.engine import UnknownDevice
from vigil.rules.tuning import Tuning

# --- tamper ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TAMPER_EVENTS))
def test_tamper_raises_with_no_fix_ever_known(kind: EventKind) -> None:
    w = World(with_order=False)
    (opened,) = w.event(ANKLE, 0, kind)
    alert = opened.alert
    assert opened.change is Change.OPENED
    assert alert.kind is AlertKind.TAMPER
    assert alert.severity is Severity.CRITICAL
    assert alert.key == AlertKey("tamper", SUBJECT, ANKLE)
    assert alert.subject_id == SUBJECT
    assert alert.protected_person_id is None
    assert alert.facts.device_id == ANKLE
    assert alert.facts.event == kind.value
    assert alert.facts.occurred_at == at(0)
    assert alert.facts.subject_position is None


def test_tamper_without_a_fix_carries_the_last_known_position_and_its_age() -> None:
    w = World()
    w.subject(0, near(3000))
    (opened,) = w.event(ANKLE, 90, EventKind.STRAP_CUT)
    pos = opened.alert.facts.subject_position
    assert pos is not None
    assert pos.time == at(0)
    assert pos.age_s == 90


def test_tamper_with_its_own_fix_uses_it_and_places_him() -> None:
    w = World()
    w.victim(0)
    changes = w.event(ANKLE, 10, EventKind.CASE_OPEN, where=near(50))
    # the alarm first, then the fix it carried is judged like any other
    assert summary(changes) == [
        (Change.OPENED, AlertKind.TAMPER),
        (Change.OPENED, AlertKind.PROXIMITY_VIOLATION),
    ]
    pos = changes[0].alert.facts.subject_position
    assert pos is not None
    assert pos.age_s == 0


def test_repeated_tamper_is_one_alert() -> None:
    w = World(with_order=False)
    w.event(ANKLE, 0, EventKind.STRAP_OPEN)
    changes = w.event(ANKLE, 5, EventKind.STRAP_CUT)
    # a new onset on the same key: the open alert is updated, never duplicated
    assert kinds(changes) == [Change.UPDATED]
    assert len(w.open_alerts()) == 1
    assert w.only_alert().facts.event == "strap_cut"


def test_tamper_is_not_cleared_by_later_messages() -> None:
    w = World(with_order=False)
    w.event(ANKLE, 0, EventKind.REMOVAL)
    assert w.subject(10, near(3000)) == []
    assert w.only_alert().active


def test_events_from_unknown_or_unbound_devices_are_refused() -> None:
    w = World(with_order=False)
    with pytest.raises(UnknownDevice):
        w.engine.on_event(DeviceEvent("nobody", at(0), EventKind.STRAP_CUT), at(0), at(0))
    with pytest.raises(UnknownDevice):
        w.engine.on_fix(fix("nobody", at(0), HOME), at(0), at(0))


# --- sos -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [PHONE, WATCH])
def test_sos_from_a_protected_persons_device(device: str) -> None:
    w = World()
    w.victim(0)
    (opened,) = w.event(device, 30, EventKind.SOS)
    alert = opened.alert
    assert alert.kind is AlertKind.SOS
    assert alert.severity is Severity.CRITICAL
    assert alert.key == AlertKey("sos", VICTIM, device)
    assert alert.protected_person_id == VICTIM
    assert alert.subject_id is None
    assert alert.facts.subject_position is None
    assert alert.facts.protected_position is not None
    assert alert.facts.protected_position.age_s == 30


def test_sos_with_no_position_at_all_still_raises() -> None:
    w = World(with_order=False)
    (opened,) = w.event(PHONE, 0, EventKind.SOS)
    assert opened.alert.kind is AlertKind.SOS
    assert opened.alert.facts.protected_position is None


# --- battery ---------------------------------------------------------------------------------------


def test_battery_low_event_then_charging_clears() -> None:
    w = World(with_order=False)
    (opened,) = w.event(ANKLE, 0, EventKind.BATTERY_LOW)
    assert opened.alert.kind is AlertKind.BATTERY_LOW
    assert opened.alert.severity is Severity.LOW
    (cleared,) = w.event(ANKLE, 60, EventKind.CHARGING)
    assert cleared.change is Change.CLEARED
    assert cleared.alert.id == opened.alert.id
    # charging with nothing raised is quiet
    assert w.event(ANKLE, 70, EventKind.CHARGING) == []


def test_battery_level_on_fixes_has_hysteresis() -> None:
    w = World(with_order=False)
    where = near(5000)
    history = []
    for t, pct in enumerate((80, 40, 16, 15, 12, 20, 29.9, 30, 25, 16, 15)):
        for change in w.subject(t * 10, where, battery=pct):
            history.append((pct, change.change, change.alert.kind))
    assert history == [
        (15, Change.OPENED, AlertKind.BATTERY_LOW),
        (30, Change.CLEARED, AlertKind.BATTERY_LOW),
        (15, Change.UPDATED, AlertKind.BATTERY_LOW),  # the same open alert, active again
    ]


def test_fixes_without_a_battery_level_change_nothing() -> None:
    w = World(with_order=False)
    w.subject(0, near(5000), battery=10)
    assert w.subject(10, near(5000)) == []
    assert w.only_alert().active


def test_battery_thresholds_are_tunable() -> None:
    w = World(with_order=False, tuning=Tuning(battery_low_pct=25, battery_ok_pct=50))
    assert w.subject(0, near(5000), battery=26) == []
    assert kinds(w.subject(10, near(5000), battery=25)) == [Change.OPENED]
    assert w.subject(20, near(5000), battery=49) == []
    assert kinds(w.subject(30, near(5000), battery=50)) == [Change.CLEARED]


def test_battery_is_per_device() -> None:
    w = World(with_order=False)
    w.report(PHONE, 0, HOME, battery=10)
    w.report(WATCH, 0, HOME, battery=90)
    (alert,) = w.open_alerts()
    assert alert.key == AlertKey("battery", VICTIM, PHONE)


def test_a_battery_low_event_is_cleared_by_a_charged_level_on_fixes() -> None:
    w = World(with_order=False)
    w.event(ANKLE, 0, EventKind.BATTERY_LOW)
    assert w.subject(10, near(5000), battery=20) == []
    assert kinds(w.subject(20, near(5000), battery=80)) == [Change.CLEARED]


# --- power -----------------------------------------------------------------------------------------


def test_power_off_raises_and_the_next_message_clears_it() -> None:
    w = World(with_order=False)
    (opened,) = w.event(ANKLE, 0, EventKind.POWER_OFF)
    assert opened.alert.kind is AlertKind.POWER_OFF
    assert opened.alert.severity is Severity.HIGH
    (cleared,) = w.subject(120, near(5000))
    assert cleared.change is Change.CLEARED
    assert cleared.alert.id == opened.alert.id


def test_power_off_is_cleared_by_a_heartbeat_or_any_event() -> None:
    w = World(with_order=False)
    w.event(ANKLE, 0, EventKind.POWER_OFF)
    assert kinds(w.engine.on_heard(ANKLE, at(60), at(60))) == [Change.CLEARED]
    w.event(ANKLE, 100, EventKind.POWER_OFF)
    changes = w.event(ANKLE, 160, EventKind.STRAP_OPEN)
    assert summary(changes) == [(Change.CLEARED, AlertKind.POWER_OFF), (Change.OPENED, AlertKind.TAMPER)]


def test_a_repeated_power_off_does_not_clear_itself() -> None:
    w = World(with_order=False)
    w.event(ANKLE, 0, EventKind.POWER_OFF)
    assert Change.CLEARED not in kinds(w.event(ANKLE, 5, EventKind.POWER_OFF))
    assert w.only_alert().active


def test_another_devices_message_does_not_clear_power_off() -> None:
    w = World(with_order=False)
    w.event(PHONE, 0, EventKind.POWER_OFF)
    assert w.report(WATCH, 10, HOME) == []
    assert w.only_alert().active


def test_heartbeat_and_ble_contact_raise_nothing() -> None:
    w = World(with_order=False)
    assert w.event(ANKLE, 0, EventKind.HEARTBEAT) == []
    assert w.event(ANKLE, 1, EventKind.BLE_CONTACT) == []


def test_an_alarm_in_a_late_upload_is_raised_and_marked_late() -> None:
    """A strap cut stored by the monitor and sent 18 minutes later is raised at once, marked late
    (it is not one under way); one sent at once is not."""
    w = World()
    cut = DeviceEvent(ANKLE, at(0), EventKind.STRAP_CUT)
    (late,) = w.engine.on_event(cut, at(18 * 60), at(18 * 60))
    assert late.change is Change.OPENED and late.alert.late
    fresh = World()
    (now,) = fresh.engine.on_event(cut, at(30), at(30))
    assert not now.alert.late
