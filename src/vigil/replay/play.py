"""A checked scenario run through the real ingest -> engine -> alert path on a virtual clock.

The registry is written in a fresh temporary database with the real store functions, every message
passes through the real native adapter and the processor, and between arrivals the clock runs every
engine deadline at its own virtual time. The parts are wired by `bootstrap.build`, as the server's
are; only the clock is the replay's own.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, event, func, select

from vigil import bootstrap
from vigil.adapters import InputError, native
from vigil.commands import DispatchCommand, Ingest, IngestOutcome, Refusal, Tick, Write
from vigil.config import Settings
from vigil.domain.alerts import AlertChange, Change, Position
from vigil.domain.model import ClockSuspect, Report
from vigil.processor import Processor
from vigil.replay.scenario import MessageSpec, Scenario, ScenarioError, load, parse
from vigil.runner import utc_now
from vigil.store import records
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

EXIT_OK = 0
EXIT_BAD_FILE = 2
EXIT_UNDELIVERED = 3

# Alert changes the engine makes; the lifecycle steps people take never happen in a replay.
ENGINE_CHANGES = frozenset({Change.OPENED, Change.UPDATED, Change.ESCALATED, Change.CLEARED})
# The virtual clock stops at `until`: no acknowledgement can come and no alarm falls due while the
# outbox drains, so neither escalation nor the fallback channel runs in a replay.
FOREVER_S = 10 * 365 * 86_400.0


@dataclass(slots=True)
class Outcome:
    """What a replay said, in order: alert lines (stdout) and refusals (stderr)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    modes: list[dict[str, Any]] = field(default_factory=list)  # pursuit mode's changes
    pushed: int = 0  # pushes staged for dispatch (one per change and target)
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    # both, interleaved as they happened: (True for an alert line, the line)
    lines: list[tuple[bool, dict[str, Any]]] = field(default_factory=list)

    def alert(self, line: dict[str, Any]) -> None:
        self.alerts.append(line)
        self.lines.append((True, line))

    def refusal(self, line: dict[str, Any]) -> None:
        self.refusals.append(line)
        self.lines.append((False, line))

    def pursuit(self, line: dict[str, Any]) -> None:
        """A device asked to report fast, or back to normal (stderr, beside the refusals)."""
        self.modes.append(line)
        self.lines.append((False, line))


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Where a replay pushes its alerts (the VIGIL_DISPATCH_URL target), and how long it waits."""

    url: str
    secret: str
    timeout_s: float = 30.0
    sender: str = "vigil@localhost"
    source: str = "/vigil"


@dataclass(slots=True)
class VirtualClock:
    """The replay's time: where the last judgement ran."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _registry(scenario: Scenario) -> list[Write]:
    """The registry as the REST edge would write it, one store call per record."""
    writes: list[Callable[..., Any]] = []
    for p in scenario.subjects:
        writes.append(
            functools.partial(records.put_subject, subject_id=p.id, name=p.name, legal_basis=p.legal_basis)
        )
    for p in scenario.protected_persons:
        writes.append(functools.partial(records.put_protected_person, person_id=p.id, name=p.name))
    for p in (*scenario.subjects, *scenario.protected_persons):
        for d in p.devices:
            writes.append(
                functools.partial(
                    records.put_device,
                    device_id=d.id,
                    kind=d.kind,
                    person_id=p.id,
                    silence_limit_s=d.silence_limit_s,
                    location_limit_s=d.location_limit_s,
                    report_interval_s=d.report_interval_s,
                    ble_tag=d.ble_tag,
                )
            )
    for o in scenario.orders:
        writes.append(
            functools.partial(
                records.put_order,
                order_id=o.id,
                subject_id=o.subject,
                protected_person_id=o.protected_person,
                violation_distance_m=o.violation_distance_m,
                warning_distance_m=o.warning_distance_m,
                legal_basis=o.legal_basis,
                valid_from=o.valid_from,
                valid_until=o.valid_until,
                zones=o.zones,
            )
        )
    for z in scenario.zones:
        writes.append(functools.partial(records.put_zone, subject_id=z.subject, spec=z.zone))
    return [Write(apply) for apply in writes]


def _batches(messages: Sequence[MessageSpec]) -> Iterator[list[MessageSpec]]:
    """Messages that arrive at the same instant travel together, as one request would carry them."""
    for _, group in itertools.groupby(messages, key=lambda m: m.received_at):
        yield list(group)


