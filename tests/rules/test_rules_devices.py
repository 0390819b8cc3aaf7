"""One person, several devices: each keeps its own track; the person's position is fused."""

from __future__ import annotations

from rules_kit import ANKLE, DEVICES, HOME, PHONE, SUBJECT, VICTIM, WATCH, World, at, near, order, summary

from vigil.domain.alerts import AlertKind, Change
from vigil.domain.model import Device, DeviceKind, PersonKind

HIS_PHONE = "his-phone"
PHONE_DEVICE = Device(HIS_PHONE, DeviceKind.PHONE, SUBJECT, PersonKind.SUBJECT, silence_limit_s=None)
VIOL = AlertKind.PROXIMITY_VIOLATION
HIS_HOME = near(3000, 0)


def _world() -> World:
    return World(devices=(*DEVICES, PHONE_DEVICE))


def test_a_phone_left_at_home_never_clears_a_violation_the_ankle_monitor_holds() -> None:
    w = _world()
    w.victim(0)
    assert w.report(HIS_PHONE, 0, HIS_HOME, acc=15) == []
    assert summary(w.subject(0, near(50), acc=8)) == [(Change.OPENED, VIOL)]
    for t in range(15, 600, 30):
        assert w.report(HIS_PHONE, t, HIS_HOME, acc=15) == [], t
        if t % 60 == 45:
            assert w.subject(t + 15, near(45), acc=8) == [], t
    assert w.only_alert().active
    latest = w.engine.tracks[SUBJECT].latest
    assert latest is not None and latest.device_id == ANKLE


def test_the_phone_stands_for_him_once_the_ankle_monitor_has_been_silent_long() -> None:
    w = _world()
    w.victim(0)
    w.subject(0, near(3000, 90), acc=8)
    assert w.report(HIS_PHONE, 600, near(3000, 90), acc=15) == []
    latest = w.engine.tracks[SUBJECT].latest
    assert latest is not None and latest.device_id == ANKLE  # 10 min: the monitor still counts
    # 20 minutes without the monitor: the phone near her is all that says where he is
    assert summary(w.report(HIS_PHONE, 1200, near(50), acc=15)) == [(Change.OPENED, VIOL)]


def test_speed_and_plausibility_never_mix_two_receivers() -> None:
    w = _world()
    w.victim(0)
    w.subject(0, near(2000), acc=8, speed=0.0)
    # his phone 2 km away at the same moment: another receiver, no impossible move, no doubt
    assert w.report(HIS_PHONE, 5, near(50), acc=15, speed=0.0) == []
    assert w.engine.drain_requests() == []
    (warned,) = w.subject(60, near(400), acc=8)
    assert warned.alert.facts.subject_speed_mps is not None
    assert abs(warned.alert.facts.subject_speed_mps - 1600 / 60) < 1.0  # from his ankle fixes only


def test_a_device_given_to_someone_else_no_longer_places_its_old_person() -> None:
    w = _world()
    w.victim(0)
    w.report(HIS_PHONE, 0, near(50), acc=15)
    assert w.engine.tracks[SUBJECT].latest is not None
    w.engine.put_device(Device(HIS_PHONE, DeviceKind.PHONE, None, None))
    assert w.engine.tracks[SUBJECT].latest is None
    assert HIS_PHONE not in w.engine.tracks[SUBJECT].devices


def test_her_watch_and_phone_fuse_to_one_position() -> None:
    w = World()
    w.subject(0, near(3000, 0))
    w.report("watch-1", 0, near(0), acc=10)
    w.victim(20, near(60, 180), acc=40)  # her phone, 20 s fresher but far less precise
    latest = w.engine.tracks[VICTIM].latest
    assert latest is not None and latest.device_id == "watch-1"
    assert latest.time == at(0)


def test_a_jump_of_the_phone_he_left_at_home_warns_of_nothing() -> None:
    w = _world()
    w.victim(0)
    w.subject(0, HIS_HOME, acc=8, speed=0.0)
    w.report(HIS_PHONE, 0, HIS_HOME, acc=15, speed=0.0)
    w.subject(60, HIS_HOME, acc=8, speed=0.0)
    # the phone's reflection puts it at her door: the ankle monitor says where he is
    assert w.report(HIS_PHONE, 70, near(50), acc=15, speed=0.0) == []
    (request,) = w.engine.drain_requests()  # still asked to confirm
    assert request.device_id == HIS_PHONE


