"""Proximity between a subject and a protected person: either party's movement, the two tiers and
their boundaries, escalation, hysteresis, accuracy, staleness and the facts an alert carries."""

from __future__ import annotations

import math

import pytest
from rules_kit import (
    ANKLE,
    DEVICES,
    FAR,
    HOME,
    PHONE,
    SUBJECT,
    VICTIM,
    WATCH,
    World,
    at,
    fix,
    kinds,
    near,
    order,
    summary,
)

from vigil.domain import geo
from vigil.domain.alerts import AlertKind, AlertState, Change, Confidence, Severity
from vigil.domain.model import Device, DeviceKind, FixSource, Order, PersonKind
from vigil.rules import proximity
from vigil.rules.proximity import CLEAR, VIOLATION, WARNING, PairState, Party, tier_for
from vigil.rules.tuning import Tuning

WARN, VIOL = AlertKind.PROXIMITY_WARNING, AlertKind.PROXIMITY_VIOLATION

# --- either party's movement ----------------------------------------------------------------------


def test_subject_approaching_a_still_victim_raises_warning_then_violation() -> None:
    w = World()
    assert w.victim(0) == []
    assert w.subject(10, near(3000)) == []
    assert w.subject(20, near(1000)) == []
    assert summary(w.subject(30, near(400))) == [(Change.OPENED, WARN)]
    assert summary(w.subject(40, near(80))) == [(Change.ESCALATED, VIOL)]
    alert = w.only_alert()
    assert alert.kind is VIOL
    assert alert.severity is Severity.CRITICAL
    assert (alert.subject_id, alert.protected_person_id, alert.order_id) == (SUBJECT, VICTIM, "order-1")


def test_victim_walking_toward_a_parked_subject_raises_with_only_victim_fixes() -> None:
    w = World()
    parked = near(5000, 90)
    assert w.subject(0, parked) == []
    # The victim walks east toward him; he sends nothing more.
    assert w.victim(10, near(2000, 270, parked)) == []
    assert summary(w.victim(70, near(450, 270, parked))) == [(Change.OPENED, WARN)]
    assert summary(w.victim(130, near(60, 270, parked))) == [(Change.ESCALATED, VIOL)]
    facts = w.only_alert().facts
    assert facts.distance_m == pytest.approx(60, abs=0.2)
    assert facts.stale == ()
    assert w.engine.tracks[SUBJECT].latest is not None
    assert w.engine.tracks[SUBJECT].latest.time == at(0)


def test_any_of_the_protected_persons_devices_counts() -> None:
    w = World()
    w.subject(0, near(50))
    assert summary(w.report(WATCH, 5, HOME)) == [(Change.OPENED, VIOL)]


def test_no_order_no_proximity() -> None:
    w = World(with_order=False)
    w.victim(0)
    assert w.subject(10, near(10)) == []


def test_nothing_until_both_parties_have_a_position() -> None:
    w = World()
    assert w.subject(0, near(10)) == []
    assert w.subject(10, HOME) == []
    assert summary(w.victim(20)) == [(Change.OPENED, VIOL)]


# --- tiers and their boundaries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effective", "held", "tier"),
    [
        (0.0, CLEAR, VIOLATION),
        (100.0, CLEAR, VIOLATION),  # exactly at the violation distance: inside
        (math.nextafter(100.0, math.inf), CLEAR, WARNING),
        (500.0, CLEAR, WARNING),  # exactly at the warning distance: inside
        (math.nextafter(500.0, math.inf), CLEAR, CLEAR),
        # held: left only beyond distance + max(25 m, 10 %)
        (125.0, VIOLATION, VIOLATION),
        (math.nextafter(125.0, math.inf), VIOLATION, WARNING),
        (550.0, WARNING, WARNING),
        (math.nextafter(550.0, math.inf), WARNING, CLEAR),
        (550.0, VIOLATION, WARNING),
        (125.0, WARNING, WARNING),  # a held warning does not stretch the violation tier
        (550.0, CLEAR, CLEAR),
    ],
)
def test_tier_for_boundaries(effective: float, held: int, tier: int) -> None:
    assert tier_for(effective, held, order(), Tuning()) == tier


