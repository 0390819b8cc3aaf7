"""The single writer: every change of state passes here, in order, one transaction per batch.

It owns the engine and the write connection. A batch of commands (reports from many requests,
registry writes, lifecycle steps, clock ticks) is judged and stored in one transaction; only after
the commit are the callers answered and the changes published. That gives, at once: per-subject
ordering, group commit (one fsync for many devices), idempotency, and "answer a device only after
its report is on disk". If a commit fails, the engine is rebuilt from the database, so memory never
holds what the disk does not.

The commands (vigil.commands) and the one handler for each are listed in HANDLERS, after the class:
the write path on one screen. A handler that refuses its command raises; the batch goes on.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from vigil.adapters import InputError
from vigil.commands import (
    Advance,
    Advances,
    Attempt,
    Audit,
    Callback,
    Command,
    Conflict,
    Escalate,
    Fenced,
    Ingest,
    IngestOutcome,
    Move,
    NotFound,
    Notified,
    Offline,
    Record,
    Refusal,
    Refused,
    Reload,
    Reported,
    Tick,
    Touched,
    Write,
)
from vigil.dispatch import links
from vigil.dispatch.outbox import Outbox, Pending
from vigil.dispatch.reports import IllegalReport
from vigil.domain.alerts import (
    TERMINAL,
    AlertChange,
    Change,
    IllegalTransition,
    UnknownAlert,
    needs_note,
    parties,
)
from vigil.domain.model import (
    ALARM_EVENTS,
    ClockDoubt,
    ClockSuspect,
    DeviceEvent,
    Fix,
    PersonKind,
    PersonRef,
    Report,
    protected_ref,
    subject_ref,
)
from vigil.domain.plausibility import Doubt
from vigil.notify import records as notify_records
from vigil.notify.messages import Notice
from vigil.notify.staging import Notifier
from vigil.rules import device_clock
from vigil.rules.engine import Engine as RuleEngine
from vigil.rules.movement import ReportingRequest
from vigil.rules.pursuit import ModeChange
from vigil.rules.tuning import Tuning
from vigil.store import audit, device_commands, registry
from vigil.store import incidents as incident_rows
from vigil.store import tables as t
from vigil.store.areas import AlertAreas
from vigil.store.audit import Entry
from vigil.store.audit_key import AuditKey
from vigil.store.codec import facts_json
from vigil.store.device_commands import Queued

log = logging.getLogger(__name__)

GARBAGE_TIME = (
    "not a time any working clock gives (before 2000-01-01, or more than a year ahead); "
    "only an alarm is kept with such a time"
)
CLOCK_SUSPECT = "clock_suspect"  # the event detail key that says the device's time was not believed
RESTORE_FIXES_PER_DEVICE = 2  # the live position and the one before it, for speed and heading
OWN_DEVICE_ONLY = "this token may post only for its own device"  # a device-bound token's refusal


# --- what a batch publishes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    person_id: str
    person_kind: str
    fix: Fix
    pursuit: bool = False  # its device is asked to report fast (pursuit mode)


@dataclass(slots=True)
class Published:
    """What a committed batch tells the outside world."""

    alerts: list[AlertChange] = field(default_factory=list)
    positions: list[PositionUpdate] = field(default_factory=list)
    deliveries: list[Pending] = field(default_factory=list)  # pushes staged, for the deliverer
    notices: list[Notice] = field(default_factory=list)  # messages to her staged, for the sender
    acks: list[tuple[str, str]] = field(default_factory=list)  # (alert, target) acknowledged
    # For scoped streams, per changed alert: every municipality it has concerned, and its parties
    areas: dict[str, frozenset[str]] = field(default_factory=dict)
    parties: dict[str, frozenset[PersonRef]] = field(default_factory=dict)
    # Devices asked to report faster to confirm a doubted position (a device command in future; for
    # now logged): not in __bool__, since nothing else is published for them.
    reporting: list[ReportingRequest] = field(default_factory=list)
    # Pursuit mode's changes (rules/pursuit.py), and the devices with a command newly queued for one:
    # the gateway sends it if they are connected.
    modes: list[ModeChange] = field(default_factory=list)
    commanded: list[Queued] = field(default_factory=list)
    # Registry writes committed (cluster mode: the edge tells the workers to take them in).
    touched: list[Touched] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.alerts or self.positions or self.deliveries or self.notices or self.acks or self.commanded
        )


@dataclass(slots=True)
class Batch:
    """One transaction's worth of commands: what every handler is handed."""

    conn: Connection
    now: datetime
    out: Published  # what is published once the batch commits
    rows: _Rows  # reports, alert changes and audit entries, written together at the end

    def changed(self, changes: list[AlertChange]) -> None:
        """Alert changes a handler made: stored with the batch, published after it commits."""
        self.rows.alerts(changes)
        self.out.alerts += changes


# --- the processor --------------------------------------------------------------------------------


