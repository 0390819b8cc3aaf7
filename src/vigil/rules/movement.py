"""Plausibility before certainty, for every device: is this fix a move the person could have made?

A fix is judged against the last good fix of the SAME device (two receivers disagree by their
accuracies; a hop between them is no movement). It is suspect when:

  speed  the displacement beyond both accuracy discs, over the time between the fixes, is faster than
         any car or train (`Tuning.move_max_mps`, 90 m/s): a real car at 30 m/s on a 60 s interval
         (1.8 km) passes, a reflection 10 km away does not;
  pace   the receiver measured his speed at both fixes, and no vehicle could go from the first
         speed to the second over that distance in that time (`reachable_m`: accelerating and
         braking at `Tuning.accel_mps2`, at most `Tuning.road_max_mps` unless a measured speed was
         higher): a walker at 1.2 m/s, then 2.3 km off a minute later at 1.2 m/s;
  still  the receiver measures a standstill (its Doppler speed, which a reflection does not fake),
         the device was at rest at the fix before too (it did not just arrive: stopped at a light,
         then parked 600 m on, is a drive), the jump is at least `still_jump_m` beyond both
         accuracies within `still_within_s`, and no speed the receiver reported (now or at the fix
         before) covers the distance: the classic multipath jump of a few hundred metres while he
         sits at home.

A suspect fix moves no one's position and feeds no rule; it raises at most a `possible` proximity
warning marked unconfirmed, and asks the device to report faster (`ReportingRequest`). The next fix of
the device settles it (`settles`): one that agrees with the suspect fix confirms it (he really is
there, and the rules then say what they say), one that agrees with the last good fix shows a glitch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.domain import geo
from vigil.domain.model import Fix
from vigil.domain.plausibility import REASON_MAX, Doubt, DoubtKind
from vigil.domain.track import accuracy
from vigil.rules.tuning import Tuning


@dataclass(frozen=True, slots=True)
class ReportingRequest:
    """Ask a device to report every `interval_s` until `until`: to confirm or dismiss a doubted fix.
    Collected by the engine, drained and published by the processor (a device command later)."""

    device_id: str
    interval_s: float
    reason: str
    until: datetime


@dataclass(frozen=True, slots=True)
class Suspect:
    """A device's doubted fix, waiting for the next one to settle it."""

    fix: Fix
    anchor: Fix  # the last good fix of the device when it came
    doubt: Doubt


def suspect(anchor: Fix | None, fix: Fix, tuning: Tuning, before: Fix | None = None) -> Doubt | None:
    """Why `fix` is not a move the device could have made since `anchor` (its last good fix); None:
    it is plausible (or there is nothing to judge it against). `before`: the device's good fix
    before the anchor, which says whether he had just arrived there (`_arrived`)."""
    if anchor is None:
        return None
    seconds = (fix.time - anchor.time).total_seconds()
    if seconds <= 0:
        return None  # out of order: judged at its own time by the late path, not as a move
    slack = accuracy(anchor) + accuracy(fix)
    # The hot path: a flat bound that is never shorter than the true distance (a degree of longitude
    # is at most a degree of latitude long) settles most fixes without trigonometry.
    bound = geo.flat_bound_m(anchor.lat, anchor.lon, fix.lat, fix.lon) - slack
    if bound <= 0:
        return None
    v0, v1 = anchor.speed_mps, fix.speed_mps
    reach = tuning.move_max_mps * seconds
    paced = v0 is not None and v1 is not None
    if paced:
        assert v0 is not None and v1 is not None
        reach = min(reach, reachable_m(v0, v1, seconds, tuning))
    elif v0 is not None:
        # only the start measured (a Wi-Fi fix names no speed): from v0, the farthest any vehicle
        # gets, accelerating all the way. A Wi-Fi fix 3 km off, 40 s after a standstill at her door,
        # was believed (75 m/s is under the flat bound) and cleared the violation.
        paced = True
        reach = min(reach, reachable_m(v0, max(v0, tuning.road_max_mps), seconds, tuning))
    moving = v1 is None or v1 >= tuning.moving_mps
    if moving and bound <= reach:
        return None
    beyond = geo.distance_m(anchor.lat, anchor.lon, fix.lat, fix.lon) - slack
    if beyond <= 0:
        return None
    speed = beyond / seconds
    if speed > tuning.move_max_mps:
        return _doubt(
            DoubtKind.SPEED,
            f"{beyond:.0f} m beyond both accuracies in {seconds:.0f} s ({speed * 3.6:.0f} km/h, "
            f"above {tuning.move_max_mps * 3.6:.0f} km/h)",
        )
    if paced and beyond > reach:
        return _doubt(
            DoubtKind.SPEED,
            f"{beyond:.0f} m beyond both accuracies in {seconds:.0f} s while the receiver measured "
            f"{v0:.1f} then {'no speed' if v1 is None else f'{v1:.1f} m/s'} "
            f"(no vehicle goes more than {reach:.0f} m so)",
        )
    reported = fix.speed_mps
    if (
        reported is not None
        and reported < tuning.moving_mps
        and seconds <= tuning.still_within_s
        and beyond >= tuning.still_jump_m
        and max(reported, anchor.speed_mps or 0.0) * seconds < beyond
        and not _arrived(before, anchor, tuning)
    ):
        return _doubt(
            DoubtKind.JUMP,
            f"{beyond:.0f} m beyond both accuracies in {seconds:.0f} s while the receiver measures "
            f"{reported:.1f} m/s (a reflection, until a second fix agrees)",
        )
    return None


