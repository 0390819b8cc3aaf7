"""The gateway's listeners, one per device protocol, as the settings ask: built, started and stopped
together by the server (`vigil serve`, `vigil demo`), and shown in /health."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vigil.adapters.wire import Protocol, Session
from vigil.config import Settings
from vigil.gateway.intake import Admission
from vigil.gateway.tcp import Listener

# How each TCP protocol's connections are read: a new codec session per connection.
SESSIONS: dict[Protocol, Callable[[], Session]] = {}


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
    ) -> None:
        self.admission = admission
        host = settings.device_host or settings.host
        self.listeners = [
            Listener(
                protocol,
                host,
                port,
                sessions[protocol],
                admission,
                clock,
                idle_s=settings.device_idle_s,
                max_connections=settings.device_max_connections,
            )
            for protocol, port in ports(settings).items()
            if protocol in sessions
        ]

    async def start(self) -> None:
        await asyncio.gather(*(listener.start() for listener in self.listeners))

    async def stop(self) -> None:
        await asyncio.gather(*(listener.stop() for listener in self.listeners))

    def status(self) -> dict[str, Any]:
        """What /health shows: each listener's port, state and open connections (no identifiers)."""
        return {listener.protocol.value: listener.status() for listener in self.listeners}
