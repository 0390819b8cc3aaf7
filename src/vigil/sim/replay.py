"""`vigil replay FILE.json`: a scenario run through the real ingest -> engine -> alert path.

The file names the people, their devices, the orders and zones, and what the devices sent and when
it arrived. The replay builds the registry in a fresh temporary database with the real store
functions, passes every message through the real native adapter and the processor, and runs a
virtual clock between arrivals so that time-driven alerts (silence, curfew boundaries, orders
starting or ending) fire at their own virtual time. Each alert change is one JSON line on stdout.

    {"timezone": "Asia/Seoul",
     "subjects": [{"id": "S1", "devices": ["AM-1"]}],
     "protected_persons": [{"id": "P1", "devices": ["W-1"]}],
     "orders": [{"id": "O1", "subject": "S1", "protected_person": "P1",
                 "violation_distance_m": 100, "warning_distance_m": 1000,
                 "zones"?: [{"label"?: "home", "circle": {...}} | {"polygon": [[lon, lat], ...]}],
                 "legal_basis"?: "other", "valid_from"?: time, "valid_until"?: time}],
     "zones"?: [{"id": "Z1", "subject": "S1", "kind"?: "exclusion" | "inclusion",
                 "circle" | "polygon": ..., "label"?: "", "schedule"?: [{"days", "start", "end"}]}],
     "messages": [{"at": time, "received_at"?: time, "device": "AM-1", "fix"?: {...}, "event"?: "..."}],
     "until": time}

Times are ISO 8601 with an offset. A device is a plain id (ankle monitor for a subject, smartwatch
for a protected person) or {"id", "kind"?, "silence_limit_s"?, "location_limit_s"?,
"report_interval_s"?}. Unknown keys are ignored.

Errors in the file stop the replay before it starts, each named by its JSON path (exit 2). A
message the adapter or the processor refuses is reported on stderr as a JSON line and the replay
carries on, as the live system would.
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
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlalchemy import event, func, select

from vigil.adapters import InputError, native
from vigil.commands import DispatchCommand, Ingest, IngestOutcome, Refusal, Tick, Write
from vigil.dispatch.deliverer import Deliverer, DeliverySettings
from vigil.dispatch.fallback import LogFallback
from vigil.dispatch.outbox import Outbox, OutboxSettings, Pending
from vigil.dispatch.routing import Target
from vigil.dispatch.targets import load_targets, sync_env_target
from vigil.domain.alerts import AlertChange, Change, Position
from vigil.domain.model import ClockSuspect, DeviceKind, LegalBasis, Report, Schedule, Shape, ZoneKind
from vigil.processor import Processor
from vigil.runner import utc_now
from vigil.store import records
from vigil.store import tables as t
from vigil.store.codec import CodecError, reject_constant, schedule_from_json, shape_from_json
from vigil.store.database import migrate, open_engine

EXIT_OK = 0
EXIT_BAD_FILE = 2
EXIT_UNDELIVERED = 3

# The registry API's rule for identifiers, so a scenario can describe only what the REST edge accepts.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_VIOLATION_M = 100_000.0
MAX_WARNING_M = 200_000.0
MAX_SILENCE_S = 86_400.0

# Alert changes the engine makes; the lifecycle steps people take never happen in a replay.
ENGINE_CHANGES = frozenset({Change.OPENED, Change.UPDATED, Change.ESCALATED, Change.CLEARED})


class ScenarioError(ValueError):
    """The file does not describe a scenario; `errors` holds every problem as "path: reason"."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


# --- the scenario, typed ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    id: str
    kind: DeviceKind
    silence_limit_s: float | None = None
    location_limit_s: float | None = None
    report_interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class PersonSpec:
    id: str
    name: str
    devices: tuple[DeviceSpec, ...]
    legal_basis: LegalBasis = LegalBasis.OTHER  # subjects only


@dataclass(frozen=True, slots=True)
class OrderSpec:
    id: str
    subject: str
    protected_person: str
    violation_distance_m: float
    warning_distance_m: float
    legal_basis: LegalBasis
    valid_from: datetime | None
    valid_until: datetime | None
    zones: tuple[records.ZoneSpec, ...]


@dataclass(frozen=True, slots=True)
class SubjectZoneSpec:
    subject: str
    zone: records.ZoneSpec


@dataclass(frozen=True, slots=True)
class MessageSpec:
    index: int  # position in the file's "messages"
    received_at: datetime
    body: dict[str, Any]  # the message as a device sent it (without received_at)