def test_margin_is_the_larger_of_25_m_and_ten_percent() -> None:
    tuning = Tuning()
    assert tuning.margin(100) == 25
    assert tuning.margin(250) == 25
    assert tuning.margin(1000) == 100


@pytest.mark.parametrize("tier_distance", ["violation", "warning"])
def test_exactly_at_the_distance_is_inside_the_tier(tier_distance: str) -> None:
    spot = near(100)
    d = geo.distance_m(*HOME, *spot)
    on_line = (
        order(violation=d, warning=d + 400)
        if tier_distance == "violation"
        else order(violation=10, warning=d)
    )
    just_beyond = (
        order(violation=math.nextafter(d, 0), warning=d + 400)
        if tier_distance == "violation"
        else order(violation=10, warning=math.nextafter(d, 0))
    )
    expected = VIOL if tier_distance == "violation" else WARN

    w = World(on_line)
    w.victim(0)
    assert summary(w.subject(10, spot)) == [(Change.OPENED, expected)]

    w = World(just_beyond)
    w.victim(0)
    got = summary(w.subject(10, spot))
    assert got == ([(Change.OPENED, WARN)] if tier_distance == "violation" else [])


def test_escalation_is_one_alert_and_it_persists_quietly() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(450))
    assert opened.change is Change.OPENED
    assert opened.alert.kind is WARN
    assert opened.alert.state is AlertState.OPEN
    (escalated,) = w.subject(20, near(90))
    assert escalated.change is Change.ESCALATED
    assert escalated.alert.id == opened.alert.id
    assert escalated.alert.kind is VIOL
    assert escalated.alert.opened_at == opened.alert.opened_at
    # It persists: no new alert, no update for small moves.
    for t, d in ((30, 85), (40, 95), (50, 80), (60, 75)):
        assert w.subject(t, near(d)) == [], d
    assert len(w.open_alerts()) == 1


def test_a_violation_does_not_fall_back_to_a_warning() -> None:
    w = World()
    w.victim(0)
    w.subject(10, near(50))
    w.subject(20, near(300))  # warning tier now: the alert stays a violation, still active
    alert = w.only_alert()
    assert alert.kind is VIOL
    assert alert.active
    # Back inside the violation tier is news again: an update, not a new alert.
    assert kinds(w.subject(30, near(50))) == [Change.UPDATED]
    assert w.only_alert().id == alert.id


def test_updated_only_on_material_change() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(300))
    # 24 m in small steps, none material against the announced 300 m
    for t, d in ((20, 290), (30, 283), (40, 277)):
        assert w.subject(t, near(d)) == [], d
    (updated,) = w.subject(50, near(270))  # 30 m from what was announced
    assert updated.change is Change.UPDATED
    assert updated.alert.id == opened.alert.id
    assert updated.alert.facts.distance_m == pytest.approx(270, abs=0.1)
    # Now measured against 270 m
    assert w.subject(60, near(250)) == []
    assert kinds(w.subject(70, near(240))) == [Change.UPDATED]


def test_a_still_pair_sending_fixes_every_second_stays_quiet() -> None:
    w = World()
    w.victim(0)
    w.subject(1, near(200))
    for t in range(2, 300):
        assert w.subject(t, near(200 + (t % 7)), acc=5.0) == []
        if t % 10 == 0:
            assert w.victim(t, acc=5.0) == []


# --- hysteresis ------------------------------------------------------------------------------------


