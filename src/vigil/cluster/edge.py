"""An edge: the API, the device listeners and the live streams, with no engine of its own.

Where the embedded server hands a command to its single writer, an edge's `EdgeRunner` decides
where it goes:

* device reports (`Ingest`) are split by the partition of each device's wearer and appended to the
  log; the device is answered once the log holds them durably (the worker judges and stores them);
* registry writes and audit entries are written to PostgreSQL here, in a transaction of this edge's
  own processor (whose engine holds nobody), and each registry write is then told to the workers on
  the log (`Reload`), in order with the reports of its partitions;
* a device's last will (`Offline`) goes to its partition's worker on the log;
* a step on an alert (an operator's `Move`, a dispatch system's `Callback`) is appended to the
  partition of the alert's people, with a reply subject: the worker that owns it applies it in
  order with their reports and answers once committed (cluster/steps.py);
* the clock (`Tick`) and the deliverer's records belong to the workers: an edge never sends them.

Live streams: the edge subscribes to what workers committed (cluster/bus.py) and feeds its hub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, text

from vigil.adapters import InputError
from vigil.cluster import bus, envelope, partitions, steps
from vigil.cluster.log import KIND, OFFLINE, RELOAD, Log
from vigil.cluster.steps import STEP
from vigil.cluster.watch import ClusterWatch
from vigil.commands import (
    Audit,
    Callback,
    Command,
    Conflict,
    Ingest,
    IngestOutcome,
    Move,
    NotFound,
    Offline,
    Refusal,
    Touched,
    Unavailable,
    Write,
)
from vigil.config import Settings
from vigil.domain.model import Report, protected_ref, subject_ref
from vigil.processor import OWN_DEVICE_ONLY, Processor, Published
from vigil.runner import Runner, settle_heap
from vigil.services import Services
from vigil.store import registry
from vigil.store.reader import Reader

log = logging.getLogger(__name__)

T = TypeVar("T")
STEP_TIMEOUT_S = 10.0  # a worker that does not answer a step in this long is taken to be failing over
MAP_MAX_AGE_S = 2.0  # a new device or order reaches this edge's routing within this (or at once on a miss)
LOCAL = (Write, Audit)  # written by the edge itself, in PostgreSQL


class Directory:
    """This edge's copy of the partition map: which partition a device's reports go to.

    Rebuilding the map reads the whole registry (0.4 s of CPU for 20,000 devices, and it grows with
    them), so it is rebuilt only when the registry has changed: before each rebuild the edge reads a
    fingerprint of the devices and orders (their counts, and the sum of their `updated_at`, which
    every registry write sets), and keeps its map while that is unchanged. A report from a device
    this edge does not know, sent again and again, then costs a fingerprint, not a rebuild."""

    def __init__(self, db: Engine, partition_count: int) -> None:
        self._db = db
        self._count = partition_count
        self.map = partitions.PartitionMap(partition_count, {}, {})
        self._at = -1e9
        self._held = False  # a map was read at least once
        self._seen: tuple[Any, ...] | None = None  # the fingerprint the map was built from
        self._lock = asyncio.Lock()
        self.rebuilds = 0

    async def current(self, max_age_s: float = MAP_MAX_AGE_S) -> partitions.PartitionMap:
        """The map, read again when older than `max_age_s`. When the database cannot be read (a
        restart), the map already held serves on: the log is durable without the database, so
        reports keep being appended and acknowledged, and a worker forwards any that an old map
        placed wrongly (as after any move). A look asked to be fresh (0 s: a device the map does
        not know) raises instead: whether the device exists cannot be told, so the device retries."""
        if time.monotonic() - self._at > max_age_s:
            async with self._lock:
                if time.monotonic() - self._at > max_age_s:
                    try:
                        self.map = await asyncio.to_thread(self._load)
                    except Exception:
                        if not self._held or max_age_s <= 0.0:
                            raise
                        log.warning("the partition map could not be read again; routing by the one held")
                        self._at = time.monotonic()  # tried again in max_age_s, not at every report
                        return self.map
                    self._at = time.monotonic()
                    self._held = True
        return self.map

    def _load(self) -> partitions.PartitionMap:
        with self._db.connect() as conn:
            seen = _fingerprint(conn)
            if seen is not None and seen == self._seen:
                return self.map
            built = partitions.build(registry.load_devices(conn), registry.load_orders(conn), self._count)
        self._seen = seen  # read before the registry: a write in between shows at the next look
        self.rebuilds += 1
        return built


_FINGERPRINT = text(
    "SELECT (SELECT count(*) FROM devices), (SELECT sum(extract(epoch FROM updated_at)) FROM devices), "
    "(SELECT count(*) FROM orders), (SELECT sum(extract(epoch FROM updated_at)) FROM orders)"
)


def _fingerprint(conn: Connection) -> tuple[Any, ...] | None:
    """What changes whenever a device or an order is added or written (PostgreSQL; None elsewhere:
    rebuild every time)."""
    if conn.dialect.name != "postgresql":
        return None
    row = conn.execute(_FINGERPRINT).one()
    return tuple(row)


class EdgeRunner(Runner):
    """The writer seam of an edge (see the module's docstring). Commands are submitted from the
    event loop's thread (routes, listeners) or a worker thread; answers come back as futures."""

    def __init__(
        self, processor: Processor, log_: Log, directory: Directory, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(processor, lambda _: None)
        self.log = log_
        self.directory = directory
        self._event_loop = loop
        self._local = threading.Lock()  # the local processor: one transaction at a time
        self._reader = Reader(processor.db)

    def start(self) -> None:
        """Nothing to load: this processor judges nobody (its scope is empty). The heap is settled
        as in the other roles: an edge allocates a great deal per post, little of it for long."""
        self.processor.load(self._clock(), frozenset())
        settle_heap()

    def stop(self) -> None:
        pass

    def submit(self, command: Command[T]) -> Future[T]:
        if isinstance(command, Ingest):
            appended = asyncio.run_coroutine_threadsafe(self._append(command), self._event_loop)
            return cast("Future[T]", appended)
        if isinstance(command, LOCAL):
            return asyncio.run_coroutine_threadsafe(self._write_here(command), self._event_loop)
        if isinstance(command, Offline):
            went = asyncio.run_coroutine_threadsafe(self._offline(command), self._event_loop)
            return cast("Future[T]", went)
        if isinstance(command, Move | Callback):
            stepped = asyncio.run_coroutine_threadsafe(self._step(command), self._event_loop)
            return cast("Future[T]", stepped)
        future: Future[T] = Future()
        future.set_exception(
            Unavailable(
                f"{type(command).__name__}: this step needs the worker that owns the alert, which cluster "
                "mode does not reach yet (docs/scale-out.md)"
            )
        )
        return future

    async def _append(self, command: Ingest) -> IngestOutcome:
        outcome = IngestOutcome()
        the_map = await self.directory.current()
        by_partition: dict[int, list[Report]] = {}
        unplaced: list[tuple[int, Report]] = []
        for index, report in command.reports:
            if command.only_device is not None and report.device_id != command.only_device:
                # Refused here, as the embedded processor refuses it, not only by the worker later:
                # the device is answered now, and must not be told a report was stored that will not be.
                outcome.errors.append(InputError(index, f"messages[{index}].device", OWN_DEVICE_ONLY))
                continue
            p = the_map.of_device(report.device_id)
            if p is None:
                unplaced.append((index, report))
            else:
                by_partition.setdefault(p, []).append(report)
        if unplaced:
            # a device registered since the map was read: look again once before refusing
            the_map = await self.directory.current(max_age_s=0.0)
            for index, report in unplaced:
                p = the_map.of_device(report.device_id)
                if p is None:
                    outcome.errors.append(InputError(index, f"messages[{index}].device", "unknown device"))
                else:
                    by_partition.setdefault(p, []).append(report)
        appends = [
            (p, envelope.encode(reports, command.received_at, command.only_device, command.vet), None)
            for p, reports in sorted(by_partition.items())
        ]
        await self.log.append_all(appends)  # raises if any could not be stored: nothing is acknowledged
        outcome.stored = sum(len(r) for r in by_partition.values())
        return outcome

    async def _offline(self, command: Offline) -> bool:
        """A device's last will, to the worker of its wearer's partition (it keeps the device's
        offline mark, and clears it when the device is heard again). False: nobody's device."""
        partition = (await self.directory.current()).of_device(command.device_id)
        if partition is None:
            return False
        body = json.dumps({"device": command.device_id, "at": command.at.isoformat()}).encode()
        await self.log.append(partition, body, {KIND: OFFLINE})
        return True

    async def _step(self, command: Move | Callback) -> Any:
        """A step on an alert, applied by the worker that owns it, which answers once committed."""
        unknown: Refusal = (
            Conflict(f"alert {command.alert_id!r} is not open (resolved, false alarm, or unknown)")
            if isinstance(command, Move)
            else NotFound(f"no alert {command.alert_id!r}")
        )
        alert = await asyncio.to_thread(self._reader.alert, command.alert_id)
        if alert is None:
            raise unknown
        the_map = await self.directory.current()
        person = (
            subject_ref(alert.subject_id)
            if alert.subject_id
            else protected_ref(alert.protected_person_id or "")
        )
        inbox = self.log.nc.new_inbox()
        sub = await self.log.nc.subscribe(inbox, max_msgs=1)
        try:
            await self.log.append(the_map.of_person(person), steps.encode(command, inbox), {KIND: STEP})
            try:
                answer = await sub.next_msg(timeout=STEP_TIMEOUT_S)
            except TimeoutError:
                raise Unavailable(
                    "the worker that owns this alert did not answer in time; the step is on the log and "
                    "will be applied: look at the alert again before repeating it"
                ) from None
        finally:
            await sub.unsubscribe()
        return steps.result_of(answer.data)

    async def _write_here(self, command: Command[T]) -> T:
        results, published = await asyncio.to_thread(self._run_local, command)
        result = results[0]
        if isinstance(result, BaseException):
            raise result
        for touched in published.touched:
            await self._tell_workers(touched)
        return result  # type: ignore[no-any-return]

    def _run_local(self, command: Command[Any]) -> tuple[list[Any], Published]:
        with self._local:
            return self.processor.run([command], self._clock())

    async def _tell_workers(self, touched: Touched) -> None:
        """Every partition hears of a registry write (they are rare): the owner of each person it
        touched, before and after, takes it in order with that partition's reports."""
        if not (touched.devices or touched.orders or touched.zones):
            return
        body = json.dumps(
            {
                "id": uuid.uuid4().hex,
                "devices": touched.devices,
                "orders": touched.orders,
                "zones": touched.zones,
            }
        ).encode()
        await self.log.append_all([(p, body, {KIND: RELOAD}) for p in range(self.log.partitions)])
        await self.directory.current(max_age_s=0.0)  # route by the new map from now on


def feed(services: Services) -> Callable[[Any], Any]:
    """A NATS callback handing what workers committed to this edge's hub, and pursuit mode's new
    commands to its gateway (which sends those of the devices connected here)."""

    async def on_changes(msg: Any) -> None:
        try:
            if not services.hub.viewers:
                # no one watches through this edge (a device-facing one, or a quiet hour): only its
                # devices' commands matter, and the positions are not decoded at all
                commanded = bus.decode_commanded(msg.data)
                if commanded and services.gateway is not None:
                    services.gateway.hand(commanded)
                return
            published = bus.decode(msg.data)
        except Exception:
            log.exception("a change message from a worker could not be read")
            return
        if published.alerts or published.positions:
            services.hub.publish(published)
        if published.commanded and services.gateway is not None:
            services.gateway.hand(published.commanded)

    return on_changes


async def connect(services: Services, settings: Settings) -> Log:
    """Make the embedded server's parts an edge's: its writer seam sends to the log, its hub hears
    the workers. The deliverer is not started: each worker sends the pushes of its own partitions,
    so several edges never send one twice."""
    assert settings.nats_url is not None
    cluster_log = await Log.connect(
        settings.nats_url,
        settings.cluster_name,
        settings.partitions,
        lease_s=settings.worker_lease_s,
        name="vigil-edge",
    )
    loop = asyncio.get_running_loop()
    services.runner = EdgeRunner(
        services.processor, cluster_log, Directory(services.db, settings.partitions), loop
    )
    await services.start(deliver=False)
    await cluster_log.nc.subscribe(cluster_log.names.changes, cb=feed(services))
    services.cluster = ClusterWatch(services.db, cluster_log)
    services.cluster.start()
    return cluster_log
