"""Proximity without churn: coarse positions neither prove nor clear, a pair that leaves its tiers
keeps its alert for a hold (a pending clear), and every verdict says its tier now and its peak."""

from __future__ import annotations

from rules_kit import SUBJECT, VICTIM, World, at, near, order

from vigil.domain.alerts import AlertKey, AlertKind, AlertState, Change
from vigil.domain.model import FixSource
from vigil.rules import proximity
from vigil.rules.proximity import CLEAR, VIOLATION, WARNING, PairState
from vigil.rules.tuning import Tuning

WARN, VIOL = AlertKind.PROXIMITY_WARNING, AlertKind.PROXIMITY_VIOLATION
KEY = AlertKey("proximity", SUBJECT, VICTIM)
HOLD = Tuning().tier_hold_s


def _proximity(changes: list) -> list[tuple[Change, AlertKind]]:  # type: ignore[type-arg]
    return [(c.change, c.alert.kind) for c in changes if c.alert.key == KEY]


# --- coarse positions ---------------------------------------------------------------------------


def test_a_coarse_fix_far_away_neither_clears_nor_lowers_a_violation() -> None:
    w = World()  # violation 100 m, warning 500 m
    w.victim(0, acc=10)
    w.subject(10, near(50), acc=10)
    for t, d in ((20, 3000), (30, 400), (40, 8000)):
        w.subject(t, near(d), acc=1500, source=FixSource.CELL)
        assert w.engine._pairs["order-1"].tier == VIOLATION
    alert = w.engine.book.for_key(KEY)
    assert alert is not None and alert.active and alert.kind is VIOL
    assert alert.facts.tier == "violation"
    # a fine fix does clear it (after the hold)
    w.subject(50, near(3000), acc=10)
    assert w.engine._pairs["order-1"].tier == CLEAR


def test_a_coarse_fix_with_its_centre_at_her_door_warns_but_never_proves_a_violation() -> None:
    w = World()
    w.victim(0, acc=10)
    # one centred within the warning distance, still: a doubt (`_seen_twice`)
    assert _proximity(w.subject(5, near(400), acc=900, source=FixSource.CELL)) == []
    # one centred at her door: warned at once, a warning only
    assert _proximity(w.subject(10, near(30), acc=900, source=FixSource.CELL)) == [(Change.OPENED, WARN)]
    assert _proximity(w.subject(15, near(40), acc=900, source=FixSource.CELL)) == []
    assert _proximity(w.subject(20, near(10), acc=400)) == []  # GNSS, but 400 m: coarse too
    assert w.engine.book.for_key(KEY).kind is WARN  # type: ignore[union-attr]
    assert _proximity(w.subject(30, near(10), acc=10)) == [(Change.ESCALATED, VIOL)]


def test_a_coarse_fix_cannot_lower_a_warning_either() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(300), acc=10)
    w.subject(20, near(5000), acc=2000, source=FixSource.CELL)
    assert w.engine._pairs["order-1"] == PairState(WARNING, WARNING)


# --- leaving a tier ---------------------------------------------------------------------------------


def test_leaving_needs_the_combined_accuracy_as_well_as_the_margin() -> None:
    """Warning 500 m, margin 50 m: the pair leaves only when distance - combined accuracy > 550 m."""
    w = World(tuning=Tuning(tier_hold_s=0))
    w.victim(0, acc=30)
    w.subject(10, near(400), acc=40)
    w.subject(20, near(580), acc=40)  # 580 - 50 = 530: still inside line + margin
    assert w.engine._pairs["order-1"].tier == WARNING
    w.subject(30, near(620), acc=40)  # 620 - 50 = 570: out
    assert w.engine._pairs["order-1"].tier == CLEAR


# --- the hold -----------------------------------------------------------------------------------------


def test_a_pair_in_and_out_of_the_warning_tier_raises_once() -> None:
    w = World()
    w.victim(0, acc=10)
    lines = []
    for n in range(60):  # an hour: inside for a minute, out for the next four, again and again
        d = 450 if n % 5 == 0 else 800
        lines += _proximity(w.victim(60 * n, acc=10))
        lines += _proximity(w.subject(60 * n, near(d), acc=10))
        lines += _proximity(w.tick(at(60 * n + 30)))
    assert lines == [(Change.OPENED, WARN)]
    assert w.engine.book.for_key(KEY).active  # type: ignore[union-attr]