class Processor:
    def __init__(
        self,
        db: Engine,
        *,
        tuning: Tuning | None = None,
        new_id: Callable[[], str] | None = None,
        outbox: Outbox | None = None,
        audit_key: AuditKey | None = None,
        new_incident_id: Callable[[], str] | None = None,
        local_zone: tzinfo = UTC,
        notifier: Notifier | None = None,
    ) -> None:
        self.db = db
        # Incident ids outlive the engine (it is rebuilt after a failed commit): never a counter that
        # starts again, unless the caller's own (a replay's) carries on across rebuilds.
        self._new_incident_id = new_incident_id or (lambda: f"inc-{uuid.uuid4()}")
        self.local_zone = local_zone  # the day in an incident's radio number is this zone's
        self.outbox = outbox  # None: nothing is pushed to dispatch (replays without targets)
        self.audit_key = audit_key  # None: Audit commands fail (replays and benchmarks audit nothing)
        self.notifier = notifier  # None: nothing is sent to her (replays, benchmarks)
        self._tuning = tuning
        self._new_id = new_id
        self.engine = RuleEngine(tuning, new_id, new_incident_id)
        # Per device, the newest stored report's time (as judged) and the newest claim of a report
        # whose time was not believed: what decides whether a report needs looking up (_fresh).
        self._fix_latest: dict[str, datetime] = {}
        self._event_latest: dict[str, datetime] = {}
        self._fix_claimed: dict[str, datetime] = {}
        self._event_claimed: dict[str, datetime] = {}
        # Per device that sent its last request's report alone: that receipt and the report's lag
        # behind it (rules/device_clock.steady_lag: a clock running behind). Memory only.
        self._lags: dict[str, tuple[datetime, float]] = {}
        # The newest receipt: "in the future" counts from the later of this and the server's clock,
        # so a clock stepped backwards does not make every device's correct time look ahead.
        self._newest_receipt: datetime | None = None
        self._offline_ids: set[str] = set()  # devices that said they went offline and were not heard since
        self.stored_total = 0  # reports stored since start, for the live figures (read from any thread)
        self.areas = AlertAreas()
        # The people whose reports this processor judges (a cluster worker's partitions); None: all.
        self.scope: frozenset[PersonRef] | None = None

    def owns(self, subject_id: str | None, protected_person_id: str | None) -> bool:
        """Whether an alert or incident of these parties is this processor's to judge."""
        return self._within(_party(subject_id, protected_person_id))

    def _within(self, person: PersonRef | None) -> bool:
        if self.scope is None:
            return True
        return person is not None and person in self.scope

    def load(self, now: datetime, scope: frozenset[PersonRef] | None = None) -> None:
        """Build the engine from the database (at start-up, and after a failed commit). `scope`: only
        these people, their devices, orders, zones and alerts (a cluster worker's partitions, which
        hold every party of each order); None: everyone. Kept for the rebuild after a failure."""
        if scope is not None:
            self.scope = scope
        engine = RuleEngine(self._tuning, self._new_id, self._new_incident_id)
        within = self._within
        with self.db.connect() as conn:
            kept: set[str] = set()
            for device in registry.load_devices(conn):
                if within(_wearer(device.person_kind, device.person_id)):
                    engine.put_device(device)
                    kept.add(device.id)
            for order in registry.load_orders(conn):
                if within(subject_ref(order.subject_id)):
                    engine.put_order(order, now)
            for zone in registry.load_subject_zones(conn):
                if zone.subject_id is None or within(subject_ref(zone.subject_id)):
                    engine.put_zone(zone, now)
            # Loading the registry above judged nothing (no fixes yet); now restore the past.
            only = None if self.scope is None else kept  # a worker reads its own devices' past only
            fixes = [
                f for f in registry.recent_fixes(conn, RESTORE_FIXES_PER_DEVICE, only) if f.device_id in kept
            ]
            heard = {d: at for d, at in registry.last_heard(conn, only).items() if d in kept}
            alerts = [
                a
                for a in registry.load_open_alerts(conn)
                if within(_party(a.subject_id, a.protected_person_id))
            ]
            incidents = [
                i
                for i in incident_rows.load_open(conn)
                if within(_party(i.subject_id, i.protected_person_id))
            ]
            engine.restore(fixes, heard, alerts, now, incidents)
            self._fix_latest = _latest(conn, t.fixes.c.time)
            self._event_latest = _latest(conn, t.device_events.c.time)
            self._fix_claimed = _latest(conn, t.fixes.c.device_time)
            self._event_claimed = _latest(conn, t.device_events.c.device_time)
            self._newest_receipt = max(heard.values(), default=None)
            self._offline_ids = registry.offline_devices(conn)
            if self.outbox is not None:
                self.outbox.load(conn)
            self.areas.load(conn)
        self.engine = engine

    def run(self, commands: Sequence[Command[Any]], now: datetime) -> tuple[list[Any], Published]:
        """Judge and store a batch in one transaction. Returns one result per command, in order
        (what its handler answered, or the Refusal it raised) and what to publish once committed.
        Raises if the commit fails, after rebuilding the engine from what the database holds."""
        results: list[Any] = []
        out = Published()
        writes = _Rows(now, self.audit_key, self)
        try:
            with self.db.begin() as conn:
                batch = Batch(conn, now, out, writes)
                answers: list[Any] = [None] * len(commands)
                for command, places in _records_together(commands):
                    result = self._one(batch, command)
                    for place in places:
                        answers[place] = result
                results = answers
                writes.flush(conn)
                if self.outbox is not None and out.alerts:
                    # the pushes are committed with the changes they report, or not at all (their
                    # identity and draft: they are rendered after the commit, by the deliverer)
                    staged, alarms = self.outbox.stage(conn, out.alerts, self.engine, now)
                    out.deliveries += staged
                    if alarms:  # pushes that could not be staged: the operators are told
                        batch.changed(alarms)
                        writes.flush(conn)
                if self.notifier is not None and out.alerts:
                    # her pushes and texts, committed with the changes they are about (sent after)
                    out.notices += self.notifier.stage(conn, out.alerts, now)
                if out.alerts:
                    out.areas = self.areas.note(conn, out.alerts)
                    out.parties = {c.alert.id: parties(c.alert, self.engine.kept_from) for c in out.alerts}
                # live-track links end with their incident (after the grace), the last push's included
                links.end_with_incidents(
                    conn,
                    (c.alert.id for c in out.alerts if c.alert.state in TERMINAL),
                    now,
                    writes.closed_incidents,
                )
                # pursuit mode: the devices of the people in a danger are asked to report fast
                modes = self.engine.drain_modes()
                if modes:
                    out.modes += modes
                    out.commanded += device_commands.pursue(
                        conn, now, modes, self._normal_interval, self.engine.tuning.pursuit_interval_s
                    )
        except Exception as exc:
            if isinstance(
                exc, Fenced
            ):  # cluster mode: a partition moved on; expected when workers come and go
                log.warning("%s; rebuilding the engine from the database", exc)
            else:
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

    def _went_offline(self, batch: Batch, command: Offline) -> bool:
        done = batch.conn.execute(
            update(t.devices).where(t.devices.c.id == command.device_id).values(offline_since=command.at)
        )
        if done.rowcount != 1:
            return False
        self._offline_ids.add(command.device_id)
        return True

    def _normal_interval(self, device_id: str) -> float:
        device = self.engine.devices.get(device_id)
        configured = None if device is None else device.report_interval_s
        return configured or self.engine.tuning.normal_interval_s

    def _one(self, batch: Batch, command: Command[Any]) -> Any:
        try:
            return HANDLERS[type(command)](self, batch, command)
        except Refusal as refusal:
            # Turned down alone: a handler refuses before it writes, or from inside its savepoint, so
            # nothing of it is left and the rest of the batch goes on. Its traceback holds this
            # batch's frames (the connection among them): the caller needs only the refusal.
            return refusal.with_traceback(None)

    # --- the handlers (see HANDLERS below the class) ------------------------------------------------

    def _audit(self, batch: Batch, command: Audit) -> int:
        if self.audit_key is None:
            raise Conflict("this processor has no audit key: nothing can be audited")
        batch.rows.audit(command.entries)
        return len(command.entries)

    def _tick(self, batch: Batch, command: Tick) -> int:
        changes = self.engine.tick(batch.now)
        batch.changed(changes)
        return len(changes)

    def _move(self, batch: Batch, command: Move) -> AlertChange:
        current = self.engine.book.get(command.alert_id)
        if current is not None and not command.note.strip() and needs_note(current, command.target):
            raise Refused("note", f"a note is required to close a {current.severity.value} alert")
        try:
            change = self.engine.move(
                command.alert_id, command.target, actor=command.actor, now=batch.now, note=command.note
            )
        except UnknownAlert:
            raise Conflict(
                f"alert {command.alert_id!r} is not open (resolved, false alarm, or unknown)"
            ) from None
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from None
        batch.changed([change])
        return change

    def _write(self, batch: Batch, command: Write) -> Any:
        conn, now = batch.conn, batch.now
        batch.rows.flush(conn)  # a registry change must see the reports before it, in order
        with conn.begin_nested():  # a refusal raised by `apply` undoes its rows alone
            touched = command.apply(conn, now)
        if touched.audit and self.audit_key is not None:
            batch.rows.audit(touched.audit)
        batch.out.touched.append(touched)
        self._reload(batch, Reload(touched.devices, touched.orders, touched.zones))
        for alarm in touched.alarms:
            batch.changed(self.engine.alarm(alarm, now))
        return touched.result

    def _reload(self, batch: Batch, command: Reload) -> int:
        """Take what a registry write changed back into the engine, as the database now holds it
        (in cluster mode the edge wrote it, and each worker takes its share). Answers how many
        alert changes that made."""
        conn, now = batch.conn, batch.now
        batch.rows.flush(conn)
        changes: list[AlertChange] = []
        within = self._within
        for device_id in command.devices:
            row = conn.execute(select(t.devices).where(t.devices.c.id == device_id)).first()
            device = None if row is None else registry.device_from_row(row)
            if device is not None and within(_wearer(device.person_kind, device.person_id)):
                self.engine.put_device(device)
            else:
                self.engine.devices.pop(device_id, None)
        for order_id in command.orders:
            order = registry.load_order(conn, order_id)
            if order is None or order.ended_at is not None or not within(subject_ref(order.subject_id)):
                changes += self.engine.end_order(order_id, now)
            else:
                changes += self.engine.put_order(order, now)
        for zone_id in command.zones:
            row = conn.execute(select(t.zones).where(t.zones.c.id == zone_id)).first()
            zone = None if row is None or row.removed_at is not None else registry.zone_from_row(row)
            if (
                zone is None
                or zone.order_id is not None
                or (zone.subject_id is not None and not within(subject_ref(zone.subject_id)))
            ):
                changes += self.engine.remove_zone(zone_id, now)
            else:
                changes += self.engine.put_zone(zone, now)
        batch.changed(changes)
        return len(changes)

    def _advance(self, batch: Batch, command: Advance) -> None:
        """Move a log partition's applied sequence on, in the transaction of the reports it covers.
        Only from the sequence this worker read when it took the partition: if another worker has
        moved it since, this batch is not committed at all (Fenced), and the partition is given up."""
        conn = batch.conn
        values = {"seq": command.to_seq, "worker": command.worker, "updated_at": batch.now}
        if command.from_seq == 0:
            # Never applied: the row may not exist yet. Two workers racing (both own everything for
            # a moment at start-up) both insert; the second's insert does nothing and it goes on to
            # the update below, which fences it, rather than failing its batch on the key.
            inserted = conn.execute(
                _insert_ignoring_duplicates(conn, t.cluster_offsets)
                .values(partition=command.partition, **values)
                .returning(t.cluster_offsets.c.partition)  # rowcount says -1 for this insert
            ).first()
            if inserted is not None:
                return
        done = conn.execute(
            update(t.cluster_offsets)
            .where(
                t.cluster_offsets.c.partition == command.partition,
                t.cluster_offsets.c.seq == command.from_seq,
            )
            .values(**values)
        )
        if done.rowcount != 1:
            raise Fenced(command.partition)

    def _advance_all(self, batch: Batch, command: Advances) -> None:
        """`_advance` for many partitions; on PostgreSQL those already applied once move in one
        UPDATE, and any partition it did not move (another worker's since) fences the batch."""
        conn = batch.conn
        moves = list(command.moves)
        if conn.dialect.name != "postgresql":
            for move in moves:
                self._advance(batch, move)
            return
        for move in moves:
            if move.from_seq == 0:  # never applied: the row may not exist yet (rare: once each)
                self._advance(batch, move)
        rest = [m for m in moves if m.from_seq != 0]
        if not rest:
            return
        moved = set(
            conn.execute(
                _ADVANCE_ALL,
                {
                    "parts": [m.partition for m in rest],
                    "froms": [m.from_seq for m in rest],
                    "tos": [m.to_seq for m in rest],
                    "worker": rest[0].worker,
                    "now": batch.now,
                },
            ).scalars()
        )
        for move in rest:
            if move.partition not in moved:
                raise Fenced(move.partition)

    def _record(self, batch: Batch, command: Record) -> None:
        with self._outbox_step(batch) as outbox:
            changes = outbox.record(batch.conn, command.attempts, self.engine, batch.now)
        batch.changed(changes)

    def _escalate(self, batch: Batch, command: Escalate) -> None:
        with self._outbox_step(batch) as outbox:
            pending, changes = outbox.escalate(
                batch.conn, command.delivery_id, command.reason, self.engine, batch.now
            )
        batch.changed(changes)
        batch.out.deliveries += pending

    def _notified(self, batch: Batch, command: Notified) -> None:
        batch.rows.flush(batch.conn)
        with batch.conn.begin_nested():
            notify_records.record(batch.conn, command.sent)

    def _callback(self, batch: Batch, command: Callback) -> Reported:
        with self._outbox_step(batch, missing=f"no alert {command.alert_id!r}") as outbox:
            result, changes, pending, acks = outbox.report(batch.conn, command, self.engine, batch.now)
        batch.changed(changes)
        batch.out.deliveries += pending
        batch.out.acks += acks
        return result

    @contextmanager
    def _outbox_step(self, batch: Batch, missing: str = "no such alert") -> Iterator[Outbox]:
        """The outbox's writes for one dispatch command, in a savepoint: a report about an unknown
        alert, or one that does not fit the alert's state, undoes only itself."""
        if self.outbox is None:
            raise NotFound("dispatch is not configured")
        batch.rows.flush(batch.conn)  # a report may concern an alert opened earlier in this batch
        try:
            with batch.conn.begin_nested():
                yield self.outbox
        except UnknownAlert:
            raise NotFound(missing) from None
        except IllegalReport as exc:
            raise Conflict(str(exc)) from None

    def _ingest(self, batch: Batch, command: Ingest) -> IngestOutcome:
        conn, out, writes = batch.conn, batch.out, batch.rows
        outcome = IngestOutcome()
        now = command.received_at
        engine = self.engine
        known: list[tuple[int, Report]] = []
        for index, report in command.reports:
            device = engine.devices.get(report.device_id)
            if device is None or device.person_id is None:
                outcome.errors.append(InputError(index, f"messages[{index}].device", "unknown device"))
                continue
            if command.only_device is not None and report.device_id != command.only_device:
                outcome.errors.append(InputError(index, f"messages[{index}].device", OWN_DEVICE_ONLY))
                continue
            known.append((index, report))
        reports = self._judge_times(known, now, outcome)
        fresh = self._fresh(conn, reports, writes)
        self._recall(conn, reports, fresh, now, writes)
        try:
            self._judge(command, reports, fresh, out, writes, outcome)
        finally:
            engine.forget()  # the past recalled for this batch: memory stays bounded
        # heard again after a last will: online (most batches have no device offline: no work)
        back = (
            self._offline_ids.intersection(r.device_id for i, r in reports if fresh[i])
            if self._offline_ids
            else set()
        )
        if back:
            conn.execute(update(t.devices).where(t.devices.c.id.in_(sorted(back))).values(offline_since=None))
            self._offline_ids -= back
        requests = engine.drain_requests()
        for request in requests:  # debug: one per doubted fix would flood a busy centre's log
            log.debug(
                "device %s asked to report every %.0f s until %s: %s",
                request.device_id, request.interval_s, request.until.isoformat(), request.reason,
            )  # fmt: skip
        out.reporting += requests
        return outcome

    def _recall(
        self,
        conn: Connection,
        reports: Sequence[tuple[int, Report]],
        fresh: dict[int, bool],
        now: datetime,
        writes: _Rows,
    ) -> None:
        """Hand the engine the past its late fixes are judged against, where memory no longer holds
        it (rules/engine.py: past_needed, recall): one read per person and batch."""
        engine = self.engine
        spans: dict[str, tuple[datetime, datetime]] = {}
        for index, report in reports:
            fix = report if isinstance(report, Fix) else report.fix
            if fix is None or not fresh[index]:
                continue
            for person, since, until in engine.past_needed(fix, now):
                held = spans.get(person)
                spans[person] = (since, until) if held is None else (min(held[0], since), max(held[1], until))
        if not spans:
            return
        writes.flush(conn)  # what this batch already stored is part of that past
        for person, (since, until) in sorted(spans.items()):
            engine.recall(person, registry.fixes_between(conn, engine.devices_of(person), since, until))

    def _judge(
        self,
        command: Ingest,
        reports: Sequence[tuple[int, Report]],
        fresh: dict[int, bool],
        out: Published,
        writes: _Rows,
        outcome: IngestOutcome,
    ) -> None:
        engine = self.engine
        now = command.received_at
        reports = _in_time_order(reports)
        # among the reports judged: a device's newest fresh one is never followed (it settles the rest)
        followed = _followed([(index, report) for index, report in reports if fresh[index]])
        for index, report in reports:
            device = engine.devices[report.device_id]
            if not fresh[index]:
                outcome.duplicates += 1
                continue
            if isinstance(report, Fix):
                doubt = engine.doubt(report) if command.vet else None
                if doubt is None:
                    changes = engine.on_fix(report, now, now, followed=index in followed)
                else:
                    changes = engine.on_doubted(report, doubt, now, now)
                # a fix the engine put aside as an implausible move is stored with why (it must not
                # become anyone's position when read back from the store)
                writes.fix(report, now, doubt or engine.suspicion(report))
                fix: Fix | None = report
            else:
                event = report
                doubt = engine.doubt(event.fix) if command.vet and event.fix is not None else None
                if doubt is not None:  # the claimed place stays on the event, with why it is not believed
                    event = replace(event, detail={**event.detail, "position_doubt": doubt.reason})
                writes.event(event, now)
                if doubt is None or event.fix is None:
                    changes = engine.on_event(event, now, now, followed=index in followed)
                else:  # the alarm raises all the same, where she was last believed to be
                    changes = engine.on_event(replace(event, fix=None), now, now)
                    changes += engine.on_doubted(event.fix, doubt, now, now)
                if event.fix is not None and fresh.get(-1 - index, True):
                    writes.fix(event.fix, now, doubt or engine.suspicion(event.fix))
                fix = event.fix
            outcome.stored += 1
            self.stored_total += 1
            outcome.alerts += len(changes)
            writes.alerts(changes)
            out.alerts += changes
            track = engine.tracks.get(device.person_id or "")
            if fix is not None and track is not None and track.latest is fix:
                out.positions.append(
                    PositionUpdate(
                        track.person_id,
                        (device.person_kind or "").__str__(),
                        fix,
                        self.engine.pursuit.on(fix.device_id),
                    )
                )

    def _judge_times(
        self, reports: Sequence[tuple[int, Report]], received_at: datetime, outcome: IngestOutcome
    ) -> list[tuple[int, Report]]:
        """Apply the device-clock rule (rules/device_clock.py) on every path at once: a report whose
        time is believed passes as it is; one whose time is not is judged at receipt and marked, an
        event's fix with it; a fix or a routine event whose time is garbage is refused. An alarm is
        never refused for its time, whatever it says."""
        receipt = device_clock.Receipt(received_at, self._newest_receipt, self.engine.tuning)
        if self._newest_receipt is None or received_at > self._newest_receipt:
            self._newest_receipt = received_at
        judged: list[tuple[int, Report]] = []
        doubted: dict[str, list[tuple[int, ClockDoubt]]] = {}  # device -> (place in judged, why)
        sent = Counter(report.device_id for _, report in reports)
        tuning = self.engine.tuning
        for index, report in reports:
            device_id = report.device_id
            fix_at, event_at = self._fix_latest.get(device_id), self._event_latest.get(device_id)
            last = fix_at if event_at is None or (fix_at is not None and fix_at > event_at) else event_at
            doubt = receipt.doubt(report.time, last)
            if sent[device_id] == 1:
                lag = (received_at - report.time).total_seconds()
                if doubt is None and device_clock.steady_lag(
                    self._lags.get(device_id), received_at, lag, tuning
                ):
                    doubt = ClockDoubt.BEHIND
                self._lags[device_id] = (received_at, lag)
            elif self._lags:
                self._lags.pop(device_id, None)
            if doubt is None:
                if isinstance(report, DeviceEvent) and CLOCK_SUSPECT in report.detail:
                    # the mark is the server's to give: a device cannot vouch for or against its clock
                    detail = {k: v for k, v in report.detail.items() if k != CLOCK_SUSPECT}
                    judged.append((index, replace(report, detail=detail)))
                else:
                    judged.append((index, report))
                continue
            if doubt is ClockDoubt.GARBAGE and not (
                isinstance(report, DeviceEvent) and report.kind in ALARM_EVENTS
            ):
                outcome.errors.append(InputError(index, f"messages[{index}].at", GARBAGE_TIME))
                continue
            doubted.setdefault(device_id, []).append((len(judged), doubt))
            judged.append((index, report))
        for marks in doubted.values():
            claims = [judged[place][1].time for place, _ in marks]
            times = device_clock.judged_times(claims, received_at, self.engine.tuning)
            for (place, doubt), at in zip(marks, times, strict=True):
                index, report = judged[place]
                mark = ClockSuspect(doubt, device_clock.kept(report.time), received_at)
                judged[place] = (index, _retimed(report, at, mark))
        return judged

    def _fresh(
        self, conn: Connection, reports: Sequence[tuple[int, Report]], writes: _Rows
    ) -> dict[int, bool]:
        """Which reports are not stored yet. A report is known by what its device claimed, (device, its
        own time[, kind]), whatever time it was judged at, so a retried clock-suspect report is found
        again. Anything newer than the device's newest stored report and newest doubted claim is new;
        older ones (late, or a retried batch) are looked up. An event's own fix is keyed -1-index.

        What this batch wrote so far is flushed before a look-up: a retry queued behind its original
        (a device that timed out and sent again) must find it. Otherwise nothing is flushed here, so
        the common batch still goes to the store in one write per table."""
        fresh: dict[int, bool] = {}
        seen: set[tuple[str, datetime, str]] = set()
        fixes_at: dict[tuple[str, datetime], list[int]] = {}  # stored with this time, perhaps
        fixes_claimed: dict[tuple[str, datetime], list[int]] = {}  # stored with this device_time, perhaps
        events: dict[tuple[str, datetime, str], tuple[list[int], bool, bool]] = {}
        for index, report in reports:
            items: list[tuple[int, Fix | DeviceEvent]] = [(index, report)]
            if isinstance(report, DeviceEvent) and report.fix is not None:
                items.append((-1 - index, report.fix))
            for key, item in items:
                kind = item.kind.value if isinstance(item, DeviceEvent) else ""
                mark = item.clock_suspect
                claimed = item.time if mark is None else mark.device_time
                ident = (item.device_id, claimed, kind)
                if ident in seen:
                    fresh[key] = False
                    continue
                seen.add(ident)
                fresh[key] = True
                latest = (self._event_latest if kind else self._fix_latest).get(item.device_id)
                doubted = (self._event_claimed if kind else self._fix_claimed).get(item.device_id)
                by_time = latest is not None and claimed <= latest
                by_claim = doubted is not None and claimed <= doubted
                if not (by_time or by_claim):
                    continue
                if kind:
                    keys, _, _ = events.setdefault(ident, ([], by_time, by_claim))
                    keys.append(key)
                else:
                    if by_time:
                        fixes_at.setdefault(ident[:2], []).append(key)
                    if by_claim:
                        fixes_claimed.setdefault(ident[:2], []).append(key)
        if fixes_at or fixes_claimed or events:
            writes.flush(conn)
        for column, wanted in ((t.fixes.c.time, fixes_at), (t.fixes.c.device_time, fixes_claimed)):
            for device_id, at in _stored(conn, column, list(wanted)):
                for key in wanted.get((device_id, at), ()):
                    fresh[key] = False
        events_c = t.device_events.c
        for (device_id, at, kind), (keys, by_time, by_claim) in events.items():
            # one indexed look-up per way the event may have been stored (an OR of the two is left to a
            # scan of the device's events by SQLite's planner when the table has no statistics)
            ways = [c for c, asked in ((events_c.time, by_time), (events_c.device_time, by_claim)) if asked]
            for column in ways:
                where = (
                    events_c.device_id == device_id,
                    column.is_not(None),
                    column == at,
                    events_c.kind == kind,
                )
                if conn.execute(select(events_c.id).where(*where)).first() is not None:
                    for key in keys:
                        fresh[key] = False
                    break
        for index, report in reports:
            if fresh.get(index):
                candidates = (report, report.fix if isinstance(report, DeviceEvent) else None)
                for item in (c for c in candidates if c is not None):
                    event = isinstance(item, DeviceEvent)
                    _newer(self._event_latest if event else self._fix_latest, item.device_id, item.time)
                    if item.clock_suspect is not None:
                        claims = self._event_claimed if event else self._fix_claimed
                        _newer(claims, item.device_id, item.clock_suspect.device_time)
        return fresh


