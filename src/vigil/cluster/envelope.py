"""What a log message holds: one partition's share of one device post, as the edge decoded it.

The edge has already turned the device's bytes into `Fix` and `DeviceEvent` values (the adapters
are pure and fast); the worker takes them back as they were, with the receipt time the edge
stamped, so a report judged after a failover is judged exactly as it would have been at once.
msgspec encodes the domain's dataclasses and enums without a schema of our own to keep in step.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from vigil.domain.model import DeviceEvent, Fix, Report


class _Item(msgspec.Struct, omit_defaults=True):
    fix: Fix | None = None
    event: DeviceEvent | None = None


class Envelope(msgspec.Struct, omit_defaults=True):
    received_at: datetime
    items: list[_Item]
    only_device: str | None = None  # a device-bound token posted these (checked again by the worker)
    vet: bool = False  # judge the positions' plausibility (the victim app's own reports)

    @property
    def reports(self) -> list[Report]:
        out: list[Report] = []
        for item in self.items:
            if item.event is not None:
                out.append(item.event)
            elif item.fix is not None:
                out.append(item.fix)
        return out


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)


def encode(
    reports: list[Report], received_at: datetime, only_device: str | None = None, vet: bool = False
) -> bytes:
    items = [_Item(event=r) if isinstance(r, DeviceEvent) else _Item(fix=r) for r in reports]
    return _encoder.encode(Envelope(received_at, items, only_device, vet))


def decode(data: bytes) -> Envelope:
    """Raises msgspec.ValidationError / DecodeError for what no edge of this version wrote."""
    return _decoder.decode(data)
