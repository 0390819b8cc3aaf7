"""What a protected person may see of the man an order protects her from. Pure, and the only place
that decides it: the victim app shows what the server sends, and the server sends what this says.

Within the order's victim view (600 m by default): his position, heading, speed, distance and the
direction from her, so she can move away. Beyond that but inside the warning distance: only a
distance band and a warning, never coordinates or a direction (a direction and a distance would
give his position away). Beyond the warning distance: nothing about him at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vigil.domain import geo


class Status(StrEnum):
    SAFE = "safe"
    NEARBY = "nearby"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Sighting:
    """A party's latest fix, as the view needs it."""

    lat: float
    lon: float
    time: datetime
    accuracy_m: float | None = None
    heading_deg: float | None = None
    speed_mps: float | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """One order's distances, in metres."""

    violation_m: float
    warning_m: float
    view_m: float


@dataclass(frozen=True, slots=True)
class Near:
    """He is within her view: everything she needs to move away."""

    distance_m: float
    lat: float
    lon: float
    bearing_deg: float  # from her to him
    compass: str
    heading_deg: float | None
    speed_mps: float | None
    age_s: float
    danger: bool  # inside the violation distance


@dataclass(frozen=True, slots=True)
class Warning:
    """He is inside the warning distance but beyond her view: a band, no place, no direction."""

    band_from_m: int
    band_to_m: int


View = Near | Warning


def view(her: Sighting | None, him: Sighting | None, limits: Limits, now: datetime) -> View | None:
    """What she may see of him now; None means nothing (too far, or a position unknown)."""
    if her is None or him is None:
        return None
    distance = geo.distance_m(her.lat, her.lon, him.lat, him.lon)
    if not math.isfinite(distance):
        return None
    if distance <= limits.view_m:
        bearing = geo.bearing_deg(her.lat, her.lon, him.lat, him.lon)
        return Near(
            distance_m=round(distance, -1),
            lat=him.lat,
            lon=him.lon,
            bearing_deg=round(bearing),
            compass=geo.compass_point(bearing),
            heading_deg=him.heading_deg,
            speed_mps=him.speed_mps,
            age_s=max(0.0, (now - him.time).total_seconds()),
            danger=distance <= limits.violation_m,
        )
    if distance <= limits.warning_m:
        return Warning(band_from_m=int(limits.view_m), band_to_m=int(limits.warning_m))
    return None


def status(views: list[View | None], open_violation: bool, open_warning: bool) -> Status:
    """Danger inside a violation distance or while a violation is open; nearby inside a warning
    distance or while a warning is open; safe otherwise."""
    if open_violation or any(isinstance(v, Near) and v.danger for v in views):
        return Status.DANGER
    if open_warning or any(v is not None for v in views):
        return Status.NEARBY
    return Status.SAFE