def test_the_hold_ends_by_the_clock_and_says_where_they_stand() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(300), acc=10)
    assert _proximity(w.subject(100, near(3000), acc=10)) == []  # warning -> apart: not material
    assert w.engine.next_deadline() is not None
    assert _proximity(w.tick(at(100 + HOLD - 1))) == []
    (cleared,) = [c for c in w.tick(at(100 + HOLD)) if c.alert.key == KEY]
    assert cleared.change is Change.CLEARED
    assert cleared.at == at(100 + HOLD)
    assert (cleared.alert.facts.tier, cleared.alert.facts.peak_tier) == (None, "warning")
    assert cleared.alert.facts.distance_m is not None and cleared.alert.facts.distance_m > 2900
    assert w.engine._pairs["order-1"] == PairState()


def test_after_the_hold_a_new_approach_is_a_new_raise() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(300), acc=10)
    w.subject(100, near(3000), acc=10)
    w.tick(at(100 + HOLD))
    w.victim(2000, acc=10)
    (back,) = [c for c in w.subject(2000, near(300), acc=10) if c.alert.key == KEY]
    assert (back.change, back.alert.active) == (Change.OPENED, True)  # a new alert: the last cleared
    assert (back.alert.facts.tier, back.alert.facts.peak_tier) == ("warning", "warning")


def test_each_return_within_the_hold_doubles_it_up_to_the_cap() -> None:
    tuning = Tuning()
    assert proximity.hold_s(PairState(), tuning) == HOLD
    assert proximity.hold_s(PairState(returns=1), tuning) == 2 * HOLD
    assert proximity.hold_s(PairState(returns=2), tuning) == 4 * HOLD
    assert proximity.hold_s(PairState(returns=50), tuning) == tuning.tier_hold_max_s


def test_a_person_closing_the_alert_in_its_hold_lets_a_new_approach_open_a_new_one() -> None:
    w = World()
    w.victim(0, acc=10)
    (opened,) = w.subject(10, near(300), acc=10)
    w.subject(100, near(3000), acc=10)
    w.engine.move(opened.alert.id, AlertState.RESOLVED, actor="op", now=at(110))
    (again,) = _proximity(w.subject(200, near(300), acc=10))
    assert again == (Change.OPENED, WARN)


def test_restart_in_the_hold_keeps_the_alert_until_the_hold_ends() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(300), acc=10)
    w.subject(100, near(3000), acc=10)
    alerts = list(w.engine.book)
    fixes = [f for track in w.engine.tracks.values() for f in track.history]
    fresh = World(with_order=False)
    fresh.engine.put_order(order(), at(-3600))
    fresh.engine.restore(fixes, {}, alerts, at(200))
    assert fresh.engine.book.for_key(KEY).active  # type: ignore[union-attr]
    assert _proximity(fresh.tick(at(200 + HOLD - 1))) == []
    assert _proximity(fresh.tick(at(200 + HOLD))) == [(Change.CLEARED, WARN)]


# --- tier and peak tier -----------------------------------------------------------------------------


def test_a_violation_back_at_warning_range_says_so_once() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(300), acc=10)
    (escalated,) = _proximity_changes(w.subject(20, near(50), acc=10))
    assert (escalated.alert.facts.tier, escalated.alert.facts.peak_tier) == ("violation", "violation")
    (back,) = _proximity_changes(w.subject(30, near(300), acc=10))
    assert back.change is Change.UPDATED
    assert back.alert.kind is VIOL  # kinds never fall back
    assert (back.alert.facts.tier, back.alert.facts.peak_tier) == ("warning", "violation")
    # staying at warning range: nothing more (jitter at the same tier is not news)
    assert _proximity_changes(w.subject(40, near(310), acc=10)) == []
    # in again: material
    (again,) = _proximity_changes(w.subject(50, near(60), acc=10))
    assert (again.change, again.alert.facts.tier) == (Change.UPDATED, "violation")


def test_a_violation_whose_parties_are_apart_says_so_and_then_clears() -> None:
    w = World()
    w.victim(0, acc=10)
    w.subject(10, near(50), acc=10)
    (apart,) = _proximity_changes(w.subject(100, near(3000), acc=10))
    assert (apart.change, apart.alert.active) == (Change.UPDATED, True)
    assert (apart.alert.facts.tier, apart.alert.facts.peak_tier) == (None, "violation")
    assert _proximity_changes(w.subject(200, near(5000), acc=10)) == []  # wandering apart: no news


