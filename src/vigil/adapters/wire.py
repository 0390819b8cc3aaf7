"""What a device's own protocol hands the gateway, whatever the protocol.

A codec (`gt06`, `watch`, `teltonika`, `owntracks`) is pure: bytes in, these values out. It opens no
socket, reads no clock (the receipt time is handed in) and knows no registry. Its reports name their
device by the identifier the wire carries (an IMEI; OwnTracks' `user/device`): the gateway looks that
identifier up *with its protocol* and binds the reports to the registry's device (`bind`), or refuses
them, counted, when nobody registered it. A report is never attributed on a guess.

The gateway (vigil.gateway) drives one `Session` per connection: it feeds the bytes as they come, stores
what a frame reports, and only then writes the frame's `ack`. So a device that is acknowledged has its
report on disk, and one that is not sends it again (the store makes the retry a duplicate, not a
second report).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol as Interface

from vigil.domain.model import CommandKind, DeviceEvent, Fix, Report


class Protocol(StrEnum):
    """How a device talks to Vigil: what a device record's `protocol` names."""

    NATIVE = "native"  # Vigil's JSON over HTTP (adapters/native.py)
    OSMAND = "osmand"  # OsmAnd / Traccar Client over HTTP (adapters/osmand.py)
    GT06 = "gt06"  # GT06 / Concox binary over TCP
    WATCH = "watch"  # WATCH / 3G text over TCP
    TELTONIKA = "teltonika"  # Teltonika Codec 8 / 8E over TCP
    OWNTRACKS = "owntracks"  # OwnTracks JSON over MQTT


# The identifier each protocol's wire carries, as a device record must give it. IMEIs are 15 digits
# (GT06 sends 8 BCD bytes, a leading 0 dropped; Teltonika 15 ASCII digits); WATCH units name themselves
# by a 10-digit serial or their IMEI; OwnTracks by the `user/device` of its topic, where MQTT's
# separators and wildcards cannot appear. Native and OsmAnd devices are addressed by their device id.
IDENTIFIER_FORMS: dict[Protocol, re.Pattern[str]] = {
    Protocol.GT06: re.compile(r"\d{15}", re.ASCII),
    Protocol.TELTONIKA: re.compile(r"\d{15}", re.ASCII),
    Protocol.WATCH: re.compile(r"[0-9A-Za-z]{1,20}", re.ASCII),
    Protocol.OWNTRACKS: re.compile(r"[^/+#\s\x00-\x1f]{1,40}/[^/+#\s\x00-\x1f]{1,40}"),
}


def identifier_problem(protocol: Protocol, identifier: str | None) -> str | None:
    """Why `identifier` cannot name a device of `protocol`; None when it can (or none is needed)."""
    form = IDENTIFIER_FORMS.get(protocol)
    if form is None:
        return (
            None if identifier is None else f"a {protocol.value} device is addressed by its id: no identifier"
        )
    if identifier is None:
        return f"a {protocol.value} device needs the identifier its frames carry"
    if form.fullmatch(identifier) is None:
        return f"not a {protocol.value} identifier (expected {form.pattern})"
    return None


class ProtocolViolation(Exception):
    """The connection is beyond repair (not this protocol, a length past the limit, a buffer past its
    bound): the gateway closes it and counts why. A single bad frame is an `Inbound.error` instead."""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """A device's answer to a command Vigil sent it: which one (`ref`, the serial or marker the
    command went out with, when the protocol echoes one) and what it said."""

    ref: int | None
    text: str
    # What kind of command it answers, for a protocol that echoes no ref but names the command
    # (WATCH's UPLOAD, CR): the oldest sent command of that kind. None with no ref: the oldest sent.
    kind: CommandKind | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One frame read off a connection (or one MQTT message)."""

    # The identifier this frame names: a login or handshake (GT06, Teltonika), every frame (WATCH,
    # OwnTracks' topic). The gateway binds the session to it, or refuses it.
    identifier: str | None = None
    # What the frame reports, each named by the session's identifier (`device_id` = identifier).
    reports: tuple[Report, ...] = ()
    # The reply once `reports` are durably stored (at once when there are none); None: no reply.
    ack: bytes | None = None
    # The reply to a login or handshake whose identifier nobody registered (Teltonika's 00); None: the
    # gateway just closes the connection.
    refusal: bytes | None = None
    # Why the frame's content was refused (a bad CRC, a field out of range): counted and logged. A
    # frame may carry both an error and reports: an alarm is kept whatever else was wrong with it.
    error: str | None = None
    # The device's answer to a command, when this frame is one.
    command_reply: CommandReply | None = None
    # The device says it is going offline (OwnTracks' last will): its silence is expected, not news.
    offline: bool = False


@dataclass(frozen=True, slots=True)
class Outbound:
    """A command to put on a device's wire: its kind, its parameters as text, and `ref`, a number the
    gateway gives it (a serial where the protocol carries one) to match the device's reply."""

    kind: CommandKind
    params: Mapping[str, str]
    ref: int


class Session(Interface):
    """One connection's protocol state: what it has read and not yet framed, and whom it speaks for.
    Memory is bounded: `feed` raises ProtocolViolation rather than hold more than the protocol's largest
    frame."""

    def feed(self, data: bytes, received_at: datetime) -> list[Inbound]:
        """The frames `data` completes, in order, each decoded (a partial frame waits for the rest)."""
        ...

    def encode(self, command: Outbound) -> bytes | None:
        """The bytes that carry `command` to this device; None when the protocol cannot say it."""
        ...


def bind(report: Report, device_id: str) -> Report:
    """`report` (named by its wire identifier) as the registry's device `device_id` says it, its fix
    too for an event."""
    if isinstance(report, Fix):
        return replace(report, device_id=device_id)
    assert isinstance(report, DeviceEvent)
    fix = None if report.fix is None else replace(report.fix, device_id=device_id)
    return replace(report, device_id=device_id, fix=fix)