def test_jitter_around_the_warning_line_does_not_flap_then_leaving_clears_after_the_hold() -> None:
    w = World(order(violation=30, warning=100))
    w.victim(0)
    changes = []
    for t, d in ((10, 95), (20, 105), (30, 98), (40, 110), (50, 102), (60, 124)):
        changes += w.subject(t, near(d))
    alert = w.only_alert()
    assert [c.change for c in changes if c.change is not Change.UPDATED] == [Change.OPENED]
    assert {c.alert.id for c in changes} == {alert.id}
    assert all(c.alert.active for c in changes)
    assert alert.kind is WARN

    # Beyond 100 + max(25, 10) = 125 m the pair has left, but the alert holds (a pending clear)...
    assert kinds(w.subject(70, near(126))) == []
    assert w.only_alert().active
    # ...and falling back in within the hold says nothing: the same alert, still active.
    assert w.subject(80, near(100)) == []  # (24 m from what it last said: not material)
    assert w.subject(90, near(130)) == []  # left again at 90: the hold runs from here...
    hold = Tuning().tier_hold_s
    assert [c for c in w.tick(at(70 + hold)) if c.alert.kind is WARN] == []  # the first hold's end is moot
    # ...and it is twice as long: the pair came back once within it (flap damping)
    assert [c for c in w.tick(at(90 + hold)) if c.alert.kind is WARN] == []
    (cleared,) = [c for c in w.tick(at(90 + 2 * hold)) if c.alert.kind is WARN]
    assert cleared.change is Change.CLEARED
    assert cleared.alert.facts.tier is None and cleared.alert.facts.peak_tier == "warning"
    alert = w.engine.book.for_key(alert.key)
    assert alert is not None and not alert.active and alert.state is AlertState.OPEN

    # After the hold, entering the tier again brings the same (still open) alert back to life.
    w.victim(2000)
    (back,) = [c for c in w.subject(2000, near(99)) if c.alert.kind is WARN]
    assert back.change is Change.UPDATED
    assert back.alert.id == alert.id
    assert back.alert.active


def test_no_hold_clears_at_once() -> None:
    w = World(order(violation=30, warning=100), tuning=Tuning(tier_hold_s=0))
    w.victim(0)
    w.subject(10, near(95))
    assert kinds(w.subject(20, near(126))) == [Change.CLEARED]


def test_jitter_around_the_violation_line_keeps_the_violation() -> None:
    w = World()  # violation 100 m, warning 500 m
    w.victim(0)
    changes = []
    for t, d in ((10, 95), (20, 105), (30, 98), (40, 110), (50, 102), (60, 124)):
        changes += w.subject(t, near(d))
    assert [c.change for c in changes if c.change is not Change.UPDATED] == [Change.OPENED]
    assert all(c.alert.kind is VIOL and c.alert.active for c in changes)


def test_jitter_at_a_line_opens_once_and_stays_quiet() -> None:
    """Crossing the line back and forth flips the confidence (likely <-> possible), but that alone is
    not material: jitter gives one alert, opened once, and no stream of updates."""
    w = World(order(violation=30, warning=100))
    w.victim(0, acc=5.0)
    changes = []
    for t, d in ((10, 95), (20, 105), (30, 98), (40, 110), (50, 102)):
        changes += [(c.change, c.alert.facts.confidence) for c in w.subject(t, near(d), acc=5.0)]
    assert changes == [(Change.OPENED, Confidence.LIKELY)]


# --- accuracy --------------------------------------------------------------------------------------


def test_near_edge_of_the_accuracy_discs_in_breach_is_a_possible_violation() -> None:
    """Only the near edge inside: a warning first; his next fix with the near edge inside again
    (within 5 min) confirms the violation."""
    w = World()
    w.victim(0, acc=20.0)
    (opened,) = w.subject(10, near(130), acc=30.0)
    # 130 m apart, combined accuracy hypot(30, 20) = 36 m: the near edge is 94 m, inside 100 m
    assert opened.alert.kind is WARN
    (escalated,) = w.subject(70, near(128), acc=30.0)
    assert escalated.change is Change.ESCALATED
    assert escalated.alert.kind is VIOL
    assert escalated.alert.facts.confidence is Confidence.POSSIBLE
    assert escalated.alert.facts.distance_m == pytest.approx(128, abs=0.1)


def test_her_next_report_does_not_confirm_his_poor_fix() -> None:
    """The doubt lies in his Wi-Fi fix: her phone reporting again is no new evidence about it."""
    w = World()
    w.victim(0, acc=10.0, speed=1.5)  # she walks about: a pair in motion
    w.subject(10, near(200), acc=120.0, source=FixSource.WIFI)
    assert w.only_alert().kind is WARN
    w.victim(20, acc=10.0, speed=1.5)
    assert w.only_alert().kind is WARN
    w.subject(80, near(190), acc=120.0, source=FixSource.WIFI)  # his next fix, again on the brink
    assert w.only_alert().kind is VIOL


