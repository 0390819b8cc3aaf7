"""Drive a running Vigil server over HTTP exactly as devices and an operator would.

    driver = Driver("http://127.0.0.1:8000", device_token=gateway, registry_token=operator)
    await driver.register(caseload)                  # the registry, PUT by PUT, as an operator would
    await driver.send(sim.advance(until))            # what the devices sent by `until`
    await run_live(sim, driver, stop=stop_event)     # or: keep the simulation in step with the clock
    await driver.aclose()

Native devices (ankle monitors, smartwatches) POST JSON arrays to /v1/devices/messages with the
device (gateway) token as a Bearer header: one request per device and send instant, so a late batch
after a coverage gap travels as one body. Phones speak OsmAnd: GET /osmand with the query pairs and
?token=. Requests of one device leave in order (a device has one connection); different devices run
concurrently, up to `concurrency` requests at a time.

Like a device, the driver retries what the server asks it to retry -- a connection that failed and
503 (the store failed, nothing was kept) -- with a short backoff; retries are idempotent on the
server. A 4xx answer is a refusal: counted, never retried. Anything else, or retries exhausted,
counts as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from vigil_sim.caseload import Caseload
from vigil_sim.devices import Report
from vigil_sim.simulator import Simulation

log = logging.getLogger(__name__)

NATIVE_PATH = "/v1/devices/messages"
OSMAND_PATH = "/osmand"
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0)  # then it gives up: about 8 s in all
TIMEOUT_S = 10.0
HISTORY_S = 120.0  # how far back the recent-rate window can reach
_RETRIED = frozenset({503, 429})  # the server is busy or asks this client to slow down
MAX_RETRY_AFTER_S = 30.0


class RegistrationError(RuntimeError):
    """The server refused (or never answered) a registry write: the caseload is not fully loaded."""


@dataclass
class DriverStats:
    """What the driver has done so far; updated as answers come in.

    fixes/events: positions and device events (heartbeats not counted) in requests the server
    accepted (2xx). requests: requests answered (any status). refused: requests answered 4xx.
    failed: requests given up on (connection errors or 503 after every retry, or another 5xx)."""

    fixes: int = 0
    events: int = 0
    requests: int = 0
    refused: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    last_error: str = ""  # the latest refusal or failure, for a status line
    _recent: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def add_fixes(self, n: int, now: float | None = None) -> None:
        if n <= 0:
            return
        now = time.monotonic() if now is None else now
        self.fixes += n
        recent = self._recent
        second = float(int(now))
        if recent and recent[-1][0] == second:
            recent[-1] = (second, recent[-1][1] + n)
        else:
            recent.append((second, n))
        while recent and recent[0][0] < now - HISTORY_S:
            recent.popleft()

    def fixes_per_s(self, window_s: float = 10.0, now: float | None = None) -> float:
        """Fixes accepted per second over the last `window_s` seconds (or since the start, if
        shorter); whole seconds, so the current second counts in full."""
        now = time.monotonic() if now is None else now
        window = max(1.0, min(window_s, HISTORY_S, now - self.started))
        since = now - window
        total = sum(n for t, n in self._recent if t + 1.0 > since)
        return total / window


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    fixes: int
    events: int
    json: Any = None
    params: list[tuple[str, str | int | float | bool | None]] | None = None


def _native_request(reports: Sequence[Report]) -> _Request:
    messages = [r.payload for r in reports]
    fixes = sum(1 for m in messages if isinstance(m, dict) and "fix" in m)
    events = sum(1 for m in messages if isinstance(m, dict) and m.get("event", "heartbeat") != "heartbeat")
    return _Request("POST", NATIVE_PATH, fixes, events, json=messages)


def _osmand_request(report: Report, token: str) -> _Request:
    pairs = report.payload if isinstance(report.payload, list) else []
    params: list[tuple[str, str | int | float | bool | None]] = [*pairs, ("token", token)]
    keys = {k for k, _ in pairs}
    fixes = 1 if "lat" in keys else 0
    events = 1 if "alarm" in keys else 0
    return _Request("GET", OSMAND_PATH, fixes, events, params=params)


def _phase(path: str) -> str:
    """Registry writes that may run together: /v1/subjects/X, /v1/devices/X, .../zones/Z, ..."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) <= 3 else parts[3]


