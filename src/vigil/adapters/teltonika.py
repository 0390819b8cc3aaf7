"""The Teltonika TCP protocol: Codec 8, 8 Extended and 16 (AVL data), Codec 12 and 13 (commands).

Wire facts (Teltonika's "Data Sending Protocols" and "Codec" pages; Traccar's TeltonikaProtocolDecoder
and TeltonikaFrameDecoder were read for cross-checking; tests/data/devices/teltonika_frames.txt):

* Handshake: `00 0F` + the 15 ASCII digits of the IMEI. The server answers `01` (accepted) or `00`
  (refused): `Inbound(identifier=IMEI, ack=01, refusal=00)`. Anything else first is not Teltonika.
* Then packets: `00000000 | data length u32 | codec | N1 | data | N2 | CRC u32`, where the length
  and the CRC-16/IBM (ARC: reflected 0xA001, init 0, in the low 16 bits) cover codec..N2.
* An AVL record (codec 8): timestamp u64 ms UTC | priority u8 (0 low, 1 high, 2 panic) | lon i32 and
  lat i32 in 1e-7 degrees | altitude i16 m | angle u16 degrees | satellites u8 | speed u16 km/h |
  event IO id | total IO count | for sizes 1, 2, 4 and 8 bytes: a count, then (id, value) pairs.
  Codec 8E widens the event id, the counts and the IO ids to u16 and appends variable-length
  elements (count u16, then id u16, length u16, bytes). Codec 16 widens the event id and IO ids to
  u16, keeps the counts u8, and puts a "generation type" byte after the event id.
* The server acknowledges an AVL packet with its record count as u32 big-endian; a device that gets
  no (or a wrong) answer keeps the records and sends them again.
* Codec 12: `0C | 01 | type | size u32 | ASCII | 01` inside the same envelope; type 05 is a command
  (server to device), 06 the device's response. Codec 13 (0D) is a device-to-server response whose
  payload starts with a u32 Unix timestamp. Neither is acknowledged.
* A lone `FF` between packets is a keep-alive some firmware sends on an open link (Traccar's frame
  decoder splits it off as a frame of its own and nothing comes of it); it is skipped here.

Deliberate choices:

* One Inbound per packet. Each record yields its reports: the alarms it names (each a DeviceEvent
  carrying the record's fix when it has a valid one), otherwise its Fix, otherwise a HEARTBEAT (the
  device is reporting, only without a position: the location-loss rule needs to know).
* The ack counts every record of a well-formed packet, including one whose position was refused
  (named in `error`): the same bytes sent again would be refused again, so holding the ack back
  would only stop the device's buffer behind them.
* A position is valid when satellites > 0 (Teltonika: a record without a fix repeats the last
  coordinates with angle, speed and satellites at 0) and it is not exactly (0, 0). Out-of-range
  coordinates are not a Fix and are named in `Inbound.error`. Altitude is not kept.
* Speed km/h -> m/s; angle -> heading (a value above 360 is dropped as unknown).
* IO elements mapped, all others ignored:
    - 113 battery level % (FMB and the TMT/TAT/GH AVL lists) -> Fix.battery_pct (0..100, else unknown).
    - 182 GNSS HDOP x10 -> accuracy_m = HDOP * 5 m. HDOP is not metres: 5 m per unit of HDOP is a
      rough 68 % horizontal radius for a consumer GNSS receiver (UERE of about 5 m); 0 = unknown.
    - 236 "Alarm" = 1 (the alarm button of the TMT250 / GH5200 personal trackers; FMB lists it as the
      alarm event) -> SOS.
    - 252 "Unplug" = 1 (external power / battery unplugged, FMB list) -> POWER_OFF.
    - 20019 TAT240 tamper state 0 ("holder removed") or 3 ("removed from metal surface") -> REMOVAL.
  An IO alarm is raised only by the record the IO generated (the record's event IO id is that IO):
  firmware set to repeat IO values in every record would otherwise raise the alarm again with each
  periodic record. Priority 2 (panic) is always an SOS, whatever generated it. One record raises at
  most one event per kind. No Teltonika IO for a case opening or a dedicated low-battery alarm is
  documented firmly enough to map; battery % goes with each fix for the rules to judge.
* A record whose own time does not fit a datetime has no Fix (its position cannot be placed in
  time); its alarms are kept at the receive time, and `Inbound.error` says so.
* Bad CRC: the packet is not acknowledged (the device resends it) and nothing is reported, except
  that an alarm is never dropped: if the packet still parses completely with N1 = N2, the alarms
  its records name (panic priority and the mapped alarm IOs) are reported without fixes (a corrupt
  packet's coordinates are not trusted), `error="bad CRC"`, still no ack.
* A packet with a good CRC whose records do not parse (truncated, trailing bytes): not
  acknowledged, `error` says where; the alarms of the records read before the fault are reported
  with their fixes (the CRC vouches for those bytes).
* Close (ProtocolViolation): a first frame that is not the handshake, an IMEI that is not 15
  digits, a non-zero preamble, a data length under 3 or over 64 KiB, or N1 != N2 under a good CRC.
  The largest packet in the vectors is 1,061 bytes (8E, four records); codec 8 packets stay around
  1.3 KiB, while 8E's variable-length elements (u16 lengths: BLE beacon lists and the like) can grow
  larger. 64 KiB leaves room for those and still bounds a connection's buffer.
* An unknown codec (e.g. GH3000's codec 7) is an `error`, not acknowledged, the connection kept.
* Codec 12/13 responses become `Inbound.command_reply` (ref None: the codec carries no serial), the
  text decoded as ASCII (anything else replaced), surrounding whitespace stripped, NUL replaced.
  Other codec 12 types (e.g. 0D camera packets) are an `error`.
* Commands (`encode`): LOCATE -> `getgps` (FMB SMS/GPRS command: current GNSS data). SET_INTERVAL:
  None. The period lives in per-mode parameters (home/roaming/unknown x on stop/moving, min period
  and send period) whose ids differ between device families; sending a guess could leave a device
  reporting too rarely. VIBRATE, ALARM, MESSAGE: None (no documented command).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vigil.adapters import crc
from vigil.adapters.native import as_utc
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix, Report

# --- wire constants -------------------------------------------------------------------------------

IMEI_LENGTH = 15
HANDSHAKE_ACCEPT = b"\x01"
HANDSHAKE_REFUSE = b"\x00"
PREAMBLE = b"\x00\x00\x00\x00"
HEADER_SIZE = 8  # preamble + data length
CRC_SIZE = 4
MIN_DATA_LENGTH = 3  # codec, N1, N2
MAX_DATA_LENGTH = 64 * 1024
MAX_FRAME = HEADER_SIZE + MAX_DATA_LENGTH + CRC_SIZE
PING = 0xFF

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
CODEC_12 = 0x0C
CODEC_13 = 0x0D
TYPE_COMMAND = 0x05
TYPE_RESPONSE = 0x06

PRIORITY_PANIC = 2

IO_BATTERY_PCT = 113
IO_HDOP = 182
IO_ALARM = 236
IO_UNPLUG = 252
IO_TAT240_TAMPER = 20019
TAT240_REMOVED_STATES = frozenset({0, 3})  # "holder removed", "removed from metal surface"

HDOP_DIVISOR = 10  # HDOP is sent x10
METRES_PER_HDOP = 5.0  # rough 68 % radius per unit of HDOP; see module doc
KMH_PER_MPS = 3.6
COORDINATE_DIVISOR = 10_000_000  # 1e-7 degrees; dividing rounds exactly, multiplying by 1e-7 does not
HEADING_MAX = 360
BATTERY_MAX = 100

LOCATE_COMMAND = "getgps"
MAX_COMMAND_LENGTH = 512

BAD_CRC = "bad CRC"
TIME_OUT_OF_RANGE = "time out of range"
COORDINATES_OUT_OF_RANGE = "coordinates out of range"

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- CRC-16/IBM -----------------------------------------------------------------------------------


_CRC_TABLE = crc.table(0xA001)


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (a.k.a. ARC): reflected polynomial 0xA001, initial value 0, no final XOR."""
    return crc.crc16(data, _CRC_TABLE, 0, 0)


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvlRecord:
    """One AVL record as the device sent it, values unconverted."""

    timestamp_ms: int
    priority: int
    lon_e7: int
    lat_e7: int
    altitude_m: int
    angle: int
    satellites: int
    speed_kmh: int
    event_io: int
    io: Mapping[int, int] = field(default_factory=dict)  # fixed-size elements (1, 2, 4, 8 bytes)
    io_variable: Mapping[int, bytes] = field(default_factory=dict)  # codec 8E's NX elements


