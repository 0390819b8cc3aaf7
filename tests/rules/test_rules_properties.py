"""Properties of the rules over random positions, accuracies and input sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_kit import ANKLE, HOME, PHONE, WATCH, World, at, circle_zone, fix, near, order

from vigil.domain import geo
from vigil.domain.alerts import (
    TERMINAL,
    AlertChange,
    AlertKey,
    AlertState,
    Change,
    IllegalTransition,
    Signal,
    can_move,
)
from vigil.domain.model import DeviceEvent, EventKind, Fix, Order
from vigil.rules import proximity
from vigil.rules.proximity import CLEAR, VIOLATION, WARNING, PairState, Party, tier_for
from vigil.rules.tuning import Tuning

TUNING = Tuning()
tiers = st.sampled_from([CLEAR, WARNING, VIOLATION])
separations = st.floats(min_value=0.0, max_value=20_000.0, allow_nan=False)
accuracies = st.one_of(st.none(), st.floats(min_value=0.0, max_value=2_000.0, allow_nan=False))
bearings = st.floats(min_value=0.0, max_value=360.0, exclude_max=True)
spots = st.tuples(st.floats(min_value=0.0, max_value=3_000.0), bearings)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    violation = draw(st.floats(min_value=1.0, max_value=2_000.0))
    warning = draw(st.floats(min_value=violation, max_value=5_000.0))
    return order(violation=violation, warning=warning)


@given(orders(), tiers, separations, separations)
def test_tier_is_monotone_in_separation(o: Order, held: int, a: float, b: float) -> None:
    near_, far_ = sorted((a, b))
    assert tier_for(near_, held, o, TUNING) >= tier_for(far_, held, o, TUNING)


@given(orders(), separations, tiers, tiers)
def test_holding_a_tier_never_lowers_it(o: Order, effective: float, h1: int, h2: int) -> None:
    low, high = sorted((h1, h2))
    assert tier_for(effective, high, o, TUNING) >= tier_for(effective, low, o, TUNING)


def _assess(
    o: Order, held: int, s: tuple[float, float], s_acc: float | None, p_acc: float | None
) -> tuple[PairState, Signal]:
    subject = fix(ANKLE, at(0), near(*s), acc=s_acc)
    victim = fix(PHONE, at(0), HOME, acc=p_acc)
    return proximity.assess(o, PairState(held), Party(subject, None), Party(victim, None), at(0), TUNING)


@given(orders(), tiers, spots, spots, accuracies, accuracies)
def test_assessed_tier_is_monotone_in_distance(
    o: Order, held: int, s1: tuple[float, float], s2: tuple[float, float], sa: float | None, pa: float | None
) -> None:
    (state1, _), (state2, _) = _assess(o, held, s1, sa, pa), _assess(o, held, s2, sa, pa)
    d1 = geo.distance_m(*HOME, *near(*s1))
    d2 = geo.distance_m(*HOME, *near(*s2))
    if d1 <= d2:
        assert state1.tier >= state2.tier
    else:
        assert state1.tier <= state2.tier


@given(orders(), tiers, spots, accuracies, accuracies)
def test_active_iff_effective_separation_within_warning_distance(
    o: Order, held: int, s: tuple[float, float], sa: float | None, pa: float | None
) -> None:
    state, signal = _assess(o, held, s, sa, pa)
    distance = geo.distance_m(*HOME, *near(*s))
    uncertainty = math.hypot(sa or 0.0, pa or 0.0)
    coarse = uncertainty > TUNING.coarse_accuracy_m
    effective = distance if coarse else max(0.0, distance - uncertainty)
    reach = o.warning_distance_m + (TUNING.margin(o.warning_distance_m) if held > CLEAR else 0.0)
    # entering the warning tier on the near edge alone needs someone moving (no speeds here), and on
    # a lone coarse position a second one (`_seen_twice`: each judged fresh here) unless it is centred
    # within the violation distance; a coarse position cannot lower a tier held
    entered = held > CLEAR or (
        not coarse and (distance <= o.warning_distance_m or effective <= o.violation_distance_m)
    )
    # ... and a warning on a poor fix (Wi-Fi-like, 100-300 m) whose far edge lies beyond the warning
    # line is a first look too (`_seen_twice`), like a lone coarse one
    poor = max(sa or 0.0, pa or 0.0) > TUNING.poor_accuracy_m
    first_look = (
        held == CLEAR
        and not coarse
        and poor
        and effective > o.violation_distance_m
        and distance + uncertainty > o.warning_distance_m
    )
    entered = (entered and not first_look) or (coarse and distance <= o.violation_distance_m)
    within = (effective <= reach and entered) or (coarse and held > CLEAR)
    assert (state.tier > CLEAR) is within
    # a pair that leaves every tier keeps its alert active for the hold (a pending clear)
    assert signal.active is (within or held > CLEAR)
    assert (state.left_at is not None) is (not within and held > CLEAR)
    assert signal.onset is (state.tier > held)
    if coarse:
        assert state.tier >= held and (state.tier == held or state.tier <= WARNING)
    assert signal.facts.distance_m == round(distance, 1)


# --- random input sequences through the engine -----------------------------------------------------


@dataclass(frozen=True)
class FixStep:
    device: str
    advance: int  # the clock moves on this much
    delay: int  # measured this long before it is received: late, and often out of order
    spot: tuple[float, float]
    acc: float | None


@dataclass(frozen=True)
class TickStep:
    advance: int


@dataclass(frozen=True)
class EventStep:
    device: str
    advance: int
    kind: EventKind


@dataclass(frozen=True)
class MoveStep:
    index: int
    target: AlertState


Step = FixStep | TickStep | EventStep | MoveStep
DEVICE_IDS = (ANKLE, PHONE, WATCH)
fix_steps = st.builds(
    FixStep,
    st.sampled_from(DEVICE_IDS),
    st.integers(min_value=1, max_value=120),
    st.sampled_from([0, 0, 0, 30, 150, 400]),
    st.tuples(st.floats(min_value=0.0, max_value=900.0), bearings),  # around her home
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=400.0), st.just(800.0)),
)
steps = st.lists(
    st.one_of(
        fix_steps,
        fix_steps,
        fix_steps,
        st.builds(TickStep, st.integers(min_value=1, max_value=900)),
        st.builds(
            EventStep, st.sampled_from(DEVICE_IDS), st.integers(1, 60), st.sampled_from(list(EventKind))
        ),
        st.builds(MoveStep, st.integers(0, 10), st.sampled_from(list(AlertState))),
    ),
    max_size=40,
)


def _run(w: World, step: Step, clock: float) -> tuple[float, list[AlertChange]]:
    engine = w.engine
    if isinstance(step, FixStep):
        clock += step.advance
        measured: Fix = fix(step.device, at(clock - step.delay), near(*step.spot), acc=step.acc)
        return clock, engine.on_fix(measured, at(clock), at(clock))
    if isinstance(step, TickStep):
        clock += step.advance
        return clock, engine.tick(at(clock))
    if isinstance(step, EventStep):
        clock += step.advance
        return clock, engine.on_event(DeviceEvent(step.device, at(clock), step.kind), at(clock), at(clock))
    alerts = sorted(engine.book, key=lambda a: a.id)
    if not alerts:
        return clock, []
    alert = alerts[step.index % len(alerts)]
    if can_move(alert.state, step.target):
        return clock, [engine.move(alert.id, step.target, actor="op", now=at(clock))]
    before = list(engine.book)
    try:
        engine.move(alert.id, step.target, actor="op", now=at(clock))
    except IllegalTransition:
        pass
    else:
        raise AssertionError("an illegal move was taken")
    assert list(engine.book) == before
    return clock, []


@settings(max_examples=150, deadline=None)
@given(steps)
def test_random_sequences_keep_the_books_invariants(plan: list[Step]) -> None:
    zone = circle_zone("near-home", near(400, 200), 250, subject_id=None)
    w = World(order(zones=(zone,)))
    engine = w.engine
    clock = 0.0
    # The alerts open (not closed by people) for each key, oldest first: a condition back after its
    # alert cleared more than a hold ago is a new alert, and the cleared one stays open for its
    # operator, so a key may have several, of which one at most is active.
    open_ids: dict[AlertKey, list[str]] = {}
    for a in sorted(engine.book, key=lambda a: a.id):
        open_ids.setdefault(a.key, []).append(a.id)
    active: dict[str, bool] = {a.id: a.active for a in engine.book}
    latest_seen: dict[str, Fix] = {}
    for step in plan:
        clock, changes = _run(w, step, clock)
        for change in changes:
            alert = change.alert
            ids = open_ids.setdefault(alert.key, [])
            if change.change is Change.OPENED:
                # a second alert for a key only once the first has cleared: never two active
                assert not any(active[i] for i in ids), f"a second active alert for {alert.key}"
                ids.append(alert.id)
            else:
                assert alert.id in ids
            active[alert.id] = alert.active
            if alert.state in TERMINAL:
                ids.remove(alert.id)
            if not ids:
                del open_ids[alert.key]
            facts = alert.facts
            s, p = facts.subject_position, facts.protected_position
            if s is not None and p is not None:
                assert facts.distance_m == round(geo.distance_m(p.lat, p.lon, s.lat, s.lon), 1)
            if facts.bearing_deg is not None:
                assert 0.0 <= facts.bearing_deg < 360.0

        book = list(engine.book)
        assert {a.key for a in book} == set(open_ids)
        assert sorted(a.id for a in book) == sorted(i for ids in open_ids.values() for i in ids)
        # the key stands for its active alert, else its newest
        for k, ids in open_ids.items():
            live = [i for i in ids if active[i]]
            assert engine.book.for_key(k) is engine.book.get(live[0] if live else ids[-1])
        assert all(engine.book.get(a.id) is a for a in book)
        assert all(sum(1 for a in book if a.key == k and a.active) <= 1 for k in open_ids)
        assert all(a.state not in TERMINAL for a in book)
        # The live position never moves backward, and the history stays in time order.
        for person, track in engine.tracks.items():
            assert track.latest is not None
            previous = latest_seen.get(person)
            assert previous is None or track.latest.time >= previous.time
            latest_seen[person] = track.latest
            times = [f.time for f in track.history]  # all of the person's devices: ties allowed
            assert times == sorted(times)
            for own in track.devices.values():
                own_times = [f.time for f in own.history]
                assert own_times == sorted(set(own_times))
        # The timer stays small whatever the traffic.
        assert len(engine._deadlines) <= 8
