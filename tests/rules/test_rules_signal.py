"""Signal loss: a watched device that stops reporting raises at exactly its silence limit, by the clock,
and the next message from it clears the alert. The timer holds one entry per device, however often it
reports."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rules_kit import (
    ANKLE,
    ANKLE_MONITOR,
    HOME,
    PHONE,
    SUBJECT,
    VICTIM_PHONE,
    VICTIM_WATCH,
    WATCH,
    World,
    at,
    kinds,
    near,
)

from vigil.domain.alerts import AlertKey, AlertKind, Change, Severity
from vigil.domain.model import Device, DeviceKind, EventKind, PersonKind
from vigil.rules import signal
from vigil.rules.tuning import Tuning

# The standard devices, with the ankle monitor's want of a position unwatched: the only deadline on
# the timer is its silence.
SILENCE_ONLY = (replace(ANKLE_MONITOR, location_limit_s=30 * 86400.0), VICTIM_PHONE, VICTIM_WATCH)


def _known(w: World, before: float = 0.0) -> None:
    """His monitor heard twice a minute apart before `before`: its interval is known to be short, so
    its silence limit is the default (a device of which nothing is known is allowed a slow
    reporter's: `test_a_device_reporting_every_300_s_is_never_silent_between_its_reports`)."""
    for t in (before - 120, before - 60):
        w.engine.on_heard(ANKLE, at(t), at(t))


def test_an_ankle_monitor_silent_for_300_s_raises_exactly_then() -> None:
    w = World(with_order=False)
    _known(w)
    w.subject(0, near(3000))
    assert w.engine._silence_at[ANKLE] == at(300)
    assert w.tick(at(299)) == []
    assert w.tick(at(299.999999)) == []
    (opened,) = w.tick(at(300))
    alert = opened.alert
    assert opened.change is Change.OPENED
    assert opened.at == at(300)
    assert alert.kind is AlertKind.SIGNAL_LOSS
    assert alert.severity is Severity.MEDIUM
    assert alert.key == AlertKey("signal", SUBJECT, ANKLE)
    assert alert.facts.device_id == ANKLE
    assert alert.facts.occurred_at == at(0)  # last heard
    assert alert.facts.subject_position is not None
    assert alert.facts.subject_position.age_s == 300
    # raised once: later ticks say nothing more
    assert w.tick(at(10_000)) == []
    assert w.engine.next_deadline() is None


def test_a_late_tick_raises_at_the_deadline_time() -> None:
    w = World(with_order=False)
    _known(w)
    w.subject(0, near(3000))
    (opened,) = w.tick(at(1000))
    assert opened.at == at(300)
    assert opened.alert.opened_at == at(300)


def test_the_next_message_clears_signal_loss() -> None:
    w = World(with_order=False, devices=SILENCE_ONLY)
    _known(w)
    w.subject(0, near(3000))
    (opened,) = w.tick(at(300))
    (cleared,) = w.subject(400, near(3000))
    assert cleared.change is Change.CLEARED
    assert cleared.alert.id == opened.alert.id
    # and the watch starts again from the new message
    assert w.engine.next_deadline() == at(700)
    assert kinds(w.tick(at(700))) == [Change.UPDATED]


@pytest.mark.parametrize("how", ["heartbeat", "event"])
def test_a_heartbeat_or_an_event_clears_it_too(how: str) -> None:
    w = World(with_order=False)
    _known(w)
    w.subject(0, near(3000))
    w.tick(at(300))
    if how == "heartbeat":
        changes = w.engine.on_heard(ANKLE, at(301), at(301))
    else:
        changes = w.event(ANKLE, 301, EventKind.HEARTBEAT)
    assert kinds(changes) == [Change.CLEARED]


def test_reports_before_the_deadline_push_it_back() -> None:
    w = World(with_order=False)
    _known(w)
    w.subject(0, near(3000))
    w.subject(200, near(3000))
    assert w.tick(at(300)) == []
    assert w.tick(at(499)) == []
    assert [c.alert.kind for c in w.tick(at(500))] == [AlertKind.SIGNAL_LOSS]


def test_silence_counts_from_when_a_message_was_received() -> None:
    w = World(with_order=False)
    _known(w)
    # measured at 0 but received at 100 (a delayed upload): the device was alive at 100
    w.subject(0, near(3000), received=100)
    assert w.engine._silence_at[ANKLE] == at(400)


def test_an_older_receipt_does_not_move_the_deadline_back() -> None:
    w = World(with_order=False)
    _known(w, 40)
    w.engine.on_heard(ANKLE, at(100), at(100))
    w.engine.on_heard(ANKLE, at(50), at(100))
    assert w.tick(at(350)) == []
    assert w.engine.next_deadline() == at(400)


def test_per_device_silence_limit_is_honoured() -> None:
    quick = replace(ANKLE_MONITOR, silence_limit_s=60.0)
    w = World(with_order=False, devices=(quick, VICTIM_PHONE, VICTIM_WATCH))
    w.subject(0, near(3000))
    assert w.engine.next_deadline() == at(60)
    assert w.tick(at(59)) == []
    assert len(w.tick(at(60))) == 1


def test_default_silence_limit_is_tunable() -> None:
    w = World(with_order=False, tuning=Tuning(default_silence_s=900), devices=SILENCE_ONLY)
    w.subject(0, near(3000))
    assert w.engine.next_deadline() == at(900)


def test_changing_a_devices_limit_reschedules_it() -> None:
    w = World(with_order=False)
    _known(w)
    w.subject(0, near(3000))
    assert w.engine._silence_at[ANKLE] == at(300)
    # the limit is shortened while it is being watched: the new, earlier deadline holds (three of
    # its learned 60 s intervals: a report lost is not an outage)
    w.engine.put_device(replace(ANKLE_MONITOR, silence_limit_s=60.0))
    assert w.engine.next_deadline() == at(180)
    assert len(w.tick(at(180))) == 1
    assert w.tick(at(300)) == []
    # and lengthened: the early entry is pushed back, nothing fires before the new deadline
    w.subject(400, near(3000))
    w.engine.put_device(replace(ANKLE_MONITOR, silence_limit_s=600.0))
    assert w.tick(at(999)) == []
    assert [c.alert.kind for c in w.tick(at(1000))] == [AlertKind.SIGNAL_LOSS]


@pytest.mark.parametrize("device", [PHONE, WATCH])
def test_victim_devices_are_not_watched_by_default(device: str) -> None:
    w = World(with_order=False)
    w.report(device, 0, HOME)
    assert w.engine.next_deadline() is None
    assert w.tick(at(86_400)) == []


def test_a_victim_device_with_its_own_limit_is_watched() -> None:
    watched = replace(VICTIM_WATCH, silence_limit_s=900.0)
    w = World(with_order=False, devices=(ANKLE_MONITOR, VICTIM_PHONE, watched))
    w.report(WATCH, 0, HOME)
    (opened,) = w.tick(at(900))
    assert opened.alert.kind is AlertKind.SIGNAL_LOSS
    assert opened.alert.protected_person_id is not None
    assert opened.alert.subject_id is None
    assert opened.alert.facts.protected_position is not None


def test_a_device_never_heard_from_is_not_raised() -> None:
    w = World(with_order=False)
    assert w.engine.next_deadline() is None
    assert w.tick(at(86_400)) == []


def test_an_unbound_device_is_not_watched() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000))
    w.engine.put_device(Device(ANKLE, DeviceKind.ANKLE_MONITOR, None, None))
    assert w.tick(at(86_400)) == []


