"""The WATCH / 3G text protocol over TCP: SeTracker-style smartwatches and SOS fobs.

Protocol facts (Traccar's WatchFrameDecoder / WatchProtocolDecoder / WatchProtocolEncoder and their
tests, read for facts only, and tests/data/devices/watch_frames.txt):

* A frame is ``[MFR*DEVICEID*LEN*CONTENT]``: MFR two characters (3G, SG, CS, ZJ, ...), DEVICEID the
  watch's id (10 or 15 digits), LEN four hex digits, CONTENT ``TYPE[,arg,...]``. Some vendors (ZJ)
  add a four-hex-digit index: ``[MFR*DEVICEID*INDEX*LEN*CONTENT]``. Replies repeat the frame's MFR,
  id and index.
* Binary content (voice ``TK``, ``JXTK``, picture ``img``) escapes ``}`` ``[`` ``]`` ``,`` ``*`` as
  ``}`` followed by 0x01..0x05, so a raw ``]`` always ends a frame.
* Location fields (UD, UD2, UD3, UD_LTE, UD_WCDMA, WT, and the alarms AL...): DDMMYY, HHMMSS (UTC),
  A|V, lat, N|S, lon, E|W, speed km/h, course, altitude, satellites, gsm, battery %, pedometer,
  tumbles, STATUS (hex), then cells and wifis (ignored: we have no cell database).
* STATUS bits: 0 and 17 low battery, 14 power cut, 16 SOS, 20 removal (strap); 1/2/18/19 the
  watch's own geofences and 21/22 fall, which Vigil has no event for.
* The server echoes ``LK`` (link), ``AL`` (for every AL... alarm), ``TKQ``/``TKQ2`` and answers
  ``INIT`` with ``INIT,1``; locations and health readings get no reply.

Deliberate choices:

* Framing is by the closing ``]``, never by LEN: about a quarter of real frames carry a LEN that
  disagrees with their content (off by a few bytes), Traccar ignores LEN altogether, and a device's
  alarm must not be refused over it. The mismatch is not even noted in `Inbound.error`: it is normal
  for these devices and would drown real errors. LEN is still parsed (it must be four hex digits).
* Memory: a text frame may be at most MAX_TEXT_FRAME bytes; more without a ``]`` is a
  ProtocolViolation. A binary frame (TK, JXTK, img) is not buffered at all: its bytes are discarded
  as they come until its ``]``, at most MAX_BINARY_FRAME of them (LEN's own maximum, 0xFFFF, plus
  slack). Voice and pictures are not Vigil's business; they yield no report and no reply.
* The header (up to the first ``,`` or ``]`` of the content) must be well formed within HEADER_PROBE
  bytes, and frames may be separated only by ASCII whitespace: anything else means this is not the
  WATCH protocol (TCP does not corrupt bytes), so the connection is refused with ProtocolViolation.
* The index form is recognised by shape (``HHHH*HHHH*`` after the id), as Traccar does, whatever the
  MFR.
* Text content is not unescaped: only the numeric fields before the cells are read, and leaving an
  escaped ``,`` inside a wifi name escaped keeps the field split right.
* One connection, one device: the first frame's id binds the session (commands go to it, with its
  MFR). A later frame naming another id is refused (`Inbound.error`, identifier None, no report, no
  reply), because a report is never attributed on a guess.
* Link (LK): a HEARTBEAT at the receipt time (LK has no time of its own), with the battery in its
  detail when the frame gives one (``LK,steps,tumbles,battery``).
* Location: a Fix when the device says A (valid), its time and coordinates are usable and it is not
  exactly (0, 0) (a firmware placeholder, never a real watch position). Otherwise a HEARTBEAT (at the
  frame's time, or the receipt time): the frame still proves the device alive for the silence rule.
  STATUS bits in a location frame raise no event: they are a state word repeated on every report
  (low battery stays set for hours); the device raises its alarms with AL frames, which it repeats
  until the server replies.
* Alarm (any type starting with AL, as Traccar does: AL, AL_LTE, ALCUSTOMER1): one DeviceEvent per
  kind the STATUS bits name, SOS first, each with the frame's Fix when there is one. An AL frame
  whose STATUS names nothing Vigil has an event for (no bit at all, as older firmware sends for the
  SOS button; fence or fall bits; an unreadable STATUS) is still an alarm the wearer's device raised:
  it is reported as SOS with detail alarm=unknown and the names it had, plus an error, so that a
  person looks at it. Never a heartbeat: an alarm is never dropped. The AL reply is always sent.
* Coordinates: a ``S``/``W`` hemisphere makes the value negative whatever its own sign (Traccar's
  reading; real frames send ``-84.14,W``); with ``N``/``E`` or none the signed value stands.
* Health frames (bphrt, heart, oxygen, btemp2, TEMP, BLOOD, PULSE) and anything unknown: no report,
  no reply. A device's echo of a command we send (UPLOAD, CR, FIND, MESSAGE) is a command reply
  (the protocol carries no serial: ref None).
* Commands: SET_INTERVAL -> ``UPLOAD,<seconds>``; LOCATE -> ``CR``; ALARM and VIBRATE -> ``FIND``
  (the SeTracker "find the watch" command: it rings the watch; there is no separate vibrate-only
  command); MESSAGE -> ``MESSAGE,<hex of the text in UTF-16BE>`` (lower case, as Traccar's encoder
  test ``[CS*123456789012345*0018*MESSAGE,0074006500780074]``). LEN is written as four lower-case
  hex digits; with the index form, commands carry index 0001 (as Traccar does). Nothing can be
  encoded before the device has named itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from vigil.adapters.native import BATTERY_MAX, HEADING_MAX, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN, as_utc
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix, Report

KMH_TO_MPS = 1.0 / 3.6
MAX_TEXT_FRAME = 4096  # the longest real text frame is ~300 bytes (a dozen cells and wifis)
MAX_LEN = 0xFFFF  # LEN is four hex digits
MAX_BINARY_FRAME = MAX_LEN + 1024  # LEN's maximum plus slack for escapes LEN may not count
MAX_ID_LEN = 32
MAX_TYPE_LEN = 64
# '[' MFR '*' ID '*' [INDEX '*'] LEN '*' TYPE terminator
HEADER_PROBE = 1 + 2 + 1 + MAX_ID_LEN + 1 + 5 + 5 + MAX_TYPE_LEN + 1
COMMAND_INDEX = "0001"
POSITION_FIELDS = 16  # date .. STATUS

BINARY_TYPES = frozenset({"TK", "JXTK", "img"})
LOCATION_PREFIXES = ("UD", "WT")
ALARM_PREFIX = "AL"
LINK = "LK"
ECHOED = frozenset({"TKQ", "TKQ2"})
INIT, INIT_REPLY = "INIT", "INIT,1"
# A device's echo of a command, and the kinds it may answer (FIND rings: alarm and vibrate alike).
COMMAND_ECHOES: dict[str, CommandKind | None] = {
    "UPLOAD": CommandKind.SET_INTERVAL,
    "CR": CommandKind.LOCATE,
    "FIND": None,
    "MESSAGE": CommandKind.MESSAGE,
}

ALARM_DETAIL_KEY = "alarm"
STATUS_DETAIL_KEY = "status"
BATTERY_DETAIL_KEY = "battery_pct"
UNKNOWN_ALARM = "unknown"

# STATUS bit -> (event, Traccar's alarm name), most urgent first; one event per kind.
ALARM_BITS: tuple[tuple[int, EventKind, str], ...] = (
    (16, EventKind.SOS, "sos"),
    (20, EventKind.REMOVAL, "removing"),
    (14, EventKind.POWER_OFF, "powerCut"),
    (0, EventKind.BATTERY_LOW, "lowBattery"),
    (17, EventKind.BATTERY_LOW, "lowBattery"),
)
# Bits the device may raise that Vigil has no event for (named in the error, for the operator).
OTHER_BITS: tuple[tuple[int, str], ...] = (
    (1, "geofenceExit"),
    (2, "geofenceEnter"),
    (18, "geofenceExit"),
    (19, "geofenceEnter"),
    (21, "fallDown"),
    (22, "fallDown"),
)

_HEADER = re.compile(
    rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,%d})\*(?:([0-9A-Fa-f]{4})\*)?([0-9A-Fa-f]{4})\*([^,\[\]*]{1,%d})([,\]])"
    % (MAX_ID_LEN, MAX_TYPE_LEN)
)
_WHITESPACE = b" \t\r\n"
_DECIMAL = re.compile(r"-?\d+(?:\.\d*)?", re.ASCII)
_UNSIGNED = re.compile(r"\d+(?:\.\d*)?", re.ASCII)
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}", re.ASCII)
_SIX_DIGITS = re.compile(r"\d{6}", re.ASCII)


# --- frames -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """What precedes a frame's content: whose it is and how to answer it."""

    mfr: str
    device: str
    index: str | None
    length: int  # LEN as sent; informative only (see module doc)


