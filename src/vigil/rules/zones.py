"""Zones: exclusion zones a subject must not enter, inclusion zones he must stay in (curfew).

Exclusion leans toward safety like proximity: a fix whose accuracy disc touches the zone counts as
entry, graded by confidence. Inclusion (no victim at the door) is raised only when even the ~95 %
disc (twice the stated accuracy) is outside, confirmed by the fix before it (see `assess`), and ends
once he is back inside by a margin. A coarse fix (cell, poor Wi-Fi) neither starts nor ends a breach
of either kind.
Both honour the zone's weekly schedule; the engine re-judges at every schedule boundary so a curfew
that starts while he is out raises at its start time, not at his next fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from vigil.domain import geo
from vigil.domain.alerts import AlertKey, AlertKind, Confidence, Facts, Signal
from vigil.domain.model import Circle, Fix, FixSource, Zone, ZoneKind
from vigil.domain.track import position
from vigil.rules.tuning import Tuning

FAMILY = "zone"


@dataclass(frozen=True, slots=True)
class ZoneState:
    breach: bool = False


def key(subject_id: str, zone: Zone) -> AlertKey:
    return AlertKey(FAMILY, subject_id, zone.id)


def assess(
    subject_id: str,
    zone: Zone,
    state: ZoneState,
    fix: Fix,
    at: datetime,
    scheduled: bool,
    tuning: Tuning,
    *,
    protected_person_id: str | None = None,
    late: bool = False,
    previous: Fix | None = None,
    confirm_within_s: float | None = None,
    lost: bool = False,
    other: Fix | None = None,
    in_force_then: bool = True,
    stood: Callable[[], Fix | None] | None = None,
) -> tuple[ZoneState, Signal]:
    """Judge the subject's fix against one zone at instant `at`; `scheduled` says the zone is in force.

    `stood`: asked only for an entry, for a fix that measured no movement, his last sharper satellite
    fix of the last
    `tuning.coarse_defers_s` that measured a standstill and lies inside this fix's disc
    (`Engine._stood`): an exclusion zone is then entered as that fix says, not on the near edge of
    the wider one.

    `previous`: the subject's last fine (not coarse) fix before `fix`. A curfew absence ends on a
    poor fix only with it home too (`_home_too`). A multipath reflection puts a
    fix hundreds of metres out while it claims 5-20 m accuracy (about one fix in 500), and at 60 s
    reporting that jump is no faster than a walk, so no speed limit catches it. Curfew absence
    therefore starts on a fix only when the device measures him moving (speed at least
    `tuning.moving_mps`) or when the fine fix before it, at most `tuning.confirm_within_s` earlier,
    put him outside too. A real absence is seen again at the next fix, one reporting interval later;
    if no fix comes, the silence alert covers it. Exclusion (a victim's home or work) still raises on
    the first fix: safety comes first there. `confirm_within_s`: that window for this device (it
    follows the device's reporting interval, `confirm_window`); None: `tuning.confirm_within_s`.

    `other`: the newest fine fix of another of his devices (his phone beside his monitor) measured at
    or before `fix`: when it too, within the window, has him absent, two receivers agree and the
    absence needs no second fix of the first (a reflection misleads one receiver, not two). It never
    starts an absence alone: his monitor stands for him, and a phone may be anywhere.

    `lost`: the fix is the last usable position of a device under location loss, older than its
    limit: it no longer says where he is, so it starts no curfew absence (a breach already open stays
    open). He may have come home since with no fix indoors; the location_loss alert says what is
    known. (A fix outside at 19:32, then hours at home under location loss, opened a curfew alarm at
    22:00.) Silence does not count here: a monitor cut off outside still opens the curfew on its
    last fix.

    `in_force_then`: False when the fix is no longer current (older than `tuning.stale_after_s`, or
    two of a slow device's intervals) and was measured while the zone did not count. An exclusion
    zone's breach is not started on such a position: he was allowed there then, and where he is now is not known (his
    07:30 fix by a school whose zone counts from 08:00, uploaded at 09:00, was a violation "now").
    A curfew still starts on his last fix outside, however old (a monitor cut off outside, above).

    The verdict says its tier like proximity's: "violation" while in breach, None once over, and
    the peak "violation" on every alert it opens or clears."""
    outside = geo.signed_distance_m(zone.shape, fix.lat, fix.lon)  # < 0 inside
    accuracy = fix.accuracy_m or 0.0
    coarse = accuracy > tuning.coarse_accuracy_m
    slack = 0.0 if coarse else accuracy
    size = _size(zone)
    # Hysteresis, but never more than half a small circle: a 20 m home zone must still clear.
    margin = min(tuning.margin(size), size / 2) if size > 0 else tuning.margin_min_m
    if coarse:
        # A cell or Wi-Fi fallback cannot place anyone against a zone a few hundred metres wide: it
        # neither starts nor ends a breach (as judged, these raised a curfew alarm every night).
        breach = scheduled and state.breach
        confidence = _grade(-outside if zone.kind is ZoneKind.EXCLUSION else outside, accuracy, coarse)
    elif zone.kind is ZoneKind.EXCLUSION:
        near_edge = outside - slack
        enters = in_force_then and near_edge <= 0
        standstill = stood() if enters and stood is not None and not state.breach else None
        if standstill is not None:
            # A wider fix that only repeats, less precisely, where his receiver measured him standing
            # (`stood`, inside its disc): that fix says where he is, and it decides the entry. A man
            # asleep 60 m outside a 500 m zone, whose monitor gave a Wi-Fi fix claiming 90 m every
            # half hour, got a new zone violation each time. A man on the move is judged on the
            # near edge at once, as before: safety first.
            edge = geo.signed_distance_m(zone.shape, standstill.lat, standstill.lon)
            enters = edge - (standstill.accuracy_m or 0.0) <= 0
        breach = scheduled and (enters or (state.breach and near_edge <= margin))
        confidence = _grade(-outside, accuracy, coarse)
    else:
        # Absence only when even the ~95 % disc (twice the stated 68 % accuracy) is outside: a
        # curfew alarm sends someone to a door at night, and one fix in three lies beyond accuracy_m.
        window = tuning.confirm_within_s if confirm_within_s is None else confirm_within_s
        confirmed = (
            not lost and absent(zone, fix, tuning) and _confirms(zone, fix, previous, other, tuning, window)
        )
        home = outside <= -margin
        if home and state.breach and _poor(fix, tuning):
            # A Wi-Fi fix, or one claiming worse than `tuning.poor_accuracy_m`, ends an absence only
            # with the fix before it home too (within `tuning.brink_window_s`): one Wi-Fi fix of 200 m
            # centred on his home, between GNSS fixes at a bar 1 km away, cleared his curfew alarm
            # and the next fix raised it again. Home for real, the next fix agrees.
            home = previous is not None and _home_too(zone, fix, previous, margin, tuning)
        breach = scheduled and (confirmed or (state.breach and not home))
        confidence = _grade(outside, accuracy, coarse)
    stale = ("subject",) if (at - fix.time).total_seconds() > tuning.stale_after_s else ()
    facts = Facts(
        subject_position=position(fix, at),
        distance_m=round(abs(outside), 1),
        confidence=confidence,
        zone_label=zone.label or None,
        stale=stale,
        # `at` is the processing time for a late newest fix; a retimed fix's time is its receipt
        occurred_at=fix.time if late or fix.clock_suspect else None,
        clock_suspect=fix.clock_suspect,  # his device time was not believed: judged at its receipt
        tier="violation" if breach else None,
        peak_tier="violation" if breach or state.breach else None,
    )
    signal = Signal(
        key=key(subject_id, zone),
        kind=AlertKind.ZONE_VIOLATION,
        active=breach,
        onset=breach and not state.breach,
        facts=facts,
        subject_id=subject_id,
        protected_person_id=protected_person_id,
        zone_id=zone.id,
        order_id=zone.order_id,
        late=late,
    )
    return ZoneState(breach), signal


def absent(zone: Zone, fix: Fix, tuning: Tuning) -> bool:
    """The fix is fine and even its ~95 % disc lies outside the inclusion zone."""
    accuracy = fix.accuracy_m or 0.0
    if accuracy > tuning.coarse_accuracy_m:
        return False
    return geo.signed_distance_m(zone.shape, fix.lat, fix.lon) - 2 * accuracy > 0


def _poor(fix: Fix, tuning: Tuning) -> bool:
    return fix.source is FixSource.WIFI or (fix.accuracy_m or 0.0) > tuning.poor_accuracy_m


def _home_too(zone: Zone, fix: Fix, previous: Fix, margin: float, tuning: Tuning) -> bool:
    """Whether the fix before `fix` (the last fine one: nothing fine placed him elsewhere since), at
    most `tuning.coarse_defers_s` earlier, had him inside the inclusion zone by the margin too. Home
    indoors, a monitor gets a Wi-Fi fix every few minutes (cell fixes between): a 5-minute window
    kept a man home since 22:35 under a curfew alarm all night."""
    age = (fix.time - previous.time).total_seconds()
    if not 0.0 < age <= tuning.coarse_defers_s:
        return False
    return geo.signed_distance_m(zone.shape, previous.lat, previous.lon) <= -margin


def confirm_window(interval_s: float | None, tuning: Tuning) -> float:
    """How far back the fix confirming a curfew absence may be: `tuning.confirm_within_s` (five
    intervals at 60 s), or `tuning.confirm_intervals` of a slower device's own interval, whose fix
    before is a whole interval back (a flat 300 s never confirmed anything at 300 s reporting)."""
    if interval_s is None:
        return tuning.confirm_within_s
    return max(tuning.confirm_within_s, tuning.confirm_intervals * interval_s)


def _confirms(
    zone: Zone, fix: Fix, previous: Fix | None, other: Fix | None, tuning: Tuning, window: float
) -> bool:
    """Whether an absent fix can be believed: the receiver measures him moving (its Doppler speed,
    which a reflection does not fake: a jump reports the standstill he is really in), or the fine fix
    before it, recent enough, was absent too, or another of his devices' was."""
    if fix.speed_mps is not None and fix.speed_mps >= tuning.moving_mps:
        return True
    for before, same_device in ((previous, True), (other, False)):
        if before is None or not absent(zone, before, tuning):
            continue
        age = (fix.time - before.time).total_seconds()
        # its own receiver's fix must be an earlier one; another receiver's may be of the same moment
        earliest_ok = age > 0.0 if same_device else age >= 0.0
        if earliest_ok and age <= window:
            return True
    return False


def lifted(subject_id: str, zone: Zone) -> Signal:
    """The zone was removed or its order ended: a breach of it no longer holds."""
    return Signal(
        key=key(subject_id, zone), kind=AlertKind.ZONE_VIOLATION, active=False, onset=False,
        facts=Facts(zone_label=zone.label or None), subject_id=subject_id, zone_id=zone.id,
        order_id=zone.order_id,
    )  # fmt: skip


def _grade(depth: float, accuracy: float, coarse: bool) -> Confidence:
    """depth: how far into breach the reported position is (positive = in breach)."""
    if coarse:
        return Confidence.COARSE
    if depth - accuracy >= 0:
        return Confidence.CERTAIN
    if depth >= 0:
        return Confidence.LIKELY
    return Confidence.POSSIBLE


def _size(zone: Zone) -> float:
    shape = zone.shape
    if isinstance(shape, Circle):
        return shape.radius_m
    return 0.0  # polygons: the minimum margin is enough
