"""What the gateway's listeners need from the rest of Vigil: whose device an identifier is, and a
durable store for what it reported.

Listeners are written against `Intake`, not the services, so each can be tested with a double or the
real one (`Admission`, over the processor and a real database), and none reaches into the engine.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Protocol as Interface

from vigil.adapters.wire import CommandReply, Protocol
from vigil.commands import Ingest, IngestOutcome, Offline
from vigil.domain.model import DeviceEvent, EventKind, Report

if TYPE_CHECKING:
    from vigil.gateway.courier import Courier
    from vigil.runner import Runner
    from vigil.store.reader import Reader


class Intake(Interface):
    async def device_for(self, protocol: Protocol, identifier: str) -> str | None:
        """The registry's device id for `identifier` on `protocol`; None: nobody registered it."""
        ...

    async def store(self, reports: Sequence[Report], received_at: datetime) -> IngestOutcome:
        """Store `reports` (bound to registry devices) through the processor, as the HTTP ingest does
        (idempotent, clock rules, alarms never refused). Returns once they are durably committed;
        raises if they could not be (nothing kept: do not acknowledge)."""
        ...

    async def offline(self, device_id: str, at: datetime) -> None:
        """The device said it is going offline (OwnTracks' last will, published by the broker when it
        loses the app) at `at`: shown as offline until it is heard again, while the silence rules
        judge its silence as any other. Raises if it could not be recorded (do not acknowledge)."""
        ...

    async def answered(self, device_id: str, reply: CommandReply) -> None:
        """The device's answer to a command sent to it (recorded against that command)."""
        ...

    def refused(self, protocol: Protocol, why: str) -> None:
        """Count a frame or connection refused (unknown identifier, bad CRC, violation), by reason."""
        ...


class Admission:
    """The real intake: the registry's read side for identifiers, the single writer for reports."""

    def __init__(self, reader: Reader, runner: Runner, courier: Courier | None = None) -> None:
        self._reader = reader
        self._runner = runner
        self._courier = courier
        self.refusals: Counter[tuple[str, str]] = Counter()  # (protocol, why) -> how many

    async def device_for(self, protocol: Protocol, identifier: str) -> str | None:
        return await asyncio.to_thread(self._reader.device_for, protocol.value, identifier)

    async def store(self, reports: Sequence[Report], received_at: datetime) -> IngestOutcome:
        command = Ingest(tuple(enumerate(reports)), received_at)
        return await asyncio.wrap_future(self._runner.submit(command))

    def refused(self, protocol: Protocol, why: str) -> None:
        self.refusals[(protocol.value, why)] += 1

    async def offline(self, device_id: str, at: datetime) -> None:
        await asyncio.wrap_future(self._runner.submit(Offline(device_id, at)))

    async def answered(self, device_id: str, reply: CommandReply) -> None:
        if self._courier is not None:
            await self._courier.answered(device_id, reply)

    def identity_of(self, device_id: str) -> tuple[str | None, str | None]:
        """The device's protocol and wire identifier (blocking: call it off the event loop)."""
        return self._reader.identity_of(device_id)

    async def admits(self, device_id: str, peer: str | None) -> bool:
        """Whether a report from address `peer` may be the device's: any address, unless the device
        is restricted to a network (a private APN's range) and `peer` lies outside it."""
        network = await asyncio.to_thread(self._reader.network_of, device_id)
        if network is None:
            return True
        if peer is None:
            return False
        try:
            return ipaddress.ip_address(peer) in ipaddress.ip_network(network)
        except ValueError:
            return False

    async def conflict(self, device_id: str, why: str, at: datetime) -> None:
        """Raise device_conflict on the device: its identifier is speaking where it cannot be."""
        event = DeviceEvent(device_id, at, EventKind.DEVICE_CONFLICT, detail={"reason": why})
        await self.store([event], at)