def _proximity_changes(changes: list) -> list:  # type: ignore[type-arg]
    return [c for c in changes if c.alert.key == KEY]


def test_a_cell_fix_that_only_blurs_his_last_fine_one_is_not_judged() -> None:
    """Neighbours 1.6 km apart, warning at 1 km: a cell fix a minute after a fine one, its centre
    600 m from her but its 1,500 m disc around his fine position, says nothing new."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    w.subject(0, near(1600), acc=10)
    assert _proximity(w.subject(60, near(600), acc=1500, source=FixSource.CELL)) == []
    # a cell fix with no fine fix recent enough before it is judged (on its centre: a coarse warning,
    # once a second one agrees: a cell fix's centre lands anywhere in its disc)
    assert _proximity(w.subject(1900, near(600), acc=1500, source=FixSource.CELL)) == []
    assert _proximity(w.subject(1960, near(700), acc=1500, source=FixSource.CELL)) == [(Change.OPENED, WARN)]


def test_two_cell_fixes_in_a_row_are_both_deferred_to_the_fine_one_before_them() -> None:
    """The fine fix before a cell fix, not merely the fix before it: a second cell fix in a row
    (the receiver indoors, falling back twice) blurs the same fine position and says nothing new."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    w.subject(0, near(1600), acc=10)
    assert _proximity(w.subject(60, near(1200), acc=1700, source=FixSource.CELL)) == []
    assert _proximity(w.subject(105, near(400), acc=1600, source=FixSource.CELL)) == []


def test_a_judgement_deferred_to_his_earlier_fine_fix_warns_but_proves_no_violation() -> None:
    """His cell fix defers to his fine fix of a minute before, 300 m accurate (Wi-Fi indoors). She
    drives past that spot: against her new position the earlier fix is no proof that he is within
    100 m of her now (the coarse fix prompted the judgement), so it warns; his next fine fix judges."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, near(3000, bearing=180.0), acc=10)
    w.subject(0, near(2000), acc=290, source=FixSource.WIFI)
    w.subject(30, near(2000), acc=1600, source=FixSource.CELL)
    w.victim(60, near(2050), acc=10, speed=17.0)  # 50 m from his Wi-Fi fix, driving
    assert [k for _, k in _proximity(w.subject(75, near(2100), acc=1500, source=FixSource.CELL))] in (
        [],
        [WARN],
    )
    assert w.only_alert().kind is WARN
    # a fine fix of his within 100 m of her proves it
    w.victim(90, near(2050), acc=10)
    assert (Change.ESCALATED, VIOL) in _proximity(w.subject(90, near(2060), acc=10, speed=1.5))


def test_a_cell_fix_that_places_him_elsewhere_is_judged() -> None:
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    w.subject(0, near(5000), acc=10)
    # 4.2 km from his fine fix, beyond twice its own 1,500 m accuracy: he has moved; it is judged,
    # and warns once his next fix agrees (no receiver measures him moving: one cell fix is a doubt)
    assert _proximity(w.subject(60, near(800), acc=1500, source=FixSource.CELL)) == []
    assert _proximity(w.subject(120, near(700), acc=1500, source=FixSource.CELL)) == [(Change.OPENED, WARN)]


def test_a_warning_on_the_near_edge_alone_needs_someone_moving() -> None:
    """Warning at 1 km: reported 1,150 m apart with 200 m accuracy is only possibly inside."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    assert _proximity(w.subject(10, near(1150), acc=200, speed=0.0)) == []
    assert _proximity(w.subject(20, near(1150), acc=200)) == []  # no speed measured: at a standstill
    # moving (his receiver says so): the near edge is enough, as it always is for a violation
    assert _proximity(w.subject(30, near(1150), acc=200, speed=12.0)) == [(Change.OPENED, WARN)]


def test_a_still_pair_across_the_line_on_a_sure_fix_is_warned_at_once() -> None:
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    assert _proximity(w.subject(10, near(900), acc=50, speed=0.0)) == [(Change.OPENED, WARN)]