@dataclass(frozen=True, slots=True)
class Scenario:
    timezone: str
    subjects: tuple[PersonSpec, ...]
    protected_persons: tuple[PersonSpec, ...]
    orders: tuple[OrderSpec, ...]
    zones: tuple[SubjectZoneSpec, ...]
    messages: tuple[MessageSpec, ...]  # in arrival order: (received_at, index)
    until: datetime

    @property
    def start(self) -> datetime:
        """When the registry comes into being: the first arrival (or `until` if nothing arrives)."""
        return self.messages[0].received_at if self.messages else self.until


# --- parsing ------------------------------------------------------------------------------------------


_E = TypeVar("_E", LegalBasis, ZoneKind, DeviceKind)


class _Missing:
    pass


MISSING = _Missing()


class _Parser:
    """Reads the untyped document, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.claimed: dict[str, dict[str, str]] = {}  # what -> id -> the path that used it first

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: {reason}")

    def claim(self, ident: str, path: str, what: str) -> bool:
        """Record that `path` uses `ident` as a `what`; False (reported) if it is already taken."""
        taken = self.claimed.setdefault(what, {})
        if ident in taken:
            self.fail(path, f"{what} {ident!r} is already used at {taken[ident]}")
            return False
        taken[ident] = path
        return True

    # generic fields

    def get(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> Any:
        """obj[key]; MISSING (reported when required) if absent. Null counts as absent."""
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "missing")
            return MISSING
        return value

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return None
        return value

    def items(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> list[Any]:
        value = self.get(obj, key, path, required=required)
        if value is MISSING:
            return []
        if not isinstance(value, list):
            self.fail(f"{path}.{key}", "must be an array")
            return []
        return value

    def ident(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        value = self.get(obj, key, path)
        if value is MISSING:
            return None
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            self.fail(f"{path}.{key}", "must be an id of 1..64 letters, digits, '.', '_' or '-'")
            return None
        return value

    def text(self, obj: dict[str, Any], key: str, path: str, default: str = "") -> str:
        value = self.get(obj, key, path, required=False)
        if value is MISSING:
            return default
        if not isinstance(value, str) or len(value) > 200:
            self.fail(f"{path}.{key}", "must be a string of at most 200 characters")
            return default
        return value

    def number(
        self, obj: dict[str, Any], key: str, path: str, high: float, *, required: bool = True
    ) -> float | None:
        """A number above 0 and at most `high`."""
        value = self.get(obj, key, path, required=required)
        if value is MISSING:
            return None
        number = native.finite(value)
        if number is None:
            self.fail(f"{path}.{key}", "must be a finite number")
            return None
        if not 0 < number <= high:
            self.fail(f"{path}.{key}", f"must be above 0 and at most {high:g}")
            return None
        return number

    def time(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> datetime | None:
        """An ISO 8601 time with an offset, by the native protocol's own rules; aware UTC."""
        value = self.get(obj, key, path, required=required)
        if value is MISSING:
            return None
        try:
            return native.message_time(value, key)
        except native.Refused as refused:
            self.fail(f"{path}.{key}", refused.reason)
            return None

    def choice(self, obj: dict[str, Any], key: str, path: str, enum: type[_E], default: _E) -> _E:
        value = self.get(obj, key, path, required=False)
        if value is MISSING:
            return default
        try:
            return enum(value)
        except ValueError:
            self.fail(f"{path}.{key}", "must be one of " + ", ".join(e.value for e in enum))
            return default

    # domain parts

    def shape(self, obj: dict[str, Any], path: str) -> Shape | None:
        if "circle" in obj and "polygon" in obj:
            self.fail(path, "must have only one of 'circle' or 'polygon'")
            return None
        try:
            return shape_from_json(obj, path)
        except CodecError as exc:
            self.fail(exc.path, exc.reason)
            return None

    def schedule(self, obj: dict[str, Any], path: str, timezone: str) -> Schedule | None:
        windows = self.get(obj, "schedule", path, required=False)
        if windows is MISSING:
            return None
        try:
            return schedule_from_json(windows, timezone, f"{path}.schedule")
        except CodecError as exc:
            self.fail(exc.path, exc.reason)
            return None

    def zone(
        self, raw: Any, path: str, zone_id: str | None, kind: ZoneKind | None, timezone: str
    ) -> records.ZoneSpec | None:
        """A zone's own fields; `kind` None means the file says (default exclusion)."""
        obj = self.obj(raw, path)
        if obj is None:
            return None
        if kind is None:
            kind = self.choice(obj, "kind", path, ZoneKind, ZoneKind.EXCLUSION)
        elif self.choice(obj, "kind", path, ZoneKind, kind) is not kind:
            self.fail(f"{path}.kind", f"an order's zones are always {kind.value}")
        label = self.text(obj, "label", path)
        shape = self.shape(obj, path)
        schedule = self.schedule(obj, path, timezone)
        if zone_id is None or shape is None:
            return None
        return records.ZoneSpec(id=zone_id, kind=kind, shape=shape, label=label, schedule=schedule)