class Driver:
    def __init__(
        self,
        base_url: str,
        *,
        device_token: str,
        registry_token: str,
        concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`device_token`: a device token valid for every simulated device (a gateway token, not
        bound to one device). `registry_token`: a user allowed to write the registry. `transport`
        replaces the network (tests)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.stats = DriverStats()
        self._device_token = device_token
        self._registrar = {"Authorization": f"Bearer {registry_token}"}
        self._device = {"Authorization": f"Bearer {device_token}"}
        self._slots = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=TIMEOUT_S,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
        )

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the registry -----------------------------------------------------------------------------

    async def register(self, caseload: Caseload) -> None:
        """Load the whole caseload with the registry token: people, then devices, then orders, then
        curfew zones, each group concurrently. RegistrationError on the first non-2xx answer."""
        phases: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for method, path, body in caseload.registry_bodies():
            phases.setdefault(_phase(path), []).append((method, path, body))
        for writes in phases.values():
            results = await asyncio.gather(
                *(self._register_one(method, path, body) for method, path, body in writes),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                first = errors[0]
                if len(errors) > 1 and isinstance(first, RegistrationError):
                    raise RegistrationError(f"{first} (and {len(errors) - 1} more refused)") from first
                raise first

    async def _register_one(self, method: str, path: str, body: dict[str, Any]) -> None:
        try:
            response = await self._with_retries(
                lambda: self._client.request(method, path, json=body, headers=self._registrar)
            )
        except httpx.TransportError as exc:
            raise RegistrationError(f"{method} {path}: cannot reach {self.base_url}: {exc!r}") from exc
        if not response.is_success:
            raise RegistrationError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")

    # --- device traffic ---------------------------------------------------------------------------

    async def send(self, reports: Sequence[Report]) -> None:
        """Deliver the reports as their devices would: native ones as one POST per (device, send
        instant), OsmAnd ones as one GET each; each device's requests in order, devices in parallel."""
        by_device: dict[str, list[_Request]] = {}
        native: dict[tuple[str, float], list[Report]] = {}
        order: list[tuple[str, tuple[str, float] | Report]] = []
        for r in reports:
            if r.protocol == "native":
                key = (r.device_id, r.send_at.timestamp())
                group = native.get(key)
                if group is None:
                    native[key] = [r]
                    order.append((r.device_id, key))
                else:
                    group.append(r)
            else:
                order.append((r.device_id, r))
        for device_id, item in order:
            request = (
                _osmand_request(item, self._device_token)
                if isinstance(item, Report)
                else _native_request(native[item])
            )
            by_device.setdefault(device_id, []).append(request)
        if not by_device:
            return
        async with asyncio.TaskGroup() as tasks:
            for requests in by_device.values():
                tasks.create_task(self._device_queue(requests))

    async def _device_queue(self, requests: list[_Request]) -> None:
        for request in requests:
            await self._deliver(request)

    async def _deliver(self, request: _Request) -> None:
        stats = self.stats
        headers = None if request.params is not None else self._device
        try:
            response = await self._with_retries(
                lambda: self._client.request(
                    request.method, request.path, json=request.json, params=request.params, headers=headers
                )
            )
        except httpx.TransportError as exc:
            stats.failed += 1
            stats.last_error = f"{request.method} {request.path}: {exc!r}"
            return
        stats.requests += 1
        code = response.status_code
        if response.is_success:
            stats.add_fixes(request.fixes)
            stats.events += request.events
        elif 400 <= code < 500:
            stats.refused += 1
            stats.last_error = f"{request.method} {request.path} -> {code}: {response.text[:300]}"
            log.debug("refused: %s", stats.last_error)
        else:
            stats.failed += 1
            stats.last_error = f"{request.method} {request.path} -> {code}: {response.text[:300]}"

    async def _with_retries(self, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """The answer to `call()`, retried on connection errors, 503 and 429 (rate limited) with a
        short backoff, or as long as the server's Retry-After asks (up to 30 s). After the last
        retry: the last such answer, or the last connection error raised."""
        for delay in (*RETRY_DELAYS_S, None):
            wait = delay
            try:
                async with self._slots:
                    response = await call()
            except httpx.TransportError:
                if delay is None:
                    raise
            else:
                if response.status_code not in _RETRIED or delay is None:
                    return response
                asked = response.headers.get("retry-after", "")
                if asked.isdigit():
                    wait = max(delay, min(float(asked), MAX_RETRY_AFTER_S))
            await asyncio.sleep(wait or 0.0)
        raise AssertionError("unreachable")  # pragma: no cover


async def run_live(
    sim: Simulation, driver: Driver, *, stop: asyncio.Event, speed: float = 1.0, step_s: float = 1.0
) -> None:
    """Advance the simulation in step with wall time and send what is due, every `step_s` seconds,
    until `stop` is set. Virtual time is the simulation's present when called (its start, for a
    fresh one) plus the elapsed wall time times `speed`.

    Against a server on the wall clock, start the simulation at "now" and keep speed 1: the server
    refuses fixes more than 5 minutes in its future, so a faster run is refused within minutes. A
    step that takes longer than `step_s` (a slow server) is caught up at the next one. The
    simulation advances on the event loop, so other tasks may call `sim.force` between steps."""
    if speed <= 0.0 or step_s <= 0.0:
        raise ValueError("speed and step_s must be positive")
    origin = sim.now
    t0 = time.monotonic()
    step = 0
    while not stop.is_set():
        virtual = origin + timedelta(seconds=(time.monotonic() - t0) * speed)
        if virtual > sim.now:
            await driver.send(sim.advance(virtual))
        step += 1
        wait = t0 + step * step_s - time.monotonic()
        if wait < 0.0:
            step = int((time.monotonic() - t0) / step_s) + 1  # behind: skip the missed ticks
            wait = t0 + step * step_s - time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, wait))
