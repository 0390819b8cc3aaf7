"""What a protected person may see of him: decided here, and only here. Property-tested over random
positions: coordinates (or a direction) never leave the server beyond the order's view distance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain import geo
from vigil.domain.victim_view import Limits, Near, Sighting, Status, Warning, status, view

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HER = Sighting(37.6360, 127.2165, NOW)
LIMITS = Limits(violation_m=100, warning_m=1000, view_m=600)


def him_at(metres: float, bearing: float = 0.0, **extra: object) -> Sighting:
    lat, lon = geo.destination(HER.lat, HER.lon, bearing, metres)
    return Sighting(lat, lon, NOW - timedelta(seconds=20), **extra)  # type: ignore[arg-type]


def test_near_shows_position_heading_and_direction() -> None:
    shown = view(HER, him_at(400, 90, heading_deg=270, speed_mps=1.4), LIMITS, NOW)
    assert isinstance(shown, Near)
    assert shown.distance_m == 400 and shown.compass == "E" and shown.heading_deg == 270
    assert shown.age_s == 20 and not shown.danger


def test_inside_the_violation_distance_is_danger() -> None:
    shown = view(HER, him_at(60), LIMITS, NOW)
    assert isinstance(shown, Near) and shown.danger
    assert status([shown], open_violation=False, open_warning=False) is Status.DANGER


def test_between_view_and_warning_only_a_band() -> None:
    shown = view(HER, him_at(800), LIMITS, NOW)
    assert shown == Warning(600, 1000)
    assert status([shown], open_violation=False, open_warning=False) is Status.NEARBY


def test_beyond_the_warning_distance_nothing() -> None:
    assert view(HER, him_at(2000), LIMITS, NOW) is None
    assert status([None], open_violation=False, open_warning=False) is Status.SAFE


def test_unknown_positions_show_nothing_but_open_alerts_still_count() -> None:
    assert view(None, him_at(50), LIMITS, NOW) is None
    assert view(HER, None, LIMITS, NOW) is None
    assert status([None], open_violation=True, open_warning=False) is Status.DANGER
    assert status([None], open_violation=False, open_warning=True) is Status.NEARBY


def test_a_smaller_view_set_by_the_order_is_honoured() -> None:
    narrow = Limits(violation_m=100, warning_m=1000, view_m=300)
    assert isinstance(view(HER, him_at(400), narrow, NOW), Warning)


@given(
    distance=st.floats(min_value=0, max_value=20_000),
    bearing=st.floats(min_value=0, max_value=359.99),
    view_m=st.floats(min_value=0, max_value=2_000),
    warning_extra=st.floats(min_value=0, max_value=5_000),
)
def test_coordinates_never_go_beyond_the_view(
    distance: float, bearing: float, view_m: float, warning_extra: float
) -> None:
    limits = Limits(violation_m=min(100, view_m), warning_m=view_m + warning_extra, view_m=view_m)
    him = him_at(distance, bearing)
    shown = view(HER, him, limits, NOW)
    true_distance = geo.distance_m(HER.lat, HER.lon, him.lat, him.lon)
    if isinstance(shown, Near):
        assert true_distance <= view_m
    else:
        # No coordinates, no direction, no distance: a Warning carries the order's band only.
        assert shown is None or (shown.band_from_m, shown.band_to_m) == (int(view_m), int(limits.warning_m))
        assert not hasattr(shown, "lat") and not hasattr(shown, "bearing_deg")
        if true_distance > limits.warning_m:
            assert shown is None