@dataclass(frozen=True, slots=True)
class Frame:
    """One text frame, split: its header, its content type and its content (type included)."""

    header: Header
    type: str
    content: str


def build_frame(mfr: str, device: str, content: bytes, index: str | None = None) -> bytes:
    """A frame carrying `content`, LEN its length in four lower-case hex digits."""
    if len(content) > MAX_LEN:
        raise ValueError(f"content longer than {MAX_LEN} bytes")
    middle = f"{index}*" if index is not None else ""
    head = f"[{mfr}*{device}*{middle}{len(content):04x}*".encode("ascii")
    return head + content + b"]"


def reply(header: Header, content: str) -> bytes:
    """The server's reply to the frame `header` heads: same MFR, id and index."""
    return build_frame(header.mfr, header.device, content.encode("ascii"), header.index)


def parse_frame(frame: bytes) -> Frame:
    """Split one complete text frame (``[`` to ``]``); ValueError when it is not one."""
    match = _HEADER.match(frame)
    if match is None or not frame.endswith(b"]") or frame.count(b"]") != 1:
        raise ValueError("not a WATCH frame")
    header = _header(match)
    content = frame[match.start(5) : -1].decode("ascii", errors="replace")
    return Frame(header, match.group(5).decode("ascii", errors="replace"), content)


