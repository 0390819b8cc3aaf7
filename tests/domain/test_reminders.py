"""The rule for reminders before an order ends (domain/reminders.py), property-tested: swept at any
times at all, every lead time an order's end passes is covered exactly once, no reminder goes for
an ended or lapsed order, and a reminder is always for the nearest lead time reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from vigil.config import Settings
from vigil.domain.reminders import LEAD_DAYS, due

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_nothing_before_the_first_lead_time_and_one_at_each():
    end = T0 + timedelta(days=20)
    assert due(T0, end, None, ()) is None
    at14 = due(end - timedelta(days=14), end, None, ())
    assert at14 is not None and (at14.lead_days, at14.covers, at14.days_left) == (14, (14,), 14)
    assert due(end - timedelta(days=10), end, None, (14,)) is None
    at3 = due(end - timedelta(days=2, hours=12), end, None, (14,))
    assert at3 is not None and (at3.lead_days, at3.covers, at3.days_left) == (3, (3,), 2)
    assert due(end - timedelta(hours=1), end, None, (14, 3)) is None


def test_no_end_ended_or_lapsed_is_never_due():
    end = T0 + timedelta(days=1)
    assert due(T0, None, None, ()) is None
    assert due(T0, end, T0, ()) is None
    assert due(end, end, None, ()) is None
    assert due(end + timedelta(seconds=1), end, None, ()) is None


def test_lead_times_that_make_no_sense_are_ignored():
    end = T0 + timedelta(days=1)
    assert due(T0, end, None, (), (0, -3)) is None
    found = due(T0, end, None, (), (7, 7, 0))
    assert found is not None and found.covers == (7,)


@given(
    leads=st.sets(st.integers(min_value=1, max_value=60), min_size=1, max_size=4),
    length_h=st.integers(min_value=1, max_value=90 * 24),
    steps_h=st.lists(st.integers(min_value=0, max_value=15 * 24), min_size=1, max_size=40),
)
def test_swept_at_any_times_each_passed_lead_time_is_covered_once(
    leads: set[int], length_h: int, steps_h: list[int]
) -> None:
    end = T0 + timedelta(hours=length_h)
    now = T0
    sent: list[int] = []
    messages = 0
    for step in steps_h:
        now += timedelta(hours=step)
        found = due(now, end, None, sent, leads)
        if found is None:
            continue
        messages += 1
        left = end - now
        reached = [d for d in leads if left <= timedelta(days=d)]
        assert found.lead_days == min(reached)  # the nearest reached, never a longer one
        assert set(found.covers) == set(reached) - set(sent)
        assert found.days_left == left.days >= 0
        sent.extend(found.covers)
    assert len(sent) == len(set(sent))  # each lead time once
    assert messages <= len(leads)
    if now < end:
        passed = {d for d in leads if end - now <= timedelta(days=d)}
        assert passed <= set(sent)  # none reached is left unsent after a sweep
    else:
        assert due(now, end, None, sent, leads) is None


def test_the_default_lead_times():
    assert LEAD_DAYS == (14, 3)


def test_lead_times_are_set_by_the_environment_and_checked(monkeypatch):
    monkeypatch.setenv("VIGIL_ORDER_REMINDER_DAYS", "3, 30,7")
    assert Settings().order_reminder_days == (30, 7, 3)
    monkeypatch.setenv("VIGIL_ORDER_REMINDER_DAYS", "[14,3]")
    assert Settings().order_reminder_days == (14, 3)
    for bad in ("0", "400", "soon"):
        monkeypatch.setenv("VIGIL_ORDER_REMINDER_DAYS", bad)
        with pytest.raises(ValidationError, match="order_reminder_days"):
            Settings()