def test_her_better_fix_beside_his_same_poor_one_confirms_nothing() -> None:
    """At the brink her Wi-Fi fix was the poorer; her next fix is better, so the doubt now is his fix,
    measured once: no confirmation until he is measured again."""
    w = World()
    w.victim(0, acc=150.0, source=FixSource.WIFI, speed=1.5)  # she walks about
    w.subject(10, near(230), acc=100.0, source=FixSource.WIFI)  # near edge 50 m: on the brink
    assert w.only_alert().kind is WARN
    w.victim(
        30, acc=90.0, source=FixSource.WIFI, speed=1.5
    )  # better than his 100 m, the near edge still inside
    assert w.only_alert().kind is WARN
    w.subject(70, near(225), acc=100.0, source=FixSource.WIFI)
    assert w.only_alert().kind is VIOL


def test_a_brink_too_long_ago_does_not_confirm() -> None:
    w = World()
    w.victim(0, acc=10.0)
    w.subject(10, near(200), acc=120.0, source=FixSource.WIFI)
    w.subject(200, near(600), acc=20.0)  # out of the violation tier, still warning
    w.subject(10 + 301 + 60, near(200), acc=120.0, source=FixSource.WIFI)  # 6 min after the first
    assert w.only_alert().kind is WARN


def test_a_better_fix_of_his_that_places_them_apart_settles_the_doubt() -> None:
    """Neighbours 360 m apart, him indoors: a Wi-Fi fix on the brink, then his GNSS fix 360 m away
    (as accurate as the Wi-Fi one or better): the doubt is answered, and his next Wi-Fi fix on the
    brink is a new doubt (a warning), not a confirmation."""
    w = World()
    w.victim(0, acc=10.0)
    w.subject(10, near(200), acc=120.0, source=FixSource.WIFI)
    assert w.only_alert().kind is WARN
    w.subject(40, near(360), acc=25.0)
    w.subject(70, near(200), acc=120.0, source=FixSource.WIFI)
    assert w.only_alert().kind is WARN
    # ... and that one does confirm itself with the next doubtful fix, as any brink does
    w.subject(100, near(195), acc=120.0, source=FixSource.WIFI)
    assert w.only_alert().kind is VIOL


def test_a_better_fix_of_his_on_the_move_does_not_settle_the_doubt() -> None:
    """Measured walking, he may be on his way to her: the doubt's window runs on, and his next
    Wi-Fi fix on the brink confirms it."""
    w = World()
    w.victim(0, acc=10.0)
    w.subject(10, near(200), acc=120.0, source=FixSource.WIFI)
    w.subject(40, near(360), acc=25.0, speed=1.5)
    w.subject(100, near(190), acc=120.0, source=FixSource.WIFI)
    assert w.only_alert().kind is VIOL


def test_a_poorer_fix_or_her_fix_does_not_settle_his_doubt() -> None:
    """Only a newer fix of the doubted party, at least as accurate, settles the doubt: his next
    Wi-Fi fix, poorer than the first, placing him further off, and her own fix far from him, do not."""
    w = World()
    w.victim(0, acc=10.0, speed=1.5)  # she walks about: a pair in motion
    w.subject(10, near(200), acc=100.0, source=FixSource.WIFI)
    w.subject(40, near(400), acc=150.0, source=FixSource.WIFI)  # poorer: says little
    w.victim(50, acc=10.0, speed=1.5)  # hers: says nothing about his fix
    w.subject(80, near(190), acc=100.0, source=FixSource.WIFI)
    assert w.only_alert().kind is VIOL


def test_a_still_pair_on_the_near_edge_alone_stays_a_warning() -> None:
    """Nothing shows either of them moving (no receiver's speed, each fix where its fix before was):
    two looks at the near edge are one look. He stands 125 m from her on 10 m fixes, some of which
    say 114 m; her phone on Wi-Fi (80 m) with him parked 180 m away: warnings, never a violation
    (each was a critical one, flipping between the tiers all hour). A pair in motion keeps the
    second look (the tests above)."""
    w = World(order(violation=100, warning=1000))
    w.victim(0, acc=10.0)
    for n, metres in enumerate((125, 114, 131, 116, 122, 113, 128, 115)):
        w.subject(10 + 30 * n, near(metres), acc=10.0)
        w.victim(20 + 30 * n, near(3, 90.0 * n), acc=10.0)
    assert w.only_alert().kind is WARN
    w2 = World(order(violation=100, warning=1000))
    for n in range(6):
        w2.subject(10 + 60 * n, near(180), acc=8.0)
        w2.victim(20 + 60 * n, acc=80.0, source=FixSource.WIFI)
    assert w2.only_alert().kind is WARN
    # ... and a fix that does put them inside the line is judged as ever
    w2.subject(400, near(60), acc=8.0)
    assert w2.only_alert().kind is VIOL


