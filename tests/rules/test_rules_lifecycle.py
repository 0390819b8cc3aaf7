"""The alert lifecycle people drive: forward only, skipping ahead allowed, terminal states leave the
book, and a breach a person closed while it still held is not raised again until it ends and recurs."""

from __future__ import annotations

import itertools

import pytest
from rules_kit import ANKLE, World, at, kinds, near, summary

from vigil.domain.alerts import (
    TERMINAL,
    AlertBook,
    AlertKey,
    AlertKind,
    AlertState,
    Change,
    Facts,
    IllegalTransition,
    Signal,
    UnknownAlert,
    can_move,
)
from vigil.domain.model import EventKind
from vigil.rules.tuning import Tuning

SIGNAL_LOSS = AlertKind.SIGNAL_LOSS

S = AlertState
FORWARD = [S.OPEN, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(list(S), list(S))))
def test_can_move_is_forward_only(current: AlertState, target: AlertState) -> None:
    if current in TERMINAL or target is S.OPEN:
        expected = False
    elif target in TERMINAL:
        expected = True
    else:
        expected = FORWARD.index(target) > FORWARD.index(current)
    assert can_move(current, target) is expected


def _raised() -> tuple[World, str]:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(50))
    return w, opened.alert.id


def test_skipping_ahead_is_allowed_and_recorded() -> None:
    w, alert_id = _raised()
    change = w.engine.move(alert_id, S.DISPATCHED, actor="dispatcher-7", now=at(20), note="unit 12")
    assert change.change is Change.DISPATCHED
    assert (change.actor, change.note, change.at) == ("dispatcher-7", "unit 12", at(20))
    assert change.alert.state is S.DISPATCHED
    assert change.alert.updated_at == at(20)
    assert w.engine.book.get(alert_id) == change.alert


def test_the_full_path() -> None:
    w, alert_id = _raised()
    for i, state in enumerate((S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE, S.RESOLVED)):
        change = w.engine.move(alert_id, state, actor="op", now=at(20 + i))
        assert change.change.value == state.value
    assert w.engine.book.get(alert_id) is None


@pytest.mark.parametrize(
    ("first", "illegal"),
    [
        (S.DISPATCHED, S.ACKNOWLEDGED),
        (S.ON_SCENE, S.DISPATCHED),
        (S.ACKNOWLEDGED, S.ACKNOWLEDGED),
        (None, S.OPEN),
    ],
)
def test_an_illegal_step_raises_and_changes_nothing(first: AlertState | None, illegal: AlertState) -> None:
    w, alert_id = _raised()
    if first is not None:
        w.engine.move(alert_id, first, actor="op", now=at(20))
    before = w.engine.book.get(alert_id)
    with pytest.raises(IllegalTransition):
        w.engine.move(alert_id, illegal, actor="op", now=at(30))
    assert w.engine.book.get(alert_id) == before
    assert len(w.engine.book) == 1


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_leave_the_book(terminal: AlertState) -> None:
    w, alert_id = _raised()
    change = w.engine.move(alert_id, terminal, actor="op", now=at(20))
    assert change.alert.state is terminal
    assert w.engine.book.get(alert_id) is None
    assert list(w.engine.book) == []
    with pytest.raises(UnknownAlert):
        w.engine.move(alert_id, S.ACKNOWLEDGED, actor="op", now=at(30))


def test_moving_an_unknown_alert_raises() -> None:
    w = World()
    with pytest.raises(UnknownAlert):
        w.engine.move("nope", S.ACKNOWLEDGED, actor="op", now=at(0))


def test_resolved_while_it_still_holds_no_new_alert_until_it_ends_and_recurs() -> None:
    w, alert_id = _raised()
    w.engine.move(alert_id, S.RESOLVED, actor="op", now=at(20))
    # He stays close: nothing, however much he moves about in the tier.
    for t, d in ((30, 50), (40, 10), (50, 90), (60, 40)):
        assert w.subject(t, near(d)) == [], d
    # He leaves: nothing to clear.
    assert w.subject(70, near(700)) == []
    # He comes back: a new alert.
    (again,) = w.subject(80, near(50))
    assert again.change is Change.OPENED
    assert again.alert.id != alert_id


def test_a_false_alarm_while_it_still_holds_behaves_the_same() -> None:
    w, alert_id = _raised()
    w.engine.move(alert_id, S.FALSE_ALARM, actor="op", now=at(20))
    assert w.subject(30, near(40)) == []
    assert w.subject(40, near(700)) == []
    assert kinds(w.subject(50, near(40))) == [Change.OPENED]


