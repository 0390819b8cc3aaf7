"""A TCP listener for one device protocol: sockets in, a codec's `Session` per connection, reports
to the store, and the device's acknowledgement only once they are stored.

What one connection may cost is bounded: a read is at most `CHUNK` bytes, the codec holds at most
one frame, a connection that says nothing for `idle_s` is closed, and past `max_connections` a new
one is closed at once. A slow or malicious connection waits on its own task and never blocks
another's.

Who a connection speaks for is never guessed. Its first identifying frame (a login, a handshake) is
looked up with the protocol; an identifier nobody registered is refused, counted and the connection
closed (with the protocol's refusal, where it has one). An IMEI is no secret, so two things raise
`device_conflict` on the registered device instead of being believed:

* **two live connections for one identifier.** A device that reconnects (a new cell, a NAT timeout)
  leaves its old socket half open on our side, so a second login is not yet a conflict: the new
  connection takes over and the old one is marked superseded. Only if the superseded connection
  sends again (both ends are alive) is it a conflict: raised once, the old connection closed, its
  frame not stored.
* **a connection from outside the device's network** (a private APN's range set on the device): the
  conflict is raised and the connection closed before anything it says is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.adapters.wire import Inbound, Outbound, Protocol, ProtocolViolation, Session, bind
from vigil.gateway.courier import Courier
from vigil.gateway.intake import Admission

log = logging.getLogger(__name__)

CHUNK = 4096  # bytes read at a time: a frame of any of our protocols is at most a few of these
UNKNOWN = "unknown identifier"
BEFORE_LOGIN = "reports before the device identified itself"
OTHER_IDENTIFIER = "a frame naming another identifier than the connection's"
TOO_MANY = "too many connections"
OUTSIDE_NETWORK = "connected from outside its network"
TWO_LIVE = "two live connections at once"


@dataclass(eq=False)
class _Link:
    """One connection: whom it speaks for, from where, and whether a newer one took its place."""

    writer: asyncio.StreamWriter
    peer: str | None
    task: asyncio.Task[None] | None
    session: Session
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one frame's answer, or commands, at a time
    welcomed: bool = False  # its pending commands were sent once it identified itself
    identifier: str | None = None
    device_id: str | None = None
    superseded: bool = False


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
    _server: asyncio.Server | None = None
    _links: set[_Link] = field(default_factory=set)
    _live: dict[str, _Link] = field(default_factory=dict)  # identifier -> its current connection
    _devices: dict[str, _Link] = field(default_factory=dict)  # device id -> its current connection
    _delivering: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Listen, unless disabled. A port that cannot be had does not stop the server: it is logged
        and shown in /health."""
        if self.port == 0:
            return
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=CHUNK)
        except OSError as exc:
            self.state, self.reason = "failed", f"{self.host}:{self.port}: {exc.strerror or exc}"
            log.error("the %s listener could not start: %s", self.protocol.value, self.reason)
            return
        self.state = "listening"
        self.port = self._server.sockets[0].getsockname()[1]  # the port bound, if 0 was not asked
        log.info("%s devices: listening on %s:%d", self.protocol.value, self.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        tasks = [link.task for link in self._links if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self.state = "disabled"

    def status(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"port": self.port, "state": self.state, "connections": len(self._links)}
        if self.reason:
            shown["reason"] = self.reason
        return shown

    # --- one connection ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._links) >= self.max_connections:
            self.intake.refused(self.protocol, TOO_MANY)
            writer.close()
            return
        peername = writer.get_extra_info("peername")
        session = self.sessions()
        link = _Link(
            writer, peername[0] if isinstance(peername, tuple) else None, asyncio.current_task(), session
        )
        self._links.add(link)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(CHUNK), self.idle_s)
                if not data:
                    return
                for inbound in session.feed(data, self.clock()):
                    # A frame is stored and answered before any command goes out on the connection:
                    # a device waits for its acknowledgement, not for a command (pursuit mode's may be
                    # queued by the very report being stored).
                    async with link.turn:
                        keep = await self._take(link, inbound)
                    if not keep:
                        return
                    if link.device_id is not None and not link.welcomed:
                        link.welcomed = True
                        await self._deliver(link)  # what waited for the device, once its login is answered
        except ProtocolViolation as exc:
            self.intake.refused(self.protocol, f"violation: {exc}")
            log.info("%s connection from %s closed: %s", self.protocol.value, link.peer, exc)
        except (TimeoutError, ConnectionError, OSError):
            pass  # idle, reset or gone: the device reconnects when it has something to say
        except Exception:  # a bug must cost this connection only, never the listener
            log.exception("%s connection from %s failed", self.protocol.value, link.peer)
        finally:
            self._links.discard(link)
            if link.identifier is not None and self._live.get(link.identifier) is link:
                del self._live[link.identifier]
            if link.device_id is not None and self._devices.get(link.device_id) is link:
                del self._devices[link.device_id]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _take(self, link: _Link, inbound: Inbound) -> bool:
        """Act on one frame; False: close the connection."""
        self.frames += 1
        if link.superseded:
            return await self._both_alive(link)
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
            try:
                await self.intake.store(reports, self.clock())
            except Exception:
                # Nothing was kept: no acknowledgement, and the device sends it again elsewhere.
                log.exception("%s reports of %s could not be stored", self.protocol.value, link.device_id)
                return False
        if inbound.ack is not None:
            link.writer.write(inbound.ack)
            await link.writer.drain()
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

    async def _deliver(self, link: _Link) -> None:
        if self.courier is None or link.device_id is None or link.superseded:
            return
        async with link.turn:
            await self._send_pending(link)

    async def _send_pending(self, link: _Link) -> None:
        assert self.courier is not None and link.device_id is not None
        for command in await self.courier.pending(link.device_id):
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
            if link.writer.is_closing():
                return  # it stays pending for the next connection
            link.writer.write(wire)
            await link.writer.drain()
            await self.courier.sent(command, f"{self.protocol.value} connection from {link.peer}")

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
                link.writer.write(inbound.refusal)
                await link.writer.drain()
            return False
        if not await self.intake.admits(device_id, link.peer):
            await self.intake.conflict(device_id, f"{OUTSIDE_NETWORK} ({link.peer})", self.clock())
            return False
        link.identifier, link.device_id = identifier, device_id
        earlier = self._live.get(identifier)
        if earlier is not None:
            earlier.superseded = True  # a reconnect, unless it speaks again
        self._live[identifier] = link
        self._devices[device_id] = link
        return True

    async def _both_alive(self, link: _Link) -> bool:
        """A superseded connection spoke: two ends use the identifier at once."""
        assert link.device_id is not None
        newer = self._live.get(link.identifier or "")
        where = f"{link.peer} and {newer.peer if newer else 'another'}"
        await self.intake.conflict(link.device_id, f"{TWO_LIVE} ({where})", self.clock())
        return False
