"""The gateway's listeners, one per device protocol, as the settings ask: built, started and stopped
together by the server (`vigil serve`, `vigil demo`), and shown in /health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vigil.adapters.gt06 import Gt06Session
from vigil.adapters.teltonika import TeltonikaSession
from vigil.adapters.watch import WatchSession
from vigil.adapters.wire import Protocol, Session
from vigil.config import Settings
from vigil.gateway.courier import Courier
from vigil.gateway.intake import Admission
from vigil.gateway.tcp import Listener

log = logging.getLogger(__name__)
SWEEP_S = 15.0

# How each TCP protocol's connections are read: a new codec session per connection.
SESSIONS: dict[Protocol, Callable[[], Session]] = {
    Protocol.GT06: Gt06Session,
    Protocol.WATCH: WatchSession,
    Protocol.TELTONIKA: TeltonikaSession,
}


def ports(settings: Settings) -> dict[Protocol, int]:
    return {
        Protocol.GT06: settings.gt06_port,
        Protocol.WATCH: settings.watch_port,
        Protocol.TELTONIKA: settings.teltonika_port,
    }


class Gateway:
    """Every device listener of one server."""

    def __init__(
        self,
        settings: Settings,
        admission: Admission,
        clock: Callable[[], datetime],
        sessions: Mapping[Protocol, Callable[[], Session]],
        courier: Courier | None = None,
    ) -> None:
        self.admission = admission
        self.courier = courier
        self._sweeping: asyncio.Task[None] | None = None
        host = settings.device_host or settings.host
        self.listeners = [
            Listener(
                protocol,
                host,
                port,
                sessions[protocol],
                admission,
                clock,
                courier,
                idle_s=settings.device_idle_s,
                max_connections=settings.device_max_connections,
            )
            for protocol, port in ports(settings).items()
            if protocol in sessions
        ]

    async def start(self) -> None:
        await asyncio.gather(*(listener.start() for listener in self.listeners))
        if self.courier is not None:
            self._sweeping = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
        await asyncio.gather(*(listener.stop() for listener in self.listeners))

    def deliver_soon(self, device_id: str) -> bool:
        """Send the device its pending commands now, over whichever listener holds its connection."""
        return any(listener.deliver_soon(device_id) for listener in self.listeners)

    async def _sweep(self, every_s: float = SWEEP_S) -> None:
        """Now and then: expire what is past its time, and try again for every connected device
        with something pending (a command queued while its connection was being made)."""
        assert self.courier is not None
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.courier.expire()
                for device_id in await self.courier.waiting_devices():
                    self.deliver_soon(device_id)
            except Exception:
                log.exception("the command sweep failed; trying again in %.0f s", every_s)

    def status(self) -> dict[str, Any]:
        """What /health shows: each listener's port, state and open connections (no identifiers)."""
        return {listener.protocol.value: listener.status() for listener in self.listeners}
