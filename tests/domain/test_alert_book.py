"""The alert book (domain/alerts.py `AlertBook`): a danger back soon after its alert cleared is the
same alert, active again; back later, a new alert, while the cleared one awaits its operator."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from vigil.domain.alerts import AlertBook, AlertChange, AlertKey, AlertKind, AlertState, Change, Facts, Signal

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
KEY = AlertKey("signal", "S1", "AM-1")


def _book() -> AlertBook:
    counter = itertools.count(1)
    return AlertBook(lambda: f"a-{next(counter)}", same_within_s=900.0)


def _signal(active: bool) -> Signal:
    return Signal(key=KEY, kind=AlertKind.SIGNAL_LOSS, active=active, onset=active, facts=Facts(),
                  subject_id="S1")  # fmt: skip


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _cleared_then_new() -> tuple[AlertBook, AlertChange, AlertChange]:
    """An outage that cleared after 5 minutes, and another 55 minutes later: two alerts."""
    book = _book()
    first = book.apply(_signal(True), at(0))
    book.apply(_signal(False), at(5))
    second = book.apply(_signal(True), at(60))
    assert first is not None and second is not None
    return book, first, second


def test_a_danger_back_within_the_window_is_the_same_alert_and_later_a_new_one() -> None:
    book = _book()
    opened = book.apply(_signal(True), at(0))
    assert opened is not None and opened.change is Change.OPENED
    assert book.apply(_signal(False), at(10)).change is Change.CLEARED  # type: ignore[union-attr]
    again = book.apply(_signal(True), at(24))  # 14 min after the clear
    assert again is not None and (again.change, again.alert.id) == (Change.UPDATED, opened.alert.id)
    book.apply(_signal(False), at(30))
    later = book.apply(_signal(True), at(46))  # 16 min after the clear: another outage
    assert later is not None and later.change is Change.OPENED and later.alert.id != opened.alert.id
    # the cleared one is still open for its operator; the key stands for the new one
    assert book.get(opened.alert.id) is not None and book.for_key(KEY) is later.alert
    assert len(book) == 2


def test_a_step_on_the_cleared_alert_leaves_the_key_with_the_new_one() -> None:
    book, first, second = _cleared_then_new()
    book.move(first.alert.id, AlertState.ACKNOWLEDGED, actor="op", now=at(61), note="")
    assert book.for_key(KEY) is second.alert
    book.move(first.alert.id, AlertState.RESOLVED, actor="op", now=at(62), note="")
    assert book.for_key(KEY) is second.alert and book.get(first.alert.id) is None
    # the new one, resolved: the key is free again
    book.move(second.alert.id, AlertState.RESOLVED, actor="op", now=at(63), note="")
    assert book.for_key(KEY) is None and len(book) == 0


def test_after_a_restart_the_key_goes_to_the_active_alert_or_the_newest() -> None:
    book, first, second = _cleared_then_new()
    for order in ((first, second), (second, first)):
        restored = _book()
        for change in order:
            restored.restore(book.get(change.alert.id))  # type: ignore[arg-type]
        assert restored.for_key(KEY) is book.get(second.alert.id)
    # a danger back after a restart, with no clear time kept: a new alert
    restored = _book()
    restored.restore(book.get(first.alert.id))  # type: ignore[arg-type]
    assert restored.apply(_signal(True), at(7)).change is Change.OPENED  # type: ignore[union-attr]


def test_closing_the_new_alert_hands_the_key_back_to_the_older_one_still_open() -> None:
    """The new outage's alert resolved while the older cleared one still awaits its operator: the
    key stands for the older one (it was dropped, as if no alert of the key were open)."""
    book, first, second = _cleared_then_new()
    book.apply(_signal(False), at(65))
    book.move(second.alert.id, AlertState.RESOLVED, actor="op", now=at(66), note="")
    assert book.for_key(KEY) is book.get(first.alert.id) is not None
