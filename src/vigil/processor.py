"""The single writer: every change of state passes here, in order, one transaction per batch.

It owns the engine and the write connection. A batch of commands (reports from many requests,
registry writes, lifecycle steps, clock ticks) is judged and stored in one transaction; only after
the commit are the callers answered and the changes published. That gives, at once: per-subject
ordering, group commit (one fsync for many devices), idempotency, and "answer a device only after
its report is on disk". If a commit fails, the engine is rebuilt from the database, so memory never
holds what the disk does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from vigil.adapters import InputError
from vigil.dispatch import links
from vigil.dispatch.outbox import DispatchCommand, Escalate, Outbox, Pending, Record
from vigil.dispatch.reports import IllegalReport
from vigil.domain.alerts import (
    TERMINAL,
    AlertChange,
    AlertState,
    Change,
    IllegalTransition,
    UnknownAlert,
    parties,
)
from vigil.domain.model import DeviceEvent, Fix, Report
from vigil.rules.engine import Engine as RuleEngine
from vigil.rules.tuning import Tuning
from vigil.store import audit, registry
from vigil.store import tables as t
from vigil.store.areas import AlertAreas
from vigil.store.audit import Entry
from vigil.store.codec import facts_json

log = logging.getLogger(__name__)

FUTURE_LIMIT = timedelta(minutes=5)  # device clocks drift a little; more is a bug or a forgery
RESTORE_FIXES_PER_DEVICE = 2  # the live position and the one before it, for speed and heading


# --- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingest:
    reports: Sequence[tuple[int, Report]]
    received_at: datetime
    only_device: str | None = None  # a device's own token may post only for that device


@dataclass(slots=True)
class IngestOutcome:
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0  # alert changes these reports caused
    errors: list[InputError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Touched:
    """What a registry write changed, so the engine can reload exactly that."""

    result: Any = None
    devices: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Write:
    """A registry write: `apply` writes rows in the batch's transaction and says what it touched."""

    apply: Callable[[Connection, datetime], Touched]


@dataclass(frozen=True, slots=True)
class Move:
    alert_id: str
    target: AlertState
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Audit:
    """Accesses to record in the audit trail (reads of location data, exports)."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    pass


Command = Ingest | Write | Move | Tick | Audit | DispatchCommand


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    person_id: str
    person_kind: str
    fix: Fix


@dataclass(slots=True)
class Published:
    """What a committed batch tells the outside world."""

    alerts: list[AlertChange] = field(default_factory=list)
    positions: list[PositionUpdate] = field(default_factory=list)
    deliveries: list[Pending] = field(default_factory=list)  # pushes staged, for the deliverer
    acks: list[tuple[str, str]] = field(default_factory=list)  # (alert, target) acknowledged
    # For scoped streams, per changed alert: every municipality it has concerned, and its parties
    areas: dict[str, frozenset[str]] = field(default_factory=dict)
    parties: dict[str, frozenset[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.alerts or self.positions or self.deliveries or self.acks)


class CommandFailed(Exception):
    """A command that was refused; the rest of its batch went through."""


class Conflict(CommandFailed):
    """Refused because of the record's state (already ended, already removed), not the input."""


# --- the processor --------------------------------------------------------------------------------


