"""Where people truly are: daily routines in local time, as legs (stays and trips).

A day's plan is drawn from a random generator seeded by (simulation seed, person, day), built on
first use and cached, so a position depends only on (seed, person, instant): never on which other
people were simulated or in what order.

Each plan starts at home at local midnight and ends at home by midnight: outings are planned with
an upper bound on travel times to be back by 23:15 at the latest (21:30 under curfew), so days join
without a jump. Incidents that run past midnight are separate overrides, not part of a plan.

Trips are straight lines between a few jittered waypoints (no road network): under 1.5 km people
walk; further they drive (10-17 m/s) or take transit (~8 m/s effective, half of it underground,
where there is no GNSS). Stays at home, work and most errand places are indoors.

Times inside the simulator are epoch seconds (floats); `datetime` appears only at the edges.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime

from vigil.domain import geo
from vigil_sim.caseload import Mode, Person, Place

DAY_S = 86_400
# Asia/Seoul has kept +09:00 without daylight saving since 1988, so local days are fixed-length
# blocks of epoch seconds; the per-fix arithmetic needs no time zone database.
UTC_OFFSET_S = 9 * 3600
WALK_MAX_M = 1_500.0
TRANSIT_MPS = 8.0
UNDERGROUND_SHARE = 0.5
# No leg in the model is faster than this (drivers top out at 17 m/s, +10 % per trip, and fleeing
# drivers in incidents at 17 m/s): the truth scan relies on it to step safely.
MAX_SPEED_MPS = 20.0

Position = tuple[float, float, float, float, bool]
"""(lat, lon, speed_mps, heading_deg, indoors). Stationary people have speed 0 and heading 0."""


def day_of(ts: float) -> int:
    """The local day number (days since 1970-01-01 local) holding epoch second `ts`."""
    return int((ts + UTC_OFFSET_S) // DAY_S)


def day_start(day: int) -> float:
    """Epoch second of local midnight starting `day`."""
    return day * DAY_S - UTC_OFFSET_S


def weekday(day: int) -> int:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


@dataclass(frozen=True, slots=True)
class Leg:
    """A stay (one point, speed 0) or a trip along `lats`/`lons` at constant `speed`."""

    start: float
    end: float
    lats: tuple[float, ...]
    lons: tuple[float, ...]
    cum: tuple[float, ...]  # distance along the leg at each point
    headings: tuple[float, ...]  # bearing of each segment
    speed: float
    indoors: bool

    def at(self, t: float) -> Position:
        if self.speed == 0.0:
            return self.lats[0], self.lons[0], 0.0, 0.0, self.indoors
        s = (t - self.start) * self.speed
        cum = self.cum
        if s >= cum[-1]:
            return self.lats[-1], self.lons[-1], 0.0, 0.0, self.indoors
        s = max(s, 0.0)
        i = bisect_right(cum, s) - 1
        seg = cum[i + 1] - cum[i]
        f = (s - cum[i]) / seg if seg > 0.0 else 0.0
        lat = self.lats[i] + f * (self.lats[i + 1] - self.lats[i])
        lon = self.lons[i] + f * (self.lons[i + 1] - self.lons[i])
        return lat, lon, self.speed, self.headings[i], self.indoors


# --- flat geometry ---------------------------------------------------------------------------------
# Trips are tens of kilometres at most, where an equirectangular projection is exact to well under a
# metre per kilometre and several times cheaper than spherical trigonometry; positions along a leg
# are interpolated linearly in lat/lon anyway.

_M_PER_DEG = geo.EARTH_RADIUS_M * math.pi / 180.0


def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    k = math.cos(math.radians((a[0] + b[0]) * 0.5))
    dy = (b[0] - a[0]) * _M_PER_DEG
    dx = (b[1] - a[1]) * _M_PER_DEG * k
    return math.sqrt(dx * dx + dy * dy)


def bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    k = math.cos(math.radians((a[0] + b[0]) * 0.5))
    return math.degrees(math.atan2((b[1] - a[1]) * k, b[0] - a[0])) % 360.0


def offset(a: tuple[float, float], heading: float, distance: float) -> tuple[float, float]:
    """The point `distance` metres from `a` along `heading` (degrees)."""
    h = math.radians(heading)
    lat = a[0] + distance * math.cos(h) / _M_PER_DEG
    lon = a[1] + distance * math.sin(h) / (_M_PER_DEG * math.cos(math.radians((a[0] + lat) * 0.5)))
    return lat, lon


def stay(start: float, end: float, lat: float, lon: float, indoors: bool) -> Leg:
    return Leg(start, end, (lat,), (lon,), (0.0,), (), 0.0, indoors)


def trip(start: float, points: list[tuple[float, float]], speed: float, indoors: bool = False) -> Leg:
    """A trip through `points` starting at `start`; it ends when the distance is covered."""
    cum = [0.0]
    headings: list[float] = []
    for a, b in itertools.pairwise(points):
        cum.append(cum[-1] + dist(a, b))
        headings.append(bearing(a, b))
    if cum[-1] <= 0.0:
        lat, lon = points[0]
        return stay(start, start, lat, lon, indoors)
    return Leg(
        start,
        start + cum[-1] / speed,
        tuple(p[0] for p in points),
        tuple(p[1] for p in points),
        tuple(cum),
        tuple(headings),
        speed,
        indoors,
    )


def jittered(rng: random.Random, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
    """A straight line with 1-3 waypoints pushed sideways, so a route is not a ruler line."""
    d = dist(a, b)
    if d < WALK_MAX_M:
        return [a, b]
    heading = bearing(a, b)
    points = [a]
    k = min(3, 1 + int(d // 5_000))
    for n in range(1, k + 1):
        on = offset(a, heading, d * n / (k + 1))
        side = max(-0.15, min(0.15, rng.gauss(0.0, 0.07))) * d
        points.append(offset(on, heading + 90.0, side))
    points.append(b)
    return points


def travel(
    rng: random.Random, person: Person, start: float, a: tuple[float, float], b: tuple[float, float]
) -> Leg:
    """The person's trip from a to b: walking when short, else by their usual mode."""
    habits = person.habits
    if dist(a, b) < WALK_MAX_M:
        return trip(start, [a, b], habits.walk_mps * rng.uniform(0.95, 1.05))
    if habits.mode is Mode.DRIVE:
        speed = min(17.0, habits.drive_mps * rng.uniform(0.9, 1.1))
        return trip(start, jittered(rng, a, b), speed)
    speed = TRANSIT_MPS * rng.uniform(0.9, 1.1)
    return trip(start, jittered(rng, a, b), speed, indoors=rng.random() < UNDERGROUND_SHARE)


