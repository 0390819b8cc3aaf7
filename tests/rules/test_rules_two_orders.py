"""Two orders keeping him from the same woman (a court's order and a probation condition, each with
its own distances) share the pair's one alert; the order holding the higher tier speaks for it
(engine `_speak`). Before, each order's verdict overwrote the other's at every fix."""

from __future__ import annotations

from datetime import timedelta

from rules_kit import HOME, T0, World, at, near, order

from vigil.domain.alerts import AlertChange, AlertKind, Change

COURT = order(violation=100, warning=1000, order_id="court")
PROBATION = order(violation=500, warning=2000, order_id="probation")


def _two_orders() -> World:
    w = World(COURT)
    w.record(w.engine.put_order(PROBATION, at(-3600)))
    w.victim(0, HOME)
    return w


def _lines(changes: list[AlertChange]) -> list[tuple[Change, AlertKind, str | None]]:
    return [(c.change, c.alert.kind, c.alert.facts.tier) for c in changes]


def test_an_approach_under_two_orders_is_one_alert_that_never_clears_on_the_way() -> None:
    w = _two_orders()
    lines = []
    for i, d in enumerate((2500, 1800, 1500, 900, 600, 300, 300, 300, 600, 900, 1500, 1800)):
        w.victim(60 * i + 30, HOME)  # she reports between his fixes, as phones do
        lines += _lines(w.subject(60 * i + 60, near(d, 180)))
        lines += _lines(w.victim(60 * i + 90, HOME))
    assert {c.alert.id for c in w.log} == {"a-1"}
    assert Change.CLEARED not in [change for change, _, _ in lines]
    assert lines[0] == (Change.OPENED, AlertKind.PROXIMITY_WARNING, "warning")
    escalated = [line for line in lines if line[0] is Change.ESCALATED]
    assert escalated == [(Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION, "violation")]
    # each fix of his moves the alert at most once, and her fixes between never do
    assert len(lines) <= 11


def test_the_pairs_alert_clears_when_no_order_holds_it_any_more() -> None:
    w = _two_orders()
    w.subject(60, near(300, 180))
    w.subject(120, near(5000, 180))
    cleared = [c for c in w.tick(T0 + timedelta(hours=2)) if c.change is Change.CLEARED]
    assert [c.alert.id for c in cleared] == ["a-1"]
    assert w.open_alerts()[0].active is False


def test_ending_the_order_that_speaks_hands_the_alert_to_the_other() -> None:
    """The probation condition ends while he stands 300 m from her: the court's order still holds a
    warning there, so the alert is not cleared; it carries on at tier warning."""
    w = _two_orders()
    w.subject(60, near(300, 180))
    ended = w.engine.end_order(PROBATION.id, at(90))
    assert _lines(ended) == [(Change.UPDATED, AlertKind.PROXIMITY_VIOLATION, "warning")]
    assert w.open_alerts()[0].active


def test_an_order_renewed_at_its_end_neither_clears_nor_raises_again() -> None:
    """O1 ends at 600 s and its renewal O2 (the same pair, the same distances) comes into force then,
    while he stands 50 m from her: no `cleared` line, no new raise (it gave cleared then updated)."""
    w = World(order(order_id="O1", valid_until=at(600)))
    w.engine.put_order(order(order_id="O2", valid_from=at(600)), at(0))
    w.victim(0)
    w.subject(10, near(50))
    changes = [c for c in w.tick(at(600)) if c.alert.kind is AlertKind.PROXIMITY_VIOLATION]
    assert Change.CLEARED not in [c.change for c in changes]
    alert = w.engine.book.get("a-1")
    assert alert is not None and alert.active
    # ... and from then it rests on the renewal: the order police and probation must cite
    assert alert.order_id == "O2"
    assert [c.change for c in changes] == [Change.UPDATED]
