"""Where a person has been lately: the latest fix, and a short ordered history for late fixes."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime

from vigil.domain import geo
from vigil.domain.alerts import Position
from vigil.domain.model import Fix

# Fixes kept per person: 16 minutes at 60 s reporting. A trade-off with memory (100,000 people must
# fit in 1 GB): a late fix older than what is held is judged against the nearest fix held, and the
# alert says how far apart in time the two were (facts.stale).
HISTORY = 16
# Speed is derived from two fixes only when they are close enough in time to describe one movement.
DERIVE_SPEED_WITHIN_S = 600.0
DERIVE_SPEED_AFTER_S = 5.0


@dataclass(slots=True)
class Track:
    person_id: str
    history: list[Fix] = field(default_factory=list)  # ordered by fix time, newest last

    @property
    def latest(self) -> Fix | None:
        return self.history[-1] if self.history else None

    def add(self, fix: Fix) -> bool:
        """Insert a fix in time order; True when it became the latest (the live position moved)."""
        history = self.history
        if not history or fix.time > history[-1].time:
            history.append(fix)
            if len(history) > HISTORY:
                del history[0]
            return True
        times = [f.time for f in history]
        i = bisect.bisect_left(times, fix.time)
        if i < len(history) and history[i].time == fix.time:
            return False  # same instant from another of the person's devices: keep the first
        if i > 0 or len(history) < HISTORY:
            history.insert(i, fix)
            if len(history) > HISTORY:
                del history[0]
        return False

    def at(self, when: datetime) -> Fix | None:
        """The fix that was current at `when`: the last one measured at or before it, or, when every
        fix held is later, the earliest held."""
        best: Fix | None = None
        for fix in self.history:
            if fix.time > when:
                break
            best = fix
        if best is None and self.history:
            return self.history[0]
        return best

    def before(self, fix: Fix) -> Fix | None:
        best: Fix | None = None
        for other in self.history:
            if other.time >= fix.time:
                break
            best = other
        return best

    def fine_before(self, fix: Fix, coarse_accuracy_m: float) -> Fix | None:
        """The last fix before `fix` whose accuracy is no coarser than `coarse_accuracy_m` (a fix
        with no accuracy counts as fine): what confirms or contradicts it."""
        best: Fix | None = None
        for other in self.history:
            if other.time >= fix.time:
                break
            if (other.accuracy_m or 0.0) <= coarse_accuracy_m:
                best = other
        return best


def velocity(fix: Fix, previous: Fix | None) -> tuple[float, float] | None:
    """(east, north) in m/s: from the device's own speed and heading, else from the previous fix."""
    if fix.speed_mps is not None and fix.heading_deg is not None:
        rad = math.radians(fix.heading_deg)
        return fix.speed_mps * math.sin(rad), fix.speed_mps * math.cos(rad)
    if fix.speed_mps is not None and fix.speed_mps < 0.1:
        return 0.0, 0.0
    if previous is None:
        return None
    dt = (fix.time - previous.time).total_seconds()
    if not DERIVE_SPEED_AFTER_S <= dt <= DERIVE_SPEED_WITHIN_S:
        return None
    dist = geo.distance_m(previous.lat, previous.lon, fix.lat, fix.lon)
    rad = math.radians(geo.bearing_deg(previous.lat, previous.lon, fix.lat, fix.lon))
    speed = dist / dt
    return speed * math.sin(rad), speed * math.cos(rad)


def position(fix: Fix, now: datetime) -> Position:
    return Position(
        lat=fix.lat,
        lon=fix.lon,
        accuracy_m=fix.accuracy_m,
        time=fix.time,
        age_s=max(0.0, (now - fix.time).total_seconds()),
        speed_mps=fix.speed_mps,
        heading_deg=fix.heading_deg,
        source=fix.source.value,
    )