# --- the write path -------------------------------------------------------------------------------

Handler = Callable[[Processor, Batch, Any], Any]

# Every command the writer takes, and the one handler for it. A handler answers its command's
# result or raises a Refusal; one that writes rows and may still refuse does so in a savepoint
# (Write, and the dispatch reports), so a refused command never fails the rest of its batch.
HANDLERS: dict[type[Command[Any]], Handler] = {
    Ingest: Processor._ingest,  # device reports: clock judged, de-duplicated, stored, fed to the rules
    Write: Processor._write,  # a registry write (savepoint), then the engine reloads what it touched
    Move: Processor._move,  # an operator's lifecycle step on an open alert
    Tick: Processor._tick,  # the clock: silence, schedules, holds and orders that came due
    Audit: Processor._audit,  # accesses to the audit trail (refused without a key)
    Record: Processor._record,  # the deliverer's attempts (outbox, savepoint)
    Escalate: Processor._escalate,  # an unacknowledged push goes to the next target (outbox, savepoint)
    Callback: Processor._callback,  # a dispatch system's report on its alert (outbox, savepoint)
    Notified: Processor._notified,  # the sender's attempts at messages to her (savepoint)
    Offline: Processor._went_offline,  # a device's last will: offline until it is heard again
    Reload: Processor._reload,  # cluster: a registry write made by an edge, taken into the engine
    Advance: Processor._advance,  # cluster: a log partition applied this far (fenced by its last value)
    Advances: Processor._advance_all,  # cluster: the same for all of a batch's partitions at once
}


