"""The metrics collector (vigil/metrics.py) and the counts behind it (vigil/tally.py) without HTTP:
scrapes taken while the writer thread opens and closes alerts, labels that no sender can multiply,
and the copy of the engine's open alerts when the writer resizes the book under it. The endpoint and
who may read it: tests/api/test_api_metrics.py."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from itertools import count
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vigil import bootstrap, metrics
from vigil.adapters import InputError
from vigil.commands import Ingest, IngestOutcome, Move, Write
from vigil.config import Settings
from vigil.domain.alerts import AlertKind, AlertState
from vigil.domain.model import DeviceEvent, DeviceKind, EventKind, LegalBasis
from vigil.store import records
from vigil.store.database import open_engine
from vigil.tally import Traffic, writer_reason

NOW = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)
PEOPLE = 150


def _wearer(conn: Any, now: datetime, *, n: int) -> Any:
    records.put_subject(conn, now, subject_id=f"S{n}", name="", legal_basis=LegalBasis.PAROLE)
    return records.put_device(
        conn, now, device_id=f"AM-{n}", kind=DeviceKind.ANKLE_MONITOR, person_id=f"S{n}"
    )


def _open_tampers(samples: str) -> float:
    for family in text_string_to_metric_families(samples):
        for sample in family.samples:
            if sample.name == "vigil_alerts_open" and sample.labels["kind"] == AlertKind.TAMPER.value:
                return sample.value
    raise AssertionError("no vigil_alerts_open for tamper")


def test_scrapes_while_the_writer_opens_and_closes_alerts(database_url: str) -> None:
    db = open_engine(database_url)
    ids = count(1)
    services = bootstrap.build(
        db, Settings.of(database_url=database_url), lambda: NOW, lambda: f"a-{next(ids)}"
    )
    registry = metrics.registry(services)
    runner = services.runner
    runner.start()
    try:
        for future in [runner.submit(Write(partial(_wearer, n=n))) for n in range(PEOPLE)]:
            future.result(timeout=30)
        done = threading.Event()
        opened: list[str] = []

        def writer_side() -> None:
            # one command at a time: the book grows and shrinks by one between scrapes
            for n in range(PEOPLE):
                cut = DeviceEvent(f"AM-{n}", NOW, EventKind.STRAP_CUT)
                runner.submit(Ingest([(0, cut)], NOW)).result(timeout=30)
            opened.extend(alert.id for alert in services.processor.engine.book)
            for alert_id in opened[: PEOPLE // 2]:
                runner.submit(Move(alert_id, AlertState.RESOLVED, actor="test", note="done")).result(
                    timeout=30
                )
            done.set()

        thread = threading.Thread(target=writer_side)
        thread.start()
        scrapes, seen = 0, set()
        while not done.is_set():
            seen.add(_open_tampers(generate_latest(registry).decode()))
            scrapes += 1
        thread.join()
        assert len(opened) == PEOPLE
        assert _open_tampers(generate_latest(registry).decode()) == PEOPLE - PEOPLE // 2
        assert scrapes > 1, seen  # read while it moved
        assert runner.failed == 0
        text = generate_latest(registry).decode()
        raised = [
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "vigil_alerts_raised_total" and s.labels == {"kind": "tamper", "how": "opened"}
        ]
        assert raised == [PEOPLE]  # counted on the writer thread as each batch is handed off
    finally:
        runner.stop()
        services.close()
        db.dispose()


class _Book:
    """An AlertBook whose copy is broken by the writer `breaks` times first."""

    def __init__(self, breaks: int) -> None:
        self.breaks = breaks

    def __iter__(self) -> Any:
        if self.breaks:
            self.breaks -= 1
            raise RuntimeError("dictionary changed size during iteration")
        return iter(())


class _Services:
    def __init__(self, book: _Book) -> None:
        self.processor = type("P", (), {"engine": type("E", (), {"book": book})()})()


def test_a_copy_broken_by_the_writer_is_taken_again_then_left_out() -> None:
    assert metrics._open_alerts(_Services(_Book(metrics.COPY_TRIES - 1))) == []  # type: ignore[arg-type]
    assert metrics._open_alerts(_Services(_Book(metrics.COPY_TRIES))) is None  # type: ignore[arg-type]


def test_gateway_reasons_are_bounded_per_channel() -> None:
    refusals: Counter[tuple[str, str]] = Counter()
    for n in range(1000):  # a sender making up a new reason with every frame
        refusals[("gt06", f"garbage ({n} bytes)")] += 1
    refusals[("teltonika", "bad CRC")] += 2
    bounded = metrics._bounded(refusals)
    assert len([k for k in bounded if k[0] == "gt06"]) == metrics.MAX_REASONS
    assert sum(v for k, v in bounded.items() if k[0] == "gt06") == 1000
    assert bounded[("teltonika", "bad CRC")] == 2


def test_http_refusals_never_quote_the_input() -> None:
    traffic = Traffic()
    quoted = [
        InputError(0, "messages[0].fix.lat", "not a number: 'DROP TABLE'"),
        InputError(None, "body", "x" * 500),
    ]
    traffic.rejected("http", quoted)
    writer = [
        InputError(1, "messages[1].device", "unknown device"),
        InputError(2, "messages[2].device", "this token may post only for its own device"),
        InputError(3, "messages[3].at", "the time is garbage"),
    ]
    traffic.took("http", 4, IngestOutcome(stored=1, errors=writer))
    assert set(traffic.refused) == {("http", "invalid message"), ("http", "malformed body")}
    assert set(traffic.channels["http"].refused) == {
        "unknown device",
        "not its own device",
        "time not believable",
    }
    assert writer_reason(InputError(0, "messages[0].x", "anything else")) == "refused"
    assert (traffic.channels["http"].received, traffic.channels["http"].stored) == (4, 1)
