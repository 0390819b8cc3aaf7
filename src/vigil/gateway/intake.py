"""What the gateway's listeners need from the rest of Vigil: whose device an identifier is, and a
durable store for what it reported.

Listeners are written against `Intake`, not the services, so each can be tested with the real one
(over a real database) and none reaches into the processor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol as Interface

from vigil.adapters.wire import Protocol
from vigil.commands import IngestOutcome
from vigil.domain.model import Report


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
        loses the app) at `at`: its silence from then on is expected, not news. Raises if it could not
        be recorded (do not acknowledge)."""
        ...

    def refused(self, protocol: Protocol, why: str) -> None:
        """Count a frame or connection refused (unknown identifier, bad CRC, violation), by reason."""
        ...
