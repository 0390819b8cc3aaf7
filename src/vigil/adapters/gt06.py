"""The GT06 / Concox (Jimi IoT) binary protocol over TCP: many cheap trackers and ankle units speak it.

Frames (big-endian throughout)::

    7878 LEN(1) PROTO CONTENT SERIAL(2) CRC(2) 0D0A     the usual form
    7979 LEN(2) PROTO CONTENT SERIAL(2) CRC(2) 0D0A     the extended form, for longer content

LEN counts PROTO..CRC; the CRC is CRC-16/X.25 (CRC-ITU: reflected 0x1021, init and xor-out 0xFFFF)
over LEN..SERIAL. The facts below come from the Concox protocol documents as Traccar implements them
(Gt06ProtocolDecoder, read for facts, not copied) and the vectors in tests/data/devices/gt06_*.txt.

What is decoded
---------------
* 0x01 login: the IMEI as 8 BCD bytes, 16 digits of which the first is a padding 0 (15 digits are the
  identifier; a non-zero first digit keeps all 16 rather than guess). Extra bytes (type code, time
  zone) are ignored. A second login naming another IMEI on the same connection is a violation.
* GPS block (18 bytes, at the head of every position and alarm type below): YY MM DD hh mm ss,
  a byte (satellites in the low nibble), lat u32 and lon u32 in 1/1,800,000 degree (minutes *
  30000), speed u8 km/h, u16 course/status (bits 0-9 course, bit 10 set = north, bit 11 set = west,
  bit 12 set = fix valid). Device time is UTC for these units (Concox set their GPS time in UTC;
  the login's time-zone field only matters for text replies); YY is read as 2000 + YY.
* Positions: 0x10 (GPS), 0x11, 0x12, 0x22 (GPS + cell), 0x1A, 0x2D, 0x31, 0x37, 0xA0 (later GPS +
  cell variants whose content also starts with the GPS block). The cell part is ignored: we have no
  cell database and never invent a position from it.
* Status / heartbeat 0x13: terminal info, voltage level, GSM signal, alarm, language. A HEARTBEAT
  event (at receipt time) with battery, charging and signal in `detail`. It becomes CHARGING instead
  when the charging bit is set and this connection had not seen it set (an edge, so a charger left
  in reports it once, and the battery-low alert that charging ends is ended once).
* Alarm packets 0x16 and 0x26 (GPS, cell with a length byte, status tail of 5 bytes), 0x27 and 0xA4
  (tail of 6: language is 2 bytes; Traccar reads a fence byte after it, but the vectors end there),
  0x19 and 0xA5 (cell and status, no GPS). The status tail is read from the END of the content, because vendors vary the cell part
  (0x16 with a 4-byte cell id, 0xA5 with 4-byte LAC and 8-byte cell id) but keep the tail. One layout
  differs at the tail: 0x16 with LEN 0x24 (VXT01) carries voltage as u16 and no alarm byte, and its
  status bits 3-5 = 7 mean overspeed there, not removal; only its status bits are read.
  The alarm comes from the status byte bits 3-5 (2 power cut, 3 low battery, 4 SOS, 7 strap/removing;
  1 vibration and 6 fence are not ours) and from the alarm byte (01 SOS, 02 power cut, 11 power off,
  0E/0F/19 low battery, 0C/13/25/32 tampering, 18 removing; 03/09 vibration, 04/05 fence, 06
  overspeed and the rest are not ours). SOS -> SOS, power cut / power off -> POWER_OFF, low battery ->
  BATTERY_LOW, removing / tampering -> REMOVAL. Each distinct kind named is one DeviceEvent carrying
  the packet's fix when it is valid. A packet naming no protection alarm (vibration, overspeed, a
  fence, nothing) is its fix (if valid) plus a HEARTBEAT (or CHARGING, as above) with the details.
* 0x13's alarm bits are NOT alarms: the heartbeat repeats the device's alarm *state* every few
  minutes, while the alarm itself comes once, as an alarm packet. Raising on each heartbeat would
  flap the power alert (any other message ends it). The state is kept in `detail["alarm_state"]`.
* Command replies: 0x15 (cmd length, server flag u32, ASCII text, language) and 0x21 (server flag
  u32, encoding byte 1 ASCII / 2 UTF-16BE, text) -> Inbound.command_reply with ref = server flag. The
  position inside a WHERE# reply ("Current position!Lat:N..,DateTime:..") is not extracted: its
  DateTime follows the unit's configured zone, and the unit sends its fix as a packet anyway.
* 0x8A time request: answered with the receipt time in UTC (7878 0B 8A YY MM DD hh mm ss SERIAL
  CRC 0D0A, the request's serial echoed).

Replies
-------
Login, every position, status and alarm type, and types we do not decode get ``7878 05 PROTO SERIAL
CRC 0D0A`` (Traccar acknowledges every frame but command replies; a device left without acks resends
and reconnects). A frame that came in the 7979 form is answered in the 7979 form (``7979 0005 PROTO
SERIAL CRC 0D0A``), as Traccar does and as devices that use it expect. Command replies (0x15, 0x21)
get no reply. A CRC-valid frame we cannot decode (too short, unknown type) is acknowledged with its
error: the device would only resend the same bytes.

Bad CRC
-------
Alarms are never dropped: an alarm packet whose CRC fails still reports the alarm events its status
bytes name, WITHOUT a position and at receipt time (a corrupted frame's bytes cannot be trusted to
place anyone, nor to date anything), with ``error="bad CRC"`` and no ack, so the device resends it
and the good copy brings the position (a second alarm event at another time is a lesser evil than a
lost one). Any other frame with a bad CRC reports nothing, gets no ack (the device resends) and
``error="bad CRC"``. Note that Traccar does not check the CRC at all, and a few of its test vectors
fail it: a model that computes it differently would be refused here (counted, so it shows).

Positions
---------
Not a Fix: the valid bit clear, exactly (0, 0), latitude or longitude out of range, or a GPS date
that is no date (each but the first also sets `error`). Speed km/h / 3.6; heading = course when
<= 360. The packet's time is used only with a valid fix: without one the date bytes are often the
last fix's, so the events of such a packet are stamped with the receipt time. No accuracy: the
protocol carries satellites, not anything in metres. Battery level 0-6 (the GT06 scale) maps to
round(level * 100 / 6) %, 7-100 are already percent, beyond is unknown.

Framing and bounds
------------------
Bytes before a start marker are skipped (one error Inbound per run); a LEN below 5 or a frame not
ending in 0D0A skips the marker and looks for the next; a head that waits for bytes while a complete
CRC-valid frame follows it is skipped too (a stray marker in garbage must not delay an alarm behind
it), and so is a bad-CRC frame inside which a CRC-valid frame starts. More than MAX_GARBAGE skipped bytes since the last frame, an extended LEN above
MAX_EXTENDED_LENGTH (we decode no media), or more than MAX_BEFORE_LOGIN frames before a login raise
ProtocolViolation. When that happens after frames of the same `feed` were decoded, those are returned
first and the violation is raised by the next `feed`, so an alarm is never lost to the garbage after
it. The buffer never holds more than one frame of at most MAX_FRAME bytes.

Commands
--------
Online command 0x80: ``7878 LEN 80 CMDLEN FLAG(4) ASCII SERIAL CRC 0D0A`` with FLAG = Outbound.ref (the
device echoes it in its 0x15/0x21 reply), CMDLEN = 4 + text length, SERIAL a per-connection counter,
no language field (Traccar's default; some firmware wants one). SET_INTERVAL -> ``TIMER,<s>,<s>#``
(Concox's TIMER takes the interval moving and at rest; both get the asked seconds); LOCATE ->
``WHERE#``. VIBRATE, ALARM and MESSAGE have no documented GT06 command: None. A SET_INTERVAL
without whole seconds in `params["seconds"]`, or a ref that does not fit the 4-byte flag, is the
caller's mistake: ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from vigil.adapters import crc
from vigil.adapters.native import as_utc
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation, Session
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix, FixSource, Report

SHORT_START = b"\x78\x78"
LONG_START = b"\x79\x79"
STOP = b"\r\n"
MIN_LENGTH = 5  # PROTO + SERIAL + CRC
MAX_SHORT_LENGTH = 0xFF
# Concox media chunks are 1024 bytes; we decode no media, and a longer frame has no business here.
MAX_EXTENDED_LENGTH = 2048
MAX_FRAME = 4 + MAX_EXTENDED_LENGTH + len(STOP)
MAX_GARBAGE = 1024  # skipped bytes since the last frame before the connection is given up
MAX_BEFORE_LOGIN = 3  # frames refused before a login; the next one is a violation

LOGIN = 0x01
STATUS = 0x13
COMMAND_REPLY = 0x15
STRING_INFO = 0x21
HEARTBEAT_GK310 = 0x23
TIME_REQUEST = 0x8A
ONLINE_COMMAND = 0x80

GPS_BLOCK = 18
POSITION_TYPES = frozenset({0x10, 0x11, 0x12, 0x22, 0x1A, 0x2D, 0x31, 0x37, 0xA0})
# Alarm packet types: (starts with the GPS block, length of the status tail).
ALARM_TYPES: dict[int, tuple[bool, int]] = {
    0x16: (True, 5),
    0x26: (True, 5),
    0x27: (True, 6),
    0xA4: (True, 6),
    0x19: (False, 5),
    0xA5: (False, 5),
}
STATUS_TAIL = 5
VXT01_LENGTH = 0x24  # 0x16 with this LEN: ..., info, voltage u16, rssi, alarm extension
SPACE10X_MIN_LENGTH = 0x17  # 0x19 this long is a multi-cell list, not a status

BAD_CRC = "bad CRC"
NOT_LOGGED_IN = "frame before login"
BAD_IMEI = "login IMEI is not 8 BCD bytes"
OTHER_IMEI = "a second login names another IMEI"
TOO_SHORT = "content too short"
NO_STATUS = "content too short, or a layout without the status block"
UNKNOWN_LAYOUT = "unrecognised layout"
UNSUPPORTED = "unsupported protocol number"
BAD_TIME = "GPS time is not a date"
BAD_LAT = "latitude out of range"
BAD_LON = "longitude out of range"
NULL_ISLAND = "position (0, 0)"
BAD_COURSE = "course out of range"
SKIPPED = "bytes skipped before a start marker"
SHORT_LENGTH = "length below 5"
NO_STOP = "frame not ended by 0D0A"
BEHIND_HEAD = "bytes of an incomplete frame skipped: a complete frame follows"
SWALLOWING = "bytes of a bad-CRC frame skipped: a complete frame starts inside it"
TOO_MUCH_GARBAGE = f"more than {MAX_GARBAGE} bytes of garbage"
LENGTH_PAST_LIMIT = f"extended length above {MAX_EXTENDED_LENGTH}"
TOO_MANY_BEFORE_LOGIN = f"more than {MAX_BEFORE_LOGIN} frames before a login"
NO_TIME_REPLY = "receipt time cannot be said in a GT06 time reply"

KMH_TO_MPS = 1 / 3.6
COORDINATE_UNIT = 1_800_000.0  # 30000 per minute of arc
BATTERY_LEVELS = 6  # GT06 voltage level 0..6
HEADING_MAX = 360

# Status byte bits 3-5 and the alarm byte, by name; the names that are ours map to an EventKind.
STATUS_ALARMS: dict[int, str] = {
    1: "vibration",
    2: "power_cut",
    3: "low_battery",
    4: "sos",
    6: "geofence",
    7: "removing",
}
ALARM_BYTES: dict[int, str] = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x04: "geofence_enter",
    0x05: "geofence_exit",
    0x06: "overspeed",
    0x09: "vibration",
    0x0C: "tampering",
    0x0E: "low_battery",
    0x0F: "low_battery",
    0x11: "power_off",
    0x13: "tampering",
    0x14: "door",
    0x18: "removing",
    0x19: "low_battery",
    0x23: "fall_down",
    0x25: "tampering",
    0x30: "jamming",
    0x32: "tampering",
}
PROTECTION: dict[str, EventKind] = {
    "sos": EventKind.SOS,
    "power_cut": EventKind.POWER_OFF,
    "power_off": EventKind.POWER_OFF,
    "low_battery": EventKind.BATTERY_LOW,
    "removing": EventKind.REMOVAL,
    "tampering": EventKind.REMOVAL,
}


# CRC-16/X.25 works on the reflected polynomial 0x1021 (0x8408), a byte at a time.
_CRC_TABLE = crc.table(0x8408)


# --- pure helpers ----------------------------------------------------------------------------------


def crc_x25(data: bytes) -> int:
    """CRC-16/X.25 (CRC-ITU) of `data`: crc_x25(bytes.fromhex("05010001")) == 0xD9DC."""
    return crc.crc16(data, _CRC_TABLE, 0xFFFF, 0xFFFF)


def frame(proto: int, content: bytes, serial: int, *, extended: bool = False) -> bytes:
    """A complete frame: 7878 (or 7979) LEN PROTO CONTENT SERIAL CRC 0D0A."""
    length = 1 + len(content) + 2 + 2
    if length > (MAX_EXTENDED_LENGTH if extended else MAX_SHORT_LENGTH):
        raise ValueError(f"content of {len(content)} bytes does not fit one frame")
    body = length.to_bytes(2 if extended else 1, "big") + bytes([proto]) + content
    body += (serial & 0xFFFF).to_bytes(2, "big")
    return (LONG_START if extended else SHORT_START) + body + crc_x25(body).to_bytes(2, "big") + STOP


def ack(proto: int, serial: int, *, extended: bool = False) -> bytes:
    """The server's acknowledgement of a frame: no content, the frame's own protocol and serial."""
    return frame(proto, b"", serial, extended=extended)


def time_reply(at: datetime, serial: int, *, extended: bool = False) -> bytes:
    """The answer to a 0x8A time request: `at` in UTC as YY MM DD hh mm ss."""
    moment = as_utc(at)
    if not 2000 <= moment.year <= 2255:
        raise ValueError(NO_TIME_REPLY)
    content = bytes([moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute, moment.second])
    return frame(TIME_REQUEST, content, serial, extended=extended)


def decode_imei(raw: bytes) -> str | None:
    """The identifier in a login's 8 BCD bytes; None when they are not BCD."""
    digits = raw[:8].hex()
    if len(digits) != 16 or not digits.isdigit():
        return None
    return digits[1:] if digits[0] == "0" else digits


