"""What makes a still-active alert worth a new line: a change dispatch acts on, not jitter."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.domain.alerts import Confidence, Facts, Position, _material

T = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)


def _pos(lat: float, lon: float, acc: float) -> Position:
    return Position(lat=lat, lon=lon, accuracy_m=acc, time=T, age_s=0.0)


def _facts(distance: float, tier: str | None, *, acc: float = 10.0, dlat: float = 0.0, **kw: object) -> Facts:
    return Facts(
        subject_position=_pos(37.5 + dlat, 127.0, acc),
        protected_position=_pos(37.49, 127.0, 10.0),
        distance_m=distance,
        confidence=Confidence.LIKELY,
        tier=tier,
        peak_tier=kw.get("peak", tier),  # type: ignore[arg-type]
    )


def test_into_or_out_of_the_violation_tier_is_material() -> None:
    assert _material(_facts(80, "violation"), _facts(80, "warning", peak="violation"))
    assert _material(_facts(300, "warning", peak="violation"), _facts(300, "violation"))
    assert _material(_facts(80, "violation"), _facts(80, None, peak="violation"))


def test_between_warning_and_apart_in_the_hold_is_not() -> None:
    assert not _material(_facts(900, "warning"), _facts(900, None, peak="warning"))
    # and wandering while apart in the hold is no news either
    assert not _material(_facts(1500, None, peak="warning"), _facts(3000, None, peak="warning", dlat=0.02))


def test_changes_within_the_positions_accuracy_are_not_material() -> None:
    # Wi-Fi neighbours 300 m apart: 150 m of jitter at 200 m accuracy
    assert not _material(_facts(300, "warning", acc=200), _facts(450, "warning", acc=200, dlat=0.0013))
    # a real approach with GNSS fixes: 225 m closer in 15 s
    assert _material(_facts(900, "warning", acc=10), _facts(675, "warning", acc=10, dlat=-0.002))


def test_distance_thresholds_grow_with_the_distance() -> None:
    assert _material(_facts(100, "violation"), _facts(70, "violation"))  # 30 m at 100 m
    assert not _material(_facts(1200, "warning"), _facts(1170, "warning"))  # 30 m at 1.2 km
    assert _material(_facts(1200, "warning"), _facts(1000, "warning"))  # 200 m at 1.2 km