class Malformed(Exception):
    """The bytes do not hold what the layout says (too short, or bytes left over)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._at

    def take(self, size: int) -> bytes:
        if size > self.remaining:
            raise Malformed(f"needs {size} bytes at offset {self._at}, {self.remaining} left")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def unsigned(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def signed(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big", signed=True)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Field widths of the IO part of a record, which is where the AVL codecs differ."""

    event_id: int
    generation_type: bool
    count: int
    io_id: int
    variable: bool


LAYOUTS: dict[int, _Layout] = {
    CODEC_8: _Layout(event_id=1, generation_type=False, count=1, io_id=1, variable=False),
    CODEC_8E: _Layout(event_id=2, generation_type=False, count=2, io_id=2, variable=True),
    CODEC_16: _Layout(event_id=2, generation_type=True, count=1, io_id=2, variable=False),
}
_IO_SIZES = (1, 2, 4, 8)


def _read_record(reader: _Reader, layout: _Layout) -> AvlRecord:
    timestamp_ms = reader.unsigned(8)
    priority = reader.unsigned(1)
    lon_e7 = reader.signed(4)
    lat_e7 = reader.signed(4)
    altitude_m = reader.signed(2)
    angle = reader.unsigned(2)
    satellites = reader.unsigned(1)
    speed_kmh = reader.unsigned(2)
    event_io = reader.unsigned(layout.event_id)
    if layout.generation_type:
        reader.take(1)  # codec 16's generation type: how an event was triggered; not needed
    reader.take(layout.count)  # total IO count: the per-size counts below are what tell the layout
    io: dict[int, int] = {}
    for size in _IO_SIZES:
        for _ in range(reader.unsigned(layout.count)):
            io_id = reader.unsigned(layout.io_id)
            io[io_id] = reader.unsigned(size)
    variable: dict[int, bytes] = {}
    if layout.variable:
        for _ in range(reader.unsigned(2)):
            io_id = reader.unsigned(2)
            variable[io_id] = reader.take(reader.unsigned(2))
    return AvlRecord(
        timestamp_ms,
        priority,
        lon_e7,
        lat_e7,
        altitude_m,
        angle,
        satellites,
        speed_kmh,
        event_io,
        io,
        variable,
    )