@dataclass(frozen=True, slots=True)
class GpsBlock:
    """The 18-byte GPS block as the device sent it."""

    time: datetime | None  # None: the six date bytes are not a date
    satellites: int
    lat: float
    lon: float
    speed_kmh: int
    course: int
    valid: bool


def parse_gps(block: bytes) -> GpsBlock:
    """Read the GPS block at the head of `block` (at least 18 bytes)."""
    if len(block) < GPS_BLOCK:
        raise ValueError("a GPS block is 18 bytes")
    flags = int.from_bytes(block[16:18], "big")
    lat = int.from_bytes(block[7:11], "big") / COORDINATE_UNIT
    lon = int.from_bytes(block[11:15], "big") / COORDINATE_UNIT
    return GpsBlock(
        time=_gps_time(block[:6]),
        satellites=block[6] & 0x0F,
        lat=lat if flags & 0x0400 else -lat,
        lon=-lon if flags & 0x0800 else lon,
        speed_kmh=block[15],
        course=flags & 0x03FF,
        valid=bool(flags & 0x1000),
    )


def _gps_time(raw: bytes) -> datetime | None:
    year, month, day, hour, minute, second = raw
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def fix_of(device: str, gps: GpsBlock, battery_pct: float | None = None) -> tuple[Fix | None, str | None]:
    """The Fix a GPS block is, if it is one, and what was wrong with it (None when nothing was)."""
    if not gps.valid:
        return None, None
    if gps.time is None:
        return None, BAD_TIME
    if abs(gps.lat) > 90:
        return None, BAD_LAT
    if abs(gps.lon) > 180:
        return None, BAD_LON
    if gps.lat == 0 and gps.lon == 0:
        return None, NULL_ISLAND
    heading_ok = gps.course <= HEADING_MAX
    fix = Fix(
        device_id=device,
        time=gps.time,
        lat=gps.lat,
        lon=gps.lon,
        speed_mps=gps.speed_kmh * KMH_TO_MPS,
        heading_deg=float(gps.course) if heading_ok else None,
        source=FixSource.GNSS,
        battery_pct=battery_pct,
    )
    return fix, None if heading_ok else BAD_COURSE


