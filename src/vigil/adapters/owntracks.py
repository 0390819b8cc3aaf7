"""OwnTracks: the phone app's JSON messages, read off MQTT (the victim's or the wearer's phone).

Protocol facts (the OwnTracks booklet, docs/tech/json.md and features/location.md; real examples in
tests/data/devices/owntracks_messages.txt):

* The app publishes to `owntracks/<user>/<device>` (`_type` location, and the broker's last will
  `_type` lwt) and to `owntracks/<user>/<device>/event` (`_type` transition). It reads commands
  from `owntracks/<user>/<device>/cmd`. Each MQTT message is one JSON object.
* location: `lat`, `lon` (degrees, required), `tst` (epoch seconds of the fix, required), `acc`
  (metres), `vel` (km/h), `cog` (degrees), `batt` (percent); `acc`, `alt`, `cog`, `vac`, `vel` are
  left out when zero. `t` says what triggered it: `r` answers a reportLocation command.
* transition: a device-side region was entered or left, with the position (`lat`, `lon`, `acc`,
  `tst`) where it happened.
* lwt: published by the broker when it loses the app; its `tst` is when the app first connected.
* encrypted: the real message, encrypted with a key shared with the app (libsodium secretbox).

Deliberate choices:

* The wire identifier is `<user>/<device>` from the topic (the payload's `tid` is a two-letter label
  for maps, not an identity). Each part is 1+ printable characters without `/`, `+` or `#`, and the
  whole at most MAX_IDENTIFIER_LEN characters (the registry's id width); any other topic is refused.
* A location is a Fix with source GNSS. The app never says how the phone positioned itself, and `conn`
  / `SSID` only say how it reaches the internet (a phone on home Wi-Fi still reports the fused fix of
  the OS); `acc` is what tells a coarse position from a precise one, and the rules judge by it.
* `tst` missing: the fix is kept at the receipt time, without an error (Traccar does the same; apps
  resend, and the processor judges the time like any other). A `tst` that is no time (not a number,
  negative, beyond datetime) refuses the message.
* `acc` missing or 0: accuracy unknown (0 m is no measurement; the app leaves a zero out anyway). A
  negative `acc` refuses the position: Core Location uses it to say the coordinates are invalid.
* `vel` / `cog` missing: unknown, not zero (we cannot tell "zero, so left out" from "not measured",
  and a made-up zero speed would say he stood still). Negative `vel`, `cog`, `batt` mean unknown (iOS
  reports -1; `batt` -1 is documented). An optional field out of range (cog > 360, batt > 100) is
  dropped and named in `Inbound.error`, while the position is kept: the position is what matters.
* Exactly (0, 0) is refused: no phone stands there, and the apps turn unreadable coordinates into 0.
* transition: no rule of ours uses the app's own regions, so `event`, `desc`, `rid` are ignored; the
  position it carries is reported as a Fix when it has `lat`, `lon` and `tst` (nothing otherwise).
* lwt: `Inbound(offline=True)` and no report (its `tst` is a connection time, not an event time).
* encrypted payloads are refused with a clear error: we hold no per-device keys (use TLS instead).
* Every other `_type` (cmd, waypoint(s), card, status, beacon, steps, configuration, unknown ones) is
  ignored: no report and no error.
* A payload over MAX_PAYLOAD bytes is refused unread.

Commands (`encode_command`) go to `<topic>/cmd`: LOCATE is `reportLocation` (the app answers with a
location `t`=`r`); SET_INTERVAL is a `setConfiguration` that turns on move mode (`monitoring` 2, the
only mode that reports on a timer) with the interval in seconds as `locatorInterval` (what iOS uses in
move mode, per the booklet) and `moveModeLocatorInterval` (what Android uses in move mode, per the
Android app's source). The app obeys only with remote commands (`cmd`) and, on Android, remote
configuration (`remoteConfiguration`) enabled. Nothing else can be said to the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from vigil.adapters.native import (
    BATTERY_MAX,
    HEADING_MAX,
    LAT_MAX,
    LAT_MIN,
    LON_MAX,
    LON_MIN,
    MAX_DEVICE_ID_LEN,
    MISSING,
    NOT_A_NUMBER,
    NOT_A_STRING,
    TIME_OUT_OF_RANGE,
    Refused,
    as_utc,
    finite,
    load_json,
    number_in,
)
from vigil.adapters.wire import CommandReply, Inbound
from vigil.domain.model import CommandKind, Fix, FixSource

PREFIX = "owntracks"
EVENT_LEVEL = "event"
COMMAND_SUFFIX = "/cmd"
MAX_PAYLOAD = 64 * 1024  # a location is ~300 bytes; only a card's picture comes near this
MAX_IDENTIFIER_LEN = MAX_DEVICE_ID_LEN  # "<user>/<device>" as the registry stores it
KMH_TO_MPS = 1.0 / 3.6
# Move mode: the only monitoring mode in which both apps report on a timer (booklet, json.md).
MOVE_MODE = 2
MAX_INTERVAL_S = 86_400  # a day: anything longer is no tracking interval

TYPE = "_type"
REPORT_LOCATION = "reportLocation"
REPLY_TRIGGER = "r"  # `t` of a location sent in answer to reportLocation

BAD_TOPIC = f"must be {PREFIX}/<user>/<device> or {PREFIX}/<user>/<device>/{EVENT_LEVEL}"
BAD_NAME = "user and device must be printable, without '/', '+' or '#'"
IDENTIFIER_TOO_LONG = f"'<user>/<device>' must be at most {MAX_IDENTIFIER_LEN} characters"
PAYLOAD_TOO_LARGE = f"payload larger than {MAX_PAYLOAD} bytes"
NOT_A_JSON_OBJECT = "must be a JSON object"
ENCRYPTED = "encrypted payloads are not supported (turn encryption off in the app; use TLS to the broker)"
NULL_ISLAND = "(0, 0) is not a position"
NEGATIVE_ACCURACY = "negative accuracy marks the position invalid"
NEGATIVE_TIME = "must not be negative"

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORBIDDEN_IN_NAMES = frozenset("/+#")
_encoder = msgspec.json.Encoder()


# --- decoding --------------------------------------------------------------------------------------


def decode(topic: str, payload: bytes, received_at: datetime) -> Inbound:
    """One MQTT message, decoded; never raises: every problem is `Inbound.error`."""
    try:
        identifier = topic_identifier(topic)
    except Refused as refused:
        return Inbound(error=_why(refused))
    if len(payload) > MAX_PAYLOAD:
        return Inbound(identifier, error=f"payload: {PAYLOAD_TOO_LARGE}")
    doc, error = load_json(payload)
    if error is not None:
        return Inbound(identifier, error=f"payload: {error.reason}")
    if not isinstance(doc, dict):
        return Inbound(identifier, error=f"payload: {NOT_A_JSON_OBJECT}")
    kind = doc.get(TYPE)
    if kind is None:
        return Inbound(identifier, error=f"{TYPE}: {MISSING}")
    if not isinstance(kind, str):
        return Inbound(identifier, error=f"{TYPE}: {NOT_A_STRING}")
    if kind == "location":
        return _location(identifier, doc, as_utc(received_at))
    if kind == "transition":
        return _transition(identifier, doc, as_utc(received_at))
    if kind == "lwt":
        return Inbound(identifier, offline=True)
    if kind == "encrypted":
        return Inbound(identifier, error=f"{TYPE}: {ENCRYPTED}")
    return Inbound(identifier)  # waypoint, cmd, card, beacon, status...: nothing we use


def topic_identifier(topic: str) -> str:
    """`<user>/<device>` of a topic the app publishes reports to; Refused for any other topic."""
    levels = topic.split("/")
    if len(levels) == 4 and levels[3] == EVENT_LEVEL:
        levels = levels[:3]
    if len(levels) != 3 or levels[0] != PREFIX:
        raise Refused("topic", BAD_TOPIC)
    user, device = levels[1], levels[2]
    for name in (user, device):
        if not name or not name.isprintable() or _FORBIDDEN_IN_NAMES.intersection(name):
            raise Refused("topic", BAD_NAME)
    identifier = f"{user}/{device}"
    if len(identifier) > MAX_IDENTIFIER_LEN:
        raise Refused("topic", IDENTIFIER_TOO_LONG)
    return identifier


def command_topic(identifier: str) -> str:
    """The topic the app reads its commands from."""
    return f"{PREFIX}/{identifier}{COMMAND_SUFFIX}"


def _why(refused: Refused) -> str:
    return f"{refused.field}: {refused.reason}"


def _location(identifier: str, doc: dict[str, Any], received_at: datetime) -> Inbound:
    try:
        fix, dropped = _fix(identifier, doc, received_at)
    except Refused as refused:
        return Inbound(identifier, error=_why(refused))
    reply = CommandReply(None, REPORT_LOCATION) if doc.get("t") == REPLY_TRIGGER else None
    error = "; ".join(_why(problem) for problem in dropped) or None
    return Inbound(identifier, (fix,), error=error, command_reply=reply)


def _transition(identifier: str, doc: dict[str, Any], received_at: datetime) -> Inbound:
    # Only the position matters to us, and only one the app stamped with its own time.
    if any(doc.get(key) is None for key in ("lat", "lon", "tst")):
        return Inbound(identifier)
    try:
        fix, dropped = _fix(identifier, doc, received_at)
    except Refused as refused:
        return Inbound(identifier, error=_why(refused))
    error = "; ".join(_why(problem) for problem in dropped) or None
    return Inbound(identifier, (fix,), error=error)


def _fix(identifier: str, doc: dict[str, Any], received_at: datetime) -> tuple[Fix, list[Refused]]:
    """The message's position; Refused when it is no position at all, with the optional fields that
    were dropped for being out of range."""
    lat = _required(doc, "lat", LAT_MIN, LAT_MAX)
    lon = _required(doc, "lon", LON_MIN, LON_MAX)
    if lat == 0.0 and lon == 0.0:
        raise Refused("lat,lon", NULL_ISLAND)
    stamp = doc.get("tst")
    at = received_at if stamp is None else _epoch(stamp, "tst")
    accuracy = _accuracy(doc.get("acc"))
    dropped: list[Refused] = []
    speed_kmh = _soft(lambda: _unknown_if_negative(doc.get("vel"), "vel", None), dropped)
    fix = Fix(
        device_id=identifier,
        time=at,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy,
        speed_mps=None if speed_kmh is None else speed_kmh * KMH_TO_MPS,
        heading_deg=_soft(lambda: _unknown_if_negative(doc.get("cog"), "cog", HEADING_MAX), dropped),
        source=FixSource.GNSS,
        battery_pct=_soft(lambda: _unknown_if_negative(doc.get("batt"), "batt", BATTERY_MAX), dropped),
    )
    return fix, dropped


def _required(doc: dict[str, Any], key: str, low: float, high: float) -> float:
    value = doc.get(key)
    if value is None:
        raise Refused(key, MISSING)
    return number_in(value, key, low, high)


def _epoch(value: object, field: str) -> datetime:
    seconds = finite(value)
    if seconds is None:
        raise Refused(field, NOT_A_NUMBER)
    if seconds < 0:
        raise Refused(field, NEGATIVE_TIME)
    try:
        return _UNIX_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise Refused(field, TIME_OUT_OF_RANGE) from None


def _accuracy(value: object) -> float | None:
    if value is None:
        return None
    metres = number_in(value, "acc", None, None)
    if metres < 0:
        raise Refused("acc", NEGATIVE_ACCURACY)
    return metres or None  # 0 m is no measurement (the app leaves a zero out anyway)


def _unknown_if_negative(value: object, field: str, high: float | None) -> float | None:
    if value is None:
        return None
    number = number_in(value, field, None, None)
    if number < 0:
        return None
    return number_in(number, field, None, high)


def _soft(read: Callable[[], float | None], dropped: list[Refused]) -> float | None:
    """An optional reading: a bad one is dropped and remembered, the position is kept."""
    try:
        return read()
    except Refused as refused:
        dropped.append(refused)
        return None


# --- commands --------------------------------------------------------------------------------------


def encode_command(kind: CommandKind, params: Mapping[str, str]) -> tuple[str, bytes] | None:
    """The topic suffix (`/cmd`, after `owntracks/<user>/<device>`) and JSON payload that ask the
    app for `kind`; None when the app cannot be asked that (or `params` are unusable)."""
    if kind is CommandKind.LOCATE:
        return COMMAND_SUFFIX, _encoder.encode({TYPE: "cmd", "action": REPORT_LOCATION})
    if kind is CommandKind.SET_INTERVAL:
        seconds = _interval(params.get("seconds"))
        if seconds is None:
            return None
        configuration = {
            TYPE: "configuration",
            "monitoring": MOVE_MODE,
            "locatorInterval": seconds,  # iOS, move mode (booklet: features/location.md)
            "moveModeLocatorInterval": seconds,  # Android, move mode (the app's LocationProcessor)
        }
        return COMMAND_SUFFIX, _encoder.encode(
            {TYPE: "cmd", "action": "setConfiguration", "configuration": configuration}
        )
    return None


def _interval(text: str | None) -> int | None:
    if (
        text is None
        or not 0 < len(text) <= len(str(MAX_INTERVAL_S))
        or not text.isascii()
        or not text.isdigit()
    ):
        return None
    seconds = int(text)
    return seconds if 0 < seconds <= MAX_INTERVAL_S else None
