"""Late and out-of-order fixes: judged at their own time against where the partner was then; they may
open an alert (marked late) but never move the live position or the live rule state."""

from __future__ import annotations

import pytest
from rules_kit import (
    ANKLE,
    FAR,
    HOME,
    PHONE,
    SUBJECT,
    VICTIM,
    WATCH,
    World,
    at,
    circle_zone,
    fix,
    kinds,
    near,
    order,
    summary,
)

from vigil.domain.alerts import AlertKind, AlertState, Change
from vigil.domain.model import Fix
from vigil.rules.proximity import CLEAR
from vigil.rules.tuning import Tuning

VIOL, WARN = AlertKind.PROXIMITY_VIOLATION, AlertKind.PROXIMITY_WARNING


def test_an_out_of_order_breach_opens_late_then_clears_and_leaves_the_live_state_alone() -> None:
    w = World()
    w.victim(0)
    w.victim(60)
    assert w.subject(120, near(3000)) == []
    live = w.engine.tracks[SUBJECT].latest

    changes = w.subject(60, near(50), received=130)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    opened, cleared = changes
    assert opened.alert.late
    assert opened.alert.facts.occurred_at == at(60)
    assert opened.at == at(130)
    assert opened.alert.facts.subject_position is not None
    assert opened.alert.facts.subject_position.time == at(60)
    assert cleared.alert.id == opened.alert.id
    assert not cleared.alert.active
    assert cleared.alert.state is AlertState.OPEN  # a person still has to look at it

    # The live position did not move backward and the live pair state is still clear.
    assert w.engine.tracks[SUBJECT].latest is live
    assert w.engine._pairs["order-1"].tier == CLEAR
    assert w.subject(180, near(3000)) == []
    # The late fix is kept in the history, in time order.
    assert [f.time for f in w.engine.tracks[SUBJECT].history] == [at(60), at(120), at(180)]


def test_an_out_of_order_fix_is_judged_against_where_the_partner_was_then() -> None:
    w = World()
    w.victim(0, HOME)
    w.victim(600, FAR)  # she drove to work
    assert w.subject(700, near(50)) == []  # he is at her home now, but she is not
    # At 50 s she was still home: a breach, raised late.
    assert summary(w.subject(50, near(50), received=710)) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    # At 650 s she was already at work: nothing, and no second alert.
    assert w.subject(650, near(50), received=720) == []
    assert len(w.open_alerts()) == 1


def test_a_late_batch_raises_one_alert() -> None:
    w = World()
    w.victim(0)
    w.subject(600, near(3000))
    changes = []
    for t in range(60, 600, 60):  # a batch after a coverage gap, all near her
        changes += w.subject(t, near(40 + t / 60), received=610)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]


def test_an_out_of_order_victim_fix_is_judged_too() -> None:
    w = World()
    w.subject(0, near(50, 90, FAR))
    w.subject(60, near(50, 90, FAR))
    w.victim(120, HOME)
    changes = w.report(WATCH, 30, FAR, received=130)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    assert changes[0].alert.late
    assert changes[0].alert.facts.occurred_at == at(30)
    assert w.engine.tracks[VICTIM].latest is not None
    assert w.engine.tracks[VICTIM].latest.time == at(120)


def test_a_late_fix_while_the_live_breach_holds_opens_without_clearing() -> None:
    w = World()
    w.victim(0)
    w.subject(120, near(50))
    # The alert stays as it is: an alert already open for the same thing keeps its live facts.
    assert w.subject(60, near(20), received=125) == []
    alert = w.only_alert()
    assert alert.active
    assert not alert.late
    assert alert.facts.occurred_at is None


def test_a_late_violation_escalates_a_live_warning_and_it_stays_active() -> None:
    w = World()
    w.victim(0)
    w.subject(120, near(300))
    changes = w.subject(60, near(50), received=125)
    assert summary(changes) == [(Change.ESCALATED, VIOL)]
    alert = w.only_alert()
    assert alert.kind is VIOL
    assert alert.active
    assert alert.late


def test_a_late_clear_fix_does_not_clear_a_live_breach() -> None:
    w = World()
    w.victim(0)
    w.subject(120, near(50))
    assert w.subject(60, near(3000), received=125) == []
    assert w.only_alert().active


def test_an_out_of_order_fix_before_her_first_position_is_judged_against_the_nearest() -> None:
    """She had no position yet at 50 s: her nearest fix (100 s) stands in, and the alert says whether
    it was measured too far in time from his to be trusted."""
    w = World()
    w.victim(100)
    w.subject(200, near(3000))
    changes = w.subject(50, near(10), received=210)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    assert changes[0].alert.late and changes[0].alert.facts.stale == ()