def parse_records(codec: int, body: bytes, count: int) -> tuple[list[AvlRecord], str | None]:
    """The `count` records in `body` (the bytes between N1 and N2) and, if they do not parse
    exactly, why: the records read before the fault are still returned."""
    layout = LAYOUTS[codec]
    reader = _Reader(body)
    records: list[AvlRecord] = []
    for index in range(count):
        try:
            records.append(_read_record(reader, layout))
        except Malformed as bad:
            return records, f"record {index}: {bad}"
    if reader.remaining:
        return records, f"{reader.remaining} bytes after the last record"
    return records, None


# --- reports --------------------------------------------------------------------------------------


def record_time(record: AvlRecord) -> datetime | None:
    """The record's own time as aware UTC; None when it does not fit a datetime."""
    try:
        return _UNIX_EPOCH + timedelta(milliseconds=record.timestamp_ms)
    except OverflowError:
        return None


def record_alarms(record: AvlRecord) -> list[tuple[EventKind, dict[str, str]]]:
    """The alarms a record names, at most one per kind, with what raised each."""
    found: dict[EventKind, dict[str, str]] = {}
    if record.priority == PRIORITY_PANIC:
        found[EventKind.SOS] = {"priority": "panic"}
    value = record.io.get(record.event_io)
    if value is not None:
        kind = _io_alarm(record.event_io, value)
        if kind is not None and kind not in found:
            found[kind] = {"io": str(record.event_io), "value": str(value)}
    return list(found.items())