def test_a_still_pair_across_the_line_on_one_poor_fix_waits_for_a_second() -> None:
    """Neighbours 1.3 km apart at a 1 km line: a Wi-Fi fix in the tail of its error puts him 990 m
    from her; the next one puts him back outside. Two fixes across in a row are a man who is there."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    assert _proximity(w.subject(10, near(990), acc=200, source=FixSource.WIFI)) == []  # doubt
    assert _proximity(w.subject(40, near(1150), acc=150, source=FixSource.WIFI)) == []  # back out: over
    assert _proximity(w.subject(70, near(1150), acc=150, source=FixSource.WIFI)) == []
    assert _proximity(w.subject(100, near(985), acc=180, source=FixSource.WIFI)) == []  # a new doubt
    assert _proximity(w.subject(130, near(970), acc=180, source=FixSource.WIFI)) == [(Change.OPENED, WARN)]


def test_her_phones_fused_fix_that_names_no_source_is_a_doubt_too() -> None:
    """A phone's fused position (OwnTracks names no source: taken for GNSS) claiming 190 m, 415 m
    wrong: a poor fix all the same."""
    w = World(order(violation=100, warning=1000))
    w.subject(0, near(1290), acc=30, speed=0.0)
    w.victim(0, acc=35)  # no standstill measured: nothing to say where she has been at rest
    assert _proximity(w.victim(30, near(300), acc=190)) == []
    assert _proximity(w.victim(60, near(310), acc=190)) == [(Change.OPENED, WARN)]


def test_a_poor_fix_of_someone_at_rest_is_judged_where_she_has_been() -> None:
    """Her receiver measured her still at home 30 s before; her phone's poor fixes 300 m toward him
    lie within their own discs of home: combined with the standstill they move her by a few metres,
    and the pair stays apart. Had she walked, her receiver would have said so."""
    w = World(order(violation=100, warning=1000))
    w.subject(0, near(1290), acc=30, speed=0.0)
    w.victim(0, acc=35, speed=0.0)
    assert _proximity(w.victim(30, near(300), acc=190)) == []
    assert _proximity(w.victim(60, near(310), acc=190)) == []
    # a fix beyond both discs of where she was is judged as it is: 590 m from him, surely within 1 km
    assert _proximity(w.victim(90, near(700), acc=120)) == [(Change.OPENED, WARN)]


def test_her_poor_fixes_at_rest_are_judged_where_she_has_been_while_he_rides_past() -> None:
    """He cycles past her home 150 m away under a 100 m line, on sharp GNSS fixes; she sits at home,
    her receiver measured her still seconds before, and two Wi-Fi fixes of hers, off to one side,
    put the near edges within 100 m of him. His movement says nothing about where she is: her
    poor fixes are judged where she has been at rest, and he was never within 100 m of her."""
    w = World(order(violation=100, warning=500))
    w.victim(0, acc=30, speed=0.0)
    assert _proximity(w.subject(50, near(300), acc=10, speed=7.5)) == [(Change.OPENED, WARN)]
    w.victim(58, acc=20, speed=0.0)
    w.subject(60, near(220), acc=10, speed=7.5)
    assert _proximity(w.victim(62, near(110, bearing=0.0), acc=150, source=FixSource.WIFI)) == []
    assert _proximity(w.subject(70, near(150), acc=10, speed=7.5)) == []
    assert _proximity(w.victim(72, near(100, bearing=0.0), acc=160, source=FixSource.WIFI)) == []
    assert _proximity(w.subject(80, near(150), acc=10, speed=7.5)) == []
    assert w.engine.book.for_key(KEY).kind is WARN  # type: ignore[union-attr]
    # Where he really comes within the line, his own sharp fix says so at once.
    assert _proximity(w.subject(90, near(60), acc=10, speed=7.5)) == [(Change.ESCALATED, VIOL)]


def test_a_doubt_is_confirmed_only_by_a_newer_fix_of_the_party_that_made_it_within_the_window() -> None:
    w = World(order(violation=100, warning=1000))
    w.subject(0, near(990), acc=200, source=FixSource.WIFI)
    assert _proximity(w.victim(10, acc=10)) == []  # his poor fix: the doubt
    assert _proximity(w.victim(40, acc=10)) == []  # her newer fix beside his same poor one: nothing new
    # his next fix across, after the window: a new doubt, not its confirmation
    late = 10 + int(Tuning().brink_window_s) + 30
    assert _proximity(w.subject(late, near(980), acc=200, source=FixSource.WIFI)) == []
    assert _proximity(w.subject(late + 30, near(980), acc=200, source=FixSource.WIFI)) == [
        (Change.OPENED, WARN)
    ]


def test_a_moving_pair_across_the_line_on_a_poor_fix_is_warned_at_once() -> None:
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    assert _proximity(w.subject(10, near(990), acc=200, speed=8.0)) == [(Change.OPENED, WARN)]


def test_a_violation_on_the_near_edge_alone_is_raised_at_a_standstill() -> None:
    """At a standstill too (no waiting for movement as a lone near-edge warning does), once his next
    fix confirms it."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    assert _proximity(w.subject(10, near(150), acc=60, speed=0.0)) == [(Change.OPENED, WARN)]
    assert _proximity(w.subject(70, near(150), acc=60, speed=0.0)) == [(Change.ESCALATED, VIOL)]


