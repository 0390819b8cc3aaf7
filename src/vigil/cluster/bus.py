"""What a worker committed, told to every edge: the alert changes and positions its viewers follow.

Core NATS, not the durable log: a viewer that misses a change (an edge restarting) loads the current
state when it connects, as it does today after any reconnect. Encoded once per batch by the worker;
every edge decodes it once and its hub renders it once per message for all its viewers.
"""

from __future__ import annotations

import msgspec

from vigil.domain.alerts import AlertChange
from vigil.domain.model import PersonRef
from vigil.processor import PositionUpdate, Published
from vigil.store.device_commands import Queued


class Changes(msgspec.Struct, omit_defaults=True):
    alerts: list[AlertChange] = []
    positions: list[PositionUpdate] = []
    areas: dict[str, frozenset[str]] = {}
    parties: dict[str, frozenset[PersonRef]] = {}
    # pursuit mode's commands just queued: the edge holding the device's connection sends them now
    commanded: list[Queued] = []


class _Commanded(msgspec.Struct):
    """What an edge with no viewers needs of a change message: the commands for its devices. The
    positions and alert changes are skipped, not built (most of a message's decoding)."""

    commanded: list[Queued] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Changes)
_commanded_decoder = msgspec.json.Decoder(_Commanded)


def encode(published: Published) -> bytes | None:
    """None when the batch changed nothing a viewer sees."""
    if not (published.alerts or published.positions or published.commanded):
        return None
    return _encoder.encode(
        Changes(
            published.alerts, published.positions, published.areas, published.parties, published.commanded
        )
    )


def decode(data: bytes) -> Published:
    changes = _decoder.decode(data)
    return Published(
        alerts=changes.alerts,
        positions=changes.positions,
        areas=changes.areas,
        parties=changes.parties,
        commanded=changes.commanded,
    )


def decode_commanded(data: bytes) -> list[Queued]:
    """Only the pursuit-mode commands of a change message (an edge nobody is watching through)."""
    return _commanded_decoder.decode(data).commanded