def test_a_late_fix_far_in_time_from_any_partner_fix_is_marked_stale() -> None:
    w = World()
    w.victim(1000)
    w.subject(1100, near(3000))
    changes = w.subject(50, near(10), received=1110)
    assert changes[0].change is Change.OPENED
    assert changes[0].alert.facts.stale == ("protected_person",)


def test_a_late_zone_breach_opens_and_clears() -> None:
    w = World(order(zones=(circle_zone("work", FAR, 200, subject_id=None),)))
    w.subject(120, near(3000, 0, FAR))
    changes = w.subject(60, FAR, received=130)
    assert summary(changes) == [
        (Change.OPENED, AlertKind.ZONE_VIOLATION),
        (Change.CLEARED, AlertKind.ZONE_VIOLATION),
    ]
    assert changes[0].alert.late
    assert changes[0].alert.facts.occurred_at == at(60)
    assert changes[0].alert.protected_person_id == VICTIM
    # it rests on that fix, not on where he is now: the fix is its evidence
    assert [p.time for p in changes[0].alert.facts.evidence] == [at(60)]


def test_a_late_zone_breach_after_an_earlier_one_cleared_is_a_new_alert() -> None:
    """The morning's entry, cleared but still awaiting its operator, does not hide the afternoon's
    entry that an upload reveals (it was dropped as "already told")."""
    w = World(order(zones=(circle_zone("work", FAR, 200, subject_id=None),)))
    w.subject(0, FAR)
    w.subject(60, near(3000, 0, FAR))  # cleared, still open
    morning = w.only_alert()
    assert not morning.active
    w.subject(4 * 3600 + 1200, near(3000, 0, FAR))
    changes = w.subject(4 * 3600 + 600, FAR, received=4 * 3600 + 1800)
    assert summary(changes) == [
        (Change.OPENED, AlertKind.ZONE_VIOLATION),
        (Change.CLEARED, AlertKind.ZONE_VIOLATION),
    ]
    assert changes[0].alert.id != morning.id
    assert changes[0].alert.late
    assert changes[0].alert.facts.occurred_at == at(4 * 3600 + 600)


def test_a_late_approach_after_an_earlier_violation_cleared_is_raised() -> None:
    w = World(tuning=Tuning(tier_hold_s=0))
    w.victim(0)
    w.subject(10, near(50))
    w.subject(70, near(3000))  # the morning's violation, cleared
    w.victim(3 * 3600)
    w.subject(3 * 3600 + 10, near(3000))
    changes = w.subject(3 * 3600 - 600, near(40), received=3 * 3600 + 60)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    assert changes[0].alert.late


def test_a_late_fix_of_a_breach_already_told_raises_nothing_new() -> None:
    """A fix of the same entry, sent again late, is no news: the alert told it and cleared after."""
    w = World(order(zones=(circle_zone("work", FAR, 200, subject_id=None),)))
    w.subject(0, FAR)
    w.subject(120, near(3000, 0, FAR))
    assert w.subject(60, FAR, received=300) == []
    assert len(w.open_alerts()) == 1


@pytest.mark.parametrize(("delay", "late"), [(120, False), (121, True), (3600, True)])
def test_an_in_order_fix_received_long_after_is_judged_normally_and_marked_late(
    delay: float, late: bool
) -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(50), received=10 + delay)
    assert opened.change is Change.OPENED
    assert opened.alert.late is late
    assert w.engine.tracks[SUBJECT].latest is not None
    assert w.engine.tracks[SUBJECT].latest.time == at(10)
    # when the breach was measured, if that is not when the alert was raised
    assert opened.alert.facts.occurred_at == (at(10) if late else None)
    assert opened.at == at(10 + delay)


def test_a_late_in_order_zone_fix_says_when_it_happened() -> None:
    w = World(order(zones=(circle_zone("work", FAR, 200, subject_id=None),)))
    (opened,) = w.subject(0, FAR, received=300)
    assert opened.alert.late
    assert opened.alert.facts.occurred_at == at(0)


def test_late_in_order_fix_moves_the_live_state() -> None:
    w = World(tuning=Tuning(tier_hold_s=0))  # no pending clear: the live state is cleared at once
    w.victim(0)
    w.subject(10, near(50), received=400)
    assert kinds(w.subject(70, near(3000), received=410)) == [Change.CLEARED]


