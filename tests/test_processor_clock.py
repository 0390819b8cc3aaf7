"""The property behind "alarms are never refused for their time", on both backends: whatever time an
alarm carries (any datetime, garbage included, in any offset, straight or through the native JSON
adapter), it is stored and raises its alert."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from vigil.adapters import native
from vigil.commands import Ingest, IngestOutcome, Touched, Write
from vigil.domain.alerts import AlertKey
from vigil.domain.model import ALARM_EVENTS, DeviceEvent, DeviceKind, EventKind, LegalBasis
from vigil.processor import Processor
from vigil.rules import device_health
from vigil.store import records
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = pytest.mark.both_backends  # times in any offset stored and read back

NOW = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)
_ids = itertools.count(1)

offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
any_time = st.builds(
    lambda naive, offset: naive.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999)),
    offsets.map(lambda d: timedelta(minutes=round(d.total_seconds() / 60))),
)
alarms = st.sampled_from(sorted(ALARM_EVENTS))


@pytest.fixture
def processor(database_url: str) -> Iterator[Processor]:
    """One writer for all the examples of a test (each example brings its own subject and device)."""
    engine = open_engine(database_url)
    found = Processor(engine, new_id=lambda: f"al-{next(_ids)}")
    found.load(NOW)
    yield found
    engine.dispose()


def _new_subject(processor: Processor) -> str:
    n = next(_ids)
    device = f"AM-{n}"

    def apply(conn: Connection, now: datetime) -> Touched:
        records.put_subject(conn, now, subject_id=f"S{n}", name="", legal_basis=LegalBasis.PAROLE)
        return records.put_device(
            conn, now, device_id=device, kind=DeviceKind.ANKLE_MONITOR, person_id=f"S{n}"
        )

    processor.run([Write(apply)], NOW)
    return device


def _stored_and_raised(processor: Processor, device: str, kind: EventKind, outcome: IngestOutcome) -> None:
    assert outcome.stored == 1 and outcome.errors == [], outcome
    with processor.db.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(t.device_events).where(t.device_events.c.device_id == device)
        ).scalar_one()
        assert rows == 1
    family, _ = device_health._RAISES[kind]
    person = processor.engine.devices[device].person_id
    assert person is not None
    alert = processor.engine.book.for_key(AlertKey(family, person, device))
    assert alert is not None and alert.active
    with processor.db.connect() as conn:
        assert conn.execute(select(t.alerts.c.id).where(t.alerts.c.id == alert.id)).first() is not None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claimed=any_time, kind=alarms, received_later_s=st.integers(0, 3600))
def test_an_alarm_with_any_time_is_stored_and_raises(
    processor: Processor, claimed: datetime, kind: EventKind, received_later_s: int
) -> None:
    device = _new_subject(processor)
    received = NOW + timedelta(seconds=received_later_s)
    (outcome,), _ = processor.run([Ingest([(0, DeviceEvent(device, claimed, kind))], received)], received)
    _stored_and_raised(processor, device, kind, outcome)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claimed=any_time, kind=alarms)
def test_an_alarm_with_any_time_through_the_native_adapter_is_stored_and_raises(
    processor: Processor, claimed: datetime, kind: EventKind
) -> None:
    device = _new_subject(processor)
    body = json.dumps(
        {"device": device, "at": claimed.isoformat(), "event": kind.value, "fix": {"lat": 37.5, "lon": 127.0}}
    )
    decoded = native.decode(body.encode(), NOW)
    (outcome,), _ = processor.run([Ingest(decoded.reports, NOW)], NOW)
    _stored_and_raised(processor, device, kind, outcome)


def test_a_retry_queued_in_the_same_batch_as_its_original_is_stored_once(processor: Processor) -> None:
    # A device that timed out sends again while its first request is still waiting for the writer:
    # both land in one batch. The claimed time is the key, as for any retry, whatever the receipt.
    device = _new_subject(processor)
    ahead = DeviceEvent(device, NOW + timedelta(minutes=7), EventKind.STRAP_CUT)
    on_time = DeviceEvent(device, NOW - timedelta(seconds=5), EventKind.CASE_OPEN)
    first = Ingest([(0, ahead), (1, on_time)], NOW)
    again = Ingest([(0, ahead), (1, on_time)], NOW + timedelta(seconds=10))
    (one, two), _ = processor.run([first, again], NOW + timedelta(seconds=10))
    assert (one.stored, one.duplicates, two.stored, two.duplicates) == (2, 0, 0, 2)
    with processor.db.connect() as conn:
        count = select(func.count()).select_from(t.device_events).where(t.device_events.c.device_id == device)
        assert conn.execute(count).scalar_one() == 2


def test_a_clock_steadily_three_hours_slow_is_judged_at_receipt_from_its_second_report(
    processor: Processor,
) -> None:
    """A monitor whose clock runs 3 h slow sends a fix a minute, each alone. The first could be a late
    report and is taken as one; from the second, the same lag again says the clock is slow: judged at
    receipt and stored with the claimed time as evidence (before: every live fix was judged 3 hours in
    the past, so an approach was never a violation). A batch upload is not a slow clock."""
    from vigil.domain.model import Fix

    device = _new_subject(processor)
    for minute in range(3):
        received = NOW + timedelta(minutes=minute)
        claimed = received - timedelta(hours=3)
        fix = Fix(device, claimed, 37.5, 127.0 + minute * 0.001, 10.0)
        processor.run([Ingest([(0, fix)], received)], received)
    with processor.db.connect() as conn:
        rows = conn.execute(
            select(t.fixes.c.time, t.fixes.c.device_time)
            .where(t.fixes.c.device_id == device)
            .order_by(t.fixes.c.id)
        ).all()
    assert [r.device_time is None for r in rows] == [True, False, False]
    assert rows[1].time == NOW + timedelta(minutes=1) and rows[2].time == NOW + timedelta(minutes=2)
    # an upload of three fixes of the last hour, all in one request: a backlog, not a slow clock
    other = _new_subject(processor)
    upload = [(i, Fix(other, NOW - timedelta(minutes=60 - i), 37.5, 127.0, 10.0)) for i in range(3)]
    processor.run([Ingest(upload, NOW + timedelta(minutes=3))], NOW + timedelta(minutes=3))
    with processor.db.connect() as conn:
        claimed = conn.execute(
            select(func.count())
            .select_from(t.fixes)
            .where(t.fixes.c.device_id == other, t.fixes.c.device_time.is_not(None))
        ).scalar_one()
    assert claimed == 0