def _io_alarm(io_id: int, value: int) -> EventKind | None:
    if io_id == IO_ALARM and value == 1:
        return EventKind.SOS
    if io_id == IO_UNPLUG and value == 1:
        return EventKind.POWER_OFF
    if io_id == IO_TAT240_TAMPER and value in TAT240_REMOVED_STATES:
        return EventKind.REMOVAL
    return None


def record_fix(record: AvlRecord, device_id: str, at: datetime) -> tuple[Fix | None, str | None]:
    """The record's position as a Fix, or None (no fix, or refused: then also why)."""
    if record.satellites == 0 or (record.lat_e7 == 0 and record.lon_e7 == 0):
        return None, None
    lat = record.lat_e7 / COORDINATE_DIVISOR
    lon = record.lon_e7 / COORDINATE_DIVISOR
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None, COORDINATES_OUT_OF_RANGE
    battery = record.io.get(IO_BATTERY_PCT)
    hdop = record.io.get(IO_HDOP)
    fix = Fix(
        device_id=device_id,
        time=at,
        lat=lat,
        lon=lon,
        # HDOP x 5 m: a rough 68 % radius, not a measured accuracy (see module doc); 0 = unknown.
        accuracy_m=hdop * METRES_PER_HDOP / HDOP_DIVISOR if hdop else None,
        speed_mps=record.speed_kmh / KMH_PER_MPS,
        heading_deg=float(record.angle) if record.angle <= HEADING_MAX else None,
        battery_pct=float(battery) if battery is not None and battery <= BATTERY_MAX else None,
    )
    return fix, None


def record_reports(
    record: AvlRecord, device_id: str, received_at: datetime, *, trust_position: bool = True
) -> tuple[list[Report], list[str]]:
    """What one record reports (its alarms, else its fix, else a heartbeat) and what was refused.
    With `trust_position` False only the alarms are reported, without fixes."""
    problems: list[str] = []
    at = record_time(record)
    fix: Fix | None = None
    if at is None:
        problems.append(TIME_OUT_OF_RANGE)
    elif trust_position:
        fix, problem = record_fix(record, device_id, at)
        if problem is not None:
            problems.append(problem)
    alarms = record_alarms(record)
    if alarms:
        when = as_utc(received_at) if at is None else at
        events: list[Report] = [
            DeviceEvent(device_id=device_id, time=when, kind=kind, fix=fix, detail=detail)
            for kind, detail in alarms
        ]
        return events, problems
    if not trust_position or at is None:
        return [], problems
    if fix is not None:
        return [fix], problems
    return [DeviceEvent(device_id=device_id, time=at, kind=EventKind.HEARTBEAT)], problems


def _alarms_only(
    records: list[AvlRecord], device_id: str, received_at: datetime, fixes: bool
) -> list[Report]:
    reports: list[Report] = []
    for record in records:
        if record_alarms(record):
            found, _ = record_reports(record, device_id, received_at, trust_position=fixes)
            reports.extend(found)
    return reports


# --- packets --------------------------------------------------------------------------------------