def travel_time(person: Person, a: tuple[float, float], b: tuple[float, float]) -> float:
    """An upper bound on the trip's duration (detours add at most ~5 %, speeds vary by 10 %), so
    that a return planned for 23:15 is home by then and no plan runs past midnight."""
    d = dist(a, b)
    if d < WALK_MAX_M:
        return d / (0.95 * person.habits.walk_mps)
    speed = person.habits.drive_mps if person.habits.mode is Mode.DRIVE else TRANSIT_MPS
    return d * 1.1 / (0.9 * min(speed, 17.0))


class Plan:
    """Consecutive legs; `at(t)` for any t from the first leg's start (the last point after the end)."""

    __slots__ = ("end", "legs", "start", "starts")

    def __init__(self, legs: list[Leg]) -> None:
        self.legs = legs
        self.starts = [leg.start for leg in legs]
        self.start = legs[0].start
        self.end = legs[-1].end

    def at(self, t: float) -> Position:
        i = bisect_right(self.starts, t) - 1
        return self.legs[max(i, 0)].at(t)

    def leg_at(self, t: float) -> Leg:
        return self.legs[max(bisect_right(self.starts, t) - 1, 0)]

    def held(self, t: float) -> tuple[Position, float]:
        """The position at t, and until when it stays exactly there (t itself while moving)."""
        i = bisect_right(self.starts, t) - 1
        leg = self.legs[max(i, 0)]
        pos = leg.at(t)
        if leg.speed == 0.0:
            return pos, leg.end
        return pos, t if t < leg.end else (self.legs[i + 1].start if i + 1 < len(self.legs) else math.inf)


class _DayBuilder:
    """Appends legs from a moving cursor: stay until, go to, stay for."""

    def __init__(self, rng: random.Random, person: Person, t0: float) -> None:
        self.rng = rng
        self.person = person
        self.t = t0
        self.here: tuple[float, float] = (person.home.lat, person.home.lon)
        self.indoors = person.home.indoors
        self.legs: list[Leg] = []

    def stay_until(self, t: float) -> None:
        if t > self.t:
            self.legs.append(stay(self.t, t, self.here[0], self.here[1], self.indoors))
            self.t = t

    def go(self, place: Place) -> None:
        dest = (place.lat, place.lon)
        leg = travel(self.rng, self.person, self.t, self.here, dest)
        self.legs.append(leg)
        self.t = leg.end
        self.here = dest
        self.indoors = place.indoors

    def outing(self, place: Place, minutes: tuple[float, float], latest_home: float) -> bool:
        """Go to `place`, stay, come home; skipped (False) if it would bring him home after `latest_home`."""
        home = (self.person.home.lat, self.person.home.lon)
        there = (place.lat, place.lon)
        stay_s = self.rng.uniform(*minutes) * 60.0
        back = (
            self.t
            + travel_time(self.person, self.here, there)
            + stay_s
            + travel_time(self.person, there, home)
        )
        if back > latest_home:
            return False
        self.go(place)
        self.stay_until(self.t + stay_s)
        self.go(self.person.home)
        return True