def test_her_phones_coarse_fix_is_deferred_to_her_fine_one_too() -> None:
    """A phone's cell fallback (no source given, 1.5 km accuracy) whose centre lands 1.8 km off."""
    w = World(order(violation=100, warning=1000))
    w.subject(0, near(1700), acc=20)
    w.victim(0, acc=50)
    off = near(1800, bearing=225.0)  # 1.8 km south-west of home, toward nobody
    assert _proximity(w.victim(30, near(1300, bearing=45.0), acc=1570)) == []
    assert _proximity(w.victim(60, off, acc=1570)) == []


def test_within_the_hold_the_near_edge_alone_carries_the_alert_on() -> None:
    """A fresh warning at a standstill needs the reported positions inside; a pair already in its
    hold carries on with the near edge alone (a return, which also doubles the hold)."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10)
    w.subject(10, near(990), acc=50, speed=1.5)  # reported inside, walking: warning
    w.subject(70, near(1300), acc=50, speed=5.5)  # walked out (a standstill would make 310 m a jump)
    assert w.engine._pairs["order-1"].left_at == at(70)
    assert _proximity(w.subject(130, near(1150), acc=200, speed=0.0)) == []  # possibly inside: back
    state = w.engine._pairs["order-1"]
    assert (state.tier, state.left_at, state.returns) == (WARNING, None, 1)


def test_a_walker_within_the_line_of_where_she_sits_is_a_violation_despite_her_wifi_fix() -> None:
    """He walks up to her; she sits still (her watch measured it), and her next fix is a Wi-Fi one
    100 m off to the far side. Judged against that fix's centre he was 175 m away: a violation on
    the brink, waiting two minutes for her next fix. Where she sits he is 90 m from her: a violation
    on his first fix inside, as on a sharp fix of hers."""
    w = World(order(violation=100, warning=1000))
    for t in (0, 30, 60, 90):
        w.victim(t, acc=20, speed=0.0)
    assert _proximity(w.subject(40, near(150), acc=10, speed=1.3)) == [(Change.OPENED, WARN)]
    w.victim(95, near(100, bearing=270.0), acc=110, source=FixSource.WIFI)
    assert _proximity(w.subject(100, near(90), acc=10, speed=1.3)) == [(Change.ESCALATED, VIOL)]


def test_her_poor_fix_at_rest_does_not_lower_a_violation_held() -> None:
    """A violation held, she sitting still: a Wi-Fi fix of hers 250 m off put them back in the
    warning tier for one fix (and the next in the violation again). Where she sits says he is still
    within the line, and so the tier stays."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=20, speed=0.0)
    w.victim(30, acc=20, speed=0.0)
    w.subject(40, near(60), acc=10, speed=1.2)
    alert = w.engine.book.for_key(KEY)
    assert alert is not None and alert.facts.tier == "violation"
    w.victim(45, near(250, bearing=270.0), acc=110, source=FixSource.WIFI)
    alert = w.engine.book.for_key(KEY)
    assert alert is not None and alert.facts.tier == "violation"
    # a sharp fix of hers far from him still lowers it
    w.victim(60, near(400, bearing=270.0), acc=10, speed=1.4)
    alert = w.engine.book.for_key(KEY)
    assert alert is not None and alert.facts.tier == "warning"


def test_one_wifi_fix_of_a_man_measured_in_bed_is_not_a_violation() -> None:
    """His receiver measured him still 172 m from her for 3 minutes; one Wi-Fi fix claiming 50 m is
    centred 86 m from her (an error beyond its claim). Where he has been at rest says he is not
    inside the line: a warning, not a violation pushed to police."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=15, speed=0.0)
    for t in (20, 80, 140, 200):
        w.subject(t, near(172), acc=10, speed=0.0)
    assert (Change.ESCALATED, VIOL) not in _proximity(w.subject(240, near(86), acc=50, source=FixSource.WIFI))
    assert w.engine.book.for_key(KEY).kind is WARN  # type: ignore[union-attr]