def test_far_edge_in_breach_is_certain() -> None:
    w = World()
    w.victim(0, acc=5.0)
    (opened,) = w.subject(10, near(60), acc=5.0)
    assert opened.alert.kind is VIOL
    assert opened.alert.facts.confidence is Confidence.CERTAIN


def test_reported_positions_in_breach_is_likely() -> None:
    w = World()
    w.victim(0, acc=20.0)
    (opened,) = w.subject(10, near(90), acc=20.0)
    assert opened.alert.facts.confidence is Confidence.LIKELY


def test_without_accuracy_the_reported_positions_are_taken_as_exact() -> None:
    w = World()
    w.victim(0)
    assert summary(w.subject(10, near(101))) == [(Change.OPENED, WARN)]


def test_accuracy_does_not_reach_when_the_near_edge_is_outside() -> None:
    w = World()
    w.victim(0, acc=10.0)
    assert w.subject(10, near(560), acc=10.0) == []  # near edge 546 m > 500 m


def test_a_coarse_cell_fix_is_judged_on_its_centre_only() -> None:
    w = World()
    w.victim(0, acc=10.0)
    # 600 m from home with 800 m accuracy: the disc covers her, but it cannot place him.
    assert w.subject(10, near(600), acc=800.0, source=FixSource.CELL) == []
    # A coarse fix whose centre is inside the warning tier does raise, and says it is coarse, once a
    # second one agrees (one, with no one measured moving, is a doubt: its centre lands anywhere).
    assert w.subject(20, near(300), acc=800.0, source=FixSource.CELL) == []
    (opened,) = w.subject(25, near(320), acc=800.0, source=FixSource.CELL)
    assert opened.alert.kind is WARN
    assert opened.alert.facts.confidence is Confidence.COARSE
    assert opened.alert.facts.subject_position is not None
    assert opened.alert.facts.subject_position.source == "cell"
    # And a good fix afterwards changes the confidence, which is material.
    (better,) = w.subject(30, near(300), acc=5.0)
    assert better.change is Change.UPDATED
    assert better.alert.facts.confidence is Confidence.CERTAIN


def test_coarse_threshold_is_on_the_combined_accuracy() -> None:
    tuning = Tuning()
    o = order()
    s = fix(ANKLE, at(0), near(150), acc=250.0)
    p_ok = fix(PHONE, at(0), HOME, acc=10.0)
    p_bad = fix(PHONE, at(0), HOME, acc=200.0)  # hypot(250, 200) = 320 > 300
    state, sig = proximity.assess(o, PairState(), Party(s, None), Party(p_ok, None), at(0), tuning)
    assert sig.kind is WARN  # near edge 150 - 250 < 0: a violation only once a newer fix confirms it
    assert sig.facts.tier == "warning"
    s2 = fix(ANKLE, at(60), near(150), acc=250.0)
    _, sig = proximity.assess(o, state, Party(s2, s), Party(p_ok, None), at(60), tuning)
    assert sig.facts.confidence is Confidence.POSSIBLE
    assert sig.kind is VIOL
    _, sig = proximity.assess(o, PairState(), Party(s, None), Party(p_bad, None), at(0), tuning)
    assert sig.facts.confidence is Confidence.COARSE
    assert sig.kind is WARN  # centre 150 m: warning only


# --- stale partner ---------------------------------------------------------------------------------


def test_a_stale_victim_position_is_used_and_said_to_be_stale() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(601, near(50))
    assert opened.alert.kind is VIOL
    assert opened.alert.facts.stale == ("protected_person",)
    assert opened.alert.facts.protected_position is not None
    assert opened.alert.facts.protected_position.age_s == pytest.approx(601)


def test_exactly_ten_minutes_is_not_yet_stale() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(600, near(50))
    assert opened.alert.facts.stale == ()