def _header(match: re.Match[bytes]) -> Header:
    index = match.group(3)
    return Header(
        mfr=match.group(1).decode("ascii"),
        device=match.group(2).decode("ascii"),
        index=None if index is None else index.decode("ascii"),
        length=int(match.group(4), 16),
    )


# --- content ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    """The common location fields of UD/AL/WT frames, each None when absent or unusable."""

    time: datetime | None
    valid: bool
    lat: float | None
    lon: float | None
    speed_mps: float | None
    heading_deg: float | None
    battery_pct: float | None
    status: int | None
    status_text: str  # as sent, for the events' detail ("" when unreadable)
    errors: tuple[str, ...]


def frame_time(date: str, clock: str) -> datetime | None:
    """DDMMYY + HHMMSS (UTC) as an aware datetime; None when it is not a date and time."""
    if not (_SIX_DIGITS.fullmatch(date) and _SIX_DIGITS.fullmatch(clock)):
        return None
    try:
        return datetime(
            2000 + int(date[4:6]),
            int(date[2:4]),
            int(date[0:2]),
            int(clock[0:2]),
            int(clock[2:4]),
            int(clock[4:6]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def coordinate(value: str, hemisphere: str, limit: float) -> float | None:
    """A signed decimal degree; S or W make it negative whatever its own sign (Traccar's reading)."""
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    if hemisphere.strip() in ("S", "W"):
        number = -abs(number)
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number


def _number(text: str, high: float | None) -> float | None:
    text = text.strip()
    if not _UNSIGNED.fullmatch(text):
        return None
    number = float(text)
    if not math.isfinite(number) or (high is not None and number > high):
        return None
    return number


def optional_number(text: str, name: str, high: float | None, errors: list[str]) -> float | None:
    """An optional reading: empty means absent; anything else unreadable is noted in `errors`."""
    if not text.strip():
        return None
    number = _number(text, high)
    if number is None:
        errors.append(f"{name} {text!r} is not a number in range")
    return number


def parse_location(args: list[str]) -> Location:
    """Read the location fields (the content after its type); never raises."""
    if len(args) < POSITION_FIELDS:
        return Location(None, False, None, None, None, None, None, None, "", ("location fields missing",))
    errors: list[str] = []
    at = frame_time(args[0], args[1])
    if at is None:
        errors.append(f"date/time {args[0]!r},{args[1]!r} is not DDMMYY,HHMMSS")
    valid = args[2] == "A"
    lat = coordinate(args[3], args[4], LAT_MAX)
    lon = coordinate(args[5], args[6], LON_MAX)
    if valid and (lat is None or lon is None):
        errors.append(f"coordinates {args[3]!r},{args[5]!r} are not degrees in range")
    elif valid and lat == 0.0 and lon == 0.0:
        errors.append("a valid position at exactly (0, 0) is a firmware placeholder")
    speed_kmh = optional_number(args[7], "speed", None, errors)
    heading = optional_number(args[8], "course", HEADING_MAX, errors)
    battery = optional_number(args[12], "battery", BATTERY_MAX, errors)
    status_text = args[15].strip()
    status = int(status_text, 16) if _HEX.fullmatch(status_text) else None
    if status is None:
        errors.append(f"status {args[15]!r} is not hex")
    return Location(
        time=at,
        valid=valid,
        lat=lat,
        lon=lon,
        speed_mps=None if speed_kmh is None else speed_kmh * KMH_TO_MPS,
        heading_deg=heading,
        battery_pct=battery,
        status=status,
        status_text=status_text if status is not None else "",
        errors=tuple(errors),
    )


def fix_of(device: str, location: Location) -> Fix | None:
    """The location as a Fix, when it is one (valid, timed, in range, not the (0, 0) placeholder)."""
    if not location.valid or location.time is None or location.lat is None or location.lon is None:
        return None
    if location.lat == 0.0 and location.lon == 0.0:
        return None
    if not (LAT_MIN <= location.lat <= LAT_MAX and LON_MIN <= location.lon <= LON_MAX):
        return None
    return Fix(
        device_id=device,
        time=location.time,
        lat=location.lat,
        lon=location.lon,
        speed_mps=location.speed_mps,
        heading_deg=location.heading_deg,
        battery_pct=location.battery_pct,
    )


def alarm_kinds(status: int) -> list[tuple[EventKind, str]]:
    """The events STATUS names, one per kind, most urgent first."""
    kinds: list[tuple[EventKind, str]] = []
    for bit, kind, name in ALARM_BITS:
        if status >> bit & 1 and all(kind is not seen for seen, _ in kinds):
            kinds.append((kind, name))
    return kinds


def other_alarms(status: int) -> list[str]:
    """The names of the set bits Vigil has no event for."""
    names: list[str] = []
    for bit, name in OTHER_BITS:
        if status >> bit & 1 and name not in names:
            names.append(name)
    return names


def _battery_detail(battery: float | None) -> dict[str, str]:
    return {} if battery is None else {BATTERY_DETAIL_KEY: f"{battery:g}"}


def _heartbeat(device: str, at: datetime, detail: dict[str, str] | None = None) -> DeviceEvent:
    return DeviceEvent(device_id=device, time=at, kind=EventKind.HEARTBEAT, detail=detail or {})


def _joined(errors: list[str]) -> str | None:
    return "; ".join(errors) if errors else None


def decode_link(frame: Frame, received_at: datetime) -> Inbound:
    """LK: a HEARTBEAT now (LK has no time), the battery in its detail; reply LK."""
    args = frame.content.split(",")[1:]
    errors: list[str] = []
    battery: float | None = None
    if len(args) >= 3:
        battery = optional_number(args[2], "battery", BATTERY_MAX, errors)
    device = frame.header.device
    return Inbound(
        identifier=device,
        reports=(_heartbeat(device, as_utc(received_at), _battery_detail(battery)),),
        ack=reply(frame.header, LINK),
        error=_joined(errors),
    )


def decode_location(frame: Frame, received_at: datetime) -> Inbound:
    """UD/WT: a Fix when valid, else a HEARTBEAT that keeps the silence rule quiet; no reply."""
    device = frame.header.device
    location = parse_location(frame.content.split(",")[1:])
    fix = fix_of(device, location)
    report: Report
    if fix is not None:
        report = fix
    else:
        report = _heartbeat(
            device, location.time or as_utc(received_at), _battery_detail(location.battery_pct)
        )
    return Inbound(identifier=device, reports=(report,), error=_joined(list(location.errors)))


def decode_alarm(frame: Frame, received_at: datetime) -> Inbound:
    """AL...: one event per kind its STATUS names, with the frame's fix; reply AL whatever else."""
    device = frame.header.device
    location = parse_location(frame.content.split(",")[1:])
    errors = list(location.errors)
    fix = fix_of(device, location)
    at = location.time or as_utc(received_at)
    status_text = location.status_text
    kinds = alarm_kinds(location.status) if location.status is not None else []
    reports: list[Report] = [
        DeviceEvent(
            device_id=device,
            time=at,
            kind=kind,
            fix=fix,
            detail={ALARM_DETAIL_KEY: name, STATUS_DETAIL_KEY: status_text},
        )
        for kind, name in kinds
    ]
    if not reports:
        others = other_alarms(location.status) if location.status is not None else []
        named = ", ".join(others) if others else "no known bit"
        errors.append(f"{frame.type} alarm with status {status_text or '?'} ({named}): no event Vigil maps")
        detail = {ALARM_DETAIL_KEY: UNKNOWN_ALARM}
        if status_text:
            detail[STATUS_DETAIL_KEY] = status_text
        if others:
            detail["named"] = ",".join(others)
        # An alarm frame is an alarm, whatever its bits say: a person must look at it.
        reports.append(DeviceEvent(device_id=device, time=at, kind=EventKind.SOS, fix=fix, detail=detail))
    return Inbound(
        identifier=device,
        reports=tuple(reports),
        ack=reply(frame.header, ALARM_PREFIX),
        error=_joined(errors),
    )


def decode_frame(frame: Frame, received_at: datetime) -> Inbound:
    """What one text frame reports and how to answer it; never raises."""
    kind = frame.type
    if kind == LINK:
        return decode_link(frame, received_at)
    if kind.startswith(ALARM_PREFIX):
        return decode_alarm(frame, received_at)
    if kind.startswith(LOCATION_PREFIXES):
        return decode_location(frame, received_at)
    device = frame.header.device
    if kind in ECHOED:
        return Inbound(identifier=device, ack=reply(frame.header, kind))
    if kind == INIT:
        return Inbound(identifier=device, ack=reply(frame.header, INIT_REPLY))
    if kind in COMMAND_ECHOES:
        answered = COMMAND_ECHOES[kind]
        return Inbound(
            identifier=device, command_reply=CommandReply(ref=None, text=frame.content, kind=answered)
        )
    return Inbound(identifier=device)  # health readings and the rest: nothing Vigil reports


# --- commands ---------------------------------------------------------------------------------------


def command_content(command: Outbound) -> str | None:
    """The content that says `command`; None when its parameters cannot be said."""
    if command.kind is CommandKind.SET_INTERVAL:
        seconds = command.params.get("seconds", "").strip()
        if not seconds.isascii() or not seconds.isdigit() or int(seconds) < 1 or len(seconds) > 6:
            return None
        return f"UPLOAD,{int(seconds)}"
    if command.kind is CommandKind.LOCATE:
        return "CR"
    if command.kind in (CommandKind.ALARM, CommandKind.VIBRATE):
        return "FIND"
    if command.kind is CommandKind.MESSAGE:
        text = command.params.get("text", "")
        if not text:
            return None
        return "MESSAGE," + text.encode("utf-16-be", errors="surrogatepass").hex()
    return None


# --- the connection ---------------------------------------------------------------------------------


class WatchSession:
    """One WATCH connection: frames the bytes, binds the first device id, encodes commands."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._binary: Header | None = None  # a binary frame being discarded up to its ']'
        self._discarded = 0
        self._bound: Header | None = None  # the first frame's header: the session's device

    @property
    def buffered(self) -> int:
        """How many bytes the session holds, waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes, received_at: datetime) -> list[Inbound]:
        """The frames `data` completes, in order (a partial frame waits for the rest)."""
        self._buffer += data
        out: list[Inbound] = []
        while True:
            inbound = self._discard_binary() if self._binary is not None else self._next_text(received_at)
            if inbound is None:
                return out
            out.append(inbound)

    def _discard_binary(self) -> Inbound | None:
        assert self._binary is not None
        end = self._buffer.find(b"]")
        taken = len(self._buffer) if end < 0 else end + 1
        self._discarded += taken
        del self._buffer[:taken]
        if self._discarded > MAX_BINARY_FRAME:
            raise ProtocolViolation(f"binary frame longer than {MAX_BINARY_FRAME} bytes")
        if end < 0:
            return None
        header, self._binary = self._binary, None
        return self._refusal(header) or Inbound(identifier=header.device)

    def _next_text(self, received_at: datetime) -> Inbound | None:
        self._skip_whitespace()
        if not self._buffer:
            return None
        if self._buffer[0] != ord("["):
            raise ProtocolViolation("expected '[' at the start of a WATCH frame")
        match = _HEADER.match(self._buffer)
        if match is None:
            if len(self._buffer) >= HEADER_PROBE or b"]" in self._buffer:
                raise ProtocolViolation("malformed WATCH frame header")
            return None  # the header is still coming
        header = _header(match)
        kind = match.group(5).decode("ascii", errors="replace")
        if kind in BINARY_TYPES:
            # Discard from here on without buffering; the terminator may already be the ']'.
            self._binary = header
            self._discarded = match.end(5)
            del self._buffer[: match.end(5)]
            return self._discard_binary()
        end = self._buffer.find(b"]", match.start(5))
        if end < 0:
            if len(self._buffer) >= MAX_TEXT_FRAME:
                raise ProtocolViolation(f"text frame longer than {MAX_TEXT_FRAME} bytes")
            return None
        if end + 1 > MAX_TEXT_FRAME:
            raise ProtocolViolation(f"text frame longer than {MAX_TEXT_FRAME} bytes")
        content = bytes(self._buffer[match.start(5) : end]).decode("ascii", errors="replace")
        del self._buffer[: end + 1]
        return self._refusal(header) or decode_frame(Frame(header, kind, content), received_at)

    def _skip_whitespace(self) -> None:
        start = 0
        while start < len(self._buffer) and self._buffer[start] in _WHITESPACE:
            start += 1
        del self._buffer[:start]

    def _refusal(self, header: Header) -> Inbound | None:
        """None when the frame is the session's device's (binding it on the first frame); else the
        refusal: no identifier, no report, no reply, an error."""
        if self._bound is not None and self._bound.device != header.device:
            return Inbound(
                error=f"frame names device {header.device!r} on the connection of {self._bound.device!r}"
            )
        self._bound = header  # the latest MFR and index form, for commands
        return None

    def encode(self, command: Outbound) -> bytes | None:
        """The frame that carries `command` to the session's device; None before it named itself, or
        when the command's parameters cannot be said."""
        if self._bound is None:
            return None
        content = command_content(command)
        if content is None:
            return None
        data = content.encode("ascii")
        if len(data) > MAX_LEN:
            return None
        index = COMMAND_INDEX if self._bound.index is not None else None
        return build_frame(self._bound.mfr, self._bound.device, data, index)