def test_a_device_reporting_every_second_does_not_grow_the_timer() -> None:
    w = World()
    w.victim(0)
    # (at most a silence entry and a location entry, and the one the first message pushed for a
    # device of which nothing was known yet)
    for t in range(1, 1001):
        w.subject(t, near(3000 + t % 3))
        assert len(w.engine._deadlines) <= 3
    # a tick in the middle of the chatter pushes the single entry back rather than adding more
    for t in range(1001, 2001):
        w.subject(t, near(3000))
        if t % 100 == 0:
            assert w.tick(at(t)) == []
        assert len(w.engine._deadlines) <= 3
    assert w.engine.next_deadline() is not None
    assert w.tick(at(2299)) == []
    assert [c.alert.kind for c in w.tick(at(2300))] == [AlertKind.SIGNAL_LOSS]


def test_power_off_then_silence_raises_both() -> None:
    w = World(with_order=False)
    _known(w)
    w.event(ANKLE, 0, EventKind.POWER_OFF)
    assert [c.alert.kind for c in w.tick(at(300))] == [AlertKind.SIGNAL_LOSS]
    assert sorted(a.kind for a in w.open_alerts()) == [AlertKind.POWER_OFF, AlertKind.SIGNAL_LOSS]
    # and the next message clears both
    assert sorted(c.alert.kind for c in w.subject(400, near(3000))) == [
        AlertKind.POWER_OFF,
        AlertKind.SIGNAL_LOSS,
    ]


