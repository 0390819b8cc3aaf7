"""The load against the guideline, and when an order is reminded of (domain/caseload.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.domain.caseload import FIELD_AVERAGE, GUIDELINE, expiry, load

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_the_load_is_read_against_the_guideline_and_the_field_average() -> None:
    assert (GUIDELINE, FIELD_AVERAGE) == (10, 21.6)
    assert load(10).over_guideline is False and load(10).ratio == 1.0
    at_average = load(22)
    assert at_average.over_guideline and at_average.over_field_average and at_average.ratio == 2.2
    assert load(0).ratio == 0.0


def test_an_order_is_reminded_of_within_the_window_and_never_once_ended() -> None:
    soon = expiry(NOW, None, NOW + 10 * DAY, None)
    assert soon.in_force and soon.expires_soon and soon.days_left == 10
    assert expiry(NOW, None, NOW + 14 * DAY, None).expires_soon  # the last day of the window
    assert not expiry(NOW, None, NOW + 15 * DAY, None).expires_soon
    assert expiry(NOW, None, NOW + 20 * DAY, None, within_days=30).expires_soon
    assert expiry(NOW, None, NOW + DAY / 2, None).days_left == 0  # today
    open_ended = expiry(NOW, NOW - DAY, None, None)
    assert open_ended.in_force and open_ended.days_left is None and not open_ended.expires_soon
    lapsed = expiry(NOW, None, NOW - DAY, None)
    assert not lapsed.in_force and not lapsed.expires_soon
    ended = expiry(NOW, None, NOW + 3 * DAY, NOW - DAY)
    assert not ended.in_force and not ended.expires_soon
    not_yet = expiry(NOW, NOW + DAY, NOW + 5 * DAY, None)
    assert not not_yet.in_force and not_yet.expires_soon  # granted, starting tomorrow, short