def _iso(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds")


def alert_line(change: AlertChange, tz: ZoneInfo) -> dict[str, Any]:
    """One output line: the contract's keys first, then what else the alert says."""
    alert, facts = change.alert, change.alert.facts
    return {
        "at": _iso(change.at, tz),
        "alert": alert.id,
        "kind": alert.kind.value,
        "change": change.change.value,
        "subject": alert.subject_id,
        "protected_person": alert.protected_person_id,
        "zone": alert.zone_id,
        "distance_m": facts.distance_m,
        "late": alert.late,
        "order": alert.order_id,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "active": alert.active,
        "confidence": None if facts.confidence is None else facts.confidence.value,
        "bearing_deg": facts.bearing_deg,
        "compass": facts.compass,
        "closing_speed_mps": facts.closing_speed_mps,
        "time_to_contact_s": facts.time_to_contact_s,
        "stale": list(facts.stale),
        "zone_label": facts.zone_label,
        "device": facts.device_id,
        "event": facts.event,
        "occurred_at": None if facts.occurred_at is None else _iso(facts.occurred_at, tz),
        "clock_suspect": _clock_suspect(facts.clock_suspect, tz),
        "tier": facts.tier,
        "peak_tier": facts.peak_tier,
        "inferred": facts.inferred,
        "evidence": [_evidence(p, tz) for p in facts.evidence],
        "unconfirmed": facts.unconfirmed,
        "ble": facts.ble,
        "incident": alert.incident_id,
    }


def _evidence(position: Position, tz: ZoneInfo) -> dict[str, Any]:
    """A fix an alert rests on: where, how sure, and when it was measured."""
    return {
        "lat": position.lat,
        "lon": position.lon,
        "accuracy_m": position.accuracy_m,
        "time": _iso(position.time, tz),
    }


def _clock_suspect(mark: ClockSuspect | None, tz: ZoneInfo) -> dict[str, str] | None:
    """The device's time was not believed: why, what it said, and when it arrived."""
    if mark is None:
        return None
    return {
        "doubt": mark.doubt.value,
        "device_time": _iso(mark.device_time, tz),
        "received_at": _iso(mark.received_at, tz),
    }


class _Replay:
    def __init__(
        self, scenario: Scenario, processor: Processor, clock: VirtualClock, outcome: Outcome
    ) -> None:
        self.scenario = scenario
        self.processor = processor
        self.virtual = clock
        self.outcome = outcome
        self.tz = ZoneInfo(scenario.timezone)

    def run(self) -> None:
        scenario = self.scenario
        self.judge([*_registry(scenario)], scenario.start)
        for batch in _batches(scenario.messages):
            arrival = batch[0].received_at
            self.clock(arrival, before=True)
            self.deliver(batch, arrival)
        self.clock(scenario.until)

    def clock(self, until: datetime, *, before: bool = False) -> None:
        """Run every deadline due by `until` (`before`: due before it), each at exactly its own time.
        Before a batch, a deadline at the batch's own arrival waits for it: a report that arrives
        exactly when its silence limit runs out is on time (a device reporting every 300 s on the
        dot opened and cleared a signal_loss in the same second at every report)."""
        while (due := self.processor.engine.next_deadline()) is not None and (
            due < until or (due == until and not before)
        ):
            self.judge([Tick()], due)
        self.virtual.now = until

    def deliver(self, batch: list[MessageSpec], arrival: datetime) -> None:
        reports: list[tuple[int, Report]] = []
        for message in batch:
            body = json.dumps([message.body]).encode()
            decoded = native.decode(body, arrival)
            reports += [(message.index, report) for _, report in decoded.reports]
            for error in decoded.errors:
                self.refuse(message, error, kept=bool(decoded.reports))
        if not reports:
            return
        by_index = {m.index: m for m in batch}
        for result in self.judge([Ingest(reports, arrival)], arrival):
            if isinstance(result, IngestOutcome):
                for error in result.errors:
                    if error.index is not None and error.index in by_index:
                        self.refuse(by_index[error.index], error, kept=False)

    def refuse(self, message: MessageSpec, error: InputError, *, kept: bool) -> None:
        where = f"$.messages[{message.index}]"
        field_path = re.sub(r"^messages\[\d+\]", "", error.field) if error.field != native.BODY else ""
        self.outcome.refusal(
            {
                "refused": "part" if kept else "message",
                "path": where + field_path,
                "reason": error.reason,
                "at": _iso(message.received_at, self.tz),
                "device": message.body.get("device"),
            }
        )

    def judge(self, commands: list[Write | Ingest | Tick], now: datetime) -> list[Any]:
        self.virtual.now = now
        results, published = self.processor.run(commands, now)
        for result in results:
            if isinstance(result, Refusal):
                raise ScenarioError([f"$: the registry refused the scenario: {result}"])
        for change in published.alerts:
            if change.change in ENGINE_CHANGES:
                self.outcome.alert(alert_line(change, self.tz))
        for mode in published.modes:
            self.outcome.pursuit(
                {
                    "at": _iso(mode.at, self.tz),
                    "pursuit": "on" if mode.pursuit else "off",
                    "device": mode.device_id,
                    "reason": mode.reason,
                }
            )
        return results


def _no_sync(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def settings_for(scenario: Scenario, database_url: str, dispatch: Dispatch | None) -> Settings:
    """The server's settings for a replay: the documented defaults (whatever the environment says,
    so a file gives the same lines on every machine), in the file's time zone, pushing to `dispatch`."""
    values: dict[str, Any] = {"database_url": database_url, "timezone": scenario.timezone}
    if dispatch is not None:
        values |= {
            "dispatch_url": dispatch.url,
            "dispatch_secret": dispatch.secret,
            "dispatch_sender": dispatch.sender,
            "dispatch_source": dispatch.source,
            "dispatch_backoff_s": 0.2,
            "dispatch_backoff_max_s": 2.0,
            "dispatch_alarm_after_s": FOREVER_S,
            "dispatch_ack_timeout_s": FOREVER_S,
        }
    return Settings.of(**values)


def simulate(scenario: Scenario, dispatch: Dispatch | None = None) -> Outcome:
    """Replay a parsed scenario in a fresh temporary database; with `dispatch`, push its alerts and
    wait for the outbox to drain."""
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="vigil-replay-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        db = open_engine(url)
        # A throwaway database need not survive a power cut: skip the fsync at every commit.
        event.listen(db, "connect", _no_sync)
        try:
            migrate(db)
            settings = settings_for(scenario, url, dispatch)
            bootstrap.prepare(db, settings, scenario.start)  # the dispatch target, if any
            clock = VirtualClock(scenario.start)
            alerts, incidents = itertools.count(1), itertools.count(1)
            services = bootstrap.build(
                db,
                settings,
                clock,
                lambda: f"a-{next(alerts)}",
                new_incident_id=lambda: f"i-{next(incidents)}",
            )
            try:
                _Replay(scenario, services.processor, clock, outcome).run()
                if dispatch is not None:
                    outcome.undelivered = asyncio.run(
                        _drain(db, settings, services.processor, scenario.until, dispatch.timeout_s)
                    )
                    outcome.pushed = _count(db, t.deliveries)
            finally:
                services.close()
        finally:
            db.dispose()
    return outcome


async def _drain(
    db: Engine, settings: Settings, processor: Processor, until: datetime, timeout_s: float
) -> list[dict[str, Any]]:
    """Deliver what the replay staged, in order, until all is delivered or the time is up; returns
    what is left. The writer is the replay's processor, still at `until`; the deliverer waits on
    real time between retries."""

    def submit(command: DispatchCommand) -> Future[Any]:
        done: Future[Any] = Future()
        result = processor.run([command], until)[0][0]
        if isinstance(result, Refusal):  # as the server's runner answers it
            done.set_exception(result)
        else:
            done.set_result(result)
        return done

    async with httpx.AsyncClient(trust_env=False) as client:
        deliverer = bootstrap.make_deliverer(db, settings, submit, client, utc_now)
        await deliverer.start()
        left = await deliverer.drain(timeout_s)
        await deliverer.stop()
    with db.connect() as conn:
        errors = dict(
            conn.execute(
                select(t.deliveries.c.id, t.deliveries.c.last_error).where(
                    t.deliveries.c.state != "delivered"
                )
            ).all()
        )
    return [
        {
            "undelivered": p.event_id,
            "alert": p.alert_id,
            "target": p.target_id,
            "error": errors.get(p.delivery_id) or "not tried: waiting behind an earlier push about the alert",
        }
        for p in left
    ]


def _count(db: Engine, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert lines a scenario document produces; raises ScenarioError for a bad document."""
    return simulate(parse(scenario)).alerts


def main(
    path: str | Path,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    dispatch: Dispatch | None = None,
) -> int:
    """Replay the file and print one JSON line per alert change; 2 if the file is not a scenario.
    With `dispatch`, the alerts are pushed too, and 3 means some pushes were left undelivered."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        outcome = simulate(parse(load(path)), dispatch)
    except ScenarioError as exc:
        for problem in exc.errors:
            print(problem, file=err)
        return EXIT_BAD_FILE
    for is_alert, line in outcome.lines:
        print(json.dumps(line, ensure_ascii=False), file=out if is_alert else err, flush=True)
    if dispatch is None:
        return EXIT_OK
    for line in outcome.undelivered:
        print(json.dumps(line, ensure_ascii=False), file=err)
    summary = {"pushed": outcome.pushed, "undelivered": len(outcome.undelivered), "target": dispatch.url}
    print(json.dumps({"dispatch": summary}), file=err, flush=True)
    return EXIT_UNDELIVERED if outcome.undelivered else EXIT_OK