@dataclass(frozen=True, slots=True)
class Status:
    """A status block: terminal info byte, voltage level, GSM signal and alarm byte, decoded."""

    charging: bool
    battery_pct: float | None
    gsm_signal: int | None
    alarms: tuple[str, ...]  # every alarm named, ours or not, status bits first

    def protection(self) -> list[tuple[EventKind, str]]:
        """The alarms that are ours, one per kind, in order."""
        seen: dict[EventKind, str] = {}
        for name in self.alarms:
            kind = PROTECTION.get(name)
            if kind is not None and kind not in seen:
                seen[kind] = name
        return list(seen.items())

    def detail(self) -> dict[str, str]:
        out = {"charging": "true" if self.charging else "false"}
        if self.battery_pct is not None:
            out["battery_pct"] = f"{self.battery_pct:g}"
        if self.gsm_signal is not None:
            out["gsm_signal"] = str(self.gsm_signal)
        return out


def battery_pct(level: int) -> float | None:
    """The GT06 voltage level as percent: 0-6 is the GT06 scale, 7-100 is already percent."""
    if level <= BATTERY_LEVELS:
        return float(round(level * 100 / BATTERY_LEVELS))
    return float(level) if level <= 100 else None


def parse_status(info: int, voltage: int | None, gsm: int | None, alarm: int | None) -> Status:
    """Decode a status block; `voltage`, `gsm` and `alarm` are None where the layout has none."""
    names: list[str] = []
    bits = (info >> 3) & 0x07
    if bits in STATUS_ALARMS:
        names.append(STATUS_ALARMS[bits])
    if alarm:
        name = ALARM_BYTES.get(alarm, f"code_0x{alarm:02x}")
        if name not in names:
            names.append(name)
    return Status(
        charging=bool(info & 0x04),
        battery_pct=None if voltage is None else battery_pct(voltage),
        gsm_signal=gsm,
        alarms=tuple(names),
    )


