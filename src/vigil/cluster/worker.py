"""A worker: owns a share of the log's partitions and runs the engine for them.

    leases (NATS KV) ──► which partitions are mine (rendezvous hashing, bounded loads)
    log (JetStream) ──► my partitions' messages, in order, from PostgreSQL's offsets
                         ──► processor (the same as in one process: rules, store, outbox, audit),
                             one transaction per batch with its partitions' new offsets (Advances)
                         ──► what committed, on the bus (edges feed their viewers from it)

Exactly-once effects: a partition's offset is written in the transaction of the effects it covers,
and only from the value this worker last read (processor `_advance`). A worker that lost a
partition without knowing it yet cannot commit; it is told so (`Fenced`) and gives the partition
up, and the new owner reads on from the committed offset. Its engine is rebuilt from PostgreSQL
whenever its partitions change, as at a restart, so no state is carried outside the database.

Everything the processor does runs on one task, one batch at a time (in a thread, so the event loop
keeps the leases and the subscriptions alive meanwhile): the processor is single-threaded here as in
the embedded mode.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NoKeysError
from sqlalchemy import Engine, select

from vigil.cluster import envelope, partitions, steps
from vigil.cluster.log import KIND, OFFLINE, RELOAD, Log
from vigil.cluster.steps import STEP
from vigil.commands import Advance, Advances, Command, Fenced, Ingest, Offline, Reload, Tick
from vigil.dispatch.deliverer import Deliverer
from vigil.dispatch.outbox import Outbox, Pending
from vigil.domain.model import Report
from vigil.notify import records as notify_records
from vigil.notify.messages import Notice
from vigil.notify.sender import Sender
from vigil.processor import Processor, Published
from vigil.runner import settle_heap, unsettle_heap
from vigil.store import registry
from vigil.store import tables as t

log = logging.getLogger(__name__)

MAX_BATCH = 512  # log messages per transaction
IDLE_WAIT_S = 1.0
RETRY_S = 1.0  # after a failed batch (database down): try the same messages again
# An ordered consumer lives in the NATS server's memory: a restarted server has lost it, and the
# client notices only when two of its heartbeats are missed, then makes it again from the last
# message it had. nats-py's default (5 s) left a partition unread ~10 s after a NATS restart; at 1 s
# it is ~2 s, for one small heartbeat a second per idle partition.
HEARTBEAT_S = 1.0
Clock = Callable[[], datetime]
OutboxState = tuple[list[Pending], list[tuple[int, str, str, datetime]]]
# (submit, load) -> a deliverer: its records go through this worker, its pushes are our partitions'
MakeDeliverer = Callable[[Callable[[Any], Future[Any]], Callable[[], OutboxState]], Deliverer]
# (submit, load) -> her messages' sender: its records go through this worker, the messages are to the
# protected persons of our partitions
MakeSender = Callable[[Callable[[Any], Future[Any]], Callable[[], list[Notice]]], Sender]


@dataclass(slots=True)
class _Message:
    partition: int
    seq: int
    data: bytes
    kind: str  # "" for reports; RELOAD a registry change, STEP a step on an alert, OFFLINE a last will
    generation: int = 0  # of the subscription that delivered it: an older one's are not ours to apply


@dataclass(slots=True)
class _Local:
    """A command of this worker's own (its deliverer's records and escalations): no log message."""

    command: Command[Any]
    future: Future[Any]


class _Stale(Exception):
    """The engine does not hold people the registry now places in our partitions: rebuild it."""


def new_worker_id() -> str:
    """Readable by operators (host and pid) and unique across restarts (the random tail)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        db: Engine,
        log_: Log,
        processor: Processor,
        clock: Clock,
        *,
        worker_id: str | None = None,
        lease_s: float = 5.0,
        publish: Callable[[Published], Awaitable[None]] | None = None,
        make_deliverer: MakeDeliverer | None = None,
        make_sender: MakeSender | None = None,
    ) -> None:
        self.db = db
        self.log = log_
        self.processor = processor
        self.clock = clock
        self.id = worker_id or new_worker_id()
        self.lease_s = lease_s
        self._publish = publish
        self.owned: frozenset[int] = frozenset()
        self.offsets: dict[int, int] = {}  # partition -> the last sequence applied, as committed
        self._generation: dict[int, int] = {}  # partition -> its current subscription's number
        self._known: set[str] = set()  # the workers taken to be alive at the last look
        self._missing: dict[str, int] = {}  # worker -> looks in a row it was not listed
        self._subs: dict[int, Any] = {}
        # One (re)subscription at a time: the lease task (rebalance, heal) and the apply task (a
        # fence) may follow the same partition at once, and the loser's subscription would leak.
        self._following = asyncio.Lock()
        self._inbox: asyncio.Queue[_Message | _Local] = asyncio.Queue()
        self._map = partitions.PartitionMap(log_.partitions, {}, {})
        self._map_at = 0.0
        self._rescope = True
        self._reloads_seen: dict[str, None] = {}  # ids of registry changes applied (bounded, ordered)
        self._make_deliverer = make_deliverer
        self.deliverer: Deliverer | None = None
        self._deliverer_turn: asyncio.Task[None] | None = None
        self._make_sender = make_sender
        self.sender: Sender | None = None
        self._sender_turn: asyncio.Task[None] | None = None
        self.applied = 0  # log messages applied since start (for figures and tests)
        self.batches = 0
        self.fenced = 0  # batches rolled back because a partition had moved on
        self.forwarded = 0  # reports sent on to the partition their wearer moved to

    # --- the whole life ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._renew()
        await self._refresh_map()
        await self._rebalance()
        tasks = [
            asyncio.create_task(self._leases(stop), name="vigil-worker-leases"),
            asyncio.create_task(self._apply(stop), name="vigil-worker-apply"),
        ]
        stopping = asyncio.create_task(stop.wait(), name="vigil-worker-stop")
        try:
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    # A worker that renews its leases but no longer applies (or the reverse) holds
                    # partitions nobody reads: better gone, so the others take them and the
                    # supervisor starts it again.
                    log.critical("worker %s: %s ended", self.id, task.get_name(), exc_info=task.exception())
                    raise RuntimeError(f"worker {self.id}: {task.get_name()} ended") from task.exception()
        finally:
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sub in self._subs.values():
                await _quietly(sub.unsubscribe())
            if self._deliverer_turn is not None:
                await _quietly(self._deliverer_turn)
            if self.deliverer is not None:
                await _quietly(self.deliverer.stop())
            if self._sender_turn is not None:
                await _quietly(self._sender_turn)
            if self.sender is not None:
                await _quietly(self.sender.stop())
            # Leave at once rather than by expiry: the others take the partitions now.
            if self.log.leases is not None:
                await _quietly(self.log.leases.delete(self.id))

    # --- leases and ownership ---------------------------------------------------------------------

    async def _renew(self) -> None:
        assert self.log.leases is not None
        await self.log.leases.put(
            self.id, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        )

    async def live_workers(self) -> list[str]:
        assert self.log.leases is not None
        try:
            return list(await self.log.leases.keys())
        except NoKeysError:
            return []

    async def _leases(self, stop: asyncio.Event) -> None:
        every = min(
            self.lease_s / 3.0, 1.0
        )  # a look a second: a dead worker is seen soon after its lease ends
        while not stop.is_set():
            try:
                await self._renew()
                await self._rebalance()
                await self._heal()
            except Exception:  # NATS away: keep trying; the offsets fence whatever happens meanwhile
                log.warning("worker %s: lease renewal failed", self.id, exc_info=True)
            await asyncio.sleep(every)

    async def _heal(self) -> None:
        """Follow again every partition we own but do not read. A (re)subscription that failed half
        way (NATS away while a fenced partition was being read on) leaves the partition ours by the
        leases with no subscription: nobody would apply it until the next rebalance, which may
        never come (CI saw a partition unread for the 40 s of a test after a NATS restart)."""
        unread = sorted(self.owned - self._subs.keys())
        if not unread:
            return
        log.warning("worker %s: partitions %s are ours but unread: following them again", self.id, unread)
        committed = await asyncio.to_thread(self._read_offsets, unread)
        for p in unread:
            if p not in self._subs:  # not followed by a fence meanwhile
                await self._follow(p, committed.get(p, 0))
        self._rescope = True  # read on from the store's offsets: the engine from the store too

    async def _rebalance(self) -> None:
        listed = set(await self.live_workers())
        # A worker missing from one listing is not taken for dead yet: a listing made while its
        # lease is being renewed can miss it. Twice in a row (a renewal period apart) it is.
        for w in listed:
            self._missing.pop(w, None)
        for w in self._known - listed:
            self._missing[w] = self._missing.get(w, 0) + 1
        live = listed | {w for w, n in self._missing.items() if n < 2}
        self._missing = {w: n for w, n in self._missing.items() if n < 2}
        self._known = live
        mine = partitions.owned(self.id, live, self.log.partitions)
        if mine == self.owned:
            return
        lost, gained = self.owned - mine, mine - self.owned
        log.info(
            "worker %s: partitions %d (+%d, -%d) among %d workers",
            self.id,
            len(mine),
            len(gained),
            len(lost),
            len(live) or 1,
        )
        try:
            async with self._following:
                for p in lost:
                    sub = self._subs.pop(p, None)
                    if sub is not None:
                        await _quietly(sub.unsubscribe())
                    self.offsets.pop(p, None)
                    self._generation[p] = self._generation.get(p, 0) + 1  # what it left in the inbox is void
                self.owned -= lost
            self._rescope = True  # the apply loop rebuilds the engine while we subscribe
            # A partition counts as ours once it is followed: if the database or NATS fails half way
            # (a restart), the rest are still "gained" at the next renewal and taken then, rather
            # than owned and never read. (Ours just before: what the new subscription delivers while
            # it is being made must not be passed over as another worker's.)
            began = time.monotonic()
            committed = await asyncio.to_thread(self._read_offsets, sorted(gained))
            for p in sorted(gained):
                self.owned |= {p}
                try:
                    await self._follow(p, committed.get(p, 0))
                except BaseException:
                    self.owned -= {p}
                    raise
            log.info(
                "worker %s: following %d new partitions took %.2f s",
                self.id,
                len(gained),
                time.monotonic() - began,
            )
        finally:
            self._rescope = True

    def _read_offsets(self, wanted: Sequence[int]) -> dict[int, int]:
        if not wanted:
            return {}
        with self.db.connect() as conn:
            rows = conn.execute(
                select(t.cluster_offsets.c.partition, t.cluster_offsets.c.seq).where(
                    t.cluster_offsets.c.partition.in_(list(wanted))
                )
            )
            return {int(p): int(s) for p, s in rows}

    async def _follow(self, partition: int, applied: int) -> None:
        """Read `partition` from just after `applied`, in order (an ordered consumer: no acks to
        wait out when the previous owner died, the offsets in PostgreSQL are the truth)."""
        async with self._following:
            if partition in self.owned:  # not given up by a rebalance meanwhile
                await self._subscribe(partition, applied)

    async def _subscribe(self, partition: int, applied: int) -> None:
        old = self._subs.pop(partition, None)
        if old is not None:
            await _quietly(old.unsubscribe())
        self.offsets[partition] = applied
        # What the old subscription queued and was not applied yet is delivered again by the new
        # one, in order; the old copies are passed over (by their generation) rather than applied
        # out of order, or, worse, taken as the newer ones with those in between skipped.
        generation = self._generation[partition] = self._generation.get(partition, 0) + 1
        inbox = self._inbox

        async def take(msg: Any) -> None:
            headers = msg.headers or {}
            seq = msg.metadata.sequence.stream
            await inbox.put(_Message(partition, seq, msg.data, headers.get(KIND, ""), generation))

        self._subs[partition] = await self.log.js.subscribe(
            self.log.names.partition_subject(partition),
            stream=self.log.names.stream,
            ordered_consumer=True,
            idle_heartbeat=HEARTBEAT_S,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=applied + 1),
            cb=take,
        )

    async def _refresh_map(self, at_most_every_s: float = 0.0) -> None:
        if time.monotonic() - self._map_at < at_most_every_s:
            return
        self._map = await asyncio.to_thread(self._load_map)
        self._map_at = time.monotonic()

    def _load_map(self) -> partitions.PartitionMap:
        with self.db.connect() as conn:
            return partitions.build(
                registry.load_devices(conn), registry.load_orders(conn), self.log.partitions
            )

    # --- applying ---------------------------------------------------------------------------------

    async def _apply(self, stop: asyncio.Event) -> None:
        pending: list[_Message | _Local] = []
        while not stop.is_set():
            try:
                pending = await self._apply_next(pending)
            except Exception:  # unforeseen: this task must not end while the worker holds leases
                log.exception("worker %s: applying failed; rebuilding and trying again", self.id)
                self._rescope = True
                await asyncio.sleep(RETRY_S)

    async def _apply_next(self, pending: list[_Message | _Local]) -> list[_Message | _Local]:
        """One step of `_apply`: a batch from `pending` (or the inbox); returns what is left."""
        if self._rescope:
            try:
                await self._load_scope()
            except Exception:  # the database away (a restart): try again
                log.warning("worker %s: loading the engine failed; retrying", self.id, exc_info=True)
                await asyncio.sleep(RETRY_S)
                return pending
        if not pending:
            pending = await self._take()
        # A registry change ends its batch: the reports after it are judged by the engine as it
        # stands after the change (rebuilt first if people moved between partitions).
        cut = next(
            (i + 1 for i, m in enumerate(pending) if isinstance(m, _Message) and m.kind == RELOAD),
            len(pending),
        )
        batch, rest = pending[:cut], pending[cut:]
        try:
            await self._one_batch(batch)
        except Fenced as fenced:
            self.fenced += 1
            pending = [
                m for m in pending if _retry(m) and (isinstance(m, _Local) or m.partition != fenced.partition)
            ]
            try:
                await self._fenced(fenced.partition)
            except Exception:  # database or NATS away: the next batch of it is fenced again
                log.warning("worker %s: reading on after a fence failed", self.id, exc_info=True)
                self._rescope = True
                await asyncio.sleep(RETRY_S)
            return pending
        except _Stale:
            return pending  # the engine is rebuilt for the people our partitions hold now; same batch
        except Exception:
            log.exception("worker %s: a batch of %d messages failed; retrying", self.id, len(batch))
            # The processor rebuilds its engine after a failed commit, but when the database is
            # still away that rebuild fails too, and the engine keeps what the lost transaction
            # changed (an alert it opened, say): retried on that engine, the batch would not open
            # the alert again and it would never be stored. Rebuild it before the retry.
            self._rescope = True
            await asyncio.sleep(RETRY_S)
            return [m for m in pending if _retry(m)]
        return rest

    async def _take(self) -> list[_Message | _Local]:
        """The next messages: all that wait, up to MAX_BATCH; none when the engine's next deadline
        comes first (the batch is then a Tick)."""
        due = self.processor.engine.next_deadline()
        wait = (
            IDLE_WAIT_S if due is None else max(0.0, min(IDLE_WAIT_S, (due - self.clock()).total_seconds()))
        )
        try:
            first = (
                await asyncio.wait_for(self._inbox.get(), timeout=wait)
                if wait > 0
                else self._inbox.get_nowait()
            )
        except (TimeoutError, asyncio.QueueEmpty):
            return []
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._inbox.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _load_scope(self) -> None:
        # Cleared first: a rebalance during the load asks for another; a failed load is tried again.
        self._rescope = False
        try:
            await self._refresh_map()
            scope = self._map.members(self.owned)
            now = self.clock()
            unsettle_heap()
            await asyncio.to_thread(self.processor.load, now, scope)
            settle_heap()  # as the embedded runner does: no full collections over the engine
        except BaseException:
            self._rescope = True
            raise
        if self._make_deliverer is not None:
            # Not awaited here: the old deliverer's sends in flight wait for their records, which
            # this loop applies; stopping it from inside the loop would stall both until timeout.
            previous = self._deliverer_turn
            self._deliverer_turn = asyncio.create_task(self._new_deliverer(previous))
        if self._make_sender is not None:
            # the same for her messages: only our partitions' protected persons', one sender at a time
            previous_sender = self._sender_turn
            self._sender_turn = asyncio.create_task(self._new_sender(previous_sender))
        log.info(
            "worker %s: engine loaded for %d people in %d partitions", self.id, len(scope), len(self.owned)
        )

    async def _new_deliverer(self, previous: asyncio.Task[None] | None) -> None:
        """The pushes of our partitions' alerts, and only those: two workers never send the same
        delivery, except in the seconds of a handover (the same id twice: receivers dedupe)."""
        assert self._make_deliverer is not None
        if previous is not None:
            await _quietly(previous)  # one change of deliverer at a time, in order
        if self.deliverer is not None:
            await self.deliverer.stop()
        self.deliverer = self._make_deliverer(self.submit, self._scoped_outbox)
        await self.deliverer.start()

    async def _new_sender(self, previous: asyncio.Task[None] | None) -> None:
        """Her messages, of our partitions' protected persons only (as `_new_deliverer`)."""
        assert self._make_sender is not None
        if previous is not None:
            await _quietly(previous)
        if self.sender is not None:
            await self.sender.stop()
        self.sender = self._make_sender(self.submit, self._scoped_notices)
        await self.sender.start()

    def _scoped_notices(self) -> list[Notice]:
        """What her messages' sender takes over at its start: the pending ones of our partitions."""
        with self.db.connect() as conn:
            pending = notify_records.pending(conn)
        return [n for n in pending if self.processor.owns(None, n.person_id)]

    async def _fenced(self, partition: int) -> None:
        """Another worker applied `partition` since we read it: read on from what it committed (if
        the partition is still ours by the leases; if not, the next rebalance drops it)."""
        log.warning(
            "worker %s: partition %d was applied elsewhere; reading on from the store", self.id, partition
        )
        committed = await asyncio.to_thread(self._read_offsets, [partition])
        await self._follow(partition, committed.get(partition, 0))  # if still ours
        self._rescope = True  # the engine was rebuilt by the processor; rebuild it for our scope

    async def _one_batch(self, messages: list[_Message | _Local]) -> None:
        now = self.clock()
        commands: list[Command[Any]] = []
        # where each command's answer goes: a local future, a step's reply subject, or nowhere; a
        # report's Ingest holds its partition here until `_posts_joined` (then nowhere)
        sinks: list[Future[Any] | str | int | None] = []
        last: dict[int, int] = {}
        reloaded = False
        changes: list[str] = []  # the registry changes this batch applies, marked seen once committed
        taken = 0
        for m in messages:
            if isinstance(m, _Local):
                commands.append(m.command)
                sinks.append(m.future)
                continue
            if (
                m.partition not in self.offsets  # not ours (any more, or not yet followed)
                or m.generation != self._generation.get(m.partition)
                or m.seq <= self.offsets[m.partition]
            ):
                continue  # not ours any more, from a subscription since replaced, or already applied
            last[m.partition] = m.seq
            taken += 1
            if m.kind == RELOAD:
                reload = self._reload(m, changes)
                if reload is not None:
                    await self._widen_scope()
                    commands.append(reload)
                    sinks.append(None)
                    reloaded = True
                continue
            if m.kind == OFFLINE:
                try:
                    body = json.loads(m.data)
                    offline = Offline(str(body["device"]), datetime.fromisoformat(body["at"]))
                except (ValueError, KeyError, TypeError):
                    _unreadable(self.id, m)
                    continue
                commands.append(offline)
                sinks.append(None)
                continue
            if m.kind == STEP:
                try:
                    step, reply = steps.decode(m.data)
                except ValueError:
                    _unreadable(self.id, m)
                    continue
                commands.append(step)
                sinks.append(reply)
                continue
            for command in await self._ingest(m):
                commands.append(command)
                sinks.append(m.partition)
        commands, answers = _posts_joined(commands, sinks)
        moves = tuple(Advance(p, self.offsets[p], seq, self.id) for p, seq in sorted(last.items()))
        advances = [Advances(moves)] if moves else []
        due = self.processor.engine.next_deadline()
        if due is not None and due <= now:
            commands.append(Tick())
            answers.append(None)
        if not commands and not advances:
            return
        try:
            results, published = await asyncio.to_thread(self.processor.run, [*advances, *commands], now)
        except Exception as exc:
            for sink in answers:
                if isinstance(sink, Future) and not sink.done():
                    sink.set_exception(exc)  # a local command is not retried: its caller retries
            raise
        self.batches += 1
        self.applied += taken
        self.offsets.update(last)
        for sink, result in zip(answers, results[len(advances) :], strict=True):
            if isinstance(sink, Future):
                if not sink.done():
                    if isinstance(result, BaseException):
                        sink.set_exception(result)
                    else:
                        sink.set_result(result)
            elif isinstance(sink, str):
                await _quietly(self.log.nc.publish(sink, steps.answer(result)))
        # Seen only once committed: a batch that failed is retried with its registry changes.
        for change in changes:
            self._reloads_seen[change] = None
        while len(self._reloads_seen) > 10_000:
            self._reloads_seen.pop(next(iter(self._reloads_seen)))
        if published and self._publish is not None:
            try:
                await self._publish(published)
            except Exception:
                log.exception("worker %s: publishing a committed batch failed", self.id)
        if self.deliverer is not None and (published.deliveries or published.acks):
            self.deliverer.accept(published.deliveries, published.acks)
        if self.sender is not None and published.notices:
            self.sender.accept(published.notices)
        if reloaded:
            # a registry change may move people between partitions: take the new map, and rebuild
            # the engine if the people of our partitions changed
            await self._refresh_map()
            if self._map.members(self.owned) != self.processor.scope:
                log.info("worker %s: a registry change moved people between partitions: rebuilding", self.id)
                self._rescope = True

    async def _widen_scope(self) -> None:
        """Before a registry change is taken in: people new to the registry who land in our
        partitions join the engine's scope at once (the change itself puts their records in), so
        registering a caseload does not rebuild the engine once per person. Someone who moved here
        from another partition, or away, needs the rebuild (their past is in the store)."""
        before = self._map
        await self._refresh_map()
        scope = self.processor.scope or frozenset()
        now_ours = self._map.members(self.owned)
        arrived = now_ours - scope
        if scope <= now_ours and not any(p in before.people for p in arrived):
            self.processor.scope = now_ours

    def inbox_depth(self) -> int:
        return self._inbox.qsize()

    def submit(self, command: Command[Any]) -> Future[Any]:
        """Run a command of this worker's own in its next batch (the deliverer's records): from the
        event loop's thread only."""
        future: Future[Any] = Future()
        self._inbox.put_nowait(_Local(command, future))
        return future

    def _scoped_outbox(self) -> OutboxState:
        """What the deliverer takes over at its start: the pending pushes (and the pushes awaiting a
        dispatch system's acknowledgement) of alerts whose people are in our partitions."""
        with self.db.connect() as conn:
            pending, awaiting = Outbox.pending(conn), Outbox.awaiting_ack(conn)
            ids = sorted({p.alert_id for p in pending} | {a[1] for a in awaiting})
            owners: dict[str, tuple[str | None, str | None]] = {}
            for chunk in range(0, len(ids), 500):
                rows = conn.execute(
                    select(t.alerts.c.id, t.alerts.c.subject_id, t.alerts.c.protected_person_id).where(
                        t.alerts.c.id.in_(ids[chunk : chunk + 500])
                    )
                )
                owners.update({r.id: (r.subject_id, r.protected_person_id) for r in rows})
        ours = {a for a, (s, p) in owners.items() if self.processor.owns(s, p)}
        return [p for p in pending if p.alert_id in ours], [a for a in awaiting if a[1] in ours]

    def _reload(self, m: _Message, batch: list[str]) -> Reload | None:
        try:
            body = json.loads(m.data)
            change = str(body.get("id", ""))
            reload = Reload(
                tuple(map(str, body.get("devices", ()))),
                tuple(map(str, body.get("orders", ()))),
                tuple(map(str, body.get("zones", ()))),
            )
        except (ValueError, TypeError, AttributeError):
            _unreadable(self.id, m)
            return None
        if change in self._reloads_seen or change in batch:
            return None  # the same change, told on another of our partitions
        batch.append(change)
        return reload

    async def _ingest(self, m: _Message) -> list[Command[Any]]:
        try:
            env = envelope.decode(m.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            _unreadable(self.id, m)
            return []
        reports = env.reports
        known = self.processor.engine.devices
        strays = [r for r in reports if r.device_id not in known]
        if strays:
            # Sent here by an edge whose map was older than ours (a group moved): forward each to
            # where its wearer is now, before this partition's offset moves past it. A device our
            # map does not know may have been registered since we read it: read it again first.
            fresh = any(self._map.of_device(r.device_id) is None for r in strays)
            await self._refresh_map(at_most_every_s=0.0 if fresh else 1.0)
            keep = []
            forward: dict[int, list[Any]] = {}
            for r in reports:
                target = self._map.of_device(r.device_id) if r.device_id not in known else m.partition
                if r.device_id not in known and target in self.owned:
                    # ours by the registry as it is now, unknown to the engine: it was built before
                    # the device (or its wearer's order) was registered
                    log.info(
                        "worker %s: device %s is ours but not in the engine: rebuilding it",
                        self.id,
                        r.device_id,
                    )
                    self._rescope = True
                    raise _Stale
                if target is None:
                    keep.append(r)  # unknown or unbound: the processor refuses it as the embedded mode does
                else:
                    forward.setdefault(target, []).append(r)
            for target, moved in forward.items():
                await self.log.append(
                    target, envelope.encode(moved, env.received_at, env.only_device, env.vet)
                )
                self.forwarded += len(moved)
            reports = keep
        if not reports:
            return []
        return [Ingest(tuple(enumerate(reports)), env.received_at, env.only_device, env.vet)]


def _posts_joined(
    commands: list[Command[Any]], sinks: list[Future[Any] | str | int | None]
) -> tuple[list[Command[Any]], list[Future[Any] | str | None]]:
    """The batch's commands with the parts of each post joined into one Ingest. An edge splits a
    post's reports by partition (a gateway's 100 fixes touch ~50 of 64 partitions), and a worker's
    batch holds the parts of a few posts interleaved. Each Ingest has its own clock receipt,
    look-ups and flushes; joined, a post is judged once, as the embedded mode judges it.

    A log message's Ingest comes with its partition in place of a sink (int). A part joins the
    Ingest of its post (same receipt, device restriction, vetting) only where that keeps every
    partition's reports in their log order: never ahead of an earlier part of its partition that
    went elsewhere, never across any other command (a registry change, a last will, a step, a
    local command). Within a partition is everything a rule needs together (partitions.py), so
    each rule sees the reports as they came. The indices are the reports' places in the joined
    Ingest (a worker answers no one with them)."""
    kept: list[tuple[Command[Any], Future[Any] | str | None, list[Report] | None]] = []
    open_at: dict[tuple[datetime, str | None, bool], int] = {}  # post -> place in `kept` of its Ingest
    latest: dict[int, int] = {}  # partition -> place in `kept` of its latest report
    for command, sink in zip(commands, sinks, strict=True):
        if not (isinstance(command, Ingest) and isinstance(sink, int)):
            kept.append((command, None if isinstance(sink, int) else sink, None))
            open_at.clear()  # nothing moves across another command
            continue
        post = (command.received_at, command.only_device, command.vet)
        place = open_at.get(post)
        reports = [r for _, r in command.reports]
        if place is not None and place >= latest.get(sink, -1):
            joined = kept[place][2]
            assert joined is not None
            joined += reports
        else:
            place = open_at[post] = len(kept)
            kept.append((command, None, reports))
        latest[sink] = place
    out = [
        replace(c, reports=tuple(enumerate(r)))
        if isinstance(c, Ingest) and r is not None and len(r) > len(c.reports)
        else c
        for c, _, r in kept
    ]
    return out, [sink for _, sink, _ in kept]


def _unreadable(worker: str, m: _Message) -> None:
    """A log message no edge of this version wrote: passed over with an error in the log, never
    retried for ever (a partition stuck on it would hold back every alarm behind it)."""
    log.error(
        "worker %s: partition %d seq %d (%s) cannot be read; passed over", worker, m.partition, m.seq, m.kind
    )


def _retry(m: _Message | _Local) -> bool:
    """Log messages are applied again after a failed batch; a local command whose caller was told
    of the failure is not (its caller, the deliverer, tries again itself)."""
    return isinstance(m, _Message) or not m.future.done()


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.debug("ignored while stopping", exc_info=True)