# What a batch's delivery records may be moved ahead of: commands that never touch a delivery row.
# (Escalate and Callback do, so a record is never moved past one; Write may remove a target.)
_RECORDS_PASS = (Ingest, Tick, Advance, Advances, Offline, Audit, Notified)


def _records_together(commands: Sequence[Command[Any]]) -> list[tuple[Command[Any], list[int]]]:
    """The batch's commands, each with its place, and its delivery records merged: each run of
    Record commands that only commands of `_RECORDS_PASS` separate becomes one Record, run at the
    first one's turn, whose result answers every place it stands for.

    After a burst of alerts the deliverer reports each attempt as a command of its own, thousands
    of them; each alone is a savepoint, a read and a write (four round trips on PostgreSQL, a
    millisecond of the worker's time). Merged, a batch's attempts are one read and one write per
    set of columns (`records.record`, which already handles a delivery twice in one batch)."""
    plan: list[tuple[Command[Any], list[int]]] = []
    attempts: dict[int, list[Attempt]] = {}  # place in `plan` of a merged Record -> its attempts
    open_at: int | None = None  # the place in `plan` of the Record still taking others
    for place, command in enumerate(commands):
        if isinstance(command, Record):
            if open_at is None:
                open_at = len(plan)
                plan.append((command, [place]))
                attempts[open_at] = list(command.attempts)
            else:
                plan[open_at][1].append(place)
                attempts[open_at] += command.attempts
            continue
        if not isinstance(command, _RECORDS_PASS):
            open_at = None
        plan.append((command, [place]))
    for at, merged in attempts.items():
        if len(plan[at][1]) > 1:
            plan[at] = (Record(tuple(merged)), plan[at][1])
    return plan