def _vxt01_status(info: int) -> Status:
    """VXT01's status bits: 7 is overspeed on this variant, and no level or alarm byte is read."""
    bits = (info >> 3) & 0x07
    names = () if bits == 7 or bits not in STATUS_ALARMS else (STATUS_ALARMS[bits],)
    return Status(charging=bool(info & 0x04), battery_pct=None, gsm_signal=None, alarms=names)


def alarm_status(proto: int, length: int, content: bytes) -> Status | None:
    """The status an alarm packet's content carries; None when it is too short to hold one."""
    layout = ALARM_TYPES.get(proto)
    if layout is None:
        return None
    has_gps, tail = layout
    if len(content) < (GPS_BLOCK if has_gps else 0) + tail:
        return None
    if proto == 0x19 and length >= SPACE10X_MIN_LENGTH:
        return None
    if proto == 0x16 and length == VXT01_LENGTH:
        return _vxt01_status(content[-STATUS_TAIL])
    info, voltage, gsm, alarm = content[-tail : -tail + 4]
    return parse_status(info, voltage, gsm, alarm)


def command_text(command: Outbound) -> str | None:
    """The Concox text command for `command`; None when GT06 has no documented one."""
    if command.kind is CommandKind.SET_INTERVAL:
        raw = command.params.get("seconds", "")
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 10**6:
            raise ValueError(f"SET_INTERVAL needs whole seconds in 1..999999, not {raw!r}")
        seconds = int(raw)
        return f"TIMER,{seconds},{seconds}#"
    if command.kind is CommandKind.LOCATE:
        return "WHERE#"
    return None


