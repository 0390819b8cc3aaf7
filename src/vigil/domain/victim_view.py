"""What a protected person may see of the man an order protects her from. Pure, and the only place
that decides it: the victim app shows what the server sends, and the server sends what this says.

Within the order's victim view (600 m by default): his position, heading, speed, distance and the
direction from her, so she can move away. Beyond that but inside the warning distance: only a
distance band and a warning, never coordinates or a direction (a direction and a distance would
give his position away). Beyond the warning distance: nothing about him at all.

Beyond her view, nothing here depends on where exactly he stands, only on the grid cell he stands
in (`cell_of`, at least the view distance across): she is warned when the nearest point of his cell
is inside the warning distance. Otherwise whoever holds her account could report places of her
choosing, read where the warning flips, and trilaterate him from its edge. So for any two places of
his in one cell, both beyond her view from every place she reported, every answer is the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    # his cell reaches inside a violation distance larger than her view (an order may set one)
    danger: bool = False


View = Near | Warning

# The smallest grid cell, for orders with a very small view (or none): the band never places him
# more finely than this.
MIN_CELL_M = 500.0
_M_PER_DEG = geo.EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of a fixed grid over the Earth: rows of equal latitude span, each cut into columns at
    least `size_m` wide at its poleward edge. Its bounds come from the integers, so two places in
    the same cell give the very same cell."""

    size_m: float
    row: int
    col: int
    south: float
    north: float
    west: float
    width: float  # degrees of longitude (360 at the poles: one cell around)


def cell_size_m(limits: Limits) -> float:
    return max(limits.view_m, MIN_CELL_M)


def cell_of(lat: float, lon: float, size_m: float) -> Cell:
    span = size_m / _M_PER_DEG
    row = math.floor(lat / span)
    south, north = row * span, (row + 1) * span
    poleward = min(90.0, max(abs(south), abs(north)))
    shrink = math.cos(math.radians(poleward))
    width = 360.0 if shrink <= 1e-9 else min(360.0, span / shrink)
    col = math.floor(((lon + 180.0) % 360.0) / width)
    return Cell(size_m, row, col, south, north, -180.0 + col * width, width)


def distance_to_cell_m(lat: float, lon: float, cell: Cell) -> float:
    """From a place to the nearest point of a cell (0 inside it)."""
    nearest_lat = min(max(lat, cell.south), cell.north)
    if cell.width >= 360.0:
        return geo.distance_m(lat, lon, nearest_lat, lon)
    east_of_west = (lon - cell.west) % 360.0
    if east_of_west <= cell.width:
        nearest_lon = lon
    elif east_of_west - cell.width <= 360.0 - east_of_west:
        nearest_lon = cell.west + cell.width
    else:
        nearest_lon = cell.west
    return geo.distance_m(lat, lon, nearest_lat, nearest_lon)


def view(
    her: Sighting | None, him: Sighting | None, limits: Limits, now: datetime, *, violation_open: bool = False
) -> View | None:
    """What she may see of him now; None means nothing (too far, or a position unknown).

    `violation_open`: a proximity violation is open for this order. It makes him a danger only while
    he is within her view: the rules judge it on exact positions (leaning on accuracy), so beyond
    the view it would tell her how far he is."""
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
            danger=distance <= limits.violation_m or violation_open,
        )
    # Beyond her view: his cell alone decides, leaning toward warning (its nearest point counts).
    reach = distance_to_cell_m(her.lat, her.lon, cell_of(him.lat, him.lon, cell_size_m(limits)))
    if reach > limits.warning_m:
        return None
    return Warning(
        band_from_m=int(limits.view_m),
        band_to_m=int(limits.warning_m),
        danger=limits.violation_m > limits.view_m and reach <= limits.violation_m,
    )


@dataclass(frozen=True, slots=True)
class Offender:
    """One man an order keeps from her, as her answer needs him."""

    him: Sighting | None  # his latest believed position
    limits: Limits
    violation_open: bool = False  # a proximity violation is open for this order


@dataclass(frozen=True, slots=True)
class Answer:
    """What she is told: her status, and what she may see of each man (in the offenders' order)."""

    status: Status
    views: tuple[View | None, ...]


def answer(her: Sighting | None, offenders: Sequence[Offender], sos_open: bool, now: datetime) -> Answer:
    """Her whole answer, from her latest believed position, each man's, and the alerts that may speak:
    her own open SOS, and a violation open for an order (within her view only, as `view` says; or
    when either position is unknown, where there is nothing to give away and everything to warn of)."""
    views = tuple(view(her, o.him, o.limits, now, violation_open=o.violation_open) for o in offenders)
    unplaced = any(o.violation_open and (her is None or o.him is None) for o in offenders)
    return Answer(status(list(views), alarm=sos_open or unplaced), views)


def status(views: list[View | None], alarm: bool = False) -> Status:
    """Danger while any view says so, or on an `alarm` that does not depend on where he is (her own
    SOS); nearby while he is within a view or a band; safe otherwise. Open alerts judged on his
    exact position (warnings, violations) are not read here beyond her view: see `view`."""
    if alarm or any(v is not None and v.danger for v in views):
        return Status.DANGER
    if any(v is not None for v in views):
        return Status.NEARBY
    return Status.SAFE
