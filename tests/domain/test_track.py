"""Tracks per device, bounded by time, and the person's position fused from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.domain.model import Fix
from vigil.domain.track import Track, Whereabouts, fuse

T0 = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fx(device: str, seconds: float, lat: float = 37.5, acc: float | None = 10.0) -> Fix:
    return Fix(device, at(seconds), lat, 127.0, accuracy_m=acc)


def test_a_track_keeps_a_window_of_time_and_says_what_it_no_longer_holds() -> None:
    track = Track("d")
    for t in range(0, 3600, 60):
        assert track.add(fx("d", t), keep_s=1200, keep_n=100)
    assert track.history[0].time == at(3540 - 1200)
    assert not track.complete
    assert track.answers(at(3000)) and not track.answers(at(2000))
    assert track.at(at(3030)) == fx("d", 3000)


def test_a_track_that_never_dropped_anything_answers_for_any_time() -> None:
    track = Track("d")
    track.add(fx("d", 600))
    assert track.answers(at(0))  # nothing before its first fix: it had none
    assert track.at(at(0)) is None


def test_the_count_cap_bounds_a_fast_reporting_device() -> None:
    track = Track("d")
    for t in range(100):
        track.add(fx("d", t), keep_s=1200, keep_n=32)
    assert len(track.history) == 32
    assert not track.answers(at(10))


def test_an_old_fix_is_not_held_by_a_track_that_dropped_what_came_before_it() -> None:
    track = Track("d")
    for t in range(0, 3600, 60):
        track.add(fx("d", t), keep_s=1200, keep_n=100)
    assert not track.add(fx("d", 30), keep_s=1200, keep_n=100)  # the store holds that time
    assert track.add(fx("d", 3030), keep_s=1200, keep_n=100)  # inside the window: held in order
    assert track.before(fx("d", 3060)) == fx("d", 3030)


def test_a_repeated_instant_is_not_held_twice() -> None:
    track = Track("d")
    assert track.add(fx("d", 0))
    assert not track.add(fx("d", 0, lat=38.0))
    assert track.holds(at(0)) and not track.holds(at(1))


def test_fusion_prefers_a_current_body_worn_device_over_a_fresher_phone() -> None:
    ankle, phone = fx("ankle", 0), fx("phone", 50)
    assert fuse([(ankle, True), (phone, False)]) is ankle
    # the body-worn device silent for more than 15 minutes: the phone is all there is
    assert fuse([(ankle, True), (fx("phone", 1000), False)]).device_id == "phone"  # type: ignore[union-attr]


def test_fusion_among_equally_fresh_fixes_takes_the_most_accurate() -> None:
    watch, ankle = fx("watch", 20, acc=25.0), fx("ankle", 0, acc=5.0)
    assert fuse([(watch, True), (ankle, True)]) is ankle
    assert fuse([(fx("watch", 100, acc=25.0), True), (ankle, True)]).device_id == "watch"  # type: ignore[union-attr]


def test_the_live_position_never_moves_back_in_time() -> None:
    her = Whereabouts("p")
    assert her.add(fx("phone", 120), worn=False) == (True, True)
    # her watch's fix from before, received late: held in its own track, not made live
    assert her.add(fx("watch", 30), worn=True) == (True, False)
    assert her.latest == fx("phone", 120)
    assert her.add(fx("watch", 150), worn=True) == (True, True)
    assert her.at(at(60)) == fx("watch", 30)


def test_a_device_taken_away_no_longer_places_its_person() -> None:
    him = Whereabouts("s")
    him.add(fx("ankle", 0), worn=True)
    him.add(fx("phone", 10, lat=38.0), worn=False)
    assert him.latest is not None and him.latest.device_id == "ankle"
    assert him.drop("ankle")
    assert him.latest is not None and him.latest.device_id == "phone"


def test_speed_is_never_derived_across_devices() -> None:
    him = Whereabouts("s")
    him.add(fx("ankle", 0), worn=True)
    him.add(fx("phone", 30, lat=37.6), worn=False)
    assert him.before(fx("ankle", 60)) == fx("ankle", 0)
    assert him.before(fx("phone", 60)) == fx("phone", 30, lat=37.6)


def test_the_past_from_the_store_completes_memory_for_one_batch() -> None:
    her = Whereabouts("p")
    for t in range(0, 3600, 60):
        her.add(fx("w", t, lat=37.5 + t / 1e5), worn=True, keep_s=1200, keep_n=100)
    assert not her.answers(at(600))
    stored = [fx("w", t, lat=37.5 + t / 1e5) for t in range(0, 1200, 60)]
    recalled = her.with_past(stored, lambda _: True)
    assert recalled.answers(at(600))
    assert recalled.at(at(610)) == fx("w", 600, lat=37.506)
    assert len(her.devices["w"].history) == 21  # memory itself is unchanged
