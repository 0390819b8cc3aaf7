"""Which reports of a batch are followed by a newer fix of their device (processor `_followed`):
those the engine judges at their own time only, not against where the partner is now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.model import DeviceEvent, EventKind, Fix, Report
from vigil.processor import _followed, _in_time_order

AT = datetime(2026, 12, 7, tzinfo=UTC)


def _fix(device: str, minute: int) -> Fix:
    return Fix(device, AT + timedelta(minutes=minute), 37.5, 127.0, 10.0)


def test_a_late_uploads_older_fixes_are_followed_and_its_newest_is_not() -> None:
    reports: list[tuple[int, Report]] = [
        (0, _fix("AM-1", 1)),
        (1, _fix("W-1", 5)),  # another device's: its own batch of one
        (2, _fix("AM-1", 2)),
        (3, DeviceEvent("AM-1", AT, EventKind.STRAP_CUT)),  # no fix: neither follows nor is followed
        (4, DeviceEvent("AM-1", AT + timedelta(minutes=3), EventKind.SOS, _fix("AM-1", 3))),
        (5, _fix("AM-1", 0)),  # older than what came before it: judged late by the engine anyway
    ]
    assert _followed(reports) == {0, 2}


def test_a_resend_of_the_same_instant_does_not_follow() -> None:
    assert _followed([(0, _fix("AM-1", 1)), (1, _fix("AM-1", 1))]) == set()


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 6)), max_size=12))
def test_followed_means_a_later_report_of_the_device_is_newer(batch: list[tuple[str, int]]) -> None:
    reports: list[tuple[int, Report]] = [
        (i, _fix(device, minute)) for i, (device, minute) in enumerate(batch)
    ]
    expected = {
        i
        for i, (device, minute) in enumerate(batch)
        if any(d == device and m > minute for d, m in batch[i + 1 :])
    }
    assert _followed(reports) == expected


# --- a device's reports judged in the order they were measured (processor `_in_time_order`) ---------


def test_an_upload_sent_newest_first_is_judged_oldest_first() -> None:
    """A store-and-forward device that uploads its backlog newest first: its reports are judged in
    the order measured, in the places its reports held; the other devices' stay where they were."""
    reports: list[tuple[int, Report]] = [
        (0, _fix("AM-1", 3)),
        (1, _fix("W-1", 9)),
        (2, _fix("AM-1", 2)),
        (3, DeviceEvent("AM-1", AT + timedelta(minutes=1), EventKind.STRAP_CUT)),
        (4, _fix("W-1", 8)),
    ]
    ordered = _in_time_order(reports)
    assert [index for index, _ in ordered] == [3, 4, 2, 0, 1]
    assert _followed(list(ordered)) == {2, 4}  # each device's older fixes (the strap cut has none)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 6)), max_size=12))
def test_time_order_keeps_every_report_and_each_devices_places(batch: list[tuple[str, int]]) -> None:
    reports: list[tuple[int, Report]] = [
        (i, _fix(device, minute)) for i, (device, minute) in enumerate(batch)
    ]
    ordered = list(_in_time_order(reports))
    assert sorted(index for index, _ in ordered) == list(range(len(batch)))
    assert [r.device_id for _, r in ordered] == [r.device_id for _, r in reports]
    for device in ("a", "b", "c"):
        times = [r.time for _, r in ordered if r.device_id == device]
        assert times == sorted(times)
