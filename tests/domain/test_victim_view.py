"""What a protected person may see of him: decided here, and only here. Property-tested over random
positions: coordinates (or a direction) never leave the server beyond the order's view distance, and
beyond it the answer depends only on his grid cell (tests/rules/test_rules_victim_localisation.py
runs whole sequences through the engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain import geo
from vigil.domain.victim_view import (
    MIN_CELL_M,
    Limits,
    Near,
    Offender,
    Sighting,
    Status,
    Warning,
    answer,
    cell_of,
    cell_size_m,
    distance_to_cell_m,
    status,
    view,
)

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
    assert status([shown]) is Status.DANGER


def test_between_view_and_warning_only_a_band() -> None:
    shown = view(HER, him_at(800), LIMITS, NOW)
    assert shown == Warning(600, 1000)
    assert status([shown]) is Status.NEARBY


def test_beyond_the_warning_distance_nothing() -> None:
    assert view(HER, him_at(2000), LIMITS, NOW) is None
    assert status([None]) is Status.SAFE


def test_unknown_positions_show_nothing_but_her_sos_and_an_unplaced_violation_count() -> None:
    assert view(None, him_at(50), LIMITS, NOW) is None
    assert view(HER, None, LIMITS, NOW) is None
    assert status([None], alarm=True) is Status.DANGER
    assert answer(HER, [Offender(None, LIMITS, violation_open=True)], False, NOW).status is Status.DANGER
    assert (
        answer(None, [Offender(him_at(50), LIMITS, violation_open=True)], False, NOW).status is Status.DANGER
    )
    assert answer(HER, [Offender(him_at(5000), LIMITS)], sos_open=True, now=NOW).status is Status.DANGER


def test_an_open_violation_makes_him_a_danger_only_within_her_view() -> None:
    """The rules judge violations on exact positions, leaning on accuracy: beyond her view, an open
    one would tell her he is within the violation distance plus the accuracies."""
    near = answer(HER, [Offender(him_at(350), LIMITS, violation_open=True)], False, NOW)
    assert near.status is Status.DANGER and isinstance(near.views[0], Near) and near.views[0].danger
    narrow = Limits(violation_m=100, warning_m=1000, view_m=100)
    beyond = answer(HER, [Offender(him_at(350), narrow, violation_open=True)], False, NOW)
    assert beyond.status is Status.NEARBY and beyond.views == (Warning(100, 1000),)


def test_an_open_warning_alert_is_not_read() -> None:
    """Old code: an open proximity_warning (judged on his exact position) set "nearby" on its own; the
    band is now decided from his cell, and the answer has no input for a warning alert at all."""
    assert answer(HER, [Offender(him_at(5000), LIMITS)], False, NOW).status is Status.SAFE


def test_beyond_her_view_the_band_is_decided_on_his_cell_leaning_to_warn() -> None:
    # 1.2 km away, beyond the warning distance, but his cell reaches inside it: warned
    for bearing in range(0, 360, 5):
        him = him_at(1200, bearing)
        cell = cell_of(him.lat, him.lon, cell_size_m(LIMITS))
        reach = distance_to_cell_m(HER.lat, HER.lon, cell)
        shown = view(HER, him, LIMITS, NOW)
        assert (shown == Warning(600, 1000)) == (reach <= 1000), bearing
    # within the warning distance he is always warned of: the cell's nearest point is nearer still
    assert all(isinstance(view(HER, him_at(990, b), LIMITS, NOW), Warning) for b in range(0, 360, 5))


def test_a_violation_distance_beyond_the_view_is_danger_from_the_cell() -> None:
    wide = Limits(violation_m=800, warning_m=1500, view_m=300)
    shown = view(HER, him_at(700), wide, NOW)
    assert isinstance(shown, Warning) and shown.danger
    assert status([shown]) is Status.DANGER
    # with the usual distances (violation inside the view) a band is never a danger
    assert not any(
        isinstance(v, Warning) and v.danger
        for v in (view(HER, him_at(d), LIMITS, NOW) for d in range(601, 1900, 20))
    )


def test_cells_are_at_least_the_view_across_and_never_smaller_than_the_floor() -> None:
    assert cell_size_m(LIMITS) == 600
    assert cell_size_m(Limits(100, 1000, 0)) == MIN_CELL_M
    cell = cell_of(HER.lat, HER.lon, 600)
    south_north = geo.distance_m(cell.south, cell.west, cell.north, cell.west)
    west_east = geo.distance_m(cell.north, cell.west, cell.north, cell.west + cell.width)  # poleward edge
    assert south_north >= 599.9 and west_east >= 599.9
    assert distance_to_cell_m(HER.lat, HER.lon, cell) == 0


@given(
    lat=st.floats(min_value=-89.9, max_value=89.9),
    lon=st.floats(min_value=-180, max_value=179.999),
    size=st.floats(min_value=MIN_CELL_M, max_value=5_000),
)
def test_a_place_lies_in_its_cell(lat: float, lon: float, size: float) -> None:
    cell = cell_of(lat, lon, size)
    assert cell.south <= lat <= cell.north
    assert distance_to_cell_m(lat, lon, cell) < 1e-6


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
        # Nothing at all once even the nearest point of his cell is beyond the warning distance; the
        # band leans toward warning by at most the cell's diagonal.
        reach = distance_to_cell_m(HER.lat, HER.lon, cell_of(him.lat, him.lon, cell_size_m(limits)))
        assert (shown is None) == (reach > limits.warning_m)
        if true_distance > limits.warning_m + cell_size_m(limits) * 1.5:
            assert shown is None
        if true_distance <= limits.warning_m:
            assert shown is not None
