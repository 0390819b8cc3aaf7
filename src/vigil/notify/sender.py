"""The sender: her pushes and texts, after the commit, until each is delivered, refused for good,
or too old to be true.

It runs on the server's event loop, like the dispatch deliverer: messages are handed over the
moment their transaction commits, and on start-up it takes back whatever is still pending, so
nothing committed is lost to a restart. Every attempt is recorded through the single writer
(`Notified`). A push service that answers 404 or 410 has dropped her subscription: it is removed
(`records`). Retries back off with jitter and honour Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from vigil.commands import Notified, Refusal, Sent
from vigil.dispatch.deliverer import _retry_after
from vigil.notify import destination, sms, webpush
from vigil.notify.messages import Channel, Notice
from vigil.notify.vapid import VapidKey

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_WAIT_S = 0.5
GONE = frozenset({404, 410})  # RFC 8030 section 7.3: the subscription expired or was unsubscribed
# Refused for good: the request itself is wrong (a bad key, too large, not authorised): waiting
# will not change the answer. Recorded as failed, visible to the control centre.
REFUSED = frozenset({400, 401, 403, 413, 422})


@dataclass(frozen=True, slots=True)
class SenderSettings:
    timeout_s: float = 5.0
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    give_up_s: float = 3600.0
    push_ttl_s: int = 3600
    vapid_subject: str = "mailto:vigil@localhost"
    sms_url: str | None = None
    sms_token: str | None = None
    parallel: int = 8  # messages in flight at once
    allow_loopback: bool = False  # pushes to 127.0.0.1 (a test's push service), never in production


class Sender:
    def __init__(
        self,
        *,
        submit: Callable[[Notified], Future[Any]],
        load: Callable[[], list[Notice]],
        client: httpx.AsyncClient,
        key: VapidKey | None,
        settings: SenderSettings,
        clock: Clock,
        wall: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._submit = submit
        self._load = load
        self._client = client
        self._key = key  # None: no push can be signed (pushes fail their attempts, recorded)
        self.settings = settings
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._queue: dict[int, Notice] = {}
        self._busy: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.delivered = 0
        self.failures = 0

    async def start(self) -> None:
        for notice in await asyncio.to_thread(self._load):
            self._queue[notice.id] = notice
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="vigil-notify-sender")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._sending:
            await asyncio.wait(self._sending, timeout=self.settings.timeout_s + 1)

    def accept(self, notices: Iterable[Notice]) -> None:
        """Messages just committed (on the event loop)."""
        for notice in notices:
            self._queue[notice.id] = notice
        self._wake.set()

    def backlog(self) -> int:
        return len(self._queue)

    async def drain(self, timeout_s: float) -> list[Notice]:
        """Wait until nothing is left to send or `timeout_s` passes; returns what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._queue and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        return list(self._queue.values())

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                self._round()
            except Exception:
                log.exception("notify sender round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())

    def _round(self) -> None:
        now = self._clock()
        for notice in sorted(self._queue.values(), key=lambda n: n.id):
            if len(self._busy) >= self.settings.parallel:
                break
            if notice.id not in self._busy and notice.next_attempt_at <= now:
                self._busy.add(notice.id)
                task = asyncio.create_task(self._send(notice))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    def _next_wait(self) -> float:
        now = self._clock()
        times = [n.next_attempt_at for n in self._queue.values() if n.id not in self._busy]
        if not times:
            return MAX_WAIT_S
        return max(0.0, min(MAX_WAIT_S, (min(times) - now).total_seconds()))

    async def _send(self, notice: Notice) -> None:
        try:
            sent = await self._attempt(notice)
            if not await self._tell(Notified((sent,))):
                # not recorded (the database is away): the same message again shortly
                sent = replace(sent, state="pending", next_attempt_at=self._clock() + timedelta(seconds=1))
            if sent.state == "delivered":
                self.delivered += 1
            else:
                self.failures += 1
            self._settle(notice, sent)
        except Exception:
            self.failures += 1
            log.exception("sending notification %d failed unexpectedly", notice.id)
            self._settle(notice, Sent(notice.id, self._clock(), None, "internal error",
                                      next_attempt_at=self._clock() + timedelta(seconds=1)))  # fmt: skip
        finally:
            self._busy.discard(notice.id)
            self._wake.set()

    def _settle(self, notice: Notice, sent: Sent) -> None:
        if self._queue.get(notice.id) is not notice:
            return
        if sent.state != "pending":
            del self._queue[notice.id]
        else:
            self._queue[notice.id] = replace(
                notice, attempts=notice.attempts + 1, next_attempt_at=sent.next_attempt_at or sent.at
            )

    async def _attempt(self, notice: Notice) -> Sent:
        now = self._clock()
        age = (now - notice.created_at).total_seconds()
        if age >= self.settings.give_up_s:
            why = f"not delivered within {self.settings.give_up_s:g} s: no longer true, given up"
            return Sent(notice.id, now, None, why, state="expired")
        try:
            url, body, headers = self._request(notice)
        except Exception as exc:
            return self._retry(notice, now, None, f"could not build the request: {type(exc).__name__}: {exc}")
        status: int | None = None
        extensions: dict[str, Any] = {}
        if notice.channel is Channel.PUSH:
            # her endpoint is chosen by whoever holds her account: only a push service outside
            try:
                pinned = await destination.pin(url, allow_loopback=self.settings.allow_loopback)
            except destination.Refused as refused:
                return Sent(notice.id, self._clock(), None, str(refused), state="failed")
            except OSError as exc:
                return self._retry(
                    notice, self._clock(), None, f"could not resolve the endpoint: {exc}"[:300]
                )
            url, headers = pinned.url, {**headers, "Host": pinned.host_header}
            extensions = {"sni_hostname": pinned.server_name}
        try:
            answer = await self._client.post(
                url, content=body, headers=headers, timeout=self.settings.timeout_s, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return self._retry(notice, self._clock(), None, f"{type(exc).__name__}: {exc}"[:300])
        now = self._clock()
        status = answer.status_code
        if answer.is_success:
            return Sent(notice.id, now, status, state="delivered")
        error = f"HTTP {status} {answer.reason_phrase}".strip()
        if notice.channel is Channel.PUSH and status in GONE:
            return Sent(notice.id, now, status, error, state="gone")
        if status in REFUSED:
            return Sent(notice.id, now, status, f"{error}: {answer.text[:200]}".strip(": "), state="failed")
        wait = _retry_after(answer.headers.get("retry-after"), self._wall())
        return self._retry(notice, now, status, error, wait if status in (429, 503) else None)

    def _request(self, notice: Notice) -> tuple[str, bytes, dict[str, str]]:
        if notice.channel is Channel.PUSH:
            if self._key is None:
                raise RuntimeError("no VAPID key: pushes cannot be signed")
            body, headers = webpush.request(
                notice, self._key, self.settings.vapid_subject, self.settings.push_ttl_s, self._wall()
            )
            return notice.recipient, body, headers
        if not self.settings.sms_url:
            raise RuntimeError("no SMS gateway is configured (VIGIL_SMS_URL)")
        body, headers = sms.request(notice, self.settings.sms_token)
        return self.settings.sms_url, body, headers

    def _retry(
        self, notice: Notice, now: datetime, status: int | None, error: str, wait: float | None = None
    ) -> Sent:
        if wait is None:
            ceiling = min(
                self.settings.backoff_max_s, self.settings.backoff_s * 2 ** min(notice.attempts, 30)
            )
            wait = ceiling * self._rng.uniform(0.5, 1.0)  # jitter: retries must not land together
        wait = min(wait, self.settings.backoff_max_s * 10)
        return Sent(notice.id, now, status, error, next_attempt_at=now + timedelta(seconds=wait))

    async def _tell(self, command: Notified) -> bool:
        try:
            await asyncio.wrap_future(self._submit(command))
        except Refusal:
            return True
        except Exception:
            log.exception("the writer could not record the attempts at messages to her")
            return False
        return True
