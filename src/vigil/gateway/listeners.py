"""The gateway's listeners, one per device protocol, as the settings ask: built, started and stopped
together by the server (`vigil serve`, `vigil demo`), and shown in /health."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from vigil.adapters import owntracks
from vigil.adapters.gt06 import Gt06Session
from vigil.adapters.teltonika import TeltonikaSession
from vigil.adapters.watch import WatchSession
from vigil.adapters.wire import Outbound, Protocol, Session
from vigil.config import Settings
from vigil.gateway.courier import Courier
from vigil.gateway.intake import Admission
from vigil.gateway.mqtt import OwnTracksSubscriber
from vigil.gateway.tcp import Listener
from vigil.store.device_commands import Queued

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
        self._clock = clock
        self.mqtt: OwnTracksSubscriber | None = None
        self._mqtt_task: asyncio.Task[None] | None = None
        self._mqtt_stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        if settings.mqtt_url:
            tls = None
            if settings.mqtt_ca_file:
                tls = ssl.create_default_context(cafile=settings.mqtt_ca_file)
            self.mqtt = OwnTracksSubscriber(
                settings.mqtt_url, admission, clock, client_id=settings.mqtt_client_id, tls_context=tls
            )
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
        if self.mqtt is not None:
            self._mqtt_task = asyncio.create_task(self.mqtt.run(self._mqtt_stop))
        if self.courier is not None:
            await self.courier.waiting_devices()  # what a previous run left pending
            self._sweeping = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
        if self._mqtt_task is not None:
            self._mqtt_stop.set()
            await asyncio.gather(self._mqtt_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(listener.stop() for listener in self.listeners))

    def hand(self, commands: Sequence[Queued]) -> None:
        """Commands a batch just queued (pursuit mode), sent as they are to the devices connected
        here: no read back. Those of devices not connected here wait for their next connection, the
        MQTT topic or an HTTP post (the sweep, `deliver_soon`)."""
        by_device: dict[str, list[Queued]] = {}
        for command in commands:
            by_device.setdefault(command.device_id, []).append(command)
        for device_id, theirs in by_device.items():
            if not any(listener.hand(device_id, theirs) for listener in self.listeners):
                self.deliver_soon(device_id)

    def deliver_soon(self, device_id: str) -> bool:
        """Send the device its pending commands now: over whichever listener holds its connection,
        or published to its MQTT command topic (an HTTP device gets them in its next post's answer)."""
        if self.courier is not None:
            self.courier.expect(device_id)
        if any(listener.deliver_soon(device_id) for listener in self.listeners):
            return True
        if self.mqtt is None or self.courier is None:
            return False
        task = asyncio.get_running_loop().create_task(self._publish(device_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _publish(self, device_id: str) -> None:
        """An OwnTracks device's pending commands, to its `cmd` topic (the broker keeps them for the
        app). A command the app cannot take fails; with the broker away, they stay pending."""
        assert self.mqtt is not None and self.courier is not None
        protocol, identifier = await asyncio.to_thread(self.admission.identity_of, device_id)
        if protocol != Protocol.OWNTRACKS.value or identifier is None:
            return
        for command in await self.courier.pending(device_id):
            outbound = Outbound(command.kind, command.params, command.ref)
            if owntracks.encode_command(command.kind, command.params) is None:
                await self.courier.failed(command, f"an OwnTracks app cannot be sent {command.kind.value}")
                continue
            if not await self.mqtt.send(identifier, outbound):
                return  # not connected now: the sweep tries again
            await self.courier.sent(command, f"mqtt {owntracks.command_topic(identifier)}")

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
        """What /health shows: each listener's port, state and open connections, and whether the MQTT
        broker is connected (no identifiers, no credentials)."""
        shown: dict[str, Any] = {listener.protocol.value: listener.status() for listener in self.listeners}
        if self.mqtt is not None:
            shown["owntracks"] = {"broker": str(self.mqtt.broker), "connected": self.mqtt.connected}
        refused: dict[str, int] = {}
        for (protocol, _), count in self.admission.refusals.items():
            refused[protocol] = refused.get(protocol, 0) + count
        for protocol, count in refused.items():
            shown.setdefault(protocol, {})["refused"] = count  # frames and connections, since start
        return shown