def test_a_silence_alert_for_a_subject_device_names_the_subject() -> None:
    w = World(with_order=False)
    _known(w)
    w.engine.on_heard(ANKLE, at(0), at(0))
    (opened,) = w.tick(at(300))
    assert opened.alert.subject_id == SUBJECT
    assert opened.alert.facts.subject_position is None  # heard, but never placed


def test_person_kinds_are_read_from_the_device() -> None:
    # a phone carried by a subject is still the subject's
    his_phone = Device("his-phone", DeviceKind.PHONE, SUBJECT, PersonKind.SUBJECT, silence_limit_s=120.0)
    w = World(with_order=False, devices=(ANKLE_MONITOR, his_phone))
    w.report("his-phone", 0, near(3000))
    (opened,) = w.tick(at(120))
    assert opened.alert.subject_id == SUBJECT


# --- the silence allowed follows the device's reporting interval -----------------------------------


def _signal_lines(w: World) -> list[Change]:
    return [c.change for c in w.log if c.alert.kind is AlertKind.SIGNAL_LOSS]


@pytest.mark.parametrize("jitter", [0, 20, 30])
def test_a_device_reporting_every_300_s_is_never_silent_between_its_reports(jitter: int) -> None:
    """Learned from the gaps between its messages: once two are known the limit is 3 x 300 s. Before
    that it is taken for the slowest normal reporter (`Tuning.unknown_interval_s`): its first gaps
    raise nothing either (they did: opened at 300 s, cleared at its report 17 s later)."""
    w = World(with_order=False, devices=SILENCE_ONLY)
    for n, t in enumerate(range(0, 12 * 3600, 300)):
        w.tick(at(t))
        w.subject(t + (jitter if n % 2 else 0), near(3000))
    assert _signal_lines(w) == []


def test_before_its_interval_is_known_a_first_short_gap_brings_the_default_back() -> None:
    """The slow allowance is for a device of which nothing is known: its first gap of a minute
    shows it is no slow reporter, and from then its silence is the default limit again."""
    w = World(with_order=False, devices=SILENCE_ONLY)
    w.subject(0, near(3000))
    assert w.engine.next_deadline() == at(900)  # heard once: 3 x the slowest normal interval
    w.subject(60, near(3000))
    assert w.engine._silence_at[ANKLE] == at(60 + 300)
    (opened,) = w.tick(at(360))
    assert opened.alert.kind is AlertKind.SIGNAL_LOSS


def test_a_configured_interval_sets_the_limit_from_the_first_message() -> None:
    slow = replace(ANKLE_MONITOR, report_interval_s=300.0, location_limit_s=30 * 86400.0)
    w = World(with_order=False, devices=(slow,))
    w.subject(0, near(3000))
    assert w.engine.next_deadline() == at(900)


@pytest.mark.parametrize("configured", [True, False])
def test_a_real_outage_of_a_slow_reporter_opens_once_and_clears_once(configured: bool) -> None:
    monitor = replace(ANKLE_MONITOR, location_limit_s=30 * 86400.0)
    if configured:
        monitor = replace(monitor, report_interval_s=300.0)
    else:  # learned: a few quick reports first, as when it is switched to 300 s reporting
        monitor = replace(monitor, silence_limit_s=3000.0)
    w = World(with_order=False, devices=(monitor,))
    if not configured:
        for t in range(0, 3000, 300):
            w.subject(t - 3000, near(3000))
        w.engine.put_device(replace(monitor, silence_limit_s=None))
    for t in range(0, 3600, 300):
        w.tick(at(t))
        w.subject(t, near(3000))
    # silent from 3300 for 20 min (the limit is 900 s), then reporting again
    for t in range(3300 + 1200, 3300 + 1200 + 3600, 300):
        w.tick(at(t))
        w.subject(t, near(3000))
    assert _signal_lines(w) == [Change.OPENED, Change.CLEARED]
    opened = next(c for c in w.log if c.alert.kind is AlertKind.SIGNAL_LOSS)
    assert opened.at == at(3300 + 900)


