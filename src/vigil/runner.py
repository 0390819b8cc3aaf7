"""Runs the processor on its own thread: commands queue up while a batch commits (group commit),
and the next batch takes all of them. The same thread keeps the engine's timer, so time-driven
alerts (silence, curfew start) fire at their deadline, to the second, not on a sweep."""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from datetime import UTC, datetime
from typing import Any, TypeVar

from vigil.commands import Command, Tick
from vigil.processor import Processor, Published
from vigil.store.database import Checkpointer

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
MAX_BATCH = 512  # commands per transaction; a command may itself hold a batch of reports
IDLE_WAIT_S = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def settle_heap() -> None:
    """After an engine is loaded: the registry and tracks it holds live as long as the process (or
    until the next load), so freeze them out of the collector, and collect the young generation
    less often. A full collection over 100,000 tracks takes hundreds of milliseconds, which is the
    whole tail of receipt -> alert latency; done every few thousand allocations, it is also a good
    part of the CPU. Called once per load: what an earlier load froze is unfrozen first
    (`unsettle_heap`), so an engine rebuilt by a worker does not stay frozen, and leak, for ever."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 1_000)


def unsettle_heap() -> None:
    """Before an engine is rebuilt: hand what was frozen back to the collector (the old engine's
    objects become garbage with the rebuild)."""
    gc.unfreeze()


class Runner:
    def __init__(
        self,
        processor: Processor,
        publish: Callable[[Published], None],
        clock: Clock = utc_now,
    ) -> None:
        self.processor = processor
        self._publish = publish
        self._clock = clock
        self._queue: queue.SimpleQueue[tuple[Command[Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="vigil-processor", daemon=True)
        self._checkpointer = Checkpointer(processor.db)
        self.batches = 0  # committed (read by /metrics, like the two below)
        self.failed = 0  # batches whose transaction failed: every command in them was answered with the error

    def start(self) -> None:
        self.processor.load(self._clock())
        settle_heap()
        self._thread.start()
        self._checkpointer.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._checkpointer.stop()
        unsettle_heap()  # a stopped server's engine is garbage (tests start many in one process)

    def submit(self, command: Command[T]) -> Future[T]:
        """Queue a command for the next batch. The future holds what its handler answered, or raises
        the Refusal it was turned down with (or the error that failed its whole batch)."""
        future: Future[T] = Future()
        self._queue.put((command, future))
        return future

    def depth(self) -> int:
        """Commands waiting for the next batch (approximate, as any queue's size read from outside)."""
        return self._queue.qsize()

    def _wait(self) -> float:
        due = self.processor.engine.next_deadline()
        if due is None:
            return IDLE_WAIT_S
        return max(0.0, min(IDLE_WAIT_S, (due - self._clock()).total_seconds()))

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._wait())
            except queue.Empty:
                first = (Tick(), Future())
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._run(batch)
            if stopping:
                return

    def _run(self, batch: list[tuple[Command[Any], Future[Any]]]) -> None:
        now = self._clock()
        commands: list[Command[Any]] = [command for command, _ in batch]
        due = self.processor.engine.next_deadline()
        if due is not None and due <= now and not any(isinstance(c, Tick) for c in commands):
            commands.append(Tick())
        try:
            results, published = self.processor.run(commands, now)
        except Exception as exc:
            self.failed += 1
            for _, future in batch:
                _answer(future, exc)
            return
        self.batches += 1
        # Publish before answering: once a caller has its answer, the batch is already on its way to
        # every viewer (both hand-offs are queued on the same event loop, in this order).
        if published:
            try:
                self._publish(published)
            except Exception:
                log.exception("publishing a committed batch failed")
        for (_, future), result in zip(batch, results, strict=False):
            _answer(future, result)


def _answer(future: Future[Any], result: object) -> None:
    """Hand a command's answer to whoever waits for it. A caller that stopped waiting (a device
    connection closed, a request cancelled) cancelled its future: its command still ran, and a
    device not acknowledged sends the report again, which the store takes as a duplicate."""
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass  # cancelled, even between a check and the answer: no one is waiting