def test_a_fix_at_the_same_instant_as_one_already_held_is_ignored() -> None:
    """Two of her devices report the same second: the track keeps the first, and the second is not
    evidence of anything new, so it must not re-raise a breach a person has already closed."""
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(50))
    w.engine.move(opened.alert.id, AlertState.RESOLVED, actor="op", now=at(20))
    assert w.victim(25) == []  # the breach goes on; a person closed it, so nothing new
    assert w.report(WATCH, 25, HOME, received=30) == []  # her watch, same second as her phone
    assert w.subject(10, near(50), received=40) == []  # his fix sent twice
    assert w.open_alerts() == []
    # Each device keeps its own track (the watch's fix is its own, not a second phone fix).
    devices = w.engine.tracks[VICTIM].devices
    assert [f.time for f in devices[PHONE].history] == [at(0), at(25)]
    assert [f.time for f in devices[WATCH].history] == [at(25)]


def test_an_exact_resend_of_the_live_fix_changes_nothing() -> None:
    w = World()
    w.victim(0)
    w.subject(10, near(50))
    alert = w.only_alert()
    assert w.subject(10, near(50), received=12) == []
    assert w.only_alert() == alert


def test_out_of_order_fix_from_before_an_order_was_in_force_raises_nothing() -> None:
    zone = circle_zone("work", FAR, 200, subject_id=None)
    w = World(order(zones=(zone,), valid_from=at(100)))
    w.victim(0)
    w.subject(150, near(3000, 0, FAR))
    assert w.subject(50, near(20), received=160) == []  # near her, but before the order
    assert w.subject(60, FAR, received=160) == []  # in her work zone, but before the order
    assert w.open_alerts() == []


def test_devices_are_judged_for_their_own_person() -> None:
    w = World()
    w.victim(0)
    w.subject(100, near(3000))
    # An out-of-order ankle fix is his, whatever device reports next.
    w.subject(50, near(30), received=110)
    assert w.report(PHONE, 110, HOME) == []
    assert w.engine.tracks[SUBJECT].history[0].device_id == ANKLE


def test_a_late_batch_in_time_order_dates_the_breach_by_the_fix_not_the_partner() -> None:
    """The monitor uploads its stored fixes at 600 s, oldest first, so each is the newest when judged;
    her latest fix (300 s) is newer than his breach (200 s), which is still when it happened. (No
    hold here, so the breach that is over clears at once; with one it clears at the hold's end.)"""
    w = World(tuning=Tuning(tier_hold_s=0))
    w.victim(0)
    w.victim(300)
    w.subject(0, near(3000))
    changes = []
    for t, d in ((100, 2000), (200, 50), (310, 1500), (600, 3000)):
        changes += w.subject(t, near(d), received=600)
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    opened = changes[0]
    assert opened.alert.late
    assert opened.alert.facts.occurred_at == at(200)
    assert opened.at == at(600)


# --- history by time: the past beyond memory comes from the store ---------------------------------------


def _she_left_home_at_11_min() -> tuple[World, list[Fix]]:
    """She reports every minute for 40 min, at home until 11 min, then drives off south: memory holds
    only her last 15 minutes. Returns the world and everything she sent (what the store holds)."""
    w = World()
    sent = []
    for minute in range(41):
        where = HOME if minute <= 11 else near((minute - 11) * 340, 180)
        sent.append(fix(PHONE, at(minute * 60), where, acc=10))
        w.engine.on_fix(sent[-1], at(minute * 60), at(minute * 60))
    w.subject(0, near(3000, 0), acc=10)
    return w, sent


def test_a_fix_older_than_memory_holds_of_the_partner_asks_for_the_past() -> None:
    w, _ = _she_left_home_at_11_min()
    late = fix(ANKLE, at(300), near(50, 0), acc=10)
    ((person, since, until),) = w.engine.past_needed(late, at(2430))
    assert person == VICTIM and since <= at(300) <= until
    # a fix of now needs nothing from the store
    assert w.engine.past_needed(fix(ANKLE, at(2400), near(3000, 0)), at(2430)) == []


def test_a_30_minute_late_batch_is_judged_against_where_she_really_was() -> None:
    w, sent = _she_left_home_at_11_min()
    late = fix(ANKLE, at(300), near(50, 0), acc=10)
    ((_, since, until),) = w.engine.past_needed(late, at(2430))
    w.engine.recall(VICTIM, [f for f in sent if since <= f.time <= until])
    changes = w.record(w.engine.on_fix(late, at(2430), at(2430)))
    w.engine.forget()
    assert summary(changes) == [(Change.OPENED, VIOL), (Change.CLEARED, VIOL)]
    facts = changes[0].alert.facts
    assert changes[0].alert.late and facts.occurred_at == at(300)
    assert facts.protected_position is not None and facts.protected_position.time == at(300)
    assert [p.time for p in facts.evidence] == [at(300), at(300)]  # both positions, as measured
    assert w.engine._past == {}


