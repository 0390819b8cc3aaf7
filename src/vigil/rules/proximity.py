"""Proximity between a subject and a protected person: two tiers, judged from either party's fix.

The decision is accuracy-aware and leans toward the victim's safety: a tier is entered when the
nearest plausible separation (distance minus the combined accuracy) is inside it, and the alert says
how sure that is. A new warning for a pair no receiver measures moving waits: on that near edge
alone for the reported positions to cross the line, and with them across but the far edge not, for
a second fix across it (`moving`, `_seen_twice`). A tier is left only when that nearest
separation is beyond its distance plus a margin (so the distance must clear the line by the
combined accuracy and the margin), so GPS jitter at a boundary does not make an alert flap.

A coarse position (cell, or combined accuracy beyond `Tuning.coarse_accuracy_m`) can warn, judged on
the reported positions, but can neither prove a violation nor lower a tier held: it cannot place
anyone against a 100 m line in either direction. A coarse fix that only repeats, less precisely, a
fine fix of the last half hour (which lies inside its disc) is not judged at all: the fine one is.

A pair that leaves every tier does not clear its alert at once: the alert stays active for
`Tuning.tier_hold_s` (a pending clear; the engine clears it at the end of the hold if they are still
apart), and a pair that falls back in within the hold carries on with the same alert, saying
nothing new unless something material changed. Each such return doubles the pair's hold for the
rest of the alert, up to `Tuning.tier_hold_max_s` (`hold_s`). Neighbours 1-2 km apart at a 1 km warning line would
otherwise raise a new warning all night.

Every verdict says the tier the pair is in now and the highest it reached in this alert
(`Facts.tier`, `Facts.peak_tier`): a violation whose parties are back at warning range says
"warning" while the alert stays a proximity_violation (kinds never fall back).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from vigil.domain import geo
from vigil.domain.alerts import AlertKey, AlertKind, Confidence, Facts, Signal
from vigil.domain.model import Fix, FixSource, Order
from vigil.domain.track import SAME_PLACE_M, accuracy, position, velocity
from vigil.rules.tuning import Tuning

CLEAR, WARNING, VIOLATION = 0, 1, 2
KIND = {WARNING: AlertKind.PROXIMITY_WARNING, VIOLATION: AlertKind.PROXIMITY_VIOLATION}
TIER_NAME = {CLEAR: None, WARNING: "warning", VIOLATION: "violation"}
FAMILY = "proximity"


@dataclass(frozen=True, slots=True)
class Brink:
    """The fixes a violation on the brink rested on. Only a judgement whose less accurate fix is newer
    than that party's fix here is new evidence (her phone's next report says nothing new about his
    poor Wi-Fi fix, nor his next one about hers), and a newer fix of `side` as accurate as
    `accuracy_m` that places them apart settles the doubt (`_settles`)."""

    subject_at: datetime
    protected_at: datetime
    side: str  # "subject" or "protected": whose fix was the less accurate
    accuracy_m: float

    def measured(self, side: str) -> datetime:
        return self.subject_at if side == "subject" else self.protected_at


@dataclass(frozen=True, slots=True)
class PairState:
    """tier: the tier held now. peak: the highest reached since the alert opened. left_at: when the
    pair left every tier while its alert stays active for the hold (a pending clear), else None."""

    tier: int = CLEAR
    peak: int = CLEAR
    left_at: datetime | None = None
    returns: int = 0  # times it fell back in within the hold in this alert: each doubles the hold
    # When a judgement last put only the near edge of the discs inside the violation distance: a
    # second one soon after confirms a violation the reported positions do not show (`_brink`).
    brink_at: datetime | None = None
    # ... and what that judgement rested on: when each party's fix was measured, which of them was
    # the less accurate, and its accuracy (`Brink`).
    brink_fix: Brink | None = None
    # When her device last saw his monitor's BLE tag (rules/ble.py): a position of his measured
    # before it cannot say he was not there.
    ble_at: datetime | None = None
    # When a still pair's reported positions last crossed the warning line on a fix too poor to be
    # sure of (`_seen_twice`), and what that judgement rested on: a second such look on a newer fix
    # of the same party raises the warning.
    doubt_at: datetime | None = None
    doubt_fix: Brink | None = None

    @property
    def holding(self) -> bool:
        """The alert this pair raised still holds: in a tier, or in the hold after leaving."""
        return self.tier > CLEAR or self.left_at is not None


def hold_s(state: PairState, tuning: Tuning) -> float:
    """The hold for this pair: `tuning.tier_hold_s`, doubled for every time it fell back in within
    the hold in this alert, up to `tuning.tier_hold_max_s` (flap damping: a pair that keeps coming
    back, neighbours at the line all night, needs a longer quiet before it is called over; one
    approach and retreat clears after the base hold)."""
    return min(tuning.tier_hold_max_s, tuning.tier_hold_s * 2.0 ** min(state.returns, 16))


def hold_ends(state: PairState, tuning: Tuning) -> datetime | None:
    """When a pending clear falls due (the engine's deadline), or None if none is pending."""
    if state.left_at is None:
        return None
    return state.left_at + timedelta(seconds=hold_s(state, tuning))


@dataclass(frozen=True, slots=True)
class Party:
    """One side of the pair as the rule sees it: the fix in force, the one before it, and the last
    fine one before it (None: the one before, when it is fine)."""

    fix: Fix
    previous: Fix | None
    fine: Fix | None = None
    # Where the party has been at rest, if it has (`Track.kept`): asked only when the pair would
    # enter or leave a tier on a poor fix of that party, not on every judgement.
    kept: Callable[[], Fix | None] | None = None
    # How long this party's fix stands for where they are now (None: `tuning.stale_after_s`); the
    # engine gives a slow reporter two of its intervals (`Engine._current_s`).
    current_s: float | None = None
    # Since when the party's receiver has measured a standstill in this place (`Track.still_since`),
    # asked only when a pair at rest would matter (`at_rest`); None: from the fix before alone.
    rest_since: Callable[[], datetime | None] | None = None
    # When the party's device was last heard (a live judgement; None: a late one, or never heard):
    # how long its silence has lasted, by the server's clock, not the device's (`_moved_on`).
    heard: datetime | None = None


def key(order: Order) -> AlertKey:
    return AlertKey(FAMILY, order.subject_id, order.protected_person_id)


def separation(subject: Fix, protected: Fix) -> tuple[float, float]:
    """(distance between the reported positions, their combined accuracy), in metres."""
    distance = geo.distance_m(protected.lat, protected.lon, subject.lat, subject.lon)
    return distance, math.hypot(subject.accuracy_m or 0.0, protected.accuracy_m or 0.0)


def clearly_apart(order: Order, subject: Fix, protected: Fix, at: datetime, tuning: Tuning) -> bool:
    """Beyond the warning distance even at the near edge of both accuracy discs, and however far a
    moving fix is carried on to `at` (`_carried`): a pair that held no tier holds none now. (Coarse
    fixes are judged on their centres, which are farther still.)"""
    distance, uncertainty = separation(subject, protected)
    return distance - uncertainty - _reach(subject, at, tuning) - _reach(protected, at, tuning) > (
        order.warning_distance_m
    )


def _reach(fix: Fix, at: datetime, tuning: Tuning) -> float:
    """How far `_carried` may move the fix, at most (and widen it by)."""
    dt = _carry_s(fix, None, at, tuning)
    return 0.0 if dt == 0.0 or fix.speed_mps is None else fix.speed_mps * dt * (1.0 + tuning.step_slack)


def _carry_s(fix: Fix, heard: datetime | None, at: datetime, tuning: Tuning) -> float:
    """For how long `_carried` carries the fix on to `at` (by the server's clock when its device was
    last heard): 0 for a fix that measured no movement, or older than `tuning.moving_stands_s`."""
    dt = (at - fix.time).total_seconds()
    if heard is not None:
        dt = min(dt, (at - heard).total_seconds())
    if not 0.0 < dt <= tuning.moving_stands_s or fix.speed_mps is None or fix.speed_mps < tuning.moving_mps:
        return 0.0
    return dt


def _stayed(before: Fix | None, fix: Fix) -> bool:
    """Whether `fix` lies where the same receiver's fix before it did (within both accuracies and
    `SAME_PLACE_M`): whatever speed it reports, it has not moved."""
    return before is not None and geo.distance_m(before.lat, before.lon, fix.lat, fix.lon) <= (
        (before.accuracy_m or 0.0) + (fix.accuracy_m or 0.0) + SAME_PLACE_M
    )


def reaches_violation(order: Order, subject: Fix, protected: Fix) -> bool:
    """Whether the near edge of both accuracy discs is within the violation distance."""
    distance, uncertainty = separation(subject, protected)
    return distance - uncertainty <= order.violation_distance_m


def tier_for(effective_m: float, held: int, order: Order, tuning: Tuning) -> int:
    """The tier at this separation, given the tier held so far (hysteresis)."""
    v, w = order.violation_distance_m, order.warning_distance_m
    if effective_m <= v or (held == VIOLATION and effective_m <= v + tuning.margin(v)):
        return VIOLATION
    if effective_m <= w or (held >= WARNING and effective_m <= w + tuning.margin(w)):
        return WARNING
    return CLEAR


def assess(
    order: Order,
    state: PairState,
    subject: Party,
    protected: Party,
    at: datetime,
    tuning: Tuning,
    *,
    late: bool = False,
    measured_at: datetime | None = None,
) -> tuple[PairState, Signal]:
    """Judge the pair at instant `at` (now, or a late fix's own time). `measured_at`: when the fix that
    prompted a late judgement was measured, if not `at` (a late fix that is still the newest)."""
    given = (subject.fix, protected.fix)
    subject, protected = _best(subject, tuning), _best(protected, tuning)
    # judged on an earlier fine fix in place of a coarse one: the coarse fix prompted it, and a coarse
    # fix cannot prove a violation (that earlier fix against her newer position, perhaps her car
    # passing his building, is no proof that he is within 100 m of her now)
    deferred = subject.fix is not given[0] or protected.fix is not given[1]
    # the positions as reported (what the alert shows), and both at one instant (what is judged)
    s_seen, p_seen = subject.fix, protected.fix
    s, p = _carried(subject, at, tuning), _carried(protected, at, tuning)
    carried = s is not s_seen or p is not p_seen
    carried_side = _carried_side(s, s_seen, p, p_seen) if carried else None
    distance, uncertainty = separation(s, p)
    coarse = uncertainty > tuning.coarse_accuracy_m
    effective = distance if coarse else max(0.0, distance - uncertainty)
    tier = tier_for(effective, state.tier, order, tuning)
    if carried and tier < state.tier and not coarse:
        # ... nor does it alone leave a tier held: the positions as reported must leave it too (on
        # hairpins, carried straight on, a car 80 m behind hers was put back in the warning tier)
        seen_distance, seen_uncertainty = separation(s_seen, p_seen)
        seen = tier_for(max(0.0, seen_distance - seen_uncertainty), state.tier, order, tuning)
        tier = max(tier, min(state.tier, seen))
    contact = state.ble_at
    if contact is not None and (s.time - contact).total_seconds() <= tuning.ble_stands_s:
        # his position predates her device's contact with his tag, or follows it so closely that
        # the two contradict each other (a tag at her side, his monitor's fix 20 km off: one of them
        # is forged): the contact stands. Contacts every minute against far fixes flapped the
        # violation's tier at every fix.
        tier = max(tier, state.tier)
    if coarse:
        # A coarse fix can warn, but cannot prove him within 100 m on its own, nor that he left:
        # whatever tier was held stays held until a fine position says otherwise.
        tier = max(state.tier, min(tier, WARNING))
    elif (
        deferred
        or _his_out_of_date(subject, p, contact, tuning)
        or _moved_on(subject, at, contact, tuning)
        or _moved_on(protected, at, contact, tuning)
    ) and tier > max(state.tier, WARNING):
        # judged on an earlier fix than the one given, or on a position that says where he or she
        # was rather than where they are (`_his_out_of_date`, `_moved_on`): it can warn, it cannot
        # prove
        tier = max(state.tier, WARNING)
    rested = (
        _rested(order, state, replace(subject, fix=s), replace(protected, fix=p), tuning)
        if tier != state.tier and not coarse
        else None
    )
    if rested is not None:
        # a new tier is entered, and a tier held is left, only if where the party at rest has been
        # says so too: her watch's Wi-Fi fix 110 m off put a man standing 70 m from her back in the
        # warning tier for 13 s, and the next one in the violation again
        tier = (
            max(state.tier, min(tier, rested[0]))
            if tier > state.tier
            else min(state.tier, max(tier, rested[0]))
        )
    doubt = _pending_doubt(state, s, p, distance, order, measured_at or at, tuning)
    if tier == WARNING and not state.holding and contact is None and not moving(s, p, tuning):
        # A new warning for a pair neither of whose receivers measures movement. (Within the hold the
        # near edge is enough to carry on: that is not a new raise. A coarse fix warns on its centre.)
        # A coarse fix centred at her door is warned at once (it proves nothing more).
        if not coarse and distance > order.warning_distance_m:
            tier = CLEAR  # the near edge alone: `moving`
        elif (coarse and distance > order.violation_distance_m) or (
            not coarse
            and distance + uncertainty > order.warning_distance_m
            and is_poor(_poorer(s, p), tuning)
        ):
            tier, doubt = _seen_twice(doubt, s, p, measured_at or at)
    brink = False
    v = order.violation_distance_m
    if not coarse and tier == VIOLATION and state.tier < VIOLATION:
        # asked here only: the rest look-up walks the parties' recent fixes
        resting = contact is None and at_rest(subject, tuning) and at_rest(protected, tuning)
        # the reported positions, with a poor fix of a party at rest taken where that party has been
        # (`_rested`): a man walking up to her, 97 m from where she sat, was judged against her
        # watch's Wi-Fi fix 144 m away and waited 2 minutes for her next fix
        # (and a Wi-Fi fix 86 m toward her, of a man measured in bed 172 m away, is not inside)
        inside = rested[1] <= v if rested is not None else distance <= v
        judged_inside = inside  # the positions judged, carried to one instant, inside
        if carried:
            # a prediction is not evidence: a violation entered on a carried position needs the
            # positions as reported inside too, or a second look (`_brink`: the carried party's next
            # fix). He braked for a red light 125 m from her door, his last fix 150 m out at 14 m/s:
            # carried on, he was "certainly" at her door.
            inside = inside and geo.distance_m(s_seen.lat, s_seen.lon, p_seen.lat, p_seen.lon) <= v
        if resting and not inside:
            # Both at rest (`at_rest`): the near edge alone proves nothing, however often
            # it is looked at (two looks at two people who do not move are one look). Neighbours
            # 125 m apart under a 100 m line, on 10-15 m GNSS fixes, were escalated to a violation in
            # the night and flapped between the tiers till morning. A man who stands within the line
            # shows it on the reported positions.
            tier = WARNING
        elif not judged_inside and contact is None and _still(subject, tuning) and _still(protected, tuning):
            # Only the near edge of the discs inside the line, and nothing shows either of them
            # moving (no receiver's speed, each fix where its fix before was): the same, as for a
            # pair measured at rest. He stood 125 m from her on 10 m fixes that gave no speed; one
            # in three said 114 m, and a second look "confirmed" a critical violation of a man
            # keeping to his order, which then flipped between the tiers all hour. Her phone on
            # Wi-Fi (80 m) at home made a man parked 180 m away one. (She drove past a man indoors
            # 479 m away under a 500 m line, her fixes 521-543 m from his: moving, the second
            # look stands.)
            tier = WARNING
        elif not inside or (resting and distance + uncertainty > v):
            # ... and one reported position inside, not beyond doubt, is confirmed by the next
            # (one of their fixes 30 m off, in six hours of them, put them "likely" within it)
            tier, brink = _brink(state, s, p, measured_at or at, tuning, carried_side)
    # The hold runs from when they were measured apart: a late batch that shows them apart long ago
    # clears at once.
    new_state, active = _hold(state, tier, min(measured_at or at, at), at, tuning)
    if contact is not None and new_state.tier > CLEAR:
        new_state = replace(new_state, ble_at=contact)
    if doubt is not None and new_state.tier == CLEAR:
        new_state = replace(new_state, doubt_at=doubt[0], doubt_fix=doubt[1])
    if brink:
        looked = _dominant(s, p) if carried_side is None else replace(_dominant(s, p), side=carried_side)
        new_state = replace(new_state, brink_at=measured_at or at, brink_fix=looked)
    elif (
        state.brink_at is not None
        and new_state.tier < VIOLATION
        and not _settles(state, s, p, effective, order, tuning)
    ):
        # the window runs on
        new_state = replace(new_state, brink_at=state.brink_at, brink_fix=state.brink_fix)
    # Falling back in within the hold is the same alert carrying on, not a new onset; rising above
    # the peak reached is (a warning that now is a violation).
    returning = state.left_at is not None and tier <= state.peak
    onset = tier > state.tier and not returning

    bearing = geo.bearing_deg(p.lat, p.lon, s.lat, s.lon)
    v_subject, v_protected = _shown(s_seen, subject.previous), _shown(p_seen, protected.previous)
    closing = _closing_speed(bearing, v_subject, v_protected)
    ttc = (
        _time_to_contact(distance, bearing, v_subject, v_protected, order.violation_distance_m)
        if closing is not None and closing >= tuning.min_closing_mps
        else None
    )
    stale = tuple(
        name
        for name, fix in (("subject", s), ("protected_person", p))
        if abs((at - fix.time).total_seconds()) > tuning.stale_after_s
    )
    threshold = order.violation_distance_m if tier == VIOLATION else order.warning_distance_m
    facts = Facts(
        subject_position=position(s_seen, at),
        protected_position=position(p_seen, at),
        distance_m=round(distance, 1),
        confidence=_confidence(distance, uncertainty, threshold, coarse),
        bearing_deg=round(bearing, 1) % 360.0,  # 359.97 rounds to 360.0, outside [0, 360)
        compass=geo.compass_point(bearing),
        subject_speed_mps=None if v_subject is None else round(math.hypot(*v_subject), 2),
        closing_speed_mps=None if closing is None else round(closing, 2) + 0.0,  # never "-0.0"
        time_to_contact_s=None if ttc is None else round(ttc, 1),
        stale=stale,
        # a late fix's own time; a fix whose device time was not believed, the receipt it was
        # judged at (as an alarm's: `docs/replay.md`)
        occurred_at=(measured_at or at) if late or s.clock_suspect or p.clock_suspect else None,
        # a position whose device time was not believed (judged at its receipt): the alert says so
        clock_suspect=s.clock_suspect or p.clock_suspect,
        tier=TIER_NAME[tier],
        peak_tier=TIER_NAME[max(state.peak, tier)],
    )
    signal = Signal(
        key=key(order),
        kind=KIND.get(tier, AlertKind.PROXIMITY_WARNING),
        active=active,
        onset=onset,
        facts=facts,
        subject_id=order.subject_id,
        protected_person_id=order.protected_person_id,
        order_id=order.id,
        late=late,
    )
    return new_state, signal


def _carried(party: Party, at: datetime, tuning: Tuning) -> Fix:
    """The party's fix at instant `at`: if its receiver measured its wearer moving and it was
    received at most `tuning.moving_stands_s` before (by the server's clock, `Party.heard`: a device
    clock 100 s slow must not carry a fresh fix 100 s on), carried on along its velocity, its
    accuracy widened by `tuning.step_slack` of the way carried (a turn, a change of speed). Each
    judgement paired one party's fresh fix with the other's last: he tailing her car 40 m behind at
    25 m/s, his fixes 8 s after hers, was 240 m from where she had been, and no violation was ever
    raised; following her route 45 s behind (540 m) was a certain one. Both parties are carried to
    the same instant. A prediction is not evidence: what it may prove is bounded in `assess`. Its
    time stays the fix's own: it is the same evidence, placed where it now points."""
    fix, before = party.fix, party.previous  # (the fix before is the same receiver's: `Whereabouts.before`)
    dt = _carry_s(fix, party.heard, at, tuning)
    if dt == 0.0 or fix.speed_mps is None:
        return fix
    speed = fix.speed_mps
    if before is not None:
        gap = (fix.time - before.time).total_seconds()
        if gap >= 10.0 and _stayed(before, fix):
            return fix  # speed noise at a standstill: the same place as its fix before
        if 5.0 <= gap <= tuning.moving_stands_s:
            # what the fixes themselves show bounds what the receiver says (a speed sent in km/h)
            shown = geo.distance_m(before.lat, before.lon, fix.lat, fix.lon) / gap
            speed = min(speed, max(1.5 * shown, shown + 3.0))
    v = velocity(fix, before)
    if v is None or v == (0.0, 0.0):
        return fix
    east, north = v
    travel = speed * dt  # at the speed measured (and shown), in the direction it went
    if travel < 1.0:
        return fix
    lat, lon = geo.destination(fix.lat, fix.lon, math.degrees(math.atan2(east, north)) % 360.0, travel)
    return replace(
        fix, lat=lat, lon=lon, accuracy_m=math.hypot(fix.accuracy_m or 0.0, tuning.step_slack * travel)
    )


def _his_out_of_date(subject: Party, p: Fix, contact: datetime | None, tuning: Tuning) -> bool:
    """His position much older than hers (a silent monitor; a late batch's newest fix judged against
    where she is now: the late path judges it against where she was then). It says where he was, not
    how near her he is now: her arriving where he was 40 minutes, or 23 hours, before is a warning
    with `stale`, not a violation pushed to police. (Her position older than his still proves: she
    is likely still where she was, at home; and his tag seen by her device is proof on its own.) A
    monitor that reports every 40 minutes is not out of date 20 minutes after its last report: his
    position stands for `subject.current_s`."""
    limit = tuning.stale_after_s if subject.current_s is None else subject.current_s
    return contact is None and (p.time - subject.fix.time).total_seconds() > limit


def _moved_on(party: Party, at: datetime, contact: datetime | None, tuning: Tuning) -> bool:
    """The party's fix measured its wearer moving, and its device has said nothing for more than
    `tuning.moving_stands_s` since (by the server's clock: a device clock a few minutes off must not
    make a fresh fix look old): it says where that party was, not where they are. Her phone, set to
    report every 5 minutes, last measured her on a bus at 10 m/s; he drove the same road 2.5 km
    behind her, and at her fix of 4 minutes before he was "certainly" within 100 m of her. (A
    party measured at rest is likely still there: at home, her older fix still proves.)"""
    fix, before = party.fix, party.previous
    if (
        contact is not None
        or party.heard is None
        or fix.speed_mps is None
        or fix.speed_mps < tuning.moving_mps
        or (at - party.heard).total_seconds() <= tuning.moving_stands_s
        or (at - fix.time).total_seconds() <= tuning.moving_stands_s
    ):
        return False
    # A receiver's speed noise at a standstill (her phone on the table reporting 1.3 m/s, fix after
    # fix at the same spot) is no movement: the same place as its fix before says she stayed.
    return not _stayed(before, fix)


def at_rest(party: Party, tuning: Tuning) -> bool:
    """Whether the party's receiver has measured a standstill in this place for `tuning.rest_min_s`
    at least (`Party.rest_since`; without it, now and at its fix before, within both accuracies and
    `SAME_PLACE_M`): at rest, not arriving. He who parks at her door was
    driving a minute ago: his first fix there is judged as any (the violation at once), not held
    for a second look as two neighbours at rest are."""
    fix, before = party.fix, party.previous
    if party.rest_since is not None:
        # at rest for a minute at least: a man who stopped at her door 15 s ago has just arrived
        since = party.rest_since()
        return since is not None and (fix.time - since).total_seconds() >= tuning.rest_min_s
    if before is None or fix.speed_mps is None or before.speed_mps is None:
        return False
    if fix.speed_mps >= tuning.moving_mps or before.speed_mps >= tuning.moving_mps:
        return False
    return _stayed(before, fix)


def _still(party: Party, tuning: Tuning) -> bool:
    """Nothing shows the party moving: at rest (`at_rest`), or, with no receiver's speed to say so,
    no speed of `tuning.moving_mps` measured and the fix where its fix before was (`_stayed`)."""
    if at_rest(party, tuning):
        return True
    fix, before = party.fix, party.previous
    if before is None or any(
        f.speed_mps is not None and f.speed_mps >= tuning.moving_mps for f in (fix, before)
    ):
        return False
    return _stayed(before, fix)


def moving(s: Fix, p: Fix, tuning: Tuning) -> bool:
    """Whether a receiver measures either of them moving.

    A new warning of a still pair needs more than one poor fix. On the near edge of the accuracy
    discs alone (the reported positions beyond the line) it is not raised at all: neighbours 1.2 km
    apart at a 1 km line, at home at night with Wi-Fi fixes of 150-250 m, are "possibly" within 1 km
    at every other fix; that was most of the operators' load, and no approach: a real one is moving,
    and otherwise is a warning when the reported positions cross the line. With the reported
    positions across the line but not the far edge, it waits for a second look (`_seen_twice`).
    Violations keep the near edge with no such condition: there, safety comes first."""
    return any(f.speed_mps is not None and f.speed_mps >= tuning.moving_mps for f in (s, p))


def _pending_doubt(
    state: PairState, s: Fix, p: Fix, distance: float, order: Order, measured: datetime, tuning: Tuning
) -> tuple[datetime, Brink] | None:
    """The doubt `_seen_twice` is waiting on, if it still is: not past `tuning.brink_window_s`, and not
    answered by a newer fix of the party that made it placing them back beyond the line (the error
    was that fix's own: the next crossing is a new doubt, not its confirmation)."""
    if state.doubt_at is None or state.doubt_fix is None:
        return None
    if (measured - state.doubt_at).total_seconds() > tuning.brink_window_s:
        return None
    side = state.doubt_fix.side
    fix = s if side == "subject" else p
    if fix.time > state.doubt_fix.measured(side) and distance > order.warning_distance_m:
        return None
    return state.doubt_at, state.doubt_fix


def _seen_twice(
    doubt: tuple[datetime, Brink] | None, s: Fix, p: Fix, measured: datetime
) -> tuple[int, tuple[datetime, Brink] | None]:
    """A new warning of a still pair that rests on one poor fix: the reported positions inside the
    line, but a poor fix (`is_poor`) whose far edge is not, or a coarse fix (judged on its centre)
    centred beyond the violation distance. Returns (tier, the doubt pending after it). Raised when
    a newer fix of the party whose accuracy makes the doubt now crosses the line again while the
    doubt is pending (`_pending_doubt`); until then nothing is raised.

    Neighbours 1.3 km apart at a 1 km line, at home on Wi-Fi fixes claiming 130-200 m, were put
    across it by one fix in the tail of its error (350-380 m off) a few times a day, the next fix
    back outside: a warning raised and cleared each time, the noisiest pair-days left. A cell fix's
    centre, anywhere in a disc 1-2 km wide, did the same where no fine fix was recent (one centred
    within the violation distance, at her door, is warned at once: it proves nothing more, and a
    centre that lands anywhere in such a disc lands there rarely by chance). Such an
    error has a long tail (an access point moved, a reflection, another cell) and is its own, the
    next fix's another: two in a row across the line is a man who is there. A GNSS fix jittering
    at the line is a man on the line, warned at once as before; so is a moving pair, or a sure one
    (the far edge inside too). A violation is judged on its own (`_brink`), never held back by
    this. Her newer fix beside his same poor one confirms nothing, nor starts a new doubt."""
    now = _dominant(s, p)
    if doubt is None:
        return CLEAR, (measured, now)
    if now.measured(now.side) > doubt[1].measured(now.side):
        return WARNING, None
    return CLEAR, doubt


def _rested(
    order: Order, state: PairState, subject: Party, protected: Party, tuning: Tuning
) -> tuple[int, float] | None:
    """The tier the pair would be in judged where each party with a poor fix has been at rest
    (`Party.kept`), and the distance between the positions so judged; None when neither has such a
    place. A new tier is entered, and a tier held is left, only if that says so too. Neighbours 750 m apart at a 500 m line, at home: his GNSS receiver measured him still
    813 m from her, then two Wi-Fi fixes in a row, 99 m and 182 m off, put him 570 m and 493 m from
    her, and the second confirmed a violation that never was; combined with the standstill they
    move him by 20-30 m. The other party may be moving: a man cycling past her home 110-140 m away
    under a 100 m line, on sharp fixes, was "possibly" within it on the near edges of two Wi-Fi
    fixes of hers 140 m off; where she sat says he was not. His movement says nothing about where
    she is. A party whose own fix measures movement, or who was measured moving since the
    standstill, has no such place (`Track.kept`), nor has one whose fix lies beyond both discs of
    where it was: that fix is judged as it is."""
    s = subject.kept() if subject.kept is not None and is_poor(subject.fix, tuning) else None
    p = protected.kept() if protected.kept is not None and is_poor(protected.fix, tuning) else None
    if s is None and p is None:
        return None
    s, p = s or subject.fix, p or protected.fix
    distance, uncertainty = separation(s, p)
    if uncertainty > tuning.coarse_accuracy_m:
        return None
    return tier_for(max(0.0, distance - uncertainty), state.tier, order, tuning), distance


def is_poor(fix: Fix, tuning: Tuning) -> bool:
    """A Wi-Fi fix, or one claiming worse than `tuning.poor_accuracy_m` whatever its source: a
    phone's fused position names none (it is taken for GNSS), and past 100 m it is no satellite fix
    in the open."""
    return fix.source is FixSource.WIFI or (fix.accuracy_m or 0.0) > tuning.poor_accuracy_m


def _poorer(s: Fix, p: Fix) -> Fix:
    """The less accurate of the two fixes (the subject's on a tie, as `_dominant`)."""
    return s if (s.accuracy_m or 0.0) >= (p.accuracy_m or 0.0) else p


def _dominant(s: Fix, p: Fix) -> Brink:
    """The judgement's fixes, and which of them is the less accurate."""
    s_acc, p_acc = s.accuracy_m or 0.0, p.accuracy_m or 0.0
    side, accuracy = ("subject", s_acc) if s_acc >= p_acc else ("protected", p_acc)
    return Brink(s.time, p.time, side, accuracy)


def _settles(state: PairState, s: Fix, p: Fix, effective: float, order: Order, tuning: Tuning) -> bool:
    """Whether this judgement settles a pending brink: a newer fix of the party whose poor fix made
    the doubt, at least as accurate as that one, puts even the near edge of the discs beyond the
    violation distance. The doubt was that fix's error, and a better measurement has answered it:
    the next poor fix on the brink is a new doubt, not its confirmation. Only while neither is
    measured moving: a man walking up to her is when doubts should add up. (Neighbours 370 m apart
    at a 100 m line, one of them indoors: his Wi-Fi fix on the brink, his GNSS fix 30 s later 360 m
    away, then another Wi-Fi fix on the brink "confirmed" a violation that never was.)"""
    brink = state.brink_fix
    if brink is None or effective <= order.violation_distance_m:
        return False
    if any(f.speed_mps is not None and f.speed_mps >= tuning.moving_mps for f in (s, p)):
        return False  # one of them on the move: a real approach may be under way, the window runs on
    fix = s if brink.side == "subject" else p
    return fix.time > brink.measured(brink.side) and (fix.accuracy_m or 0.0) <= brink.accuracy_m


def _brink(
    state: PairState, s: Fix, p: Fix, measured: datetime, tuning: Tuning, carried: str | None = None
) -> tuple[int, bool]:
    """A violation on the near edge of the accuracy discs alone (the reported positions are beyond
    the line): (tier, brink). Every false violation alert left in the simulated runs was one such
    fix, a Wi-Fi position or a GNSS one a little off, with the next fix back outside; a real approach
    shows the reported positions inside at once (a violation on that first fix), or the near edge
    inside again within `tuning.brink_window_s` on a newer fix of the party whose accuracy makes the
    doubt now, which then confirms it. Until then it is a warning, a violation possibly near. (Her
    newer fix beside his same poor one confirms nothing, even when hers was the poorer at the brink:
    the doubt now is his fix, measured once.) A doubt that rests on a carried position
    (`_carried`; `carried` names the side now carried) is the carried party's prediction: a newer fix
    of the party carried at the brink confirms it (a car tailing hers: each carried in turn)."""
    brink = state.brink_fix
    if state.brink_at is not None and brink is not None:
        now = _dominant(s, p)
        side = brink.side if carried is not None else now.side
        fix = s if side == "subject" else p
        newer = fix.time > brink.measured(side)
        if newer and 0.0 < (measured - state.brink_at).total_seconds() <= tuning.brink_window_s:
            return VIOLATION, False
    return WARNING, True


def _carried_side(s: Fix, s_seen: Fix, p: Fix, p_seen: Fix) -> str | None:
    """Which party's position was carried on (`_carried`), the farther if both; None if neither."""
    moved_s = 0.0 if s is s_seen else geo.distance_m(s.lat, s.lon, s_seen.lat, s_seen.lon)
    moved_p = 0.0 if p is p_seen else geo.distance_m(p.lat, p.lon, p_seen.lat, p_seen.lon)
    if moved_s == 0.0 and moved_p == 0.0:
        return None
    return "subject" if moved_s >= moved_p else "protected"


def is_coarse(fix: Fix, tuning: Tuning) -> bool:
    """A cell fix, or one whose accuracy is beyond `tuning.coarse_accuracy_m`."""
    return fix.source is FixSource.CELL or (fix.accuracy_m or 0.0) > tuning.coarse_accuracy_m


def _best(party: Party, tuning: Tuning) -> Party:
    """The party's fix to judge: its latest, unless that is coarse and the fine fix before it, at
    most `tuning.coarse_defers_s` older, lies inside its ~95 % disc. Then the coarse fix says
    nothing the fine one did not say better (a cell fix's centre lands anywhere in a disc 1-2 km
    wide: judged on its own, a neighbour 1.6 km away "came within 1 km" at every cell fix). A coarse
    fix that places him elsewhere than his last fine one, or follows none recent, is judged."""
    fix = party.fix
    before = party.fine if party.fine is not None else party.previous  # two cell fixes in a row: the fine one
    if before is None or not is_coarse(fix, tuning) or is_coarse(before, tuning):
        return party
    if not 0.0 <= (fix.time - before.time).total_seconds() <= tuning.coarse_defers_s:
        return party
    # inside its ~95 % disc (twice the stated 68 % accuracy): one cell fix in three lies beyond it
    if geo.distance_m(fix.lat, fix.lon, before.lat, before.lon) > 2 * (fix.accuracy_m or 0.0):
        return party
    return Party(before, None)


def _hold(
    state: PairState, tier: int, measured: datetime, at: datetime, tuning: Tuning
) -> tuple[PairState, bool]:
    """The state after judging `tier` at `at` (on a fix measured at `measured`), and whether the
    alert holds (stays active)."""
    peak = max(state.peak, tier)
    if tier > CLEAR:
        returns = state.returns + (state.left_at is not None)
        return PairState(tier, peak, None, returns), True
    if not state.holding or tuning.tier_hold_s <= 0:
        return PairState(), False
    left_at = state.left_at or measured
    if (at - left_at).total_seconds() >= hold_s(state, tuning):
        return PairState(), False  # apart for the whole hold: the alert clears
    return PairState(CLEAR, peak, left_at, state.returns), True


def cleared(order: Order, facts: Facts) -> Signal:
    """The pair no longer concerns us (order ended): whatever was raised stops holding."""
    return Signal(
        key=key(order), kind=AlertKind.PROXIMITY_WARNING, active=False, onset=False, facts=facts,
        subject_id=order.subject_id, protected_person_id=order.protected_person_id, order_id=order.id,
    )  # fmt: skip


def _confidence(distance: float, uncertainty: float, threshold: float, coarse: bool) -> Confidence:
    if coarse:
        return Confidence.COARSE
    if distance + uncertainty <= threshold:
        return Confidence.CERTAIN
    if distance <= threshold:
        return Confidence.LIKELY
    return Confidence.POSSIBLE


def _closing_speed(
    bearing_to_subject: float, v_subject: tuple[float, float] | None, v_protected: tuple[float, float] | None
) -> float | None:
    """How fast the gap shrinks (m/s, positive when closing): the relative velocity along the line
    between them. Unknown when neither party's movement is known."""
    if v_subject is None and v_protected is None:
        return None
    se, sn = v_subject or (0.0, 0.0)
    pe, pn = v_protected or (0.0, 0.0)
    rad = math.radians(bearing_to_subject)
    # unit vector from the protected person toward the subject; the gap grows along it
    ue, un = math.sin(rad), math.cos(rad)
    growth = (se - pe) * ue + (sn - pn) * un
    return -growth


def _shown(fix: Fix, previous: Fix | None) -> tuple[float, float] | None:
    """A party's velocity as the alert reports it (its speed, the closing speed, the time to
    contact): what the receiver measured, or the move between its last two fixes when that move is
    more than their accuracies can explain. A smaller move is the fixes' scatter, not a walk: her
    phone at home on Wi-Fi, 60 m from one fix to the next, made a man walking at 1.4 m/s close at
    -4 to +3.8 m/s and "contact in 100 s" jump to 1,374 s. None: not measured."""
    v = velocity(fix, previous)
    measured = fix.speed_mps is not None and (fix.heading_deg is not None or v == (0.0, 0.0))
    if v is None or previous is None or measured:
        return v  # the receiver's own velocity (or its standstill), or nothing to go on
    moved = geo.distance_m(previous.lat, previous.lon, fix.lat, fix.lon)
    return v if moved > accuracy(fix) + accuracy(previous) else None


def _time_to_contact(
    distance: float,
    bearing_to_subject: float,
    v_subject: tuple[float, float] | None,
    v_protected: tuple[float, float] | None,
    violation_m: float,
) -> float | None:
    """Seconds until they are nearest, if on their present courses that nearest is within the
    violation distance: contact. A car on a highway 150 m from her office, closing on her for a
    moment as it passes, is not "40 s from contact" under a 100 m line it never crosses: it passes
    by (None). Head on, this is the distance over the closing speed."""
    se, sn = v_subject or (0.0, 0.0)
    pe, pn = v_protected or (0.0, 0.0)
    we, wn = se - pe, sn - pn  # his velocity relative to her
    rad = math.radians(bearing_to_subject)
    re, rn = distance * math.sin(rad), distance * math.cos(rad)  # where he is from her
    speed2 = we * we + wn * wn
    if speed2 == 0.0:
        return None
    t = -(re * we + rn * wn) / speed2
    if t <= 0.0:
        return None
    nearest = math.hypot(re + we * t, rn + wn * t)
    return t if nearest <= violation_m else None
