"""The JSON codecs for zones and schedules are parsers too: anything at all gives a valid object or a
CodecError naming where, never another exception; valid objects survive a round trip."""

from __future__ import annotations

from datetime import UTC, time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.alerts import Confidence, Facts, Position
from vigil.domain.model import Circle, ClockDoubt, ClockSuspect, Polygon, Schedule, ScheduleWindow, Weekday
from vigil.store.codec import (
    CodecError,
    facts_from_json,
    facts_json,
    plain,
    schedule_from_json,
    schedule_to_json,
    shape_from_json,
    shape_to_json,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
shape_like = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"circle": st.dictionaries(st.sampled_from(["lat", "lon", "radius_m"]), json_values)}
    ),
    st.fixed_dictionaries({"polygon": st.lists(st.lists(json_values, max_size=3), max_size=6)}),
)


@given(shape_like)
def test_any_shape_json_parses_or_names_the_fault(data: Any) -> None:
    try:
        shape = shape_from_json(data)
    except CodecError as exc:
        assert exc.path.startswith("shape")
        assert exc.reason
    else:
        assert shape_from_json(shape_to_json(shape)) == shape


@given(json_values, st.sampled_from(["Asia/Seoul", "Europe/Berlin", "Nowhere/City", ""]))
def test_any_schedule_json_parses_or_names_the_fault(data: Any, zone: str) -> None:
    try:
        schedule = schedule_from_json(data, zone)
    except CodecError as exc:
        assert exc.path.startswith(("schedule", "timezone"))
    else:
        assert schedule_from_json(schedule_to_json(schedule)["windows"], zone) == schedule  # type: ignore[index]


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0.5, 100_000),
)
def test_circles_round_trip(lat: float, lon: float, radius: float) -> None:
    circle = Circle(lat, lon, radius)
    assert shape_from_json(shape_to_json(circle)) == circle


def test_a_curfew_schedule_round_trips() -> None:
    windows = [{"days": ["mon", "fri"], "start": "22:00", "end": "06:00"}]
    schedule = schedule_from_json(windows, "Asia/Seoul")
    expected = ScheduleWindow(frozenset({Weekday.MON, Weekday.FRI}), time(22), time(6))
    assert schedule == Schedule((expected,), "Asia/Seoul")
    assert schedule_to_json(schedule) == {"timezone": "Asia/Seoul", "windows": windows}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"circle": {"lat": 91, "lon": 0, "radius_m": 5}}, "shape.circle.lat"),
        ({"circle": {"lat": 0, "lon": 0, "radius_m": 0}}, "shape.circle.radius_m"),
        ({"polygon": [[0, 0], [1, 1], [0, 0]]}, "shape.polygon"),
        ({"polygon": [[0, 0], [1, 1], [2, "x"]]}, "shape.polygon[2].lat"),
        ({"square": {}}, "shape"),
    ],
)
def test_faults_are_named(data: Any, path: str) -> None:
    with pytest.raises(CodecError) as caught:
        shape_from_json(data)
    assert caught.value.path == path


def test_polygon_keeps_geojson_order() -> None:
    polygon = shape_from_json({"polygon": [[127.1, 37.5], [127.2, 37.5], [127.2, 37.6]]})
    assert polygon == Polygon(((127.1, 37.5), (127.2, 37.5), (127.2, 37.6)))


@given(
    st.builds(
        Facts,
        subject_position=st.none() | st.builds(Position, time=st.datetimes(timezones=st.just(UTC))),
        distance_m=st.none() | st.floats(0, 1e6),
        confidence=st.none() | st.sampled_from(Confidence),
        stale=st.lists(st.sampled_from(["subject", "protected_person"]), max_size=2).map(tuple),
        occurred_at=st.none() | st.datetimes(timezones=st.just(UTC)),
        clock_suspect=st.none()
        | st.builds(
            ClockSuspect,
            st.sampled_from(ClockDoubt),
            st.datetimes(timezones=st.just(UTC)),
            st.datetimes(timezones=st.just(UTC)),
        ),
    )
)
def test_the_fast_facts_writer_agrees_with_the_generic_one(facts: Facts) -> None:
    assert facts_json(facts) == plain(facts)
    assert facts_from_json(facts_json(facts)) == facts
