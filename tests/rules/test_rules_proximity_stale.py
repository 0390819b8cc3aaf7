"""His position much older than hers (rules/proximity.py `assess`): it can warn, but cannot prove a
violation of where she is now. Her position older than his still can; a late batch is judged
against where she was at each fix time by the late path, as before."""

from __future__ import annotations

from rules_kit import FAR, HOME, VICTIM, World, near

from vigil.domain.alerts import AlertKind, Change

WORK = near(5000, 90)  # her workplace, 5 km from home


def _proximity(changes: list) -> list[tuple[Change, AlertKind, tuple[str, ...]]]:  # type: ignore[type-arg]
    return [
        (c.change, c.alert.kind, c.alert.facts.stale)
        for c in changes
        if c.alert.kind in (AlertKind.PROXIMITY_WARNING, AlertKind.PROXIMITY_VIOLATION)
    ]


def test_her_arriving_where_he_was_40_minutes_before_warns_and_proves_nothing() -> None:
    w = World()
    w.victim(0, HOME)
    assert _proximity(w.subject(0, near(40, 0, WORK))) == []  # he is at her workplace; she is home
    # his monitor says nothing more; she goes to work
    w.victim(2400, near(3000, 90))
    arrived = _proximity(w.victim(2460, WORK))
    assert arrived == [(Change.OPENED, AlertKind.PROXIMITY_WARNING, ("subject",))]


def test_his_fresh_fix_at_her_door_while_her_phone_is_stale_is_still_a_violation() -> None:
    w = World()
    w.victim(0, HOME)  # her last fix: home
    w.subject(0, FAR)
    changes = _proximity(w.subject(1800, near(50)))  # 30 minutes later he is at her door
    assert changes and changes[-1][1] is AlertKind.PROXIMITY_VIOLATION


def test_a_late_batch_is_judged_where_she_was_then_and_warns_only_of_where_she_is_now() -> None:
    """His fixes of 08:30 to 09:05 reach the centre at 10:00; she was at home then, at work now,
    40 m from where he was. No violation: not at the time (she was 5 km away), nor now (his newest
    position is 55 minutes old): a warning, stale."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, FAR)
    for t in range(60, 2400, 60):
        w.victim(t, HOME)
    w.victim(2400, near(3000, 90))
    for t in range(2460, 6000, 60):  # at work from 2460 s, reporting every minute
        assert _proximity(w.victim(t, WORK)) == []
    late = []
    for t in range(300, 2400, 300):  # his fixes of 300 to 2100 s, 40 m from her workplace, all at 6000 s
        late += w.subject(t, near(40, 0, WORK), received=6000)
    got = _proximity(late)
    assert got and all(kind is AlertKind.PROXIMITY_WARNING for _, kind, _ in got), got
    assert got[0][0] is Change.OPENED and "subject" in got[0][2]
    assert w.engine.book.for_key(next(iter(w.engine.book)).key).protected_person_id == VICTIM  # type: ignore[union-attr]