class Processor:
    def __init__(
        self,
        db: Engine,
        *,
        tuning: Tuning | None = None,
        new_id: Callable[[], str] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox  # None: nothing is pushed to dispatch (replays without targets)
        self._tuning = tuning
        self._new_id = new_id
        self.engine = RuleEngine(tuning, new_id)
        self._fix_latest: dict[str, datetime] = {}
        self._event_latest: dict[str, datetime] = {}
        self.stored_total = 0  # reports stored since start, for the live figures (read from any thread)
        self.areas = AlertAreas()

    def load(self, now: datetime) -> None:
        """Build the engine from the database (at start-up, and after a failed commit)."""
        engine = RuleEngine(self._tuning, self._new_id)
        with self.db.connect() as conn:
            for device in registry.load_devices(conn):
                engine.put_device(device)
            for order in registry.load_orders(conn):
                engine.put_order(order, now)
            for zone in registry.load_subject_zones(conn):
                engine.put_zone(zone, now)
            # Loading the registry above judged nothing (no fixes yet); now restore the past.
            fixes = list(registry.recent_fixes(conn, RESTORE_FIXES_PER_DEVICE))
            engine.restore(fixes, registry.last_heard(conn), registry.load_open_alerts(conn), now)
            self._fix_latest = _latest(conn, t.fixes)
            self._event_latest = _latest(conn, t.device_events)
            if self.outbox is not None:
                self.outbox.load(conn)
            self.areas.load(conn)
        self.engine = engine

    def run(self, commands: Sequence[Command], now: datetime) -> tuple[list[Any], Published]:
        """Judge and store a batch in one transaction. Returns one result per command (an outcome, a
        value, or a CommandFailed) and what to publish once committed. Raises if the commit fails,
        after rebuilding the engine from what the database holds."""
        results: list[Any] = []
        out = Published()
        writes = _Rows(now)
        try:
            with self.db.begin() as conn:
                for command in commands:
                    results.append(self._one(conn, command, now, out, writes))
                writes.flush(conn)
                if out.alerts:
                    out.areas = self.areas.note(conn, out.alerts)
                    out.parties = {c.alert.id: parties(c.alert, self.engine.kept_from) for c in out.alerts}
                if self.outbox is not None and out.alerts:
                    # the pushes are committed with the changes they report, or not at all
                    out.deliveries += self.outbox.stage(conn, out.alerts, self.engine, now)
                # live-track links end with their incident (after the grace), the last push's included
                links.end_with_incidents(
                    conn, (c.alert.id for c in out.alerts if c.alert.state in TERMINAL), now
                )
        except Exception:
            log.exception(
                "batch of %d commands failed; rebuilding the engine from the database", len(commands)
            )
            try:
                self.load(now)
            except Exception:
                # The database is still unreachable: keep answering 503; the next failure retries this.
                log.exception("rebuilding the engine failed too")
            raise
        if out.alerts:
            self.areas.committed()
        return results, out

    def _one(self, conn: Connection, command: Command, now: datetime, out: Published, writes: _Rows) -> Any:
        if isinstance(command, Ingest):
            return self._ingest(conn, command, out, writes)
        if isinstance(command, Audit):
            writes.audit(command.entries)
            return len(command.entries)
        if isinstance(command, Tick):
            changes = self.engine.tick(now)
            writes.alerts(changes)
            out.alerts += changes
            return len(changes)
        if isinstance(command, Move):
            try:
                change = self.engine.move(
                    command.alert_id, command.target, actor=command.actor, now=now, note=command.note
                )
            except UnknownAlert:
                return CommandFailed(
                    f"alert {command.alert_id!r} is not open (resolved, false alarm, or unknown)"
                )
            except IllegalTransition as exc:
                return CommandFailed(str(exc))
            writes.alerts([change])
            out.alerts.append(change)
            return change
        if isinstance(command, Write):
            return self._write(conn, command, now, out, writes)
        return self._dispatch(conn, command, now, out, writes)

    def _dispatch(
        self, conn: Connection, command: DispatchCommand, now: datetime, out: Published, writes: _Rows
    ) -> Any:
        if self.outbox is None:
            return CommandFailed("dispatch is not configured")
        writes.flush(conn)  # a report may concern an alert opened earlier in this batch
        result: Any = None
        pending: list[Pending] = []
        acks: list[tuple[str, str]] = []
        try:
            with conn.begin_nested():
                if isinstance(command, Record):
                    changes = self.outbox.record(conn, command.attempts, self.engine, now)
                elif isinstance(command, Escalate):
                    pending, changes = self.outbox.escalate(
                        conn, command.delivery_id, command.reason, self.engine, now
                    )
                else:
                    result, changes, pending, acks = self.outbox.report(conn, command, self.engine, now)
        except UnknownAlert:
            return CommandFailed("no such alert")
        except IllegalReport as exc:
            return Conflict(str(exc))
        writes.alerts(changes)
        out.alerts += changes
        out.deliveries += pending
        out.acks += acks
        return result

    def _write(self, conn: Connection, command: Write, now: datetime, out: Published, writes: _Rows) -> Any:
        writes.flush(conn)  # a registry change must see the reports before it, in order
        try:
            with conn.begin_nested():
                touched = command.apply(conn, now)
        except CommandFailed as exc:
            return exc
        changes: list[AlertChange] = []
        for device_id in touched.devices:
            row = conn.execute(select(t.devices).where(t.devices.c.id == device_id)).first()
            if row is not None:
                self.engine.put_device(registry.device_from_row(row))
            else:
                self.engine.devices.pop(device_id, None)
        for order_id in touched.orders:
            order = registry.load_order(conn, order_id)
            if order is None or order.ended_at is not None:
                changes += self.engine.end_order(order_id, now)
            else:
                changes += self.engine.put_order(order, now)
        for zone_id in touched.zones:
            row = conn.execute(select(t.zones).where(t.zones.c.id == zone_id)).first()
            if row is None or row.removed_at is not None or row.order_id is not None:
                changes += self.engine.remove_zone(zone_id, now)
            else:
                changes += self.engine.put_zone(registry.zone_from_row(row), now)
        writes.alerts(changes)
        out.alerts += changes
        return touched.result

    def _ingest(self, conn: Connection, command: Ingest, out: Published, writes: _Rows) -> IngestOutcome:
        outcome = IngestOutcome()
        now = command.received_at
        engine = self.engine
        fresh = self._fresh(conn, command.reports)
        for index, report in command.reports:
            device = engine.devices.get(report.device_id)
            if device is None or device.person_id is None:
                outcome.errors.append(InputError(index, f"messages[{index}].device", "unknown device"))
                continue
            if command.only_device is not None and report.device_id != command.only_device:
                outcome.errors.append(
                    InputError(
                        index, f"messages[{index}].device", "this token may post only for its own device"
                    )
                )
                continue
            if report.time - now > FUTURE_LIMIT:
                outcome.errors.append(
                    InputError(index, f"messages[{index}].at", "more than 5 minutes in the future")
                )
                continue
            if not fresh[index]:
                outcome.duplicates += 1
                continue
            if isinstance(report, Fix):
                writes.fix(report, now)
                changes = engine.on_fix(report, now, now)
                fix: Fix | None = report
            else:
                event = report
                if event.fix is not None and event.fix.time - now > FUTURE_LIMIT:
                    event = DeviceEvent(event.device_id, event.time, event.kind, None, event.detail)
                writes.event(event, now)
                if event.fix is not None and fresh.get(-1 - index, True):
                    writes.fix(event.fix, now)
                changes = engine.on_event(event, now, now)
                fix = event.fix
            outcome.stored += 1
            self.stored_total += 1
            outcome.alerts += len(changes)
            writes.alerts(changes)
            out.alerts += changes
            track = engine.tracks.get(device.person_id)
            if fix is not None and track is not None and track.latest is fix:
                out.positions.append(
                    PositionUpdate(device.person_id, (device.person_kind or "").__str__(), fix)
                )
        return outcome

    def _fresh(self, conn: Connection, reports: Sequence[tuple[int, Report]]) -> dict[int, bool]:
        """Which reports are not stored yet. Anything newer than the device's newest stored report is
        new; older ones (late, or a retried batch) are looked up. An event's own fix is keyed -1-index."""
        fresh: dict[int, bool] = {}
        seen: set[tuple[str, datetime, str]] = set()
        doubtful_fixes: dict[tuple[str, datetime], list[int]] = {}
        doubtful_events: dict[tuple[str, datetime, str], list[int]] = {}
        for index, report in reports:
            items: list[tuple[int, Fix | DeviceEvent]] = [(index, report)]
            if isinstance(report, DeviceEvent) and report.fix is not None:
                items.append((-1 - index, report.fix))
            for key, item in items:
                kind = item.kind.value if isinstance(item, DeviceEvent) else ""
                ident = (item.device_id, item.time, kind)
                if ident in seen:
                    fresh[key] = False
                    continue
                seen.add(ident)
                latest = (self._event_latest if kind else self._fix_latest).get(item.device_id)
                fresh[key] = True
                if latest is not None and item.time <= latest:
                    if kind:
                        doubtful_events.setdefault(ident, []).append(key)
                    else:
                        doubtful_fixes.setdefault(ident[:2], []).append(key)
        if doubtful_fixes:
            stored = conn.execute(
                select(t.fixes.c.device_id, t.fixes.c.time).where(
                    tuple_(t.fixes.c.device_id, t.fixes.c.time).in_(list(doubtful_fixes))
                )
            )
            for device_id, at in stored:
                for key in doubtful_fixes.get((device_id, at), ()):
                    fresh[key] = False
        for (device_id, at, kind), keys in doubtful_events.items():
            hit = conn.execute(
                select(t.device_events.c.id).where(
                    and_(
                        t.device_events.c.device_id == device_id,
                        t.device_events.c.time == at,
                        t.device_events.c.kind == kind,
                    )
                )
            ).first()
            if hit is not None:
                for key in keys:
                    fresh[key] = False
        for index, report in reports:
            if fresh.get(index):
                candidates = (report, report.fix if isinstance(report, DeviceEvent) else None)
                for item in (c for c in candidates if c is not None):
                    newest = self._event_latest if isinstance(item, DeviceEvent) else self._fix_latest
                    if item.device_id not in newest or item.time > newest[item.device_id]:
                        newest[item.device_id] = item.time
        return fresh


def _latest(conn: Connection, table: Any) -> dict[str, datetime]:
    decode = t.UTCTime().process_result_value
    rows = conn.execute(select(table.c.device_id, func.max(table.c.time)).group_by(table.c.device_id))
    return {device_id: value for device_id, at in rows if (value := decode(at, conn.dialect)) is not None}


class _Rows:
    """Rows of one batch, written with one executemany per table (the hot path's main saving)."""

    def __init__(self, now: datetime) -> None:
        self._fixes: list[tuple[Any, ...]] = []
        self._events: list[dict[str, Any]] = []
        self._changes: list[AlertChange] = []
        self._audits: list[tuple[datetime, Entry]] = []
        self._now = now

    def audit(self, entries: Sequence[Entry]) -> None:
        self._audits += [(self._now, entry) for entry in entries]

    def fix(self, fix: Fix, received_at: datetime) -> None:
        self._fixes.append(
            (
                fix.device_id,
                fix.time,
                fix.lat,
                fix.lon,
                fix.accuracy_m,
                fix.speed_mps,
                fix.heading_deg,
                fix.source.value,
                fix.battery_pct,
                received_at,
            )
        )

    def event(self, event: DeviceEvent, received_at: datetime) -> None:
        fix = event.fix
        self._events.append(
            {
                "device_id": event.device_id,
                "time": event.time,
                "kind": event.kind.value,
                "lat": None if fix is None else fix.lat,
                "lon": None if fix is None else fix.lon,
                "accuracy_m": None if fix is None else fix.accuracy_m,
                "detail": dict(event.detail),
                "received_at": received_at,
            }
        )

    def alerts(self, changes: list[AlertChange]) -> None:
        self._changes.extend(changes)

    def flush(self, conn: Connection) -> None:
        if self._fixes:
            _insert_fixes(conn, self._fixes)
        if self._events:
            conn.execute(_insert_ignoring_duplicates(conn, t.device_events), self._events)
        if self._changes:
            self._flush_alerts(conn)
        if self._audits:
            audit.append(conn, self._audits)
        self._fixes, self._events, self._changes, self._audits = [], [], [], []

    def _flush_alerts(self, conn: Connection) -> None:
        newest: dict[str, dict[str, Any]] = {}
        opened: set[str] = set()
        history = []
        for change in self._changes:
            alert = change.alert
            row = {
                "id": alert.id,
                "key": str(alert.key),
                "kind": alert.kind.value,
                "severity": alert.severity.value,
                "state": alert.state.value,
                "active": alert.active,
                "late": alert.late,
                "subject_id": alert.subject_id,
                "protected_person_id": alert.protected_person_id,
                "zone_id": alert.zone_id,
                "order_id": alert.order_id,
                "opened_at": alert.opened_at,
                "updated_at": alert.updated_at,
                "facts": facts_json(alert.facts),
            }
            newest[alert.id] = row
            if change.change is Change.OPENED:
                opened.add(alert.id)
            history.append(
                {
                    "alert_id": alert.id,
                    "change": change.change.value,
                    "at": change.at,
                    "actor": change.actor,
                    "note": change.note,
                    "kind": row["kind"],
                    "state": row["state"],
                    "active": alert.active,
                    "facts": row["facts"],
                }
            )
        inserts = [row for aid, row in newest.items() if aid in opened]
        updates = [row for aid, row in newest.items() if aid not in opened]
        if inserts:
            conn.execute(insert(t.alerts), inserts)
        if updates:
            columns = [c for c in updates[0] if c != "id"]
            statement = (
                update(t.alerts)
                .where(t.alerts.c.id == bindparam("alert_id"))
                .values({c: bindparam(c) for c in columns})
            )
            conn.execute(statement, [{**row, "alert_id": row["id"]} for row in updates])
        conn.execute(insert(t.alert_changes), history)


FIX_COLUMNS = (
    "device_id", "time", "lat", "lon", "accuracy_m", "speed_mps", "heading_deg", "source", "battery_pct",
    "received_at",
)  # fmt: skip


def _insert_fixes(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The hot path's one big write, straight to the driver: SQLAlchemy's per-row parameter handling
    was a sixth of a batch's cost. Times are written exactly as `tables.UTCTime` writes them (naive
    UTC text with microseconds on SQLite, timestamptz on PostgreSQL), so reads and the uniqueness of
    (device, time) are the same either way."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO fixes ({', '.join(FIX_COLUMNS)}) VALUES ({', '.join([mark] * len(FIX_COLUMNS))}) "
        "ON CONFLICT DO NOTHING"
    )
    if sqlite:
        rows = [(r[0], _sqlite_time(r[1]), *r[2:9], _sqlite_time(r[9])) for r in rows]
    conn.exec_driver_sql(sql, rows)


def _sqlite_time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")


def _insert_ignoring_duplicates(conn: Connection, table: Any) -> Any:
    """A retried report that raced past the in-memory check still must not be stored twice."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