# Each partition moves only from the value this worker read (the fence); the rows it moved come back.
_ADVANCE_ALL = text(
    "UPDATE cluster_offsets AS o SET seq = v.to_seq, worker = :worker, updated_at = :now "
    "FROM unnest(CAST(:parts AS integer[]), CAST(:froms AS bigint[]), CAST(:tos AS bigint[])) "
    'AS v(part, from_seq, to_seq) WHERE o."partition" = v.part AND o.seq = v.from_seq '
    'RETURNING o."partition"'
)
_LOOKUP_DEVICES = 200  # devices per look-up statement: SQLite caps an expression's depth at 1000


def _in_time_order(reports: Sequence[tuple[int, Report]]) -> Sequence[tuple[int, Report]]:
    """The batch with each device's reports in the order they were measured, in the places its
    reports held (other devices' stay where they were). A store-and-forward device that uploads its
    backlog newest first had its newest fix judged first and its older ones after it, each against
    where she is now: the breach was said to begin 7 minutes late and cleared before it escalated."""
    places: dict[str, list[int]] = {}
    for place, (_, report) in enumerate(reports):
        places.setdefault(report.device_id, []).append(place)
    if len(places) == len(reports):
        return reports  # one report a device: nothing to order (the hot path's usual batch)
    ordered = list(reports)
    for held in places.values():
        if len(held) > 1:
            mine = sorted((reports[place] for place in held), key=lambda item: item[1].time)
            for place, item in zip(held, mine, strict=True):
                ordered[place] = item
    return ordered