def plan_day(person: Person, day: int, seed: int) -> Plan:
    """The person's routine for one local day."""
    rng = random.Random(f"{seed}/{person.id}/day/{day}")
    t0 = day_start(day)
    b = _DayBuilder(rng, person, t0)
    habits = person.habits
    latest_home = t0 + habits.home_by_s
    errands = person.errands or (person.home,)
    workday = person.work is not None and habits.works and weekday(day) < 5 and rng.random() > 0.05
    if workday and person.work is not None:
        home = (person.home.lat, person.home.lon)
        arrive = t0 + habits.work_start_s + rng.gauss(0.0, 600.0)
        b.stay_until(arrive - travel_time(person, home, (person.work.lat, person.work.lon)))
        work = (person.work.lat, person.work.lon)
        b.go(person.work)
        leave = arrive + habits.work_hours_s + rng.gauss(0.0, 900.0)
        b.stay_until(max(b.t + 3600.0, min(leave, latest_home - travel_time(person, work, home))))
        if rng.random() < 0.4 and b.outing(rng.choice(errands), (15.0, 60.0), latest_home):
            pass
        elif b.here != home:
            b.go(person.home)
    else:
        b.stay_until(t0 + rng.uniform(9.5, 12.0) * 3600.0)
        for _ in range(rng.randint(0, 3)):
            if not b.outing(rng.choice(errands), (20.0, 150.0), latest_home):
                break
            b.stay_until(b.t + rng.uniform(15.0, 90.0) * 60.0)
    if rng.random() < habits.evening_out:
        b.stay_until(max(b.t + 1800.0, t0 + rng.uniform(18.5, 20.5) * 3600.0))
        b.outing(rng.choice(errands), (60.0, 150.0), latest_home)
    b.stay_until(t0 + DAY_S)
    return Plan(b.legs)


class Routines:
    """Everyone's routine positions, deterministic in (seed, person, t). Plans are built lazily per
    local day and only the last few days per person are kept, so memory stays flat on long runs."""

    KEEP_DAYS = 3

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._plans: dict[str, dict[int, Plan]] = {}
        self._legs: dict[str, Leg] = {}  # each person's last leg looked at: most calls land in it

    def plan(self, person: Person, day: int) -> Plan:
        days = self._plans.get(person.id)
        if days is None:
            days = self._plans[person.id] = {}
        found = days.get(day)
        if found is None:
            found = days[day] = plan_day(person, day, self.seed)
            if len(days) > self.KEEP_DAYS:
                for old in sorted(days)[: -self.KEEP_DAYS]:
                    del days[old]
        return found

    def plan_at(self, person: Person, ts: float) -> Plan:
        """The plan in force at epoch second `ts` (plans end by midnight: see `plan_day`)."""
        day = int((ts + UTC_OFFSET_S) // DAY_S)
        days = self._plans.get(person.id)
        today = days.get(day) if days is not None else None
        return today if today is not None else self.plan(person, day)

    def at(self, person: Person, ts: float) -> Position:
        """Routine position at epoch second `ts`."""
        leg = self._legs.get(person.id)
        if leg is None or not leg.start <= ts < leg.end:
            leg = self._legs[person.id] = self.plan_at(person, ts).leg_at(ts)
        return leg.at(ts)

    def held(self, person: Person, ts: float) -> tuple[Position, float]:
        """Routine position at `ts` and until when it stays put (`ts` while moving)."""
        return self.plan_at(person, ts).held(ts)

    def true_position(self, person: Person, t: datetime) -> Position:
        """(lat, lon, speed_mps, heading_deg, indoors) of the person's routine at aware time `t`."""
        return self.at(person, t.timestamp())


def jitter_point(
    rng: random.Random, lat: float, lon: float, min_m: float, max_m: float
) -> tuple[float, float]:
    """A point at a random bearing `min_m`..`max_m` away."""
    return offset((lat, lon), rng.uniform(0.0, 360.0), rng.uniform(min_m, max_m))


def toward(lat: float, lon: float, to_lat: float, to_lon: float, distance: float) -> tuple[float, float]:
    """The point `distance` metres from (lat, lon) toward (to_lat, to_lon)."""
    return offset((lat, lon), bearing((lat, lon), (to_lat, to_lon)), distance)


def separation(a: Position, b: Position) -> float:
    """Metres between two positions (flat geometry, as above)."""
    k = math.cos(math.radians((a[0] + b[0]) * 0.5))
    dy = (a[0] - b[0]) * _M_PER_DEG
    dx = (a[1] - b[1]) * _M_PER_DEG * k
    return math.sqrt(dx * dx + dy * dy)
