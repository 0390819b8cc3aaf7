"""What travels between edges and workers: reports on the log, steps and their answers. Round trips
keep every value; bytes no edge wrote are refused with a decoding error, never anything else."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.cluster import envelope, steps
from vigil.commands import Conflict, Move, NotFound, Refused, Unavailable
from vigil.domain.alerts import AlertState
from vigil.domain.model import DeviceEvent, EventKind, Fix, FixSource

times = st.integers(0, 10**9).map(lambda s: datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s))
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
fixes = st.builds(
    Fix,
    device_id=st.text(min_size=1, max_size=20),
    time=times,
    lat=finite,
    lon=finite,
    accuracy_m=st.none() | finite,
    speed_mps=st.none() | finite,
    heading_deg=st.none() | finite,
    source=st.sampled_from(FixSource),
    battery_pct=st.none() | finite,
)
events = st.builds(
    DeviceEvent,
    device_id=st.text(min_size=1, max_size=20),
    time=times,
    kind=st.sampled_from(EventKind),
    fix=st.none() | fixes,
    detail=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)


@given(st.lists(fixes | events, max_size=8), times, st.none() | st.text(max_size=10), st.booleans())
def test_reports_come_back_as_they_went(
    reports: list, received: datetime, only: str | None, vet: bool
) -> None:
    back = envelope.decode(envelope.encode(reports, received, only, vet))
    assert back.reports == reports
    assert (back.received_at, back.only_device, back.vet) == (received, only, vet)


@given(st.binary(max_size=200))
def test_bytes_no_edge_wrote_are_refused_as_such(data: bytes) -> None:
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        envelope.decode(data)
    with contextlib.suppress(ValueError):
        steps.decode(data)


@given(st.text(max_size=30), st.sampled_from(AlertState), st.text(max_size=30), st.text(max_size=30))
def test_a_step_comes_back_as_it_went(alert: str, state: AlertState, actor: str, note: str) -> None:
    move = Move(alert, state, actor, note)
    assert steps.decode(steps.encode(move, "_INBOX.x")) == (move, "_INBOX.x")


@pytest.mark.parametrize(
    "refusal", [Conflict("not open"), NotFound("no alert 'x'"), Refused("state", "bad"), Unavailable("later")]
)
def test_a_refusal_comes_back_with_its_status_field_and_reason(refusal: Exception) -> None:
    with pytest.raises(type(refusal)) as raised:
        steps.result_of(steps.answer(refusal))
    assert (raised.value.status, str(raised.value)) == (refusal.status, str(refusal))  # type: ignore[attr-defined]


@given(st.lists(fixes, max_size=6), st.lists(st.text(min_size=1, max_size=12), max_size=3), times)
def test_an_edge_nobody_watches_through_reads_only_the_commands(
    moved: list[Fix], devices: list[str], at: datetime
) -> None:
    """A change message read for its commands alone gives the commands the whole reading gives."""
    from vigil.cluster import bus
    from vigil.domain.model import CommandKind
    from vigil.processor import PositionUpdate, Published
    from vigil.store.device_commands import Queued

    commanded = [
        Queued(f"c{i}", d, i, CommandKind.SET_INTERVAL, {"seconds": "15"}, at) for i, d in enumerate(devices)
    ]
    published = Published(
        positions=[PositionUpdate(f"s-{i}", "subject", f) for i, f in enumerate(moved)], commanded=commanded
    )
    data = bus.encode(published)
    if data is None:
        assert not moved and not commanded
        return
    assert bus.decode_commanded(data) == bus.decode(data).commanded == commanded