def reachable_m(v0: float, v1: float, seconds: float, tuning: Tuning) -> float:
    """The farthest a vehicle goes in `seconds` from speed `v0` to speed `v1`: accelerating at
    `tuning.accel_mps2` to a peak, cruising, braking at the same rate; the peak at most
    `tuning.road_max_mps`, or the higher of the measured speeds (a train). Speeds that no such profile
    joins in the time (a hard stop) get the higher speed throughout: a bound, never an estimate."""
    a = tuning.accel_mps2
    top = max(v0, v1, tuning.road_max_mps)
    peak = min(top, (a * seconds + v0 + v1) / 2)
    if peak < max(v0, v1):
        return max(v0, v1) * seconds
    up, down = (peak - v0) / a, (peak - v1) / a
    cruise = max(0.0, seconds - up - down)
    return (v0 + peak) / 2 * up + peak * cruise + (peak + v1) / 2 * down


def _arrived(before: Fix | None, anchor: Fix, tuning: Tuning) -> bool:
    """Whether the device came to the anchor moving (its receiver measured movement at the anchor or
    at the fix before, or that fix lies a jump's length away, within the window): stopped at a light, not
    sitting at home, where a reflection is the likelier story. Moving at the anchor itself, he had
    not stopped there at all. Unknown: not arrived."""
    if (anchor.speed_mps or 0.0) >= tuning.moving_mps:
        return True
    if before is None or (anchor.time - before.time).total_seconds() > tuning.still_within_s:
        return False
    if (before.speed_mps or 0.0) >= tuning.moving_mps:
        return True
    moved = (
        geo.distance_m(before.lat, before.lon, anchor.lat, anchor.lon) - accuracy(before) - accuracy(anchor)
    )
    return moved >= tuning.still_jump_m


def agrees(pending: Suspect, fix: Fix, tuning: Tuning) -> bool:
    """Whether a later fix confirms the suspect one: a plausible move from it, and nearer to it than
    to the good fix it jumped from (he really is there)."""
    if suspect(pending.fix, fix, tuning) is not None:
        return False
    to_suspect = geo.distance_m(pending.fix.lat, pending.fix.lon, fix.lat, fix.lon)
    to_anchor = geo.distance_m(pending.anchor.lat, pending.anchor.lon, fix.lat, fix.lon)
    return to_suspect < to_anchor


def corroborates(pending: Suspect, fix: Fix, tuning: Tuning) -> bool:
    """Whether another device's believed fix places the person where the doubted one did: within
    both accuracies plus what could be walked or driven in between (the device's own check)."""
    seconds = abs((fix.time - pending.fix.time).total_seconds())
    distance = geo.distance_m(pending.fix.lat, pending.fix.lon, fix.lat, fix.lon)
    slack = accuracy(pending.fix) + accuracy(fix)
    return distance - slack <= tuning.moving_mps * seconds and distance < geo.distance_m(
        pending.anchor.lat, pending.anchor.lon, fix.lat, fix.lon
    )


def _doubt(kind: DoubtKind, reason: str) -> Doubt:
    return Doubt(kind, f"{kind.value}: {reason}"[:REASON_MAX])