def test_fresh_positions_are_not_stale_and_freshening_is_material() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(700, near(50))
    assert opened.alert.facts.stale == ("protected_person",)
    (updated,) = w.victim(710)
    assert updated.change is Change.UPDATED
    assert updated.alert.facts.stale == ()


def test_a_stale_subject_is_named_too() -> None:
    w = World()
    w.subject(0, near(50, 90, FAR))
    (opened,) = w.victim(900, near(30, 270, FAR))
    assert opened.alert.facts.stale == ("subject",)


def test_stale_after_is_tunable() -> None:
    w = World(tuning=Tuning(stale_after_s=60))
    w.victim(0)
    (opened,) = w.subject(61, near(50))
    assert opened.alert.facts.stale == ("protected_person",)


# --- facts ------------------------------------------------------------------------------------------


def test_facts_of_an_approach() -> None:
    w = World()
    w.victim(0, acc=5.0)
    assert w.subject(0, near(560, 45), acc=5.0) == []
    # 10 s later he is 100 m closer along the same line: 10 m/s straight at her
    (opened,) = w.subject(10, near(460, 45), acc=5.0)
    facts = opened.alert.facts
    assert facts.subject_position is not None
    assert facts.protected_position is not None
    s, p = facts.subject_position, facts.protected_position
    assert (s.lat, s.lon) == pytest.approx(near(460, 45))
    assert (p.lat, p.lon) == pytest.approx(HOME)
    assert (s.accuracy_m, p.accuracy_m) == (5.0, 5.0)
    assert s.age_s == 0.0
    assert p.age_s == pytest.approx(10.0)
    assert facts.distance_m == pytest.approx(460, abs=0.1)
    assert facts.bearing_deg == pytest.approx(45, abs=0.1)
    assert facts.compass == "NE"
    assert facts.subject_speed_mps == pytest.approx(10, abs=0.05)
    assert facts.closing_speed_mps == pytest.approx(10, abs=0.05)
    assert facts.time_to_contact_s == pytest.approx(46, abs=0.5)
    assert facts.occurred_at is None
    assert facts.confidence is Confidence.CERTAIN


def test_closing_speed_is_negative_when_receding_and_then_no_time_to_contact() -> None:
    w = World()
    w.victim(0)
    w.subject(0, near(200, 180))
    (updated,) = w.subject(20, near(300, 180))
    assert updated.change is Change.UPDATED
    facts = updated.alert.facts
    assert facts.compass == "S"
    assert facts.closing_speed_mps == pytest.approx(-5, abs=0.05)
    assert facts.time_to_contact_s is None


def test_closing_speed_from_the_victims_own_movement() -> None:
    w = World()
    parked = near(1000, 270)
    w.subject(0, parked, speed=0.0)
    w.victim(0)
    # She walks west toward him at 2 m/s; he is parked (reported speed 0).
    (opened,) = w.victim(300, near(400, 90, parked))
    facts = opened.alert.facts
    assert facts.compass == "W"  # he is west of her
    assert facts.subject_speed_mps == 0.0
    assert facts.closing_speed_mps == pytest.approx(2, abs=0.02)
    assert facts.time_to_contact_s == pytest.approx(200, rel=0.01)


def test_device_speed_and_heading_are_used_when_reported() -> None:
    w = World()
    w.victim(0)
    # No previous fix: the device's own speed and heading (toward her, from the north) are used.
    (opened,) = w.subject(10, near(300, 0), speed=3.0, heading=180.0)
    facts = opened.alert.facts
    assert facts.compass == "N"
    assert facts.subject_speed_mps == 3.0
    assert facts.closing_speed_mps == pytest.approx(3, abs=0.01)
    assert facts.time_to_contact_s == pytest.approx(100, abs=0.5)


def test_unknown_movement_leaves_speeds_unknown() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(300))
    facts = opened.alert.facts
    assert facts.subject_speed_mps is None
    assert facts.closing_speed_mps is None
    assert facts.time_to_contact_s is None