OLD_MONITOR = Device("ankle-old", DeviceKind.ANKLE_MONITOR, SUBJECT, PersonKind.SUBJECT)


def test_an_old_monitor_left_on_a_desk_never_lowers_the_violation_the_worn_one_holds() -> None:
    """A replacement monitor fitted while the old one, still bound to him, reports from a desk 2.9 km
    away every minute: fusion takes the fresher of the two, so the live position swaps between
    them. Judged on each, the nearer danger stands: one violation, its tier never back to warning
    while he stands at her door (before: the tier flipped at every report)."""
    w = World(devices=(*DEVICES, OLD_MONITOR))
    w.victim(0, near(0))
    for minute in range(20):
        t = 60 * minute
        w.report("ankle-old", t + 20, near(2900, 0), acc=10, speed=0.0)
        w.subject(t + 40, near(40, 180), acc=10, speed=0.0)
        w.victim(t + 50, near(0))
    lines = [(c.change, c.alert.facts.tier) for c in w.log if c.alert.kind is VIOL]
    assert lines[0] == (Change.ESCALATED, "violation") or lines[0] == (Change.OPENED, "violation")
    assert all(tier == "violation" for _, tier in lines), lines
    assert len(lines) <= 2


def test_her_phone_with_her_while_her_watch_charges_at_home_is_judged_too() -> None:
    """Her watch lies still at home 1 km from her (body-worn: it stands for her); her phone is with
    her in a park, and he stands 60 m from the phone. Each of her current devices is judged and the
    nearer danger stands: a violation (nothing was raised)."""
    w = World(order(warning=500))
    park = near(1000, 90)
    for t in range(0, 600, 60):
        w.report(WATCH, t, HOME, acc=10, speed=0.0)
        w.report(PHONE, t + 5, park, acc=15)
    changes = w.subject(610, near(60, 0, park), acc=10, speed=0.0)
    assert AlertKind.PROXIMITY_VIOLATION in [c.alert.kind for c in changes]


def test_his_monitor_heard_without_a_position_still_stands_for_him_against_his_phone() -> None:
    """His monitor, last placed at her door, is wrapped in foil there: heartbeats, no position. His
    phone reports from home 3 km away. After 15 minutes the phone stood for him and the violation
    cleared; a body-worn device heard stands for as long as it is heard."""
    w = World(order(warning=1000), devices=(*DEVICES, PHONE_DEVICE))
    w.victim(0)
    w.subject(0, near(40), acc=10, speed=0.0)
    for t in range(60, 2400, 60):
        w.engine.on_heard(ANKLE, at(t), at(t))
        w.victim(t)
        w.report(HIS_PHONE, t + 10, near(3000), acc=15, speed=0.0)
    alert = w.engine.book.get("a-1")
    assert alert is not None and alert.active and alert.kind is AlertKind.PROXIMITY_VIOLATION


def test_his_phone_that_was_with_his_slow_monitor_is_judged_beside_it() -> None:
    """His monitor reports every 5 minutes, his phone in his pocket every 30 s, both on his way to
    her at 12 m/s. The monitor's last fix, 2 minutes old, is where he was; the phone, with the
    monitor at that fix, shows him at her door: a violation on the phone's fix (it waited 3 minutes
    for the monitor). A phone that was not with the monitor (left at home) stands for nothing."""
    w = _world()
    w.victim(0)
    w.subject(0, near(2400, 0), acc=10, speed=12.0, heading=180.0)  # 2.4 km out at 12 m/s
    changes = []
    for t in range(2, 300, 30):  # the phone beside it, then on to her door
        changes += w.report(
            HIS_PHONE, t, near(max(30.0, 2400 - 12 * t), 0), acc=12, speed=12.0, heading=180.0
        )
    raised = [c for c in changes if c.alert.kind is VIOL]
    assert raised and raised[0].at == at(212)  # the phone's first fix within 100 m of her
    latest = w.engine.tracks[SUBJECT].latest
    assert latest is not None and latest.device_id == ANKLE  # the monitor still stands for him
    # the phone he left at home, 3 km away, beside nothing: his fresh monitor fix far from her stands
    w2 = _world()
    w2.victim(0)
    w2.report(HIS_PHONE, 0, near(60, 90), acc=12)
    w2.subject(10, HIS_HOME, acc=10)
    assert [c for c in w2.report(HIS_PHONE, 60, near(40, 90), acc=12) if c.alert.kind is VIOL] == []