def ack(count: int) -> bytes:
    """The server's answer to an AVL packet: how many records it accepted, u32 big-endian."""
    return count.to_bytes(4, "big")


def decode_avl(data: bytes, crc_ok: bool, device_id: str, received_at: datetime) -> Inbound:
    """One AVL packet (`data` = codec..N2, at least 3 bytes) from `device_id`."""
    codec, count, count_again = data[0], data[1], data[-1]
    if crc_ok and count != count_again:
        raise ProtocolViolation(f"record counts differ: N1={count}, N2={count_again}")
    records, fault = parse_records(codec, data[2:-1], count)
    if not crc_ok:
        complete = fault is None and count == count_again
        alarms = _alarms_only(records, device_id, received_at, fixes=False) if complete else []
        return Inbound(reports=tuple(alarms), error=BAD_CRC)
    if fault is not None:
        kept = _alarms_only(records, device_id, received_at, fixes=True)
        return Inbound(reports=tuple(kept), error=f"malformed codec 0x{codec:02X} packet: {fault}")
    reports: list[Report] = []
    problems: list[str] = []
    for index, record in enumerate(records):
        found, refused = record_reports(record, device_id, received_at)
        reports.extend(found)
        problems.extend(f"record {index}: {problem}" for problem in refused)
    return Inbound(reports=tuple(reports), ack=ack(count), error="; ".join(problems) or None)


def decode_command_packet(data: bytes, crc_ok: bool) -> Inbound:
    """A codec 12 or 13 packet (`data` = codec..N2) from the device: its response, if it is one."""
    codec, count, count_again = data[0], data[1], data[-1]
    if crc_ok and count != count_again:
        raise ProtocolViolation(f"command counts differ: N1={count}, N2={count_again}")
    if not crc_ok:
        return Inbound(error=BAD_CRC)
    reader = _Reader(data[2:-1])
    try:
        kind = reader.unsigned(1)
        payload = reader.take(reader.unsigned(4))
    except Malformed as bad:
        return Inbound(error=f"malformed codec 0x{codec:02X} packet: {bad}")
    if count != 1 or reader.remaining:
        return Inbound(error=f"malformed codec 0x{codec:02X} packet: expected exactly one message")
    if kind != TYPE_RESPONSE:
        return Inbound(error=f"codec 0x{codec:02X} message type 0x{kind:02X} not handled")
    if codec == CODEC_13:
        if len(payload) < 4:
            return Inbound(error="malformed codec 0x0D packet: no timestamp")
        payload = payload[4:]  # the response's Unix time: when the device answered, not needed
    return Inbound(command_reply=CommandReply(ref=None, text=response_text(payload)))


def response_text(payload: bytes) -> str:
    """A response as text: ASCII (anything else replaced), trimmed, without NUL (PostgreSQL)."""
    return payload.decode("ascii", errors="replace").replace("\x00", "\ufffd").strip()


def decode_packet(data: bytes, crc_ok: bool, device_id: str, received_at: datetime) -> Inbound:
    """Any packet after the handshake (`data` = codec..N2), by its codec."""
    codec = data[0]
    if codec in LAYOUTS:
        return decode_avl(data, crc_ok, device_id, received_at)
    if codec in (CODEC_12, CODEC_13):
        return decode_command_packet(data, crc_ok)
    if not crc_ok:
        return Inbound(error=BAD_CRC)  # the codec byte itself may be what got corrupted
    return Inbound(error=f"unsupported codec 0x{codec:02X}")


def frame(data: bytes) -> bytes:
    """`data` (codec..N2) in the TCP envelope: preamble, length, and CRC."""
    return PREAMBLE + len(data).to_bytes(4, "big") + data + crc16_ibm(data).to_bytes(CRC_SIZE, "big")


# --- commands -------------------------------------------------------------------------------------

COMMANDS: dict[CommandKind, Callable[[Mapping[str, str]], str | None]] = {
    CommandKind.LOCATE: lambda _params: LOCATE_COMMAND,
}