def _time_zone(parser: _Parser, doc: dict[str, Any]) -> str:
    value = parser.get(doc, "timezone", "$")
    if value is MISSING:
        return "UTC"
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return value
    parser.fail("$.timezone", f"unknown time zone {value!r} (an IANA name such as 'Asia/Seoul')")
    return "UTC"


def _people(
    parser: _Parser, doc: dict[str, Any], key: str, device_kind: DeviceKind
) -> tuple[PersonSpec, ...]:
    people: list[PersonSpec] = []
    for i, raw in enumerate(parser.items(doc, key, "$")):
        path = f"$.{key}[{i}]"
        obj = parser.obj(raw, path)
        if obj is None:
            continue
        person_id = parser.ident(obj, "id", path)
        if person_id is not None and not parser.claim(person_id, f"{path}.id", "person id"):
            person_id = None
        legal_basis = LegalBasis.OTHER
        if device_kind is DeviceKind.ANKLE_MONITOR:  # subjects are under some legal measure
            legal_basis = parser.choice(obj, "legal_basis", path, LegalBasis, LegalBasis.OTHER)
        name = parser.text(obj, "name", path, default=person_id or "")
        own: list[DeviceSpec] = []
        for j, item in enumerate(parser.items(obj, "devices", path)):
            device = _device(parser, item, f"{path}.devices[{j}]", device_kind)
            if device is not None:
                own.append(device)
        if person_id is not None:
            people.append(PersonSpec(person_id, name, tuple(own), legal_basis))
    return tuple(people)


def _device(parser: _Parser, raw: Any, path: str, default_kind: DeviceKind) -> DeviceSpec | None:
    if isinstance(raw, str):
        obj: dict[str, Any] = {"id": raw}
        id_path = path
    else:
        found = parser.obj(raw, path)
        if found is None:
            return None
        obj, id_path = found, f"{path}.id"
    device_id = obj.get("id")
    if not isinstance(device_id, str) or not ID_PATTERN.fullmatch(device_id):
        parser.fail(id_path, "must be a device id of 1..64 letters, digits, '.', '_' or '-'")
        return None
    kind = parser.choice(obj, "kind", path, DeviceKind, default_kind)
    silence = parser.number(obj, "silence_limit_s", path, MAX_SILENCE_S, required=False)
    location = parser.number(obj, "location_limit_s", path, MAX_SILENCE_S, required=False)
    interval = parser.number(obj, "report_interval_s", path, MAX_SILENCE_S, required=False)
    if not parser.claim(device_id, id_path, "device"):
        return None
    return DeviceSpec(device_id, kind, silence, location, interval)


def _orders(
    parser: _Parser, doc: dict[str, Any], subjects: set[str], protected: set[str], timezone: str
) -> tuple[OrderSpec, ...]:
    orders: list[OrderSpec] = []
    for i, raw in enumerate(parser.items(doc, "orders", "$")):
        path = f"$.orders[{i}]"
        obj = parser.obj(raw, path)
        if obj is None:
            continue
        order_id = parser.ident(obj, "id", path)
        if order_id is not None and not parser.claim(order_id, f"{path}.id", "order id"):
            order_id = None
        subject = parser.ident(obj, "subject", path)
        if subject is not None and subject not in subjects:
            parser.fail(f"{path}.subject", f"no subject {subject!r} in $.subjects")
        person = parser.ident(obj, "protected_person", path)
        if person is not None and person not in protected:
            parser.fail(f"{path}.protected_person", f"no protected person {person!r} in $.protected_persons")
        violation = parser.number(obj, "violation_distance_m", path, MAX_VIOLATION_M)
        warning = parser.number(obj, "warning_distance_m", path, MAX_WARNING_M)
        if violation is not None and warning is not None and warning < violation:
            parser.fail(f"{path}.warning_distance_m", "must be at least violation_distance_m")
        legal_basis = parser.choice(obj, "legal_basis", path, LegalBasis, LegalBasis.OTHER)
        valid_from = parser.time(obj, "valid_from", path, required=False)
        valid_until = parser.time(obj, "valid_until", path, required=False)
        if valid_from is not None and valid_until is not None and valid_until <= valid_from:
            parser.fail(f"{path}.valid_until", "must be after valid_from")
        zones: list[records.ZoneSpec] = []
        for n, zone_raw in enumerate(parser.items(obj, "zones", path, required=False), start=1):
            zone_path = f"{path}.zones[{n - 1}]"
            zone_id = None if order_id is None else f"{order_id}.z{n}"
            if zone_id is not None and not parser.claim(zone_id, f"{zone_path} (id {zone_id})", "zone id"):
                zone_id = None
            spec = parser.zone(zone_raw, zone_path, zone_id, ZoneKind.EXCLUSION, timezone)
            if spec is not None:
                zones.append(spec)
        if (
            order_id is not None
            and subject in subjects
            and person in protected
            and violation is not None
            and warning is not None
        ):
            orders.append(
                OrderSpec(
                    id=order_id,
                    subject=subject,
                    protected_person=person,
                    violation_distance_m=violation,
                    warning_distance_m=warning,
                    legal_basis=legal_basis,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    zones=tuple(zones),
                )
            )
    return tuple(orders)


