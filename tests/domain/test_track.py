"""Tracks per device, bounded by time, and the person's position fused from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.domain import geo
from vigil.domain.model import Fix, FixSource
from vigil.domain.track import WORN_CURRENT_S, Track, Whereabouts, fuse

T0 = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)

WORN = WORN_CURRENT_S  # a body-worn device's standing, at the usual reporting rates


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
    assert fuse([(ankle, WORN), (phone, 0.0)]) is ankle
    # the body-worn device silent for more than 15 minutes: the phone is all there is
    assert fuse([(ankle, WORN), (fx("phone", 1000), 0.0)]).device_id == "phone"  # type: ignore[union-attr]


def test_fusion_among_equally_fresh_fixes_takes_the_most_accurate() -> None:
    watch, ankle = fx("watch", 20, acc=25.0), fx("ankle", 0, acc=5.0)
    assert fuse([(watch, WORN), (ankle, WORN)]) is ankle
    assert fuse([(fx("watch", 100, acc=25.0), WORN), (ankle, WORN)]).device_id == "watch"  # type: ignore[union-attr]


def test_the_live_position_never_moves_back_in_time() -> None:
    her = Whereabouts("p")
    assert her.add(fx("phone", 120), worn=0.0) == (True, True)
    # her watch's fix from before, received late: held in its own track, not made live
    assert her.add(fx("watch", 30), worn=WORN) == (True, False)
    assert her.latest == fx("phone", 120)
    assert her.add(fx("watch", 150), worn=WORN) == (True, True)
    assert her.at(at(60)) == fx("watch", 30)


def test_a_device_taken_away_no_longer_places_its_person() -> None:
    him = Whereabouts("s")
    him.add(fx("ankle", 0), worn=WORN)
    him.add(fx("phone", 10, lat=38.0), worn=0.0)
    assert him.latest is not None and him.latest.device_id == "ankle"
    assert him.drop("ankle")
    assert him.latest is not None and him.latest.device_id == "phone"


def test_speed_is_never_derived_across_devices() -> None:
    him = Whereabouts("s")
    him.add(fx("ankle", 0), worn=WORN)
    him.add(fx("phone", 30, lat=37.6), worn=0.0)
    assert him.before(fx("ankle", 60)) == fx("ankle", 0)
    assert him.before(fx("phone", 60)) == fx("phone", 30, lat=37.6)


def test_the_past_from_the_store_completes_memory_for_one_batch() -> None:
    her = Whereabouts("p")
    for t in range(0, 3600, 60):
        her.add(fx("w", t, lat=37.5 + t / 1e5), worn=WORN, keep_s=1200, keep_n=100)
    assert not her.answers(at(600))
    stored = [fx("w", t, lat=37.5 + t / 1e5) for t in range(0, 1200, 60)]
    recalled = her.with_past(stored, lambda _: WORN)
    assert recalled.answers(at(600))
    assert recalled.at(at(610)) == fx("w", 600, lat=37.506)
    assert len(her.devices["w"].history) == 21  # memory itself is unchanged


# --- where a man at rest is (Track.kept) -----------------------------------------------------------

_K0 = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
_LAT, _LON = 37.636, 127.2165
_M_PER_DEG_LON = 88_066.0  # at this latitude


def _east(
    device: str,
    seconds: float,
    metres: float,
    acc: float,
    *,
    speed_mps: float | None = None,
    source: FixSource = FixSource.GNSS,
) -> Fix:
    at = _K0 + timedelta(seconds=seconds)
    lon = _LON + metres / _M_PER_DEG_LON
    return Fix(device, at, _LAT, lon, accuracy_m=acc, speed_mps=speed_mps, source=source)


def _kept(track: Track, fix: Fix) -> Fix | None:
    return track.kept(fix, window_s=600.0, walk_mps=1.5, moving_mps=1.0)


def test_a_standstill_then_wifi_fixes_give_a_position_near_the_standstill() -> None:
    t = Track("AM")
    t.add(_east("AM", 0, 0.0, 40.0, speed_mps=0.0, source=FixSource.GNSS))
    t.add(_east("AM", 15, 240.0, 150.0, source=FixSource.WIFI))
    last = _east("AM", 30, 320.0, 190.0, source=FixSource.WIFI)
    t.add(last)
    kept = _kept(t, last)
    assert kept is not None and kept.time == last.time and kept.source is FixSource.GNSS
    moved = geo.distance_m(_LAT, _LON, kept.lat, kept.lon)
    assert 0.0 < moved < 60.0  # the Wi-Fi fixes pull it a little, not 300 m
    assert kept.accuracy_m is not None and kept.accuracy_m < 60.0


def test_no_standstill_a_move_or_a_fix_beyond_both_discs_gives_none() -> None:
    plain = Track("AM")
    plain.add(_east("AM", 0, 0.0, 40.0, source=FixSource.GNSS))  # no speed measured: no standstill
    wifi = _east("AM", 15, 100.0, 150.0, source=FixSource.WIFI)
    plain.add(wifi)
    assert _kept(plain, wifi) is None
    walking = Track("AM")
    walking.add(_east("AM", 0, 0.0, 40.0, speed_mps=0.0, source=FixSource.GNSS))
    walking.add(_east("AM", 10, 15.0, 10.0, speed_mps=1.6, source=FixSource.GNSS))  # measured moving
    late = _east("AM", 20, 60.0, 150.0, source=FixSource.WIFI)
    walking.add(late)
    assert _kept(walking, late) is None
    far = Track("AM")
    far.add(_east("AM", 0, 0.0, 20.0, speed_mps=0.0, source=FixSource.GNSS))
    jump = _east("AM", 15, 900.0, 150.0, source=FixSource.WIFI)  # beyond 2 x (20 + 22 + 150)
    far.add(jump)
    assert _kept(far, jump) is None
    old = Track("AM")
    old.add(_east("AM", 0, 0.0, 20.0, speed_mps=0.0, source=FixSource.GNSS))
    later = _east("AM", 601, 50.0, 150.0, source=FixSource.WIFI)  # the standstill is too old
    old.add(later)
    assert _kept(old, later) is None


def test_the_estimate_loosens_at_walking_pace_so_a_slow_walk_is_followed() -> None:
    """A man who walks off slowly with no GNSS fix: after minutes, his Wi-Fi fixes outweigh the old
    standstill and the estimate follows them."""
    t = Track("AM")
    t.add(_east("AM", 0, 0.0, 30.0, speed_mps=0.0, source=FixSource.GNSS))
    fix = None
    for k in range(1, 9):
        fix = _east("AM", 60 * k, 70.0 * k, 120.0, source=FixSource.WIFI)  # 1.2 m/s east
        t.add(fix)
    assert fix is not None
    kept = _kept(t, fix)
    assert kept is not None
    assert geo.distance_m(_LAT, _LON, kept.lat, kept.lon) > 400.0  # he is ~560 m on, not at the start


def test_a_slow_body_worn_device_stands_for_its_wearer_for_two_of_its_intervals() -> None:
    """A monitor reporting every 40 minutes is current for 80 after its fix (engine `_worn_s`): the
    phone left at home, fresher between its reports, does not take its place."""
    ankle, phone = fx("ankle", 0), fx("phone", 30 * 60, lat=38.0)
    assert fuse([(ankle, 2 * 40 * 60.0), (phone, 0.0)]) is ankle
    assert fuse([(ankle, WORN), (phone, 0.0)]) is phone  # at the usual 15 minutes it would lose
    assert fuse([(ankle, 2 * 40 * 60.0), (fx("phone", 81 * 60), 0.0)]).device_id == "phone"  # type: ignore[union-attr]