def command_text(command: Outbound) -> str | None:
    """The Teltonika SMS/GPRS command text for `command`; None when there is none we trust."""
    build = COMMANDS.get(command.kind)
    return None if build is None else build(command.params)


def command_packet(text: str) -> bytes:
    """A codec 12 command (type 05) carrying `text` (printable ASCII)."""
    if not (0 < len(text) <= MAX_COMMAND_LENGTH and text.isascii() and text.isprintable()):
        raise ValueError(f"a Teltonika command is 1..{MAX_COMMAND_LENGTH} printable ASCII characters")
    payload = text.encode("ascii")
    return frame(bytes([CODEC_12, 1, TYPE_COMMAND]) + len(payload).to_bytes(4, "big") + payload + b"\x01")


# --- the session ----------------------------------------------------------------------------------

_U32 = struct.Struct(">I")


class TeltonikaSession:
    """One Teltonika TCP connection: the IMEI handshake, then packets. Holds at most one frame in
    progress (the header is checked as soon as it arrives), so at most MAX_FRAME bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._imei: str | None = None

    @property
    def identifier(self) -> str | None:
        return self._imei

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes, received_at: datetime) -> list[Inbound]:
        self._buffer += data
        out: list[Inbound] = []
        start = 0
        try:
            while True:
                step = self._next(start, received_at)
                if step is None:
                    break
                start, inbound = step
                if inbound is not None:
                    out.append(inbound)
        finally:
            del self._buffer[:start]
        return out

    def encode(self, command: Outbound) -> bytes | None:
        text = command_text(command)
        return None if text is None else command_packet(text)

    def _next(self, start: int, received_at: datetime) -> tuple[int, Inbound | None] | None:
        """The next frame from `start`: where it ends and what it says (None: a ping), or None
        when the frame is not complete yet."""
        if self._imei is None:
            return self._handshake(start)
        buffer = self._buffer
        if start < len(buffer) and buffer[start] == PING:
            return start + 1, None
        available = bytes(buffer[start : start + HEADER_SIZE])
        preamble = available[: len(PREAMBLE)]
        if preamble != PREAMBLE[: len(preamble)]:  # refused as soon as one byte is not zero
            raise ProtocolViolation("packet preamble is not 00000000")
        if len(available) < HEADER_SIZE:
            return None
        (length,) = _U32.unpack_from(available, 4)
        if not MIN_DATA_LENGTH <= length <= MAX_DATA_LENGTH:
            raise ProtocolViolation(f"data length {length} outside {MIN_DATA_LENGTH}..{MAX_DATA_LENGTH}")
        end = start + HEADER_SIZE + length + CRC_SIZE
        if len(buffer) < end:
            return None
        data = bytes(buffer[start + HEADER_SIZE : end - CRC_SIZE])
        (crc,) = _U32.unpack_from(buffer, end - CRC_SIZE)
        return end, decode_packet(data, crc == crc16_ibm(data), self._imei, received_at)

    def _handshake(self, start: int) -> tuple[int, Inbound] | None:
        buffer = self._buffer
        if len(buffer) - start < 2:
            return None
        length = int.from_bytes(buffer[start : start + 2], "big")
        if length == 0:
            raise ProtocolViolation("data before the IMEI handshake")
        if length != IMEI_LENGTH:
            raise ProtocolViolation(f"IMEI handshake of length {length}, expected {IMEI_LENGTH}")
        end = start + 2 + IMEI_LENGTH
        if len(buffer) < end:
            return None
        raw = bytes(buffer[start + 2 : end])
        if not (raw.isascii() and raw.isdigit()):
            raise ProtocolViolation("IMEI handshake is not 15 ASCII digits")
        self._imei = raw.decode("ascii")
        return end, Inbound(identifier=self._imei, ack=HANDSHAKE_ACCEPT, refusal=HANDSHAKE_REFUSE)