def _zones(
    parser: _Parser, doc: dict[str, Any], subjects: set[str], timezone: str
) -> tuple[SubjectZoneSpec, ...]:
    found: list[SubjectZoneSpec] = []
    for i, raw in enumerate(parser.items(doc, "zones", "$", required=False)):
        path = f"$.zones[{i}]"
        obj = parser.obj(raw, path)
        if obj is None:
            continue
        zone_id = parser.ident(obj, "id", path)
        if zone_id is not None and not parser.claim(zone_id, f"{path}.id", "zone id"):
            zone_id = None
        subject = parser.ident(obj, "subject", path)
        if subject is not None and subject not in subjects:
            parser.fail(f"{path}.subject", f"no subject {subject!r} in $.subjects")
        spec = parser.zone(obj, path, zone_id, None, timezone)
        if spec is not None and subject in subjects:
            assert subject is not None
            found.append(SubjectZoneSpec(subject, spec))
    return tuple(found)


def _messages(
    parser: _Parser, doc: dict[str, Any], devices: dict[str, str], until: datetime | None
) -> tuple[MessageSpec, ...]:
    found: list[MessageSpec] = []
    for i, raw in enumerate(parser.items(doc, "messages", "$")):
        path = f"$.messages[{i}]"
        obj = parser.obj(raw, path)
        if obj is None:
            continue
        device = parser.get(obj, "device", path)
        if device is not MISSING and (not isinstance(device, str) or device not in devices):
            parser.fail(f"{path}.device", f"unknown device {device!r}: not listed for any person")
        at = parser.time(obj, "at", path)
        arrival_key = "received_at" if obj.get("received_at") is not None else "at"
        received_at = parser.time(obj, "received_at", path, required=False) or at
        if received_at is None:
            continue
        if until is not None and received_at > until:
            parser.fail(f"{path}.{arrival_key}", "arrives after $.until")
        body = {key: value for key, value in obj.items() if key != "received_at"}
        found.append(MessageSpec(i, received_at, body))
    found.sort(key=lambda m: (m.received_at, m.index))
    return tuple(found)


def parse(doc: Any) -> Scenario:
    """The whole file checked and typed; raises ScenarioError listing every problem found."""
    parser = _Parser()
    if not isinstance(doc, dict):
        raise ScenarioError(["$: must be an object"])
    timezone = _time_zone(parser, doc)
    subjects = _people(parser, doc, "subjects", DeviceKind.ANKLE_MONITOR)
    protected = _people(parser, doc, "protected_persons", DeviceKind.SMARTWATCH)
    subject_ids, protected_ids = {p.id for p in subjects}, {p.id for p in protected}
    orders = _orders(parser, doc, subject_ids, protected_ids, timezone)
    zones = _zones(parser, doc, subject_ids, timezone)
    until = parser.time(doc, "until", "$")
    messages = _messages(parser, doc, parser.claimed.get("device", {}), until)
    if parser.errors or until is None:
        raise ScenarioError(parser.errors)
    return Scenario(timezone, subjects, protected, orders, zones, messages, until)