def test_a_warning_resolved_while_it_holds_still_escalates_into_a_new_violation() -> None:
    w = World()
    w.victim(0)
    (warning,) = w.subject(10, near(300))
    w.engine.move(warning.alert.id, S.RESOLVED, actor="op", now=at(20))
    assert w.subject(30, near(350)) == []
    (violation,) = w.subject(40, near(50))
    assert (violation.change, violation.alert.kind) == (Change.OPENED, AlertKind.PROXIMITY_VIOLATION)
    assert violation.alert.id != warning.alert.id


def test_resolved_after_it_cleared_a_recurrence_opens_anew() -> None:
    w, alert_id = _raised()
    w.subject(20, near(700))
    w.engine.move(alert_id, S.RESOLVED, actor="op", now=at(30))
    assert summary(w.subject(40, near(50))) == [(Change.OPENED, AlertKind.PROXIMITY_VIOLATION)]


def test_rules_do_not_move_the_lifecycle() -> None:
    w = World()
    w.victim(0)
    (opened,) = w.subject(10, near(300))
    w.engine.move(opened.alert.id, S.ACKNOWLEDGED, actor="op", now=at(15))
    (escalated,) = w.subject(20, near(50))
    assert escalated.change is Change.ESCALATED
    assert escalated.alert.state is S.ACKNOWLEDGED
    (left,) = w.subject(30, near(700))  # apart: the alert holds (a pending clear), still acknowledged
    assert (left.change, left.alert.active, left.alert.state) == (Change.UPDATED, True, S.ACKNOWLEDGED)
    (cleared,) = [c for c in w.tick(at(30 + Tuning().tier_hold_s)) if c.alert.kind is not SIGNAL_LOSS]
    assert cleared.change is Change.CLEARED
    assert cleared.alert.state is S.ACKNOWLEDGED
    (back,) = [c for c in w.subject(2000, near(50)) if c.alert.kind is not SIGNAL_LOSS]
    # after it cleared, a new approach is a new alert, raised afresh; the acknowledged one stays so
    assert (back.change, back.alert.state) == (Change.OPENED, S.OPEN)
    assert w.engine.book.get(cleared.alert.id).state is S.ACKNOWLEDGED  # type: ignore[union-attr]


def test_a_tamper_resolved_then_repeated_opens_anew() -> None:
    w = World(with_order=False)
    (opened,) = w.event(ANKLE, 0, EventKind.STRAP_CUT)
    w.engine.move(opened.alert.id, S.RESOLVED, actor="op", now=at(10))
    (again,) = w.event(ANKLE, 20, EventKind.STRAP_CUT)
    assert again.change is Change.OPENED
    assert again.alert.id != opened.alert.id


# --- the book on its own ------------------------------------------------------------------------------

KEY = AlertKey("proximity", "s", "v")


def _signal(kind: AlertKind, active: bool, onset: bool, distance: float = 50.0) -> Signal:
    return Signal(KEY, kind, active, onset, Facts(distance_m=distance))


def test_book_opens_only_on_an_active_onset() -> None:
    book = AlertBook(lambda: "x")
    assert book.apply(_signal(AlertKind.PROXIMITY_WARNING, True, False), at(0)) is None
    assert book.apply(_signal(AlertKind.PROXIMITY_WARNING, False, False), at(0)) is None
    change = book.apply(_signal(AlertKind.PROXIMITY_WARNING, True, True), at(0))
    assert change is not None
    assert change.change is Change.OPENED
    assert book.for_key(KEY) is change.alert


def test_book_never_falls_back_from_a_violation() -> None:
    ids = iter(("a", "b"))
    book = AlertBook(lambda: next(ids))
    book.apply(_signal(AlertKind.PROXIMITY_VIOLATION, True, True), at(0))
    change = book.apply(_signal(AlertKind.PROXIMITY_WARNING, True, True, 300), at(1))
    assert change is not None
    assert change.change is Change.UPDATED
    assert change.alert.kind is AlertKind.PROXIMITY_VIOLATION
    assert len(book) == 1


def test_book_clear_twice_is_once() -> None:
    book = AlertBook(lambda: "x")
    book.apply(_signal(AlertKind.SOS, True, True), at(0))
    first = book.apply(_signal(AlertKind.SOS, False, False), at(1))
    assert first is not None
    assert first.change is Change.CLEARED
    assert book.apply(_signal(AlertKind.SOS, False, False), at(2)) is None


def test_book_restore_takes_an_alert_back() -> None:
    book = AlertBook(lambda: "x")
    change = book.apply(_signal(AlertKind.SOS, True, True), at(0))
    assert change is not None
    other = AlertBook(lambda: "y")
    other.restore(change.alert)
    assert other.get("x") == change.alert
    assert other.apply(_signal(AlertKind.SOS, True, False), at(1)) is None
