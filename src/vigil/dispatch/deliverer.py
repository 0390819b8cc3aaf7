"""The deliverer: sends the outbox's pushes, in order per alert and target, until each is delivered.

It runs on the server's event loop. New pushes are handed over the moment their transaction
commits (no polling: the push leaves within milliseconds); on start-up it takes back whatever the
outbox still holds, so nothing committed is lost to a restart or a crash. A push's body is rendered
here, from the draft staged with it, before its first send (out of the writer's transaction, one
push per turn of the loop); the first attempt recorded stores it, and retries send those bytes. A
push that cannot be rendered fails its attempt and alarms the operators at once. Every attempt is
recorded through the single writer. It never gives up: a push that keeps failing is retried with backoff and
jitter (a target's Retry-After is honoured), and after a set time operators are alarmed and the
fallback channel is used while retries go on. A violation that its target does not acknowledge in
time is escalated to the next target by priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from vigil.commands import Attempt, DispatchCommand, Escalate, Record, Refusal
from vigil.dispatch import draft, signing
from vigil.dispatch.fallback import Fallback, Notice
from vigil.dispatch.outbox import Pending
from vigil.dispatch.routing import Target

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Lane = tuple[str, str]  # (target, alert): pushes about one alert reach one target in order

MAX_WAIT_S = 0.5  # the loop looks at its clock at least this often (tests move the clock by hand)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    timeout_s: float = 5.0  # per request
    backoff_s: float = 1.0  # first retry after about this long, doubling
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0  # a target asking for a longer pause still gets retried by then
    alarm_after_s: float = 120.0  # undelivered this long: operators' alarm and the fallback channel
    ack_timeout_s: float = 60.0  # a pushed violation not acknowledged this long is escalated


class Deliverer:
    def __init__(
        self,
        *,
        submit: Callable[[DispatchCommand], Future[Any]],
        load: Callable[[], tuple[list[Pending], list[tuple[int, str, str, datetime]]]],
        targets: Callable[[], list[Target]],
        settings: DeliverySettings,
        fallback: Fallback,
        client: httpx.AsyncClient,
        clock: Clock,
        wall: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._submit = submit
        self._load = load
        self._load_targets = targets
        self.settings = settings
        self._fallback = fallback
        self._client = client
        self._clock = clock  # decides what is due (the server's clock; tests move it)
        self._wall = wall  # stamps signatures: receivers check it against their real clocks
        self._rng = rng or random.Random()
        self._lanes: dict[Lane, deque[Pending]] = {}
        self._busy: set[Lane] = set()
        self._awaiting: dict[int, tuple[str, str, datetime]] = {}  # delivery -> (alert, target, deadline)
        self._targets: dict[str, Target] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._render_turn = asyncio.Lock()  # one render per turn of the loop: see `_render`
        # Counted for /metrics (read on this loop, like the lanes: `backlog`)
        self.delivered = 0
        self.failures = 0  # attempts that did not deliver (refused, timed out, unreachable, gone)
        self.alarms = 0  # operators' alarms: a push undelivered past `alarm_after_s`
        self.escalations = 0  # pushes not acknowledged in time, sent on to the next target

    # --- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        pending, awaiting = await asyncio.to_thread(self._load)
        self._targets = {t.id: t for t in await asyncio.to_thread(self._load_targets)}
        self._add(pending)
        ack = timedelta(seconds=self.settings.ack_timeout_s)
        for delivery_id, alert_id, target_id, pushed_at in awaiting:
            self._awaiting[delivery_id] = (alert_id, target_id, pushed_at + ack)
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="vigil-deliverer")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._sending:
            await asyncio.wait(self._sending, timeout=self.settings.timeout_s + 1)

    async def drain(self, timeout_s: float) -> list[Pending]:
        """Wait until every push is delivered or `timeout_s` passes; returns what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._lanes and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        return [p for lane in self._lanes.values() for p in lane]

    # --- hand-over -----------------------------------------------------------------------------------

    def accept(self, pending: Iterable[Pending], acks: Iterable[tuple[str, str]]) -> None:
        """Pushes just committed, and acknowledgements just recorded (on the event loop)."""
        self._add(pending)
        acked = set(acks)
        if acked:
            for delivery_id, (alert_id, target_id, _) in list(self._awaiting.items()):
                if (alert_id, target_id) in acked:
                    del self._awaiting[delivery_id]
        self._wake.set()

    def refresh(self) -> None:
        """The targets changed (URL, secret, enabled): read them again before the next send."""
        self._targets = {}
        self._wake.set()

    def kick(self) -> None:
        """Look again now (from any thread: an asyncio event must be set on its own loop)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def backlog(self) -> tuple[int, datetime | None]:
        """How many pushes are not yet delivered (in flight included), and when the oldest of them
        was staged (None: none is waiting)."""
        count, oldest = 0, None
        for queue in self._lanes.values():
            count += len(queue)
            for push in queue:
                if oldest is None or push.created_at < oldest:
                    oldest = push.created_at
        return count, oldest

    def awaiting(self) -> int:
        """Pushes delivered that wait for their target's acknowledgement."""
        return len(self._awaiting)

    def _add(self, pending: Iterable[Pending]) -> None:
        ack = timedelta(seconds=self.settings.ack_timeout_s)
        for push in pending:
            self._lanes.setdefault((push.target_id, push.alert_id), deque()).append(push)
            if push.needs_ack:
                self._awaiting[push.delivery_id] = (push.alert_id, push.target_id, push.created_at + ack)

    # --- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._round()
            except Exception:
                log.exception("deliverer round failed; retrying")
            wait = self._next_wait()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _round(self) -> None:
        if not self._targets:
            self._targets = {t.id: t for t in await asyncio.to_thread(self._load_targets)}
        now = self._clock()
        for lane, queue in self._lanes.items():
            if lane not in self._busy and queue and queue[0].next_attempt_at <= now:
                self._busy.add(lane)
                task = asyncio.create_task(self._send(lane, queue[0]))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        for delivery_id, (_, target_id, deadline) in list(self._awaiting.items()):
            if deadline <= now and self._awaiting.pop(delivery_id, None) is not None:
                self.escalations += 1
                reason = f"no acknowledgement from {target_id} within {self.settings.ack_timeout_s:g} s"
                await self._tell(Escalate(delivery_id, reason))

    def _next_wait(self) -> float:
        now = self._clock()
        times = [q[0].next_attempt_at for lane, q in self._lanes.items() if q and lane not in self._busy]
        times += [deadline for _, _, deadline in self._awaiting.values()]
        if not times:
            return MAX_WAIT_S
        return max(0.0, min(MAX_WAIT_S, (min(times) - now).total_seconds()))

    async def _send(self, lane: Lane, push: Pending) -> None:
        try:
            attempt = await self._attempt(push)
            alarm = attempt.alarm
            if not await self._tell(Record((attempt,))):
                # Not recorded (the database is away): try the same push again shortly.
                attempt = replace(attempt, delivered=False, gone=False, alarm=False)
                attempt = replace(attempt, next_attempt_at=self._clock() + timedelta(seconds=1))
                alarm = False
            self._settle(lane, push, attempt)
            if attempt.delivered:
                self.delivered += 1
            else:
                self.failures += 1
            if alarm:
                self.alarms += 1
                text = (
                    f"Vigil could not deliver alert {push.alert_id} to dispatch target {push.target_id} "
                    f"for {self.settings.alarm_after_s:g} s ({attempt.error or attempt.status}); act by phone."
                )
                await self._fallback.send(Notice(push.alert_id, push.target_id, text))
        except Exception:
            self.failures += 1
            log.exception("sending delivery %d failed unexpectedly", push.delivery_id)
            self._settle(lane, push, Attempt(push.delivery_id, self._clock(), None, "internal error",
                                             next_attempt_at=self._clock() + timedelta(seconds=1)))  # fmt: skip
        finally:
            self._busy.discard(lane)
            self._wake.set()

    async def _attempt(self, push: Pending) -> Attempt:
        target = self._targets.get(push.target_id)
        status: int | None = None
        retry_after: float | None = None
        body, error = push.body, ""
        unrenderable = False
        if target is None or not target.enabled:
            error = "the target is disabled or removed"
        elif not body:
            body, error = await self._render(push)
            unrenderable = not body and bool(error)
            if not body and not error:
                error = "the deliverer stopped before rendering it"
        if target is not None and target.enabled and body:
            headers = {
                "content-type": "application/cloudevents+json; charset=utf-8",
                **signing.headers(target.secret, push.event_id, self._wall(), body),
            }
            try:
                answer = await self._client.post(
                    target.url, content=body, headers=headers, timeout=self.settings.timeout_s
                )
                status = answer.status_code
                error = "" if answer.is_success else f"HTTP {status} {answer.reason_phrase}".strip()
                retry_after = _retry_after(answer.headers.get("retry-after"), self._wall())
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        now = self._clock()
        sent = body  # recorded with the attempt: the delivery keeps the bytes its target was sent
        if status is not None and 200 <= status < 300:
            return Attempt(push.delivery_id, now, status, delivered=True, body=sent)
        if status == 410:
            return Attempt(push.delivery_id, now, status, error, gone=True, body=sent)
        if retry_after is not None and status in (429, 503):
            delay = min(retry_after, self.settings.retry_after_max_s)
        else:
            ceiling = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** min(push.attempts, 30))
            delay = ceiling * self._rng.uniform(0.5, 1.0)  # jitter: many retries must not land together
        overdue = (now - push.created_at).total_seconds() >= self.settings.alarm_after_s
        # A push that cannot be rendered will not get through by waiting: operators are told at once
        # (and it is tried again with backoff, in case what failed was passing).
        return Attempt(
            push.delivery_id,
            now,
            status,
            error,
            next_attempt_at=now + timedelta(seconds=delay),
            alarm=(overdue or unrenderable) and not push.alarmed,
            body=sent,
        )

    async def _render(self, push: Pending) -> tuple[bytes, str]:
        """The body from the push's draft; b"" and why, if it cannot be rendered (the attempt then
        fails and alarms). On the event loop, about a millisecond with CAP and EIDO, one push per
        turn of the loop: a burst's 300 renders then interleave with the devices' requests and
        answers instead of holding the loop for half a second. (Worker threads were tried: under
        load every hand-over between threads waits for the interpreter's lock, which cost more.)"""
        if self._stopping:
            return b"", ""  # not a failure of the push: it is taken back at the next start
        try:
            if not push.draft:
                raise ValueError("the push has neither a body nor a draft")
            async with self._render_turn:
                body = draft.render(push.draft, push.target_id)
                await asyncio.sleep(0)  # the next render waits for the loop's next turn
            return body, ""
        except Exception as exc:
            log.exception("could not render delivery %d (event %s)", push.delivery_id, push.event_id)
            return b"", f"could not render the push: {type(exc).__name__}: {exc}"[:300]

    def _settle(self, lane: Lane, push: Pending, attempt: Attempt) -> None:
        queue = self._lanes.get(lane)
        if not queue or queue[0] is not push:
            return
        if attempt.delivered:
            queue.popleft()
        elif attempt.gone:
            # The target is gone: its whole queue is dropped (recorded as gone by the writer).
            for other in [k for k in self._lanes if k[0] == push.target_id]:
                del self._lanes[other]
            self._targets = {}
            return
        else:
            queue[0] = replace(
                push,
                body=push.body or attempt.body,  # rendered once: every retry sends these bytes
                attempts=push.attempts + 1,
                next_attempt_at=attempt.next_attempt_at or attempt.at,
                alarmed=push.alarmed or attempt.alarm,
            )
        if not queue:
            del self._lanes[lane]

    async def _tell(self, command: DispatchCommand) -> bool:
        try:
            await asyncio.wrap_future(self._submit(command))
        except Refusal:
            return True  # the writer judged it and turned it down: telling it again changes nothing
        except Exception:
            log.exception("the writer could not record %s", type(command).__name__)
            return False
        return True


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds, from either of its forms (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