# --- the run --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What a replay said, in order: alert lines (stdout) and refusals (stderr)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
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
    def __init__(self, scenario: Scenario, processor: Processor, outcome: Outcome) -> None:
        self.scenario = scenario
        self.processor = processor
        self.outcome = outcome
        self.tz = ZoneInfo(scenario.timezone)

    def run(self) -> None:
        scenario = self.scenario
        self.judge([*_registry(scenario)], scenario.start)
        for batch in _batches(scenario.messages):
            arrival = batch[0].received_at
            self.clock(arrival)
            self.deliver(batch, arrival)
        self.clock(scenario.until)

    def clock(self, until: datetime) -> None:
        """Run every deadline due by `until`, each at exactly its own time."""
        while (due := self.processor.engine.next_deadline()) is not None and due <= until:
            self.judge([Tick()], due)

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
        results, published = self.processor.run(commands, now)
        for result in results:
            if isinstance(result, Refusal):
                raise ScenarioError([f"$: the registry refused the scenario: {result}"])
        for change in published.alerts:
            if change.change in ENGINE_CHANGES:
                self.outcome.alert(alert_line(change, self.tz))
        return results


def _no_sync(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Where a replay pushes its alerts (the VIGIL_DISPATCH_URL target), and how long it waits."""

    url: str
    secret: str
    timeout_s: float = 30.0
    sender: str = "vigil@localhost"
    source: str = "/vigil"


def simulate(scenario: Scenario, dispatch: Dispatch | None = None) -> Outcome:
    """Replay a parsed scenario in a fresh temporary database; with `dispatch`, push its alerts and
    wait for the outbox to drain."""
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="vigil-replay-") as tmp:
        db = open_engine(f"sqlite:///{Path(tmp) / 'replay.db'}")
        # A throwaway database need not survive a power cut: skip the fsync at every commit.
        event.listen(db, "connect", _no_sync)
        try:
            migrate(db)
            counter = itertools.count(1)
            outbox = None
            if dispatch is not None:
                with db.begin() as conn:
                    sync_env_target(conn, dispatch.url, dispatch.secret, scenario.start)
                settings = OutboxSettings(dispatch.sender, dispatch.source, scenario.timezone)
                outbox = Outbox(settings)
            incidents = itertools.count(1)
            processor = Processor(
                db,
                new_id=lambda: f"a-{next(counter)}",
                outbox=outbox,
                new_incident_id=lambda: f"i-{next(incidents)}",
                local_zone=ZoneInfo(scenario.timezone),
            )
            _Replay(scenario, processor, outcome).run()
            if dispatch is not None:
                outcome.undelivered = asyncio.run(_drain(processor, scenario.until, dispatch.timeout_s))
                outcome.pushed = _count(db, t.deliveries)
        finally:
            db.dispose()
    return outcome


async def _drain(processor: Processor, until: datetime, timeout_s: float) -> list[dict[str, Any]]:
    """Deliver what the replay staged, in order, until all is delivered or the time is up; returns
    what is left. The replay's virtual clock has stopped at `until`: no acknowledgement can come and
    no alarm is due, so neither escalation nor the fallback channel runs here."""

    def submit(command: DispatchCommand) -> Future[Any]:
        done: Future[Any] = Future()
        result = processor.run([command], until)[0][0]
        if isinstance(result, Refusal):  # as the server's runner answers it
            done.set_exception(result)
        else:
            done.set_result(result)
        return done

    def state() -> tuple[list[Pending], list[tuple[int, str, str, datetime]]]:
        with processor.db.connect() as conn:
            return Outbox.pending(conn), []

    def targets() -> list[Target]:
        with processor.db.connect() as conn:
            return load_targets(conn)

    forever = 10 * 365 * 86_400.0
    async with httpx.AsyncClient(trust_env=False) as client:
        deliverer = Deliverer(
            submit=submit,
            load=state,
            targets=targets,
            settings=DeliverySettings(
                backoff_s=0.2, backoff_max_s=2.0, alarm_after_s=forever, ack_timeout_s=forever
            ),
            fallback=LogFallback(),
            client=client,
            clock=utc_now,
            wall=utc_now,
        )
        await deliverer.start()
        left = await deliverer.drain(timeout_s)
        await deliverer.stop()
    with processor.db.connect() as conn:
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


def _count(db: Any, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert lines a scenario document produces; raises ScenarioError for a bad document."""
    return simulate(parse(scenario)).alerts


# --- the command ----------------------------------------------------------------------------------------


def load(path: str | Path) -> Any:
    """The file's JSON document; ScenarioError (with line and column for bad JSON) if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            [f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    except ValueError as exc:  # NaN or Infinity
        raise ScenarioError([f"{path}: invalid JSON: {exc}"]) from None


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
