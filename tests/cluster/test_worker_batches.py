"""A worker's batch, with the processor and the log stood in for (no NATS, no database): which log
messages it takes, in what order, and how far it moves its partition's offset.

The case that matters: a partition followed again (after a fence, a consumer re-created after a NATS
restart) while the old subscription's messages still wait in the inbox. The new subscription
delivers them again, from the committed offset, in order; the old copies must be passed over, not
applied out of order, and never taken in a way that skips the messages between them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vigil.cluster import envelope
from vigil.cluster.log import OFFLINE, RELOAD
from vigil.cluster.steps import STEP
from vigil.cluster.worker import Worker, _Message
from vigil.commands import Advance, Advances, Ingest
from vigil.domain.model import Fix
from vigil.processor import Published

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class _Engine:
    devices = {"D": object()}

    def next_deadline(self) -> None:
        return None


class _Processor:
    def __init__(self) -> None:
        self.engine = _Engine()
        self.scope: frozenset[Any] = frozenset()
        self.batches: list[list[Any]] = []

    def run(self, commands: list[Any], now: datetime) -> tuple[list[Any], Published]:
        self.batches.append(list(commands))
        return [None] * len(commands), Published()


class _Log:
    partitions = 4
    leases = None


def message(seq: int, generation: int) -> _Message:
    """Log message `seq` of partition 0: one fix whose time says which message it was."""
    fix = Fix("D", T0 + timedelta(seconds=seq), 37.6, 127.2)
    return _Message(0, seq, envelope.encode([fix], T0), "", generation)


def worker(applied: int, generation: int) -> tuple[Worker, _Processor]:
    processor = _Processor()
    w = Worker(None, _Log(), processor, lambda: T0, worker_id="w")  # type: ignore[arg-type]
    w.owned = frozenset({0})
    w.offsets = {0: applied}
    w._generation = {0: generation}
    return w, processor


def taken(processor: _Processor) -> tuple[list[int], list[Advance]]:
    [commands] = processor.batches
    seqs = [
        int((report.time - T0).total_seconds())
        for c in commands
        if isinstance(c, Ingest)
        for _, report in c.reports
    ]
    moves = [m for c in commands if isinstance(c, Advances) for m in c.moves]
    return seqs, moves + [c for c in commands if isinstance(c, Advance)]


def test_what_a_replaced_subscription_queued_is_passed_over_and_nothing_is_skipped() -> None:
    # Applied up to 8 (another worker's commit, read after a fence). The old subscription (1) had
    # queued 11 and 12; 9 and 10 were in the failed batch. The new one (2) delivers 9 to 12.
    w, processor = worker(applied=8, generation=2)
    inbox = [message(11, 1), message(12, 1), *(message(s, 2) for s in (9, 10, 11, 12))]
    asyncio.run(w._one_batch(inbox))
    seqs, advances = taken(processor)
    assert seqs == [9, 10, 11, 12]  # each once, in the log's order
    assert [(a.partition, a.from_seq, a.to_seq) for a in advances] == [(0, 8, 12)]
    assert w.offsets[0] == 12


def test_what_was_applied_is_not_taken_again() -> None:
    w, processor = worker(applied=10, generation=1)
    asyncio.run(w._one_batch([message(s, 1) for s in (9, 10, 11)]))
    seqs, advances = taken(processor)
    assert seqs == [11]
    assert [(a.from_seq, a.to_seq) for a in advances] == [(10, 11)]


def test_a_message_no_edge_wrote_is_passed_over_and_what_follows_it_applied() -> None:
    # a partition stuck on one unreadable message would hold back every alarm behind it
    w, processor = worker(applied=10, generation=1)
    bad = [_Message(0, 11, b"not json", kind, 1) for kind in (OFFLINE, RELOAD, STEP, "")]
    asyncio.run(w._one_batch([*bad, message(15, 1)]))
    seqs, advances = taken(processor)
    assert seqs == [15]
    assert [(a.from_seq, a.to_seq) for a in advances] == [(10, 15)]


class _Subscriptions:
    """JetStream's subscribe, stood in for: fails while `down`, else hands out a subscription."""

    def __init__(self) -> None:
        self.down = False
        self.made: list[tuple[str, int]] = []  # (subject, first sequence asked for)
        self.unsubscribed = 0

    async def subscribe(self, subject: str, **kw: Any) -> Any:
        if self.down:
            raise ConnectionError("NATS away")
        self.made.append((subject, kw["config"].opt_start_seq))
        outer = self

        class _Sub:
            async def unsubscribe(self) -> None:
                outer.unsubscribed += 1

        return _Sub()


class _Names:
    stream = "s"

    def partition_subject(self, p: int) -> str:
        return f"s.{p}"


def followed_worker(committed: int) -> tuple[Worker, _Subscriptions]:
    js = _Subscriptions()
    log_ = _Log()
    log_.js = js  # type: ignore[attr-defined]
    log_.names = _Names()  # type: ignore[attr-defined]
    w = Worker(None, log_, _Processor(), lambda: T0, worker_id="w")  # type: ignore[arg-type]
    w._read_offsets = lambda wanted: {p: committed for p in wanted}  # type: ignore[method-assign]
    w.owned = frozenset({0})
    return w, js


def test_a_partition_whose_follow_failed_is_followed_again_by_the_next_lease_round() -> None:
    # CI: a fence while NATS restarted; reading on failed half way, the old subscription gone and
    # no new one made. The partition stayed ours and unread: 40 s of acknowledged fixes unstored.
    async def scenario() -> None:
        w, js = followed_worker(committed=8)
        await w._follow(0, 5)
        js.down = True
        with pytest.raises(ConnectionError):
            await w._fenced(0)
        assert 0 in w.owned and 0 not in w._subs  # ours, unread
        with pytest.raises(ConnectionError):  # NATS still away: the lease round logs it, tries again
            await w._heal()
        assert 0 not in w._subs
        js.down = False
        w._rescope = False
        await w._heal()
        assert js.made[-1] == ("s.0", 9)  # from the store's offset, not from what it had read
        assert 0 in w._subs and w.offsets[0] == 8 and w._rescope

    asyncio.run(scenario())


def test_a_partition_given_up_while_it_was_being_followed_is_not_subscribed() -> None:
    async def scenario() -> None:
        w, js = followed_worker(committed=3)
        w.owned = frozenset()  # a rebalance gave it up before the fence read on
        await w._fenced(0)
        await w._heal()
        assert js.made == [] and w._subs == {}

    asyncio.run(scenario())
