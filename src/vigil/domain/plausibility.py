"""Whether a reported position is physically possible, given the person's previous trusted positions.

Pure and general: a function of (trusted fixes, the new fix, limits) to a verdict with a reason, for
any device. Today it judges the victim app's own reports (her phone posts its position through her
account, so whoever holds the account can post anything); the same check is meant for every device.

What it judges, in this order:
  place     a latitude and longitude on Earth;
  accuracy  finite, not negative, and not so coarse that it places no one (a country-wide guess);
  time      measured after the latest trusted position, where the source stamps its reports with
            the receipt time (her app): an earlier one means a clock stepped back or a forgery;
  speed     against every trusted position within the window, on both sides in time: the distance
            beyond both accuracy discs, over the time between them, must not exceed the top speed
            ("jump" when the times are equal: two places at one instant).

Judging against every recent trusted position, not only the last, is what stops the accuracy trick:
a coarse report near a far target is plausible against the last fix (its disc is wide), but a fine
report at the target that follows is still measured against the fine fixes before it.

A trusted position older than the window binds nothing: after a flight, or a phone left off
overnight, the first report is plausible wherever it is. An implausible report never becomes an
anchor, so a device locked out by one bad trusted fix recovers once that fix leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vigil.domain import geo
from vigil.domain.model import Fix

REASON_MAX = 200  # the stored column's width (fixes.doubt)


class DoubtKind(StrEnum):
    PLACE = "place"  # not a point on Earth
    ACCURACY = "accuracy"  # invalid, or too coarse to place anyone
    TIME = "time"  # measured before the latest trusted position, where time must move forward
    JUMP = "jump"  # somewhere else at the very instant of a trusted position
    SPEED = "speed"  # the move from a trusted position needs more than the top speed


@dataclass(frozen=True, slots=True)
class Limits:
    # 360 km/h: faster than any train in Korea (the KTX runs at 305 km/h) and any car on its roads,
    # so a passenger is never doubted; an aircraft is (a phone in the air rarely reports).
    max_speed_mps: float = 100.0
    # A stated accuracy worse than this is a guess over a region (an IP address, a country), not a
    # position: rural cell sectors reach a few kilometres, so the limit is above them.
    max_accuracy_m: float = 5_000.0
    # What a fix without an accuracy is taken to mean (a phone's usual GNSS), for the speed check.
    unknown_accuracy_m: float = 30.0
    # Trusted positions older (or newer) than this no longer bind the new one.
    window_s: float = 3_600.0
    # Whether a fix measured before the latest trusted one is judged against its neighbours (devices
    # send late batches after a coverage gap) or doubted outright (reports stamped with their
    # receipt time, like the victim app's, can only move forward).
    allow_earlier: bool = True


@dataclass(frozen=True, slots=True)
class Doubt:
    """Why a position is not believed: the kind, and a sentence with the figures (stored with it)."""

    kind: DoubtKind
    reason: str


def judge(trusted: Iterable[Fix], fix: Fix, limits: Limits) -> Doubt | None:
    """None when `fix` is physically plausible after (and around) the `trusted` fixes; else why not.
    `trusted` are the person's earlier believed positions, from any of their devices, in any order."""
    if not (math.isfinite(fix.lat) and math.isfinite(fix.lon)) or abs(fix.lat) > 90 or abs(fix.lon) > 180:
        return _doubt(DoubtKind.PLACE, f"({fix.lat}, {fix.lon}) is not a place on Earth")
    accuracy = fix.accuracy_m
    if accuracy is not None and not (math.isfinite(accuracy) and accuracy >= 0):
        return _doubt(DoubtKind.ACCURACY, f"the stated accuracy {accuracy} m is not a distance")
    if accuracy is not None and accuracy > limits.max_accuracy_m:
        return _doubt(
            DoubtKind.ACCURACY,
            f"the stated accuracy {accuracy:.0f} m places no one (more than {limits.max_accuracy_m:.0f} m)",
        )
    anchors = [f for f in trusted if abs((f.time - fix.time).total_seconds()) <= limits.window_s]
    if not limits.allow_earlier:
        latest = max((f.time for f in anchors), default=None)
        if latest is not None and fix.time < latest:
            behind = (latest - fix.time).total_seconds()
            return _doubt(
                DoubtKind.TIME, f"measured {behind:.0f} s before the latest trusted position ({_at(latest)})"
            )
    # The nearest in time first: the doubt names the trusted position that contradicts it most directly.
    for anchor in sorted(anchors, key=lambda f: abs((f.time - fix.time).total_seconds())):
        found = _against(anchor, fix, limits)
        if found is not None:
            return found
    return None


def _against(anchor: Fix, fix: Fix, limits: Limits) -> Doubt | None:
    distance = geo.distance_m(anchor.lat, anchor.lon, fix.lat, fix.lon)
    slack = _accuracy(anchor, limits) + _accuracy(fix, limits)
    beyond = distance - slack  # what no accuracy explains
    if beyond <= 0:
        return None
    seconds = abs((fix.time - anchor.time).total_seconds())
    if seconds == 0:
        return _doubt(
            DoubtKind.JUMP,
            f"{beyond:.0f} m beyond both accuracies from a trusted position at the same instant "
            f"({_at(anchor.time)})",
        )
    speed = beyond / seconds
    if speed <= limits.max_speed_mps:
        return None
    return _doubt(
        DoubtKind.SPEED,
        f"{beyond:.0f} m beyond both accuracies in {seconds:.0f} s from the trusted position at "
        f"{_at(anchor.time)}: {speed * 3.6:.0f} km/h, above {limits.max_speed_mps * 3.6:.0f} km/h",
    )


def _accuracy(fix: Fix, limits: Limits) -> float:
    return limits.unknown_accuracy_m if fix.accuracy_m is None else fix.accuracy_m


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _doubt(kind: DoubtKind, reason: str) -> Doubt:
    return Doubt(kind, f"{kind.value}: {reason}"[:REASON_MAX])
