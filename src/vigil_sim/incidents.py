"""Scripted incidents: the situations the control centre exists for, mixed into ordinary days.

An incident overrides the routines of the people involved for its duration (a movement plan per
person, ending with a trip back to where the routine has them by then) and scripts what their
devices do (events, outages, a dying battery, a monitor cut off and left behind). Ground truth for
scoring comes from the same plans, not from what the devices manage to report.

Kinds:
    namyangju         the offender drives to the victim, stays, cuts the strap and flees
    victim_approach   the victim walks toward the parked offender (proximity must not need him to move)
    curfew_breach     out at 23:00 for about an hour
    tamper            strap_open or case_open, with or without a fix
    battery_death     the battery drains to empty, power_off, hours of silence
    signal_loss       the monitor falls silent for 10-30 minutes
    sos               the victim presses SOS
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from vigil.domain.model import EventKind
from vigil_sim.caseload import CaseOrder, Person, Subject
from vigil_sim.devices import BatteryDeath, Drop, Outage, ScriptedEvent
from vigil_sim.draws import unit_hash
from vigil_sim.movement import (
    WALK_MAX_M,
    Leg,
    Plan,
    Position,
    day_start,
    dist,
    jitter_point,
    jittered,
    stay,
    toward,
    travel,
    trip,
)

DEFAULT_RATE = 1 / 20  # incidents per subject-day


class IncidentKind(StrEnum):
    NAMYANGJU = "namyangju"
    VICTIM_APPROACH = "victim_approach"
    CURFEW_BREACH = "curfew_breach"
    TAMPER = "tamper"
    BATTERY_DEATH = "battery_death"
    SIGNAL_LOSS = "signal_loss"
    SOS = "sos"


# How often each kind is drawn, relative to the others (curfew breaches only for subjects with a curfew).
WEIGHTS: dict[IncidentKind, float] = {
    IncidentKind.NAMYANGJU: 0.08,
    IncidentKind.VICTIM_APPROACH: 0.10,
    IncidentKind.CURFEW_BREACH: 0.15,
    IncidentKind.TAMPER: 0.20,
    IncidentKind.BATTERY_DEATH: 0.12,
    IncidentKind.SIGNAL_LOSS: 0.20,
    IncidentKind.SOS: 0.15,
}

RoutineAt = Callable[[Person, float], Position]


@dataclass(frozen=True, slots=True)
class Override:
    """The person follows `plan` instead of the routine from plan.start to plan.end."""

    person_id: str
    plan: Plan


@dataclass(frozen=True, slots=True)
class Incident:
    kind: IncidentKind
    subject_id: str
    protected_person_id: str | None
    order_id: str | None
    device_id: str  # the device the incident acts on (the victim's for SOS)
    start: float  # epoch seconds
    end: float
    overrides: tuple[Override, ...] = ()
    events: tuple[ScriptedEvent, ...] = ()
    outages: tuple[Outage, ...] = ()
    deaths: tuple[BatteryDeath, ...] = ()
    drops: tuple[Drop, ...] = ()
    forced: bool = False

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def ended_at(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)


def draw(
    seed: int, subject: Subject, day: int, rate: float
) -> tuple[IncidentKind, float, random.Random] | None:
    """The random incident of this subject on this local day, if any: (kind, epoch start, rng).
    Decided by a hash of (seed, subject, day), so it does not depend on who else is simulated."""
    if unit_hash(seed, subject.id, "incident", day) >= rate:
        return None
    rng = random.Random(f"{seed}/{subject.id}/incident/{day}")
    kinds = [k for k in WEIGHTS if k is not IncidentKind.CURFEW_BREACH or subject.curfew is not None]
    kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
    if kind is IncidentKind.CURFEW_BREACH:
        at = day_start(day) + 23 * 3600 + rng.uniform(-600.0, 600.0)
    else:
        at = day_start(day) + rng.uniform(9.0, 20.0) * 3600.0
    return kind, float(round(at)), rng


def build(
    kind: IncidentKind,
    rng: random.Random,
    subject: Subject,
    order: CaseOrder | None,
    victim: Person | None,
    at: float,
    routine: RoutineAt,
    *,
    forced: bool = False,
    approach_from_m: float | None = None,
) -> Incident:
    """Script an incident of `kind` starting at epoch second `at`. Kinds involving a victim need
    `order` and `victim`; `routine` gives where people would otherwise be. `approach_from_m`: a
    staged namyangju (the demo's): he is already on his way, driving, at most this far from her
    door, and she waits outdoors where she is, so her device sees the sky (only for an incident
    that starts before his device has reported: the demo's first instant)."""
    device = subject.person.device.id
    base = Incident(
        kind,
        subject.id,
        victim.id if victim else None,
        order.id if order else None,
        device,
        at,
        at,
        forced=forced,
    )
    if kind is IncidentKind.NAMYANGJU:
        return _namyangju(base, rng, subject.person, _need(victim, kind), routine, approach_from_m)
    if kind is IncidentKind.VICTIM_APPROACH:
        return _victim_approach(base, rng, subject.person, _need(victim, kind), routine)
    if kind is IncidentKind.CURFEW_BREACH:
        return _curfew_breach(base, rng, subject.person, routine)
    if kind is IncidentKind.TAMPER:
        event = EventKind.STRAP_OPEN if rng.random() < 0.5 else EventKind.CASE_OPEN
        return _with(base, events=(ScriptedEvent(at, event, with_fix=rng.random() < 0.5),))
    if kind is IncidentKind.BATTERY_DEATH:
        empty_s = rng.uniform(40.0, 90.0) * 60.0
        revive = at + rng.uniform(3.0, 8.0) * 3600.0
        return _with(base, end=revive, deaths=(BatteryDeath(at, empty_s, revive),))
    if kind is IncidentKind.SIGNAL_LOSS:
        end = at + rng.uniform(10.0, 30.0) * 60.0
        return _with(base, end=end, outages=(Outage(at, end),))
    victim = _need(victim, kind)
    return _with(
        base,
        device_id=victim.device.id,
        events=(ScriptedEvent(at, EventKind.SOS, with_fix=rng.random() < 0.85),),
    )


def _need(victim: Person | None, kind: IncidentKind) -> Person:
    if victim is None:
        raise ValueError(f"a {kind.value} incident needs a protected person")
    return victim


def _with(base: Incident, **changes: object) -> Incident:
    return replace(base, **changes)  # type: ignore[arg-type]


def _point(p: Position) -> tuple[float, float]:
    return p[0], p[1]


def back_to_routine(
    rng: random.Random, person: Person, t: float, here: tuple[float, float], routine: RoutineAt
) -> Leg:
    """The trip from `here` to wherever the routine has the person when the trip ends: aimed at a
    moving target, so refined a few times (exact when the routine stands still, as it mostly does)."""
    state = rng.getstate()
    arrive = t
    for _ in range(3):
        rng.setstate(state)  # the same jitter and speed each time: only the target moves
        leg = travel(rng, person, t, here, _point(routine(person, arrive)))
        arrive = leg.end
    return leg


def _drive(
    rng: random.Random,
    person: Person,
    t: float,
    a: tuple[float, float],
    b: tuple[float, float],
    by_car: bool = False,
) -> Leg:
    """A determined trip: driving (12-17 m/s) unless it is a short walk (and not `by_car`)."""
    if dist(a, b) < WALK_MAX_M and not by_car:
        return trip(t, [a, b], person.habits.walk_mps)
    return trip(t, jittered(rng, a, b), rng.uniform(12.0, 17.0))


def _namyangju(
    base: Incident,
    rng: random.Random,
    offender: Person,
    victim: Person,
    routine: RoutineAt,
    approach_from_m: float | None = None,
) -> Incident:
    at = base.start
    s0, v = routine(offender, at), routine(victim, at)
    door = toward(v[0], v[1], s0[0], s0[1], rng.uniform(15.0, 40.0))  # on the side he comes from
    setout = _point(s0)
    if approach_from_m is not None and dist(setout, _point(v)) > approach_from_m:
        setout = toward(v[0], v[1], s0[0], s0[1], approach_from_m)  # already on his way to her
    approach = _drive(rng, offender, at, setout, door, by_car=approach_from_m is not None)
    cut = approach.end + rng.uniform(8.0, 20.0) * 60.0
    hideout = jitter_point(rng, door[0], door[1], 5_000.0, 15_000.0)
    flee = trip(cut, jittered(rng, door, hideout), rng.uniform(13.0, 17.0))
    hide_until = max(flee.end + 600.0, cut + rng.uniform(60.0, 120.0) * 60.0)
    back = back_to_routine(rng, offender, hide_until, hideout, routine)
    offender_plan = Plan(
        [
            approach,
            stay(approach.end, cut, door[0], door[1], False),
            flee,
            stay(flee.end, hide_until, hideout[0], hideout[1], False),
            back,
        ]
    )
    # She stays where she was (at home, mostly) until he has gone; outdoors when staged.
    victim_leaves = cut + rng.uniform(5.0, 15.0) * 60.0
    victim_back = back_to_routine(rng, victim, victim_leaves, _point(v), routine)
    indoors = v[4] and approach_from_m is None
    victim_plan = Plan([stay(at, victim_leaves, v[0], v[1], indoors), victim_back])
    return _with(
        base,
        end=max(back.end, victim_back.end),
        overrides=(Override(offender.id, offender_plan), Override(victim.id, victim_plan)),
        events=(ScriptedEvent(cut, EventKind.STRAP_CUT, with_fix=True),),
        # The monitor stays at her door until he is back under supervision with a new strap.
        drops=(Drop(cut, back.end, door[0], door[1]),),
    )


def _victim_approach(
    base: Incident, rng: random.Random, offender: Person, victim: Person, routine: RoutineAt
) -> Incident:
    at = base.start
    s, v0 = routine(offender, at), routine(victim, at)
    legs: list[Leg] = []
    here, t = _point(v0), at
    if dist(_point(s), _point(v0)) > WALK_MAX_M:
        here = toward(s[0], s[1], v0[0], v0[1], 1_200.0)  # she gets within walking distance first
        leg = travel(rng, victim, t, _point(v0), here)
        legs.append(leg)
        t = leg.end
    stop = toward(s[0], s[1], here[0], here[1], rng.uniform(15.0, 40.0))
    walk = trip(t, [here, stop], victim.habits.walk_mps)
    pause_end = walk.end + rng.uniform(2.0, 6.0) * 60.0
    away = toward(s[0], s[1], here[0], here[1], 600.0)
    leave = trip(pause_end, [stop, away], victim.habits.walk_mps * 1.2)
    back = back_to_routine(rng, victim, leave.end, away, routine)
    legs += [walk, stay(walk.end, pause_end, stop[0], stop[1], False), leave, back]
    parked_until = leave.end
    offender_back = back_to_routine(rng, offender, parked_until, _point(s), routine)
    # He waits in his parked car, where he was: outdoors, so his monitor sees the sky.
    offender_plan = Plan([stay(at, parked_until, s[0], s[1], False), offender_back])
    return _with(
        base,
        end=max(back.end, offender_back.end),
        overrides=(Override(offender.id, offender_plan), Override(victim.id, Plan(legs))),
    )


def _curfew_breach(base: Incident, rng: random.Random, offender: Person, routine: RoutineAt) -> Incident:
    at = base.start
    home = _point(routine(offender, at))
    dest = jitter_point(rng, home[0], home[1], 1_000.0, 3_000.0)
    out = travel(rng, offender, at, home, dest)
    stay_end = max(out.end + 600.0, at + rng.uniform(50.0, 70.0) * 60.0)
    back = back_to_routine(rng, offender, stay_end, dest, routine)
    plan = Plan([out, stay(out.end, stay_end, dest[0], dest[1], rng.random() < 0.5), back])
    return _with(base, end=back.end, overrides=(Override(offender.id, plan),))
