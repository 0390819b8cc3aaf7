"""Physical plausibility of a reported position against the person's believed ones: written once, in
the pure centre, for every device. Speed, jump, accuracy and time, each with its reason."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain import geo
from vigil.domain.model import Fix
from vigil.domain.plausibility import REASON_MAX, DoubtKind, Limits, judge

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOME = (37.60, 127.20)
LIMITS = Limits()  # devices: late fixes are judged against their neighbours
APP = Limits(allow_earlier=False)  # her app: the server stamps the time, so it only moves forward


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fix(seconds: float, metres: float = 0.0, bearing: float = 0.0, acc: float | None = 10.0) -> Fix:
    lat, lon = geo.destination(*HOME, bearing, metres)
    return Fix("PH-1", at(seconds), lat, lon, acc)


def test_with_nothing_believed_yet_anywhere_is_plausible() -> None:
    assert judge([], fix(0, 8000), APP) is None


def test_walking_and_driving_are_plausible() -> None:
    assert judge([fix(0)], fix(10, 15), APP) is None  # walking
    assert judge([fix(0)], fix(10, 300), APP) is None  # 108 km/h on a motorway
    assert judge([fix(0)], fix(10, 850), APP) is None  # the KTX at 305 km/h


def test_a_teleport_is_doubted_with_the_figures() -> None:
    doubt = judge([fix(0)], fix(5, 8000), APP)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED
    assert "7980 m beyond both accuracies in 5 s" in doubt.reason
    assert doubt.reason.startswith("speed: ") and "km/h" in doubt.reason
    assert len(doubt.reason) <= REASON_MAX


def test_both_accuracies_are_allowed_for() -> None:
    # 1.5 km in 10 s is 540 km/h, but each fix may be 800 m off: nothing needs more than 0 m/s
    assert judge([fix(0, acc=800)], fix(10, 1500, acc=800), APP) is None
    assert judge([fix(0, acc=5)], fix(10, 1500, acc=5), APP) is not None


def test_a_fix_without_accuracy_is_taken_as_a_phones_usual() -> None:
    assert judge([fix(0, acc=None)], fix(1, 150, acc=None), APP) is None  # 90 m beyond 60 m in 1 s
    doubt = judge([fix(0, acc=None)], fix(1, 200, acc=None), APP)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED


def test_an_absurd_or_invalid_accuracy_is_doubted() -> None:
    for acc in (5_001.0, 100_000.0, math.inf, math.nan, -1.0):
        doubt = judge([], fix(0, acc=acc), APP)
        assert doubt is not None and doubt.kind is DoubtKind.ACCURACY, acc
    assert judge([], fix(0, acc=5_000), APP) is None


def test_a_place_not_on_earth_is_doubted() -> None:
    for lat, lon in ((91.0, 0.0), (0.0, 181.0), (math.nan, 0.0), (0.0, math.inf)):
        doubt = judge([], Fix("PH-1", T0, lat, lon, 10.0), APP)
        assert doubt is not None and doubt.kind is DoubtKind.PLACE


def test_two_places_at_one_instant_is_a_jump() -> None:
    doubt = judge([fix(0)], fix(0, 500), LIMITS)
    assert doubt is not None and doubt.kind is DoubtKind.JUMP
    assert judge([fix(0)], fix(0, 15), LIMITS) is None  # the same place, within the accuracies


def test_time_only_moves_forward_for_the_app() -> None:
    doubt = judge([fix(0), fix(60)], fix(30, 0), APP)
    assert doubt is not None and doubt.kind is DoubtKind.TIME
    assert "30 s before the latest trusted position" in doubt.reason


def test_a_late_fix_from_a_device_is_judged_between_its_neighbours() -> None:
    believed = [fix(0), fix(60, 600)]
    assert judge(believed, fix(30, 300), LIMITS) is None  # on the way
    doubt = judge(believed, fix(30, 6000, 180), LIMITS)  # neither before nor after explains it
    assert doubt is not None and doubt.kind is DoubtKind.SPEED


def test_every_recent_believed_position_binds_not_only_the_last() -> None:
    # The accuracy trick: a coarse report at the target passes against home (its disc is wide)...
    home, target = fix(0, acc=5), 5_000.0
    coarse = fix(5, target, acc=5_000)
    assert judge([home], coarse, APP) is None
    # ...but a fine report at the target five seconds later is still measured against home.
    doubt = judge([home, coarse], fix(10, target, acc=5), APP)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED


def test_a_believed_position_older_than_the_window_binds_nothing() -> None:
    # after a flight, or a phone left off: the first report is plausible wherever it is
    assert judge([fix(0)], fix(3_601, 450_000), APP) is None
    assert judge([fix(0)], fix(3_000, 450_000), APP) is not None


@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=1, max_value=600),  # seconds
            st.floats(min_value=0, max_value=0.99),  # fraction of the top speed
            st.floats(min_value=0, max_value=359.99),  # bearing
            st.one_of(st.none(), st.floats(min_value=0, max_value=5_000)),  # accuracy
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_journey_within_the_top_speed_is_believed(
    steps: list[tuple[float, float, float, float | None]],
) -> None:
    """Moving no faster than the limit never makes a position doubted, whatever the accuracies:
    between any two believed positions the straight line is no longer than the path."""
    believed = [fix(0)]
    lat, lon, seconds = *HOME, 0.0
    for dt, fraction, bearing, acc in steps:
        lat, lon = geo.destination(lat, lon, bearing, dt * fraction * APP.max_speed_mps)
        seconds += dt
        new = Fix("PH-1", at(seconds), lat, lon, acc)
        assert judge(believed, new, APP) is None
        believed.append(new)


@given(
    seconds=st.floats(min_value=1, max_value=3_000),
    acc=st.floats(min_value=0, max_value=2_000),
    excess=st.floats(min_value=1.01, max_value=50),
    bearing=st.floats(min_value=0, max_value=359.99),
)
def test_beyond_the_top_speed_and_both_accuracies_is_always_doubted(
    seconds: float, acc: float, excess: float, bearing: float
) -> None:
    metres = 2 * acc + APP.max_speed_mps * seconds * excess
    if metres > 19_000_000:  # past the antipode a destination comes back closer
        return
    doubt = judge([fix(0, acc=acc)], fix(seconds, metres, bearing, acc=acc), APP)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED
