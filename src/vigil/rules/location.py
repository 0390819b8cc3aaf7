"""Location loss: a device that keeps reporting but gives no usable position.

Heartbeats, events, fixes from a cell tower or too coarse to place anyone (beyond
`Tuning.coarse_accuracy_m`) prove the device alive but say nothing about where its wearer is. Past
the device's limit that is possible jamming or shielding (a foil-lined bag, a basement chosen on
purpose), raised as location_loss. It clears once positions are back: a hold (`clear_after`) after
the first usable one, if usable ones are still coming then (`back`); one stray Wi-Fi fix in an hour
of none is not the positions back, and clearing on it raised the alert again minutes later. A device
that is not heard at all is signal_loss instead, and never both raised for one silence: silence has
its own alert, and the location clock starts again when the device is heard again.

Indoors is not shielding. Walls block satellites as a matter of course, and an ankle monitor at home
gives a usable position only now and then (a Wi-Fi fix, a weak GNSS one). While his last usable
positions agree that he is at rest in one place (no speed measured, each within the other's
~95 % disc), or his last one is a Wi-Fi position (taken indoors), and no coarse position since puts
him elsewhere, the spell is judged against the longer
`Tuning.rest_location_s`: a man who stays put behind walls is where he was last seen; one who moved
before the positions stopped, or whom a cell fix places elsewhere, gets the short limit. A limit set
on the device itself is kept at rest too. The limit also never falls below a few of the device's
reporting intervals, as for silence.

Time-driven like silence: the engine keeps one deadline per device at (start of the spell without a
usable position) + limit, and calls `due` when it comes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from vigil.domain import geo
from vigil.domain.alerts import AlertKind, Signal
from vigil.domain.model import Device, DeviceKind, Fix, FixSource, Order, ZoneKind
from vigil.rules.signal import device_signal
from vigil.rules.tuning import Tuning

FAMILY = "location"


@dataclass(frozen=True, slots=True)
class LocationState:
    """One device's spell without a usable position: since when it counts (the last usable
    position's measurement, or the moment it was heard again after a silence) and that position."""

    since: datetime
    last_usable: Fix | None = None
    # His last usable positions say he is at rest in one place and nothing since contradicts it.
    at_rest: bool = False
    # ... on one GNSS standstill at a new place alone (an arrival): rest only away from her. Still
    # an arrival while later positions agree with it, for `Tuning.arrival_s` after it (`arrived_at`):
    # at her door, two still fixes before the monitor was wrapped earned the 2-hour rest limit.
    arrived: bool = False
    arrived_at: datetime | None = None


def usable(fix: Fix, tuning: Tuning) -> bool:
    """A position that can place a person against a line: not a cell fix, and an accuracy within the
    coarse limit (no accuracy stated: taken as the receiver's own fix, as every rule does)."""
    if fix.source is FixSource.CELL:
        return False
    return fix.accuracy_m is None or fix.accuracy_m <= tuning.coarse_accuracy_m


def limit(device: Device, tuning: Tuning) -> float | None:
    """Seconds without a usable position allowed; None: not watched. Ankle monitors by default, since
    his position is what the order is enforced with; a victim's phone or watch indoors has no fix
    for hours as a matter of course (that is no attack, and her staleness is shown on every
    proximity alert), so other kinds are watched only with a limit of their own."""
    if device.location_limit_s is not None:
        return device.location_limit_s
    if device.kind is DeviceKind.ANKLE_MONITOR:
        return tuning.default_location_s
    return None


def allowed_s(
    device: Device, state: LocationState, tuning: Tuning, every: float | None = None, *, rest: bool = True
) -> float | None:
    """Seconds without a usable position allowed in this spell: its limit (the default one longer at
    rest indoors, unless `rest` is False), and never fewer than `tuning.location_intervals` of the
    device's reporting interval `every` (configured or learned). None: not watched. A limit set for
    the device is kept at rest too: whoever set 10 minutes for this man asked to hear of 10 minutes
    without a position wherever he sits (a foil wrap at home is the attack it is set against)."""
    allowed = limit(device, tuning)
    if allowed is None or device.person_id is None:
        return None
    if state.at_rest and rest and device.location_limit_s is None:
        allowed = max(allowed, tuning.rest_location_s)
    if every is not None:
        allowed = max(allowed, tuning.location_intervals * every)
    return allowed


def deadline(
    device: Device, state: LocationState, tuning: Tuning, every: float | None = None, *, rest: bool = True
) -> datetime | None:
    """When the spell becomes location_loss: `allowed_s` after it began, and half a reporting
    interval more. A limit that is a whole number of intervals (10 min at 60 s, 20 min at 300 s)
    falls due the very second the report measured then is due: judged before that report arrived,
    a spell that lasted no longer than the limit raised the alarm, and the position the report
    brought cleared it half an hour later (a man who drove to work, his monitor on heartbeats in the
    car park and the lift, a Wi-Fi fix on its fourth report: about one location_loss raise in six in
    the simulator's days)."""
    allowed = allowed_s(device, state, tuning, every, rest=rest)
    if allowed is None:
        return None
    grace = 0.0 if every is None else every / 2
    return state.since + timedelta(seconds=allowed + grace)