def _followed(reports: Sequence[tuple[int, Report]]) -> set[int]:
    """The indexes of the reports whose device sends a newer fix later in the same batch (a late
    upload's older fixes: the engine judges them at their own times only, `Engine.on_fix`)."""
    newest: dict[str, datetime] = {}
    followed: set[int] = set()
    for index, report in reversed(reports):
        fix = report if isinstance(report, Fix) else report.fix
        if fix is None:
            continue
        later = newest.get(report.device_id)
        if later is not None and later > fix.time:
            followed.add(index)
        if later is None or fix.time > later:
            newest[report.device_id] = fix.time
    return followed


def _stored(conn: Connection, column: Any, wanted: list[tuple[str, datetime]]) -> Iterator[tuple[str, Any]]:
    """Which (device, time) pairs the fixes table holds in `column`. Written as one "device = ? AND
    time IN (...)" per device, ORed: SQLite answers each from the index, where a row-value IN list
    ((device, time) IN (...)) made it scan the whole index."""
    by_device: dict[str, list[datetime]] = {}
    for device_id, at in wanted:
        by_device.setdefault(device_id, []).append(at)
    devices = list(by_device)
    device_c = t.fixes.c.device_id
    for start in range(0, len(devices), _LOOKUP_DEVICES):
        chunk = devices[start : start + _LOOKUP_DEVICES]
        found = or_(*(and_(device_c == d, column.in_(by_device[d])) for d in chunk))
        for device_id, at in conn.execute(select(device_c, column).where(column.is_not(None), found)):
            yield device_id, at


