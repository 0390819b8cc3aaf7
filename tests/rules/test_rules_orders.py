"""Orders: protection starts the moment an order is put (or its validity begins) against positions
already known, with no new fix needed, and stops when it ends."""

from __future__ import annotations

from dataclasses import replace

from rules_kit import FAR, QUIET, T0, VICTIM, World, at, circle_zone, kinds, near, order, summary

from vigil.domain.alerts import AlertKind, AlertState, Change

VIOL, WARN, ZONE = AlertKind.PROXIMITY_VIOLATION, AlertKind.PROXIMITY_WARNING, AlertKind.ZONE_VIOLATION
WORK = circle_zone("work", FAR, 200, subject_id=None, label="her work")


def test_an_order_put_while_they_are_close_raises_at_once() -> None:
    w = World(with_order=False)
    w.victim(0)
    w.subject(10, near(50))
    changes = w.engine.put_order(order(), at(20))
    assert summary(changes) == [(Change.OPENED, VIOL)]
    assert changes[0].at == at(20)
    assert changes[0].alert.facts.subject_position is not None
    assert changes[0].alert.facts.subject_position.age_s == 10


def test_an_order_put_while_he_is_in_its_zone_raises_at_once() -> None:
    w = World(with_order=False)
    w.victim(0)
    w.subject(10, FAR)
    changes = w.engine.put_order(order(zones=(WORK,)), at(20))
    assert summary(changes) == [(Change.OPENED, ZONE)]
    alert = changes[0].alert
    assert (alert.zone_id, alert.order_id, alert.protected_person_id) == ("work", "order-1", VICTIM)


def test_an_order_with_no_victim_position_waits_for_one() -> None:
    w = World(with_order=False)
    w.subject(10, near(50))
    assert w.engine.put_order(order(), at(20)) == []
    assert summary(w.victim(30)) == [(Change.OPENED, VIOL)]


def test_an_order_valid_from_the_future_starts_by_the_clock() -> None:
    w = World(with_order=False)
    w.victim(0)
    w.subject(0, near(50))
    assert w.engine.put_order(order(valid_from=at(600)), at(10)) == []
    assert w.subject(500, near(50)) == []  # close, but not yet protected
    assert w.tick(at(599)) == []
    assert w.engine.next_deadline() == at(600)
    (opened,) = w.tick(at(600))
    assert opened.alert.kind is VIOL
    assert opened.at == at(600)


def test_an_orders_zone_starts_by_the_clock_too() -> None:
    w = World(with_order=False)
    w.victim(0)
    w.subject(0, FAR)
    assert w.engine.put_order(order(zones=(WORK,), valid_from=at(120)), at(10)) == []
    assert summary(w.tick(at(120))) == [(Change.OPENED, ZONE)]


def test_an_order_valid_until_ends_by_the_clock() -> None:
    w = World(order(zones=(WORK,), valid_until=at(200)))
    w.victim(0, near(10, 0, FAR))
    w.subject(10, FAR)
    assert sorted(a.kind for a in w.open_alerts()) == [VIOL, ZONE]
    changes = w.tick(at(200))
    assert sorted((c.change, c.alert.kind) for c in changes) == [
        (Change.CLEARED, VIOL),
        (Change.CLEARED, ZONE),
    ]
    assert all(c.at == at(200) for c in changes)
    # where each stands now: no tier (the clear said "violation" while the order was over)
    assert [(c.alert.facts.tier, c.alert.facts.peak_tier) for c in changes] == [(None, "violation")] * 2
    assert w.subject(210, FAR) == []


def test_end_order_clears_what_it_raised_and_stops_watching() -> None:
    w = World(order(zones=(WORK,)))
    w.victim(0, near(10, 0, FAR))
    w.subject(10, FAR)
    changes = w.engine.end_order("order-1", at(20))
    assert sorted((c.change, c.alert.kind) for c in changes) == [
        (Change.CLEARED, VIOL),
        (Change.CLEARED, ZONE),
    ]
    # still open for a person to close, but no longer active
    assert all(not a.active and a.state is AlertState.OPEN for a in w.open_alerts())
    assert w.subject(30, FAR) == []
    assert w.victim(40, FAR) == []
    assert "order-1" not in w.engine.orders
    assert w.engine.end_order("order-1", at(50)) == []


def test_an_order_put_with_an_end_in_the_past_clears() -> None:
    w = World()
    w.victim(0)
    w.subject(10, near(50))
    ended = replace(order(), ended_at=at(15))
    assert summary(w.engine.put_order(ended, at(20))) == [(Change.CLEARED, VIOL)]
    assert w.subject(30, near(40)) == []


def test_changing_an_orders_distances_rejudges_the_pair() -> None:
    w = World()
    w.victim(0)
    w.subject(10, near(300))
    assert w.only_alert().kind is WARN
    assert summary(w.engine.put_order(order(violation=400, warning=800), at(20))) == [
        (Change.ESCALATED, VIOL)
    ]


def test_replacing_an_order_without_a_zone_lifts_that_zone() -> None:
    w = World(order(zones=(WORK,)))
    w.victim(0)
    w.subject(10, FAR)
    assert summary(w.engine.put_order(order(), at(20))) == [(Change.CLEARED, ZONE)]
    assert "work" not in w.engine.zones
    assert w.subject(30, FAR) == []


def test_the_order_zone_belongs_to_the_orders_subject() -> None:
    w = World(order(zones=(WORK,)))
    zone = w.engine.zones["work"]
    assert zone.subject_id == "subject-1"
    assert zone.order_id == "order-1"


def test_put_order_at_t0_for_later_is_quiet_before() -> None:
    w = World(with_order=False, devices=QUIET)
    w.engine.put_order(order(valid_from=at(3600), valid_until=at(7200)), T0)
    w.victim(3000)
    assert w.subject(3010, near(10)) == []
    assert summary(w.tick(at(3600))) == [(Change.OPENED, VIOL)]
    assert kinds(w.tick(at(7200))) == [Change.CLEARED]
