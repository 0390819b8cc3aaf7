"""Between fixes: a breach on the straight path between two consecutive plausible fixes of his.

At one fix a minute a car crosses a 200 m exclusion zone, or passes her, between two reports: neither
fix is inside, yet he was. When two consecutive plausible fixes of one device are close enough in
time for a straight line between them to be believed (`Tuning.inferred_within_s`; up to
`Tuning.inferred_measured_within_s` when both receivers' speeds and headings agree closely with the
line: a slow monitor's fixes 5 minutes apart), the path is
checked against each exclusion zone and against her violation circle (her position moving straight
between where she was at the two times). It counts only when it passes inside by more than the fixes'
accuracy can explain (the interpolated point is off by at most the larger of the two accuracies, hers
likewise) plus `Tuning.inferred_depth_m`. The alert is marked `inferred`, carries both fixes as
evidence, and says when he passed (`occurred_at`). Coarse fixes prove nothing here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from vigil.domain import geo
from vigil.domain.alerts import AlertKind, Confidence, Facts, Position, Signal
from vigil.domain.model import Fix, Order, Zone, ZoneKind
from vigil.domain.track import accuracy, position
from vigil.rules import proximity, zones
from vigil.rules.tuning import Tuning

# The straight line stands for the path only if the receiver's own measurements agree with it: the
# speed it implies at least this share of the speeds measured at both ends, and each heading measured
# within this many degrees of its bearing. Driving round a block, 60 m outside a school zone, his
# chord between two fixes a minute apart cut the corner through the zone at 8.5 m/s while the
# receiver said 12 m/s, heading north then west: an inferred violation of a zone he never entered.
STRAIGHT_SPEED_SHARE = 0.8
STRAIGHT_HEADING_DEG = 45.0
# Beyond `Tuning.inferred_within_s` (a slow monitor's fixes 5 minutes apart) the line is believed only
# on both ends' measured speed and heading, and a closer agreement: over minutes, a quarter circle
# round her block at 15 m/s still meets the looser test (its chord is 0.9 of the arc, each heading
# 45 degrees off it) while its chord cuts 30 % nearer her than he ever was. A 40-degree arc meets
# this one, and its chord runs within 6 % of its radius of the road.
LONG_SPEED_SHARE = 0.9
LONG_HEADING_DEG = 20.0


def believable(a: Fix, b: Fix, tuning: Tuning) -> bool:
    """Whether the straight line a->b (consecutive fixes of one device) stands for the path taken."""
    seconds = (b.time - a.time).total_seconds()
    long = seconds > tuning.inferred_within_s
    if not (
        0 < seconds <= (tuning.inferred_measured_within_s if long else tuning.inferred_within_s)
        and accuracy(a) <= tuning.coarse_accuracy_m
        and accuracy(b) <= tuning.coarse_accuracy_m
    ):
        return False
    if long and any(f.speed_mps is None or f.heading_deg is None for f in (a, b)):
        return False
    share, turn = (
        (LONG_SPEED_SHARE, LONG_HEADING_DEG) if long else (STRAIGHT_SPEED_SHARE, STRAIGHT_HEADING_DEG)
    )
    chord = geo.distance_m(a.lat, a.lon, b.lat, b.lon)
    speeds = [f.speed_mps for f in (a, b) if f.speed_mps is not None]
    if speeds and chord / seconds < share * min(speeds):
        return False  # he went a longer way round than the line
    bearing = geo.bearing_deg(a.lat, a.lon, b.lat, b.lon)
    return all(f.heading_deg is None or _turn(f.heading_deg, bearing) <= turn for f in (a, b))


def _turn(heading: float, bearing: float) -> float:
    """The angle between two directions, in degrees (0-180)."""
    return abs((heading - bearing + 180.0) % 360.0 - 180.0)


def proximity_pass(
    order: Order, a: Fix, b: Fix, p: Fix, q: Fix, at: datetime, tuning: Tuning
) -> Signal | None:
    """His path a->b against her violation circle, her moving p->q over the same interval (p and q:
    her positions in force at a's and b's times); a violation signal when he passed inside."""
    if accuracy(p) > tuning.coarse_accuracy_m or accuracy(q) > tuning.coarse_accuracy_m:
        return None
    v = order.violation_distance_m
    for his, hers in ((a, p), (b, q)):
        if geo.distance_m(his.lat, his.lon, hers.lat, hers.lon) <= v:
            return None  # a fix itself is inside: judged as such, not as a pass
    # A fix only possibly inside (its near edge within the line) does not stand in the way: the live
    # rule holds such a fix on the brink for a second look, and a car passing 50 m from her gives
    # none (his fixes 112 m before and 149 m after: the pass was missed altogether).
    miss, t = geo.closest_approach((a.lat, a.lon), (b.lat, b.lon), (p.lat, p.lon), (q.lat, q.lon))
    slack = max(accuracy(a), accuracy(b)) + max(accuracy(p), accuracy(q)) + tuning.inferred_depth_m
    if v - miss <= slack:
        return None
    when = a.time + (b.time - a.time) * t
    facts = Facts(
        subject_position=_between(a, b, t, when, at),
        protected_position=_between(p, q, t, when, at),
        distance_m=round(miss, 1),
        confidence=Confidence.LIKELY,
        occurred_at=when,
        inferred=True,
        evidence=(position(a, at), position(b, at)),
        tier="violation",  # at the moment of passage; the live state says where it stands after
        peak_tier="violation",
    )
    return Signal(
        key=proximity.key(order),
        kind=AlertKind.PROXIMITY_VIOLATION,
        active=True,
        onset=True,
        facts=facts,
        subject_id=order.subject_id,
        protected_person_id=order.protected_person_id,
        order_id=order.id,
    )


def zone_pass(
    subject_id: str, zone: Zone, a: Fix, b: Fix, at: datetime, tuning: Tuning, protected_person_id: str | None
) -> Signal | None:
    """His path a->b against an exclusion zone; a zone_violation signal when he passed inside."""
    if zone.kind is not ZoneKind.EXCLUSION:
        return None
    for end in (a, b):
        if geo.signed_distance_m(zone.shape, end.lat, end.lon) <= accuracy(end):
            return None  # a fix itself is (or may be) inside: judged as such, not as a pass
    depth, t = geo.path_depth(zone.shape, (a.lat, a.lon), (b.lat, b.lon))
    if depth <= max(accuracy(a), accuracy(b)) + tuning.inferred_depth_m:
        return None
    when = a.time + (b.time - a.time) * t
    facts = Facts(
        subject_position=_between(a, b, t, when, at),
        distance_m=round(depth, 1),
        confidence=Confidence.LIKELY,
        zone_label=zone.label or None,
        occurred_at=when,
        inferred=True,
        evidence=(position(a, at), position(b, at)),
        tier="violation",  # at the moment of passage; the live state says where it stands after
        peak_tier="violation",
    )
    return Signal(
        key=zones.key(subject_id, zone),
        kind=AlertKind.ZONE_VIOLATION,
        active=True,
        onset=True,
        facts=facts,
        subject_id=subject_id,
        protected_person_id=protected_person_id,
        zone_id=zone.id,
        order_id=zone.order_id,
    )


def _between(a: Fix, b: Fix, t: float, when: datetime, at: datetime) -> Position:
    """The estimated point a fraction t of the way from a to b, at `when`."""
    return Position(
        lat=a.lat + (b.lat - a.lat) * t,
        lon=a.lon + (b.lon - a.lon) * t,
        accuracy_m=max(accuracy(a), accuracy(b)),
        time=when,
        age_s=max(0.0, (at - when) / timedelta(seconds=1)),
        source=b.source.value,
    )