def command_frame(ref: int, text: str, serial: int) -> bytes:
    """The 0x80 online command carrying `text`, with `ref` as its server flag."""
    if not 0 <= ref <= 0xFFFFFFFF:
        raise ValueError(f"ref {ref} does not fit the 4-byte server flag")
    payload = text.encode("ascii")
    if 4 + len(payload) > 0xFF:
        raise ValueError("command text longer than 251 bytes")
    content = bytes([4 + len(payload)]) + ref.to_bytes(4, "big") + payload
    return frame(ONLINE_COMMAND, content, serial, extended=1 + len(content) + 4 > MAX_SHORT_LENGTH)


def command_reply(proto: int, content: bytes) -> CommandReply | None:
    """A 0x15 or 0x21 reply's server flag and text; None when the content cannot hold one."""
    if proto == COMMAND_REPLY:
        if not content or content[0] < 4 or len(content) < 1 + content[0]:
            return None
        ref = int.from_bytes(content[1:5], "big")
        text = content[5 : 1 + content[0]].decode("ascii", "replace")
    else:
        if len(content) < 5:
            return None
        ref = int.from_bytes(content[:4], "big")
        codec = "utf-16-be" if content[4] == 2 else "ascii"
        text = content[5:].decode(codec, "replace")
    # Stored as PostgreSQL text, which refuses NUL; devices pad with it.
    return CommandReply(ref=ref, text=text.replace("\x00", ""))