def _newer(newest: dict[str, datetime], device_id: str, at: datetime) -> None:
    if device_id not in newest or at > newest[device_id]:
        newest[device_id] = at


def _retimed(report: Report, at: datetime, mark: ClockSuspect) -> Report:
    """The report judged at `at` instead of its own time, marked; an event's fix goes with it."""
    if isinstance(report, Fix):
        return replace(report, time=at, clock_suspect=mark)
    fix = None if report.fix is None else replace(report.fix, time=at, clock_suspect=mark)
    detail = {**report.detail, CLOCK_SUSPECT: mark.doubt.value}
    return replace(report, time=at, fix=fix, detail=detail, clock_suspect=mark)


def _latest(conn: Connection, column: Any) -> dict[str, datetime]:
    """The newest value of a time column per device (rows where it is set)."""
    decode = t.UTCTime().process_result_value
    device = column.table.c.device_id
    rows = conn.execute(select(device, func.max(column)).where(column.is_not(None)).group_by(device))
    return {device_id: value for device_id, at in rows if (value := decode(at, conn.dialect)) is not None}


class _Rows:
    """Rows of one batch, written with one executemany per table (the hot path's main saving)."""

    def __init__(self, now: datetime, audit_key: AuditKey | None, processor: Processor) -> None:
        self._audit_key = audit_key
        self._processor = processor  # whose engine's incidents are written with the alert changes
        self.closed_incidents: list[str] = []  # incidents this batch closed: their links end
        self._fixes: list[tuple[Any, ...]] = []
        self._events: list[dict[str, Any]] = []
        self._changes: list[AlertChange] = []
        self._audits: list[tuple[datetime, Entry]] = []
        self._now = now

    def audit(self, entries: Sequence[Entry]) -> None:
        self._audits += [(self._now, entry) for entry in entries]

    def fix(self, fix: Fix, received_at: datetime, doubt: Doubt | None = None) -> None:
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
                None if fix.clock_suspect is None else fix.clock_suspect.device_time,
                None if doubt is None else doubt.reason,
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
                "device_time": None if event.clock_suspect is None else event.clock_suspect.device_time,
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
            changed = self._processor.engine.incidents.changed()
            incident_rows.write(conn, changed, self._processor.local_zone)
            self.closed_incidents += [i.id for i in changed if not i.open]
        if self._audits:
            assert self._audit_key is not None  # Audit commands are refused without one
            audit.append(conn, self._audit_key, self._audits)
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
                "incident_id": alert.incident_id,
                "escalated_at": alert.escalated_at,
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
    "received_at", "device_time", "doubt",
)  # fmt: skip