def test_without_the_store_the_late_fix_is_judged_against_the_nearest_held() -> None:
    """What a caller that hands in nothing gets: her earliest position held (already gone), marked
    stale, as before this change. `vigil replay` and the server always hand the past in."""
    w, _ = _she_left_home_at_11_min()
    changes = w.engine.on_fix(fix(ANKLE, at(300), near(50, 0), acc=10), at(2430), at(2430))
    assert changes == []


def test_a_fix_beyond_the_late_horizon_is_stored_but_judged_by_no_rule() -> None:
    w = World(tuning=Tuning(late_horizon_s=3600))
    w.victim(0)
    w.victim(7300)
    w.subject(7300, near(3000))
    old = fix(ANKLE, at(0), near(20), acc=10)
    assert w.engine.past_needed(old, at(7300)) == []
    assert w.engine.on_fix(old, at(7300), at(7300)) == []


def test_after_a_restart_anything_older_than_what_was_restored_comes_from_the_store() -> None:
    w = World()
    engine = w.engine
    engine.restore([fix(PHONE, at(1800), HOME, acc=10)], {}, [], at(1900))
    assert engine.past_needed(fix(ANKLE, at(1700), near(50)), at(1900)) != []
    assert engine.past_needed(fix(ANKLE, at(1850), near(50)), at(1900)) == []


def test_an_upload_that_warns_then_violates_is_opened_escalated_then_cleared() -> None:
    """Her phone's upload shows her passing his café: within his warning line, then within 100 m,
    then away. One alert from the past: opened, escalated, cleared at the batch's newest fix, with
    the breach's own facts (before: opened, cleared, escalated, cleared, all at one instant)."""
    w = World()
    for t in range(0, 1200, 60):
        w.subject(t, HOME, speed=0.0)  # he sits still at the café (HOME here), live
    w.victim(0, near(3000, 90))
    batch = [(300, 400.0), (360, 60.0), (420, 600.0), (480, 2000.0)]  # her walk, uploaded at 1200
    changes = []
    for i, (t, d) in enumerate(batch):
        changes += w.victim(t, near(d, 90), received=1200, followed=i < len(batch) - 1)
    lines = [(c.change, c.alert.kind) for c in changes]
    assert lines == [
        (Change.OPENED, WARN),
        (Change.ESCALATED, VIOL),
        (Change.CLEARED, VIOL),
    ], lines
    cleared = changes[-1].alert
    assert cleared.late and cleared.facts.occurred_at == at(360)


def test_a_live_escalation_of_an_alert_an_upload_opened_is_not_late() -> None:
    """An upload reveals her approach (a warning, late); its newest fix puts her 40 m from him now:
    the violation is live, and the escalation says so (it said late, with no time of its own)."""
    w = World()  # a 500 m warning distance
    w.victim(0, near(5000))
    w.subject(0, HOME, speed=0.0)
    w.subject(480, HOME, speed=0.0)
    opened = w.victim(300, near(400), received=600, followed=True)
    assert summary(opened) == [(Change.OPENED, WARN)] and opened[0].alert.late
    w.subject(590, HOME, speed=0.0)
    escalated = w.victim(595, near(40), received=600)
    assert summary(escalated) == [(Change.ESCALATED, VIOL)]
    assert not escalated[0].alert.late and escalated[0].alert.facts.occurred_at is None


def test_an_uploads_older_impossible_fix_raises_no_warning_of_now() -> None:
    """Her upload holds one fix 1.5 km off at 0 m/s between fixes at home, 20 minutes ago: the next
    fix of the same batch settles it; no unconfirmed warning judged against where he is now, and no
    request to report faster."""
    w = World()
    w.subject(0, near(1500), speed=0.0)
    for t in (60, 120):
        w.victim(t, HOME, speed=0.0, received=1500, followed=True)
    w.subject(1400, near(1500), speed=0.0)
    w.engine.drain_modes()
    assert w.victim(180, near(1480), speed=0.0, received=1500, followed=True) == []
    assert w.victim(240, HOME, speed=0.0, received=1500) == []
    assert w.engine.drain_modes() == []


def test_a_late_reentry_within_the_hold_makes_the_alert_active_again_marked_late() -> None:
    w = World(order(zones=(circle_zone("work", FAR, 200, subject_id=None),)))
    w.subject(0, FAR)
    w.subject(180, near(3000, 0, FAR))  # cleared
    w.subject(840, near(3000, 0, FAR))
    changes = w.subject(540, FAR, received=840)  # a re-entry at 540 s, uploaded at 840 s
    assert kinds(changes)[0] is Change.UPDATED
    assert changes[0].alert.late and changes[0].alert.active