def test_a_fast_reporter_keeps_the_default_limit() -> None:
    w = World(with_order=False, devices=SILENCE_ONLY)
    for t in range(0, 600, 60):
        w.subject(t, near(3000))
    assert w.engine._silence_at[ANKLE] == at(540 + 300)


def test_the_learned_interval_is_the_median_of_recent_gaps() -> None:
    cadence = signal.Cadence(keep=5)
    assert cadence.interval(least=3) is None
    for t in (0, 60, 120, 180):
        cadence.heard(at(t))
    assert cadence.interval(least=3) == 60
    cadence.heard(at(180 + 3600))  # one outage does not move it
    assert cadence.interval(least=3) == 60
    for _ in range(10):  # a batch arriving at once is not a cadence
        cadence.heard(at(180 + 3600))
    assert cadence.interval(least=3) == 60
    for n in range(1, 4):  # switched to 300 s reporting: followed within a few reports
        cadence.heard(at(3780 + 300 * n))
    assert cadence.interval(least=3) == 300


def test_the_silence_limit_is_the_larger_of_the_limit_and_three_intervals() -> None:
    tuning = Tuning()
    assert signal.silence_limit(ANKLE_MONITOR, tuning) == 300
    assert signal.silence_limit(ANKLE_MONITOR, tuning, learned=60) == 300
    assert signal.silence_limit(ANKLE_MONITOR, tuning, learned=300) == 900
    assert signal.silence_limit(replace(ANKLE_MONITOR, report_interval_s=600), tuning, learned=60) == 1800
    assert signal.silence_limit(replace(ANKLE_MONITOR, silence_limit_s=3600), tuning, learned=300) == 3600
    assert signal.silence_limit(VICTIM_PHONE, tuning, learned=300) is None


def test_a_flapping_silence_clears_only_when_the_device_reports_again() -> None:
    """A 60 s monitor in poor coverage gets one message through every 400 s. The first clears the
    alert, as any message back does; the silence that follows within the hold makes it a flapping
    one, and from then one message is not reporting: the next clears only with a second within the
    device's limit (each message cleared it, "device back" minutes before it went silent again).
    Its learned interval soon follows the 400 s, and the silences end."""
    w = World(with_order=False, devices=SILENCE_ONLY)
    _known(w)
    w.subject(0, near(3000))
    for t in range(60, 2460, 60):
        w.tick(at(t))
        if t % 400 < 60:
            w.subject(t, near(3000))
    lines = [(c.at, c.change) for c in w.log if c.alert.kind is AlertKind.SIGNAL_LOSS]
    assert [change for _, change in lines].count(Change.OPENED) == 1
    cleared = [when for when, change in lines if change is Change.CLEARED]
    assert cleared == [at(420), at(1200)]  # not at 840: one message after a silence that flapped


def test_after_a_restart_a_device_keeps_the_silence_its_recent_fixes_show() -> None:
    """A restart (or a partition taken over by another worker) takes his recent fixes back: their
    gaps say he reports every minute, so a silence from then on is the default 5 minutes, not the
    15 a device never heard before is allowed."""
    w = World(with_order=False, devices=SILENCE_ONLY)
    for t in range(0, 600, 60):
        w.subject(t, near(3000))
    fixes = [f for track in w.engine.tracks.values() for f in track.history]
    fresh = World(with_order=False, devices=SILENCE_ONLY)
    fresh.engine.restore(fixes, {ANKLE: at(540)}, [], at(560))
    assert fresh.engine._silence_at[ANKLE] == at(540 + 300)
    (opened,) = fresh.tick(at(840))
    assert opened.alert.kind is AlertKind.SIGNAL_LOSS