def clear_after(device: Device, tuning: Tuning, every: float | None = None) -> float:
    """Seconds after a usable position ends a spell before its location_loss clears: the pair hold
    (`Tuning.tier_hold_s`), and never less than one and a half of the device's short limit, so that
    a clear needs a second usable position (one stray Wi-Fi fix in an hour of none is not the
    positions back: clearing on it made a 300 s monitor indoors raise the alert again and again)."""
    allowed = limit(device, tuning) or 0.0
    if every is not None:
        allowed = max(allowed, tuning.location_intervals * every)
    return max(tuning.tier_hold_s, 1.5 * allowed)


def back(
    device: Device,
    state: LocationState,
    now: datetime,
    tuning: Tuning,
    every: float | None,
    *,
    rest: bool = True,
) -> bool:
    """Whether positions are back at the end of a hold: his latest usable one is younger than half
    the limit that applies to him now (`rest`: as `deadline`). A last one about to run out is a
    device giving a position now and then, which cleared only to be raised again minutes later."""
    allowed = allowed_s(device, state, tuning, every, rest=rest)
    if allowed is None:
        return True
    return (now - state.since).total_seconds() < allowed / 2


def near_danger(order: Order, last: Fix, hers: Fix | None, tuning: Tuning) -> bool:
    """Whether his last usable position lies within the order's warning distance of her latest one
    or of one of its exclusion zones (with the accuracy of both): there a monitor that stops giving
    positions is the attack the rule exists for, and rest indoors earns no longer limit."""
    reach = order.warning_distance_m + (last.accuracy_m or 0.0)
    if hers is not None and usable(hers, tuning):
        apart = geo.distance_m(last.lat, last.lon, hers.lat, hers.lon) - (hers.accuracy_m or 0.0)
        if apart <= reach:
            return True
    return any(
        z.kind is ZoneKind.EXCLUSION and geo.signed_distance_m(z.shape, last.lat, last.lon) <= reach
        for z in order.zones
    )


def _rest(fix: Fix, before: Fix | None, tuning: Tuning) -> tuple[bool, bool]:
    """Whether the positions stopped with him at rest behind walls, and whether only as an arrival:
    a position that measured no movement and is a Wi-Fi one, or agrees with the one before it (within each
    other's ~95 % disc; however long apart: the question is whether he was moving when the
    positions stopped, and the latest says where he is). A Wi-Fi position is one taken indoors,
    from the access points around him, where satellites are not seen: the man who walks into his
    workplace and gives one Wi-Fi fix before the positions stop is indoors there, not shielding
    (the short limit raised on every such arrival: about one location_loss alarm in two in the
    simulator's days). A GNSS receiver measures its speed from the Doppler shift, which a
    reflection does not fake: a standstill it measured at a new place is an arrival (he drove to
    work, parked and went in). A stop to wrap the monitor in foil looks the same, so an arrival
    earns the rest limit only away from her and her zones (`near_danger`)."""
    if fix.speed_mps is not None and fix.speed_mps >= tuning.moving_mps:
        return False, False
    if fix.source is FixSource.WIFI:
        return True, False
    if before is not None:
        apart = geo.distance_m(before.lat, before.lon, fix.lat, fix.lon)
        if apart <= _discs(fix, before) + tuning.margin_min_m:
            return True, False
    if fix.source is FixSource.GNSS and fix.speed_mps is not None:
        return True, True  # an arrival
    return False, False


def _elsewhere(fix: Fix, last: Fix) -> bool:
    """A coarse position whose disc does not hold his last usable one: he has moved."""
    return geo.distance_m(last.lat, last.lon, fix.lat, fix.lon) > _discs(fix, last)


def _discs(a: Fix, b: Fix) -> float:
    """How far apart two positions of one man at rest may lie: the ~95 % discs (twice the stated
    68 % accuracy) of both, since a Wi-Fi or cell position lands beyond its stated accuracy one time
    in three."""
    return 2.0 * ((a.accuracy_m or 0.0) + (b.accuracy_m or 0.0))


def placed(state: LocationState | None, fix: Fix, tuning: Tuning) -> LocationState | None:
    """The state after a fix from the device: a usable one starts a new spell at its measurement (a
    late one does not move the spell back); anything else changes nothing. None: not usable and no
    state yet (the caller starts one when it hears the device)."""
    if not usable(fix, tuning):
        last = None if state is None or not state.at_rest else state.last_usable
        if state is not None and last is not None and fix.time > last.time and _elsewhere(fix, last):
            return replace(state, at_rest=False)
        return state
    if state is not None and state.last_usable is not None and fix.time <= state.last_usable.time:
        return state
    since = fix.time if state is None else max(state.since, fix.time)
    before = None if state is None else state.last_usable
    at_rest, arrived = _rest(fix, before, tuning)
    arrived_at = fix.time if arrived else None
    if (
        at_rest
        and not arrived
        and state is not None
        and state.at_rest
        and state.arrived_at is not None
        and (fix.time - state.arrived_at).total_seconds() <= tuning.arrival_s
    ):
        arrived, arrived_at = True, state.arrived_at  # staying put where he arrived: still arriving
    return LocationState(since, fix, at_rest, arrived, arrived_at)


def signal(device: Device, active: bool, state: LocationState, now: datetime) -> Signal:
    """location_loss for the device, with the last usable position and when it was measured."""
    last = state.last_usable
    when = None if last is None else last.time
    return device_signal(device, FAMILY, AlertKind.LOCATION_LOSS, active, last, when, now)