def test_a_slow_drift_gives_no_time_to_contact() -> None:
    w = World()
    w.victim(0, speed=0.0)
    assert w.subject(0, near(505)) == []
    (opened,) = w.subject(100, near(495))  # 10 m in 100 s, on fixes of 5 m: scatter, not an approach
    assert opened.alert.facts.closing_speed_mps == 0.0  # she measures a standstill; his move is noise
    assert opened.alert.facts.subject_speed_mps is None
    assert opened.alert.facts.time_to_contact_s is None


def test_her_wifi_scatter_at_home_is_not_her_walking() -> None:
    """Her phone at home on Wi-Fi, 60 m from one fix to the next: no speed of hers is made of it. A
    man walking straight at her at 1.4 m/s closes at 1.4 m/s, whichever way her fixes scatter."""
    w = World()
    w.victim(0, acc=80.0)
    w.subject(0, near(700, 0), speed=1.4, heading=180.0)
    for seconds, scatter in ((60, 90.0), (120, 270.0), (180, 0.0)):
        changes = w.victim(seconds, near(60, scatter), acc=80.0)
        w.subject(seconds, near(700 - 1.4 * seconds, 0), speed=1.4, heading=180.0)
    facts = w.only_alert().facts
    assert facts.closing_speed_mps == pytest.approx(1.4, abs=0.01)
    assert changes == [] or facts.time_to_contact_s is not None


def test_a_pass_beside_her_is_no_contact() -> None:
    """A car on a road 150 m from her, under a 100 m line it never crosses, closes on her for a
    moment as it passes: that is no time to contact. Head on, the same car has one."""
    w = World()
    w.victim(0, speed=0.0)
    beside = geo.destination(*near(150, 90), 0.0, 300.0)  # 150 m east of her, 300 m north of that
    (opened,) = w.subject(10, beside, speed=25.0, heading=180.0)  # driving south, past her
    facts = opened.alert.facts
    assert facts.closing_speed_mps is not None and facts.closing_speed_mps > 20.0
    assert facts.time_to_contact_s is None
    w2 = World()
    w2.victim(0, speed=0.0)
    (head_on,) = w2.subject(10, near(335, 0), speed=25.0, heading=180.0)
    assert head_on.alert.facts.time_to_contact_s == pytest.approx(335 / 25.0, abs=0.2)


@pytest.mark.parametrize(
    ("bearing", "compass"), [(0, "N"), (90, "E"), (135, "SE"), (200, "SSW"), (292.5, "WNW"), (350, "N")]
)
def test_bearing_is_of_the_subject_seen_from_the_victim(bearing: float, compass: str) -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(300, bearing))
    got = opened.alert.facts.bearing_deg
    assert got is not None
    assert 0 <= got < 360
    assert abs((got - bearing + 180) % 360 - 180) <= 0.1
    assert opened.alert.facts.compass == compass


def test_several_orders_on_one_subject_are_judged_each() -> None:
    other = Order(
        id="order-2",
        subject_id=SUBJECT,
        protected_person_id="victim-2",
        violation_distance_m=100,
        warning_distance_m=500,
    )
    w = World(
        devices=(*DEVICES, Device("phone-2", DeviceKind.PHONE, "victim-2", PersonKind.PROTECTED_PERSON))
    )
    w.record(w.engine.put_order(other, at(0)))
    w.victim(0)
    w.report("phone-2", 0, near(350, 180))
    changes = w.subject(10, near(300, 180))
    assert sorted((c.alert.protected_person_id, c.alert.kind) for c in changes) == [
        (VICTIM, WARN),
        ("victim-2", VIOL),
    ]


def test_a_coarse_fix_can_warn_but_not_prove_a_violation() -> None:
    w = World()
    w.victim(0)
    assert w.subject(5, near(300), acc=800.0, source=FixSource.CELL) == []  # a lone one: a doubt
    # centred at her door, a lone coarse fix warns at once: it proves nothing more
    (opened,) = w.subject(10, near(50), acc=800.0, source=FixSource.CELL)
    assert opened.alert.kind is WARN and opened.alert.facts.confidence is Confidence.COARSE
    w.subject(15, near(60), acc=800.0, source=FixSource.CELL)
    assert w.engine.book.for_key(opened.alert.key).kind is WARN  # type: ignore[union-attr]
    (escalated,) = w.subject(20, near(50), acc=5.0)
    assert escalated.change is Change.ESCALATED and escalated.alert.kind is VIOL
