"""A TCP listener for one device protocol: sockets in, a codec's `Session` per connection, reports
to the store, and the device's acknowledgement only once they are stored.

What one connection may cost is bounded: the codec holds at most one frame, at most `QUEUED_MAX`
decoded frames wait for the store (past that, reading from it pauses), a connection that says
nothing for `idle_s` is closed, and past `max_connections` a new one is closed at once. A slow or
malicious connection waits on its own and never blocks another's.

Who a connection speaks for is never guessed. Its first identifying frame (a login, a handshake) is
looked up with the protocol; an identifier nobody registered is refused, counted and the connection
closed (with the protocol's refusal, where it has one). An IMEI is no secret, so two things raise
`device_conflict` on the registered device instead of being believed:

* **two live connections for one identifier.** A device that reconnects (a new cell, a NAT timeout)
  leaves its old socket half open on our side, so a second login is not yet a conflict: the new
  connection takes over and the old one is marked superseded. Only if the superseded connection
  sends again (both ends are alive) is it a conflict, raised once.
* **a connection from outside the device's network** (a private APN's range set on the device).

From then on that connection is untrusted: its positions are refused (counted), it is sent no
commands, and its alarms are still stored, without their positions and marked `untrusted` with
why: which end is the real device no one can tell here, and an alarm is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from vigil.adapters.wire import Inbound, Outbound, Protocol, ProtocolViolation, Session, bind
from vigil.domain.model import ALARM_EVENTS, DeviceEvent, Report
from vigil.gateway.courier import Courier
from vigil.gateway.intake import Admission
from vigil.store.device_commands import Queued
from vigil.tally import Reports

log = logging.getLogger(__name__)

UNKNOWN = "unknown identifier"
BEFORE_LOGIN = "reports before the device identified itself"
OTHER_IDENTIFIER = "a frame naming another identifier than the connection's"
TOO_MANY = "too many connections"
OUTSIDE_NETWORK = "connected from outside its network"
TWO_LIVE = "two live connections at once"


QUEUED_MAX = 64  # frames read and waiting for the store, per connection: past it, reading pauses
QUEUED_LOW = 16  # ... and resumes below this


class _Link(asyncio.Protocol):
    """One connection, on asyncio's callbacks rather than streams: between two frames it holds its
    codec session and a few fields, and no coroutine, future or timer. (A stream read per connection
    kept a task, a future and a timeout alive for the 10 s between a device's frames: at 10,000
    devices those were most of what the garbage collector walked, in pauses of 100-200 ms that held
    every acknowledgement back.) Frames are handled in order by one short-lived task, started when
    frames arrive and ended when they are answered."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.peer: str | None = None
        self.session = listener.sessions()
        self.queue: deque[Inbound] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.paused = False
        self.last = 0.0  # loop time of its last bytes (the idle sweep)
        self.turn = asyncio.Lock()  # one frame's answer, or commands, at a time
        self.welcomed = False  # its pending commands were sent once it identified itself
        self.identifier: str | None = None
        self.device_id: str | None = None
        self.superseded = False
        # Why what this connection says is not believed (a device_conflict was raised): its alarms are
        # still stored, without their positions; its positions are not.
        self.untrusted: str | None = None

    # --- asyncio's callbacks ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        listener = self.listener
        if len(listener._links) >= listener.max_connections:
            listener.intake.refused(listener.protocol, TOO_MANY)
            transport.close()
            return
        peername = transport.get_extra_info("peername")
        self.peer = peername[0] if isinstance(peername, tuple) else None
        self.last = asyncio.get_running_loop().time()
        listener._links.add(self)

    def data_received(self, data: bytes) -> None:
        listener = self.listener
        self.last = asyncio.get_running_loop().time()
        try:
            frames = self.session.feed(data, listener.clock())
        except ProtocolViolation as exc:
            listener.intake.refused(listener.protocol, f"violation: {exc}")
            log.info("%s connection from %s closed: %s", listener.protocol.value, self.peer, exc)
            self.close()
            return
        except Exception:  # a codec's bug costs this connection only
            log.exception("%s connection from %s: the codec failed", listener.protocol.value, self.peer)
            listener.intake.refused(listener.protocol, "codec error")
            self.close()
            return
        if not frames:
            return
        self.queue.extend(frames)
        if len(self.queue) > QUEUED_MAX and self.transport is not None and not self.paused:
            self.transport.pause_reading()  # a flood waits for the store, it is not buffered
            self.paused = True
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener._forget(self)

    # --- this connection's frames, in order ---------------------------------------------------------

    async def _work(self) -> None:
        listener = self.listener
        try:
            while self.queue:
                inbound = self.queue.popleft()
                # A frame is stored and answered before any command goes out on the connection: a
                # device waits for its acknowledgement, not for a command (pursuit mode's may be
                # queued by the very report being stored).
                async with self.turn:
                    keep = await listener._take(self, inbound)
                if not keep:
                    self.close()
                    return
                if self.paused and len(self.queue) < QUEUED_LOW and self.transport is not None:
                    self.transport.resume_reading()
                    self.paused = False
                if self.device_id is not None and not self.welcomed:
                    self.welcomed = True
                    await listener._deliver(self)  # what waited for the device, once its login is answered
        except (ConnectionError, OSError):
            self.close()  # gone: the device reconnects when it has something to say
        except Exception:  # a bug must cost this connection only, never the listener
            log.exception("%s connection from %s failed", listener.protocol.value, self.peer)
            self.close()
        finally:
            self.worker = None

    # --- what the listener does with it -------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def send(self, data: bytes) -> None:
        if not self.closing:
            assert self.transport is not None
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class Listener:
    protocol: Protocol
    host: str
    port: int  # 0: disabled
    sessions: Callable[[], Session]
    intake: Admission
    clock: Callable[[], datetime]
    courier: Courier | None = None  # commands to the connected devices; None: none are sent
    idle_s: float = 900.0
    max_connections: int = 20_000
    state: str = "disabled"  # disabled | listening | failed
    reason: str = ""
    frames: int = 0
    reports: Reports = field(default_factory=Reports)  # counted for /metrics
    _server: asyncio.Server | None = None
    _sweeper: asyncio.Task[None] | None = None
    _links: set[_Link] = field(default_factory=set)
    _live: dict[str, _Link] = field(default_factory=dict)  # identifier -> its current connection
    _devices: dict[str, _Link] = field(default_factory=dict)  # device id -> its current connection
    _delivering: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Listen, unless disabled. A port that cannot be had does not stop the server: it is logged
        and shown in /health."""
        if self.port == 0:
            return
        await self.bind(self.port)

    async def bind(self, port: int) -> None:
        """Listen on `port` (0: any free one, for tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _Link(self), self.host, port)
        except OSError as exc:
            self.state, self.reason = "failed", f"{self.host}:{port}: {exc.strerror or exc}"
            log.error("the %s listener could not start: %s", self.protocol.value, self.reason)
            return
        self.state = "listening"
        self.port = self._server.sockets[0].getsockname()[1]  # the port bound, if 0 was asked
        self._sweeper = loop.create_task(self._sweep_idle())
        log.info("%s devices: listening on %s:%d", self.protocol.value, self.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        workers = [link.worker for link in self._links if link.worker is not None]
        for link in list(self._links):
            link.close()
        for task in (*workers, *self._delivering):
            task.cancel()
        await asyncio.gather(*workers, *self._delivering, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self.state = "disabled"

    def status(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"port": self.port, "state": self.state, "connections": len(self._links)}
        if self.reason:
            shown["reason"] = self.reason
        return shown

    # --- connections --------------------------------------------------------------------------------

    async def _sweep_idle(self) -> None:
        """Close connections that have said nothing for `idle_s` (one pass every quarter of it, so
        a silent connection lasts at most 1.25 x idle_s; cheaper than a timer per connection)."""
        loop = asyncio.get_running_loop()
        every = max(0.05, self.idle_s / 4)
        while True:
            await asyncio.sleep(every)
            cutoff = loop.time() - self.idle_s
            for link in [link for link in self._links if link.last < cutoff and link.worker is None]:
                link.close()

    def _forget(self, link: _Link) -> None:
        self._links.discard(link)
        if link.identifier is not None and self._live.get(link.identifier) is link:
            del self._live[link.identifier]
        if link.device_id is not None and self._devices.get(link.device_id) is link:
            del self._devices[link.device_id]

    async def _take(self, link: _Link, inbound: Inbound) -> bool:
        """Act on one frame; False: close the connection."""
        self.frames += 1
        if link.superseded and link.untrusted is None:
            await self._both_alive(link)
        if inbound.identifier is not None and not await self._identify(link, inbound):
            return False
        if inbound.error is not None:
            self.intake.refused(self.protocol, inbound.error)
            log.info("%s frame from %s: %s", self.protocol.value, link.identifier or link.peer, inbound.error)
        if inbound.reports:
            if link.device_id is None:
                self.intake.refused(self.protocol, BEFORE_LOGIN)
                return True
            reports = [bind(report, link.device_id) for report in inbound.reports]
            if link.untrusted is not None:
                reports = self._alarms_only(reports, link.untrusted)
            try:
                if reports:
                    self.reports.took(len(reports), await self.intake.store(reports, self.clock()))
            except Exception:
                self.reports.lost(len(reports))
                # Nothing was kept: no acknowledgement, and the device sends it again elsewhere.
                log.exception("%s reports of %s could not be stored", self.protocol.value, link.device_id)
                return False
        if inbound.ack is not None:
            link.send(inbound.ack)
        if inbound.command_reply is not None and link.device_id is not None and self.courier is not None:
            await self.courier.answered(link.device_id, inbound.command_reply)
        return True

    # --- commands -------------------------------------------------------------------------------

    def deliver_soon(self, device_id: str) -> bool:
        """Send the device its pending commands now, if it is connected here; False: it is not."""
        link = self._devices.get(device_id)
        if link is None:
            return False
        task = asyncio.get_running_loop().create_task(self._deliver(link))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)
        return True

    def hand(self, device_id: str, commands: Sequence[Queued]) -> bool:
        """Send these just-queued commands to the device if it is connected here; False: it is not."""
        link = self._devices.get(device_id)
        if link is None:
            return False
        task = asyncio.get_running_loop().create_task(self._deliver(link, commands))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)
        return True

    async def _deliver(self, link: _Link, commands: Sequence[Queued] | None = None) -> None:
        """Send `commands`, or (None) whatever is pending for the device, read from the store."""
        if self.courier is None or link.device_id is None or link.superseded or link.untrusted is not None:
            return
        if commands is None and link.device_id not in self.courier.waiting:
            return  # nothing known to wait for it: no read (10,000 devices log in after a restart)
        async with link.turn:
            await self._send(
                link, await self.courier.pending(link.device_id) if commands is None else commands
            )

    async def _send(self, link: _Link, commands: Sequence[Queued]) -> None:
        assert self.courier is not None
        for command in commands:
            try:
                wire = link.session.encode(Outbound(command.kind, command.params, command.ref))
            except ValueError as exc:  # parameters the protocol cannot carry
                await self.courier.failed(command, f"{command.kind.value}: {exc}")
                continue
            if wire is None:
                await self.courier.failed(
                    command, f"a {self.protocol.value} device cannot be sent {command.kind.value}"
                )
                continue
            if link.closing:
                return  # it stays pending for the next connection
            # Marked first, sent second: a command another path already sent (the sweep and a
            # batch's hand-over may both hold it) goes out once.
            if await self.courier.sent(command, f"{self.protocol.value} connection from {link.peer}"):
                link.send(wire)

    async def _identify(self, link: _Link, inbound: Inbound) -> bool:
        identifier = inbound.identifier
        assert identifier is not None
        if link.identifier is not None:
            if identifier == link.identifier:
                return True
            self.intake.refused(self.protocol, OTHER_IDENTIFIER)
            return False
        device_id = await self.intake.device_for(self.protocol, identifier)
        if device_id is None:
            self.intake.refused(self.protocol, UNKNOWN)
            log.info("%s: unknown identifier %r from %s refused", self.protocol.value, identifier, link.peer)
            if inbound.refusal is not None:
                link.send(inbound.refusal)
            return False
        link.identifier, link.device_id = identifier, device_id
        if not await self.intake.admits(device_id, link.peer):
            link.untrusted = f"{OUTSIDE_NETWORK} ({link.peer})"
            await self.intake.conflict(device_id, link.untrusted, self.clock())
            return True  # not its device's connection: no commands, no positions; its alarms stand
        earlier = self._live.get(identifier)
        if earlier is not None:
            earlier.superseded = True  # a reconnect, unless it speaks again
        self._live[identifier] = link
        self._devices[device_id] = link
        return True

    async def _both_alive(self, link: _Link) -> None:
        """A superseded connection spoke: two ends use the identifier at once. Raised once; from
        then on that connection is not believed (which end is the device, no one can tell here)."""
        assert link.device_id is not None
        newer = self._live.get(link.identifier or "")
        link.untrusted = f"{TWO_LIVE} ({link.peer} and {newer.peer if newer else 'another'})"
        await self.intake.conflict(link.device_id, link.untrusted, self.clock())

    def _alarms_only(self, reports: list[Report], why: str) -> list[Report]:
        """What an untrusted connection may still report: its alarms (an alarm is never dropped,
        whoever may be sending it), without their positions and marked with why; its positions are
        refused and counted."""
        kept: list[Report] = []
        for report in reports:
            if isinstance(report, DeviceEvent) and report.kind in ALARM_EVENTS:
                kept.append(replace(report, fix=None, detail={**report.detail, "untrusted": why}))
            else:
                self.intake.refused(self.protocol, "untrusted connection")
        return kept