# --- the session -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    extended: bool
    length: int
    proto: int
    content: bytes
    serial: int
    crc_ok: bool


def _split(raw: bytes) -> _Frame:
    extended = raw[:2] == LONG_START
    head = 4 if extended else 3
    length = int.from_bytes(raw[2:head], "big")
    expected = int.from_bytes(raw[-4:-2], "big")
    return _Frame(
        extended=extended,
        length=length,
        proto=raw[head],
        content=raw[head + 1 : -6],
        serial=int.from_bytes(raw[-6:-4], "big"),
        crc_ok=crc_x25(raw[2:-4]) == expected,
    )


def _frame_length(buffer: bytes | bytearray, at: int) -> int | None:
    """The LEN of the frame whose marker is at `at`; None while its header is incomplete."""
    extended = buffer[at : at + 2] == LONG_START
    head = 4 if extended else 3
    if len(buffer) < at + head:
        return None
    return int.from_bytes(buffer[at + 2 : at + head], "big")


def _total(buffer: bytes | bytearray, at: int, length: int) -> int:
    return (4 if buffer[at : at + 2] == LONG_START else 3) + length + len(STOP)


def _find_marker(buffer: bytes | bytearray, start: int) -> int:
    found = [i for i in (buffer.find(SHORT_START, start), buffer.find(LONG_START, start)) if i >= 0]
    return min(found) if found else -1


def _complete_at(buffer: bytes | bytearray, at: int) -> bool:
    """A whole, well-ended, CRC-valid frame starts at `at`."""
    length = _frame_length(buffer, at)
    if length is None or length < MIN_LENGTH or length > MAX_EXTENDED_LENGTH:
        return False
    end = at + _total(buffer, at, length)
    if end > len(buffer) or buffer[end - 2 : end] != STOP:
        return False
    return _split(bytes(buffer[at:end])).crc_ok