def _insert_fixes(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The hot path's one big write, straight to the driver: SQLAlchemy's per-row parameter handling
    was a sixth of a batch's cost. Times are written exactly as `tables.UTCTime` writes them (naive
    UTC text with microseconds on SQLite, timestamptz on PostgreSQL), so reads and the uniqueness of
    (device, time) are the same either way."""
    if conn.dialect.name == "postgresql":
        _insert_fixes_postgresql(conn, rows)
        return
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO fixes ({', '.join(FIX_COLUMNS)}) VALUES ({', '.join([mark] * len(FIX_COLUMNS))}) "
        "ON CONFLICT DO NOTHING"
    )
    if sqlite:
        rows = [
            (
                r[0],
                _sqlite_time(r[1]),
                *r[2:9],
                _sqlite_time(r[9]),
                None if r[10] is None else _sqlite_time(r[10]),
                r[11],
            )
            for r in rows
        ]
    conn.exec_driver_sql(sql, rows)


# Each column's type as PostgreSQL holds it, for the arrays `_insert_fixes_postgresql` sends (a
# column added to FIX_COLUMNS without its type here fails at import, not on the first batch).
_FIX_TYPES = {
    "device_id": "varchar", "time": "timestamptz", "lat": "float8", "lon": "float8",
    "accuracy_m": "float8", "speed_mps": "float8", "heading_deg": "float8", "source": "varchar",
    "battery_pct": "float8", "received_at": "timestamptz", "device_time": "timestamptz",
    "doubt": "varchar",
}  # fmt: skip
_FIX_ARRAYS = tuple(_FIX_TYPES[column] for column in FIX_COLUMNS)
_FLOATS = frozenset(i for i, kind in enumerate(_FIX_ARRAYS) if kind == "float8")
_FIX_UNNEST = (
    f"INSERT INTO fixes ({', '.join(FIX_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%b::{kind}[]' for kind in _FIX_ARRAYS)}) "
    "ON CONFLICT DO NOTHING"
)


def _insert_fixes_postgresql(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """A batch's fixes as one statement of one array per column, sent in the binary format (`%b`):
    a row per statement, even pipelined, cost psycopg a round of text parameter handling per row and
    PostgreSQL an execution per row. Measured on 100-fix batches, the client's CPU per fix about
    halved and the server's fell by a third (docs/benchmarks.md, session 15). A fix already stored
    (a retried batch) is skipped as before. Numbers go as floats: a list that mixed ints and floats
    would be sent as whatever type its first one was."""
    if not rows:
        return
    columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
    for index in _FLOATS:
        columns[index] = [None if v is None else float(v) for v in columns[index]]
    conn.exec_driver_sql(_FIX_UNNEST, tuple(columns))


def _sqlite_time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")


def _insert_ignoring_duplicates(conn: Connection, table: Any) -> Any:
    """A retried report that raced past the in-memory check still must not be stored twice."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _wearer(kind: PersonKind | str | None, person_id: str | None) -> PersonRef | None:
    if kind is None or person_id is None:
        return None
    return PersonRef(PersonKind(kind), person_id)


def _party(subject_id: str | None, protected_person_id: str | None) -> PersonRef | None:
    """The person an alert or incident belongs to, for scoping: both parties of an order are in one
    partition, so the subject stands for the pair."""
    if subject_id is not None:
        return subject_ref(subject_id)
    if protected_person_id is not None:
        return protected_ref(protected_person_id)
    return None
