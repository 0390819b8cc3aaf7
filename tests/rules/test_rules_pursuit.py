"""Pursuit mode (rules/pursuit.py): which devices are asked to report fast, and when that ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.domain.alerts import Alert, AlertKey, AlertKind, AlertState, Facts
from vigil.rules.pursuit import Pursuit

T0 = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
HOLD = 300.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    kind: AlertKind = AlertKind.PROXIMITY_WARNING, active: bool = True, state: AlertState = AlertState.OPEN
) -> Alert:
    return Alert(
        id="a-1", key=AlertKey("proximity", "S1", "P1"), kind=kind, state=state, active=active, opened_at=T0,
        updated_at=T0, facts=Facts(), subject_id="S1", protected_person_id="P1",
    )  # fmt: skip


def modes(p: Pursuit) -> list[tuple[str, bool, datetime]]:
    return [(c.device_id, c.pursuit, c.at) for c in p.drain()]


def test_a_danger_starts_pursuit_once_and_its_end_waits_for_the_hold() -> None:
    p = Pursuit(HOLD)
    p.follow(alert(), ["AM-1", "W-1"], at(0))
    assert modes(p) == [("AM-1", True, at(0)), ("W-1", True, at(0))]
    p.follow(alert(), ["AM-1", "W-1"], at(30))  # the same danger again: nothing new
    assert modes(p) == []
    p.follow(alert(active=False), ["AM-1", "W-1"], at(60))
    assert p.next_due() == at(60 + HOLD)
    p.due(at(60 + HOLD - 1))
    assert modes(p) == []
    p.due(at(60 + HOLD))
    assert modes(p) == [("AM-1", False, at(60 + HOLD)), ("W-1", False, at(60 + HOLD))]
    assert p.next_due() is None


def test_a_danger_back_within_the_hold_keeps_the_mode_without_a_flip() -> None:
    p = Pursuit(HOLD)
    p.follow(alert(), ["AM-1"], at(0))
    p.follow(alert(active=False), ["AM-1"], at(60))
    p.follow(alert(), ["AM-1"], at(120))
    p.due(at(1000))
    assert modes(p) == [("AM-1", True, at(0))]


def test_one_of_two_dangers_ending_keeps_the_mode() -> None:
    p = Pursuit(HOLD)
    p.follow(alert(), ["AM-1"], at(0))
    p.follow(replace(alert(AlertKind.TAMPER), id="a-2"), ["AM-1"], at(10))
    p.follow(alert(active=False), ["AM-1"], at(60))
    p.due(at(1000))
    assert modes(p) == [("AM-1", True, at(0))]


def test_a_closed_alert_ends_the_danger_even_while_its_condition_holds() -> None:
    p = Pursuit(HOLD)
    p.follow(alert(), ["AM-1"], at(0))
    p.follow(alert(state=AlertState.RESOLVED), ["AM-1"], at(60))
    p.due(at(60 + HOLD))
    assert [m[1] for m in modes(p)] == [True, False]


def test_kinds_that_are_no_danger_do_not_start_it() -> None:
    p = Pursuit(HOLD)
    for kind in (AlertKind.BATTERY_LOW, AlertKind.SIGNAL_LOSS, AlertKind.DISPATCH_FAILURE):
        p.follow(alert(kind), ["AM-1"], at(0))
    assert modes(p) == []


def test_a_confirmation_request_ends_at_its_own_time() -> None:
    p = Pursuit(HOLD)
    p.request("AM-1", "a jump of 900 m in 60 s", at(300), at(0))
    assert modes(p) == [("AM-1", True, at(0))]
    assert p.next_due() == at(300)
    p.due(at(300))
    assert modes(p) == [("AM-1", False, at(300))]


def test_after_a_restart_a_device_left_in_pursuit_with_no_danger_ends_after_the_hold() -> None:
    p = Pursuit(HOLD)
    p.restore(["AM-1", "AM-2"])
    p.follow(alert(), ["AM-2"], at(0))  # a restored danger keeps AM-2 fast, with no new command
    p.settle(at(0))
    assert modes(p) == []
    p.due(at(HOLD))
    assert modes(p) == [("AM-1", False, at(HOLD))]


# --- the earliest deadline, kept as it goes --------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.sampled_from(["danger", "safe", "request", "due", "settle"]),
        st.sampled_from(["AM-1", "AM-2", "W-1"]),
        st.sampled_from(["a-1", "a-2"]),
        st.integers(min_value=0, max_value=400),  # the clock moves on this much
        st.integers(min_value=1, max_value=600),  # a request's length
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_earliest_deadline_kept_as_it_goes_is_the_earliest_there_is(
    steps: list[tuple[str, str, str, int, int]],
) -> None:
    """`next_due` is kept as times are added and worked out again only when the earliest goes: after
    any sequence of dangers, their ends, requests, deadlines and a restart, it is the earliest of every
    time held (a mutant that never works it out again, or keeps a time taken away, fails this)."""
    p = Pursuit(HOLD)
    t = 0
    for kind, device, alert_id, advance, length in steps:
        t += advance
        one = replace(alert(), id=alert_id)
        if kind == "danger":
            p.follow(one, [device], at(t))
        elif kind == "safe":
            p.follow(replace(one, active=False), [device], at(t))
        elif kind == "request":
            p.request(device, "a doubted fix", at(t + length), at(t))
        elif kind == "due":
            p.due(at(t))
        else:
            p.settle(at(t))
        held = list(p._ending.values())
        held += [u for reasons in p._reasons.values() for u in reasons.values() if u is not None]
        assert p.next_due() == (min(held) if held else None)


def test_a_warning_that_escalated_ends_with_its_violation() -> None:
    """One alert, one danger: escalated from warning to violation and back (its kind changing), the
    mode ends once after the hold when the alert clears (the warning's reason was left behind)."""
    p = Pursuit(HOLD)
    p.follow(alert(), ["AM-1"], at(0))
    p.follow(alert(AlertKind.PROXIMITY_VIOLATION), ["AM-1"], at(60))
    p.follow(alert(AlertKind.PROXIMITY_WARNING), ["AM-1"], at(120))  # back at warning range
    p.follow(alert(AlertKind.PROXIMITY_VIOLATION, active=False), ["AM-1"], at(180))
    assert p.next_due() == at(180 + HOLD)
    p.due(at(180 + HOLD))
    assert modes(p) == [("AM-1", True, at(0)), ("AM-1", False, at(180 + HOLD))]


def test_her_sos_puts_the_devices_of_the_man_her_order_keeps_from_her_in_pursuit() -> None:
    """She presses SOS at home, he is 3 km away: his monitor is asked to report fast too, not only
    her devices (docs/devices.md)."""
    from rules_kit import ANKLE, PHONE, World, near

    from vigil.domain.model import EventKind

    w = World()
    w.victim(0)
    w.subject(0, near(3000))
    w.engine.drain_modes()
    w.event(PHONE, 30, EventKind.SOS)
    on = {c.device_id for c in w.engine.drain_modes() if c.pursuit}
    assert ANKLE in on and PHONE in on


def test_her_sos_does_not_pursue_a_man_whose_order_has_ended() -> None:
    from rules_kit import ANKLE, PHONE, World, at, near, order

    from vigil.domain.model import EventKind

    w = World(order(valid_until=at(10)))
    w.victim(0)
    w.subject(0, near(3000))
    w.engine.drain_modes()
    w.event(PHONE, 30, EventKind.SOS)
    on = {c.device_id for c in w.engine.drain_modes() if c.pursuit}
    assert PHONE in on and ANKLE not in on