class Gt06Session:
    """One GT06 connection: framing, the login, and every frame decoded to one Inbound."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._imei: str | None = None
        self._garbage = 0
        self._before_login = 0
        self._charging: bool | None = None
        self._command_serial = 0
        self._violation: str | None = None

    @property
    def identifier(self) -> str | None:
        """The IMEI the connection logged in with."""
        return self._imei

    def feed(self, data: bytes, received_at: datetime) -> list[Inbound]:
        if self._violation is not None:
            raise ProtocolViolation(self._violation)
        at = as_utc(received_at)
        self._buffer += data
        out: list[Inbound] = []
        try:
            while (inbound := self._next(at)) is not None:
                out.append(inbound)
        except ProtocolViolation as violation:
            self._buffer.clear()
            if not out:
                raise
            # What this feed decoded goes to the gateway first; the connection ends on the next feed.
            self._violation = str(violation)
            return out
        if len(self._buffer) > MAX_FRAME:  # cannot happen by construction; the bound is the contract
            raise ProtocolViolation("buffer past its bound")
        return out

    def encode(self, command: Outbound) -> bytes | None:
        text = command_text(command)
        if text is None:
            return None
        self._command_serial = (self._command_serial + 1) & 0xFFFF
        return command_frame(command.ref, text, self._command_serial)

    # --- framing ---

    def _skip(self, count: int, why: str) -> Inbound:
        del self._buffer[:count]
        self._garbage += count
        if self._garbage > MAX_GARBAGE:
            raise ProtocolViolation(TOO_MUCH_GARBAGE)
        return Inbound(error=f"{why} ({count} bytes)")

    def _next(self, at: datetime) -> Inbound | None:
        """The next Inbound the buffer holds (a frame or a skipped run), None when it needs bytes."""
        buffer = self._buffer
        start = _find_marker(buffer, 0)
        if start < 0:
            # The last byte may be the first half of a marker.
            keep = 1 if buffer and buffer[-1] in {SHORT_START[0], LONG_START[0]} else 0
            return self._skip(len(buffer) - keep, SKIPPED) if len(buffer) > keep else None
        if start > 0:
            return self._skip(start, SKIPPED)
        length = _frame_length(buffer, 0)
        if length is None:
            return None
        if length > MAX_EXTENDED_LENGTH:
            raise ProtocolViolation(LENGTH_PAST_LIMIT)
        if length < MIN_LENGTH:
            return self._skip(len(SHORT_START), SHORT_LENGTH)
        total = _total(buffer, 0, length)
        if len(buffer) < total:
            later = self._complete_later()
            return None if later is None else self._skip(later, BEHIND_HEAD)
        if buffer[total - 2 : total] != STOP:
            return self._skip(len(SHORT_START), NO_STOP)
        raw = bytes(buffer[:total])
        frame_ = _split(raw)
        if not frame_.crc_ok:
            # A stray marker whose LEN happens to end on a 0D0A may swallow a good frame: keep that.
            inner = self._complete_later(before=total)
            if inner is not None:
                return self._skip(inner, SWALLOWING)
        del buffer[:total]
        self._garbage = 0
        return self._decode(frame_, at)

    def _complete_later(self, before: int | None = None) -> int | None:
        """Where the first complete, CRC-valid frame after the head starts (before `before`)."""
        at = _find_marker(self._buffer, len(SHORT_START))
        while at >= 0 and (before is None or at < before):
            if _complete_at(self._buffer, at):
                return at
            at = _find_marker(self._buffer, at + 1)
        return None

    # --- frames ---

    def _decode(self, frame_: _Frame, at: datetime) -> Inbound:
        if frame_.proto == LOGIN:
            return self._login(frame_)
        device = self._imei
        if device is None:
            self._before_login += 1
            if self._before_login > MAX_BEFORE_LOGIN:
                raise ProtocolViolation(TOO_MANY_BEFORE_LOGIN)
            return Inbound(error=f"{NOT_LOGGED_IN} (protocol 0x{frame_.proto:02x})")
        if not frame_.crc_ok:
            return self._bad_crc(device, frame_, at)
        reply = ack(frame_.proto, frame_.serial, extended=frame_.extended)
        if frame_.proto in POSITION_TYPES:
            return self._position(device, frame_, at, reply)
        if frame_.proto in ALARM_TYPES:
            return self._alarm(device, frame_, at, reply)
        if frame_.proto in {STATUS, HEARTBEAT_GK310}:
            return self._status(device, frame_, at, reply)
        if frame_.proto in {COMMAND_REPLY, STRING_INFO}:
            answer = command_reply(frame_.proto, frame_.content)
            if answer is None:
                return Inbound(error=self._problem(frame_, TOO_SHORT))
            return Inbound(command_reply=answer)
        if frame_.proto == TIME_REQUEST:
            try:
                return Inbound(ack=time_reply(at, frame_.serial, extended=frame_.extended))
            except ValueError:
                return Inbound(error=NO_TIME_REPLY)
        return Inbound(ack=reply, error=self._problem(frame_, UNSUPPORTED))

    @staticmethod
    def _problem(frame_: _Frame, why: str) -> str:
        return f"protocol 0x{frame_.proto:02x}: {why}"

    def _login(self, frame_: _Frame) -> Inbound:
        if not frame_.crc_ok:
            return Inbound(error=BAD_CRC)
        imei = decode_imei(frame_.content) if len(frame_.content) >= 8 else None
        if imei is None:
            return Inbound(error=BAD_IMEI)
        if self._imei is not None and imei != self._imei:
            raise ProtocolViolation(OTHER_IMEI)
        self._imei = imei
        return Inbound(identifier=imei, ack=ack(LOGIN, frame_.serial, extended=frame_.extended))

    def _bad_crc(self, device: str, frame_: _Frame, at: datetime) -> Inbound:
        status = alarm_status(frame_.proto, frame_.length, frame_.content)
        if status is None:
            return Inbound(error=BAD_CRC)
        detail = status.detail()
        events = tuple(
            DeviceEvent(device, at, kind, detail=detail | {"alarm": name})
            for kind, name in status.protection()
        )
        return Inbound(reports=events, error=BAD_CRC)

    def _position(self, device: str, frame_: _Frame, at: datetime, reply: bytes) -> Inbound:
        if len(frame_.content) < GPS_BLOCK:
            return Inbound(ack=reply, error=self._problem(frame_, TOO_SHORT))
        fix, problem = fix_of(device, parse_gps(frame_.content))
        # No usable fix: still a sign of life, at receipt time (see the module doc).
        report: Report = fix if fix is not None else DeviceEvent(device, at, EventKind.HEARTBEAT)
        return Inbound(reports=(report,), ack=reply, error=problem)

    def _alarm(self, device: str, frame_: _Frame, at: datetime, reply: bytes) -> Inbound:
        status = alarm_status(frame_.proto, frame_.length, frame_.content)
        if status is None:
            return Inbound(ack=reply, error=self._problem(frame_, NO_STATUS))
        fix: Fix | None = None
        problem: str | None = None
        if ALARM_TYPES[frame_.proto][0]:
            fix, problem = fix_of(device, parse_gps(frame_.content), status.battery_pct)
        when = at if fix is None else fix.time
        detail = status.detail()
        protection = status.protection()
        if protection:
            events = tuple(
                DeviceEvent(device, when, kind, fix=fix, detail=detail | {"alarm": name})
                for kind, name in protection
            )
            return Inbound(reports=events, ack=reply, error=problem)
        others = [name for name in status.alarms if name not in PROTECTION]
        if others:
            detail["alarm"] = ",".join(others)
        routine = DeviceEvent(device, when, self._routine_kind(status), detail=detail)
        reports: tuple[Report, ...] = (routine,) if fix is None else (fix, routine)
        return Inbound(reports=reports, ack=reply, error=problem)

    def _status(self, device: str, frame_: _Frame, at: datetime, reply: bytes) -> Inbound:
        content = frame_.content
        if frame_.proto == STATUS and len(content) == STATUS_TAIL:
            status = parse_status(content[0], content[1], content[2], content[3])
            detail = status.detail()
            if status.alarms:
                detail["alarm_state"] = ",".join(status.alarms)
            event = DeviceEvent(device, at, self._routine_kind(status), detail=detail)
            return Inbound(reports=(event,), ack=reply)
        # 0x23 (voltage as u16) and other 0x13 layouts: alive, charging bit only.
        event = DeviceEvent(device, at, EventKind.HEARTBEAT)
        if content:
            status = Status(charging=bool(content[0] & 0x04), battery_pct=None, gsm_signal=None, alarms=())
            event = DeviceEvent(device, at, self._routine_kind(status), detail=status.detail())
        problem = None if frame_.proto == HEARTBEAT_GK310 else self._problem(frame_, UNKNOWN_LAYOUT)
        return Inbound(reports=(event,), ack=reply, error=problem)

    def _routine_kind(self, status: Status) -> EventKind:
        """CHARGING when the charging bit comes on on this connection, HEARTBEAT otherwise."""
        rising = status.charging and self._charging is not True
        self._charging = status.charging
        return EventKind.CHARGING if rising else EventKind.HEARTBEAT


def new_session() -> Session:
    """A session for a new connection (what the gateway's GT06 listener starts each one with)."""
    return Gt06Session()
