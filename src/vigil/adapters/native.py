"""Vigil's own device protocol: JSON messages over HTTP.

The body is one message, a JSON array of messages, or {"messages": [...]}. A message is

    {"device": "<id, 1..64 printable chars>",
     "at": "<ISO-8601 date-time with an offset or Z>",
     "fix": {"lat": deg, "lon": deg, "accuracy_m"?: m >= 0, "speed_mps"?: m/s >= 0,
             "heading_deg"?: 0..360, "source"?: "gnss"|"wifi"|"cell"|"ble", "battery_pct"?: 0..100},
     "event"?: "<EventKind value>",
     "detail"?: {"<str>": "<str>"}}

A fix without an event is a Fix; an event (with or without a fix) is a DeviceEvent. Optional keys
may also be null, which means absent; unknown keys are ignored so devices can run ahead of us.

Every problem becomes an InputError and the rest of the batch is kept. An event is never lost to a
bad optional part: its fix, detail or time may be refused (each with its own InputError) while the
event itself is still reported, because a tamper or SOS alarm without a position or with a guessed
receive time is still an alarm.

The validation helpers here are also used by the OsmAnd adapter so both feeds apply the same rules.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

from vigil.adapters import Decoded, InputError
from vigil.domain.model import DeviceEvent, EventKind, Fix, FixSource, Report

MAX_BATCH = 1000
MAX_DEVICE_ID_LEN = 64
# ISO-8601 date-times are well under this; the cap keeps absurd strings away from the parser.
MAX_TIME_LEN = 64

BODY = "body"
MESSAGES_KEY = "messages"

MALFORMED_JSON = "malformed JSON"
BATCH_TOO_LARGE = f"more than {MAX_BATCH} messages"
NOT_A_MESSAGE_CONTAINER = "must be a message object, an array of messages or {'messages': [...]}"
MESSAGES_NOT_AN_ARRAY = "'messages' must be an array"
MISSING = "missing"
NOT_AN_OBJECT = "must be an object"
NOT_A_STRING = "must be a string"
NOT_A_NUMBER = "must be a finite number"
BAD_DEVICE_ID = f"must be 1..{MAX_DEVICE_ID_LEN} printable characters"
NOT_A_TIME = "must be an ISO-8601 date-time"
NEEDS_OFFSET = "needs a UTC offset"
TIME_OUT_OF_RANGE = "date-time out of range"
NEEDS_FIX_OR_EVENT = "needs a fix or an event"
UNKNOWN_EVENT = "unknown event kind"
UNKNOWN_SOURCE = "unknown fix source"
BAD_DETAIL = "must be an object of strings without NUL characters"

LAT_MIN, LAT_MAX = -90.0, 90.0
LON_MIN, LON_MAX = -180.0, 180.0
HEADING_MAX = 360.0
BATTERY_MAX = 100.0

EVENT_KINDS: dict[str, EventKind] = {kind.value: kind for kind in EventKind}
FIX_SOURCES: dict[str, FixSource] = {source.value: source for source in FixSource}

_decoder = msgspec.json.Decoder()


class Refused(Exception):
    """One field of one message is unusable; `field` is relative to the message."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason


# --- shared field rules ---------------------------------------------------------------------------


def load_json(body: bytes) -> tuple[Any, InputError | None]:
    """Untyped decode: the adapters check shapes themselves to name the exact field at fault."""
    try:
        return _decoder.decode(body), None
    # msgspec reports depth overflow as RecursionError; NaN, Infinity and 1e400 come out as
    # DecodeError/ValidationError, so non-finite numbers never reach the field checks from JSON.
    except (msgspec.MsgspecError, RecursionError) as exc:
        return None, InputError(None, BODY, f"{MALFORMED_JSON}: {exc}")


def as_utc(moment: datetime) -> datetime:
    """The caller's receive time, made aware UTC (a naive one is taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def finite(value: object) -> float | None:
    """The value as a float if it is a finite JSON number; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def number_in(value: object, field: str, low: float | None, high: float | None) -> float:
    number = finite(value)
    if number is None:
        raise Refused(field, NOT_A_NUMBER)
    if (low is not None and number < low) or (high is not None and number > high):
        raise Refused(field, _range_reason(low, high))
    return number


def _range_reason(low: float | None, high: float | None) -> str:
    if high is None:
        return f"must be >= {low:g}"
    if low is None:
        return f"must be <= {high:g}"
    return f"must be in [{low:g}, {high:g}]"


def device_id(value: object, field: str) -> str:
    """Ids go into logs and PostgreSQL text, which rejects NUL; control characters are refused."""
    if value is None:
        raise Refused(field, MISSING)
    if not isinstance(value, str):
        raise Refused(field, NOT_A_STRING)
    if not 0 < len(value) <= MAX_DEVICE_ID_LEN or not value.isprintable():
        raise Refused(field, BAD_DEVICE_ID)
    return value


def parse_iso(text: str, field: str) -> datetime:
    if len(text) > MAX_TIME_LEN:
        raise Refused(field, NOT_A_TIME)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise Refused(field, NOT_A_TIME) from None


def to_utc(moment: datetime, field: str) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise Refused(field, TIME_OUT_OF_RANGE) from None


def event_kind(value: object, field: str) -> EventKind:
    if not isinstance(value, str):
        raise Refused(field, NOT_A_STRING)
    kind = EVENT_KINDS.get(value)
    if kind is None:
        raise Refused(field, UNKNOWN_EVENT)
    return kind


def detail_map(value: object, field: str) -> dict[str, str]:
    # PostgreSQL text and jsonb cannot hold NUL, so it is refused here rather than at the store.
    if not isinstance(value, dict):
        raise Refused(field, BAD_DETAIL)
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str) or "\x00" in key or "\x00" in item:
            raise Refused(field, BAD_DETAIL)
    return dict(value)


# --- native messages ------------------------------------------------------------------------------


def decode(body: bytes, received_at: datetime) -> Decoded:
    """Decode a native request body; never raises, every refusal is an InputError."""
    out = Decoded()
    doc, error = load_json(body)
    if error is not None:
        out.errors.append(error)
        return out
    messages = _messages(doc)
    if isinstance(messages, InputError):
        out.errors.append(messages)
        return out
    fallback_time = as_utc(received_at)
    for index, raw in enumerate(messages):
        _decode_one(index, raw, fallback_time, out)
    return out


def _messages(doc: Any) -> list[Any] | InputError:
    if isinstance(doc, dict):
        if MESSAGES_KEY not in doc:
            return [doc]
        doc = doc[MESSAGES_KEY]
        if not isinstance(doc, list):
            return InputError(None, BODY, MESSAGES_NOT_AN_ARRAY)
    if not isinstance(doc, list):
        return InputError(None, BODY, NOT_A_MESSAGE_CONTAINER)
    if len(doc) > MAX_BATCH:
        return InputError(None, BODY, BATCH_TOO_LARGE)
    return doc


def _decode_one(index: int, raw: Any, received_at: datetime, out: Decoded) -> None:
    prefix = f"{MESSAGES_KEY}[{index}]"
    try:
        report, soft = _message(raw, received_at)
    except Refused as refused:
        out.errors.append(InputError(index, _path(prefix, refused.field), refused.reason))
        return
    out.reports.append((index, report))
    for problem in soft:
        out.errors.append(InputError(index, _path(prefix, problem.field), problem.reason))


def _path(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if field else prefix


def _message(raw: Any, received_at: datetime) -> tuple[Report, list[Refused]]:
    """The report, plus the refused optional parts of an event that was kept anyway."""
    if not isinstance(raw, dict):
        raise Refused("", NOT_AN_OBJECT)
    device = device_id(raw.get("device"), "device")
    event_raw = raw.get("event")
    fix_raw = raw.get("fix")
    if event_raw is None:
        if fix_raw is None:
            raise Refused("", NEEDS_FIX_OR_EVENT)
        return fix_of(device, message_time(raw.get("at"), "at"), fix_raw, "fix"), []
    try:
        kind = event_kind(event_raw, "event")
    except Refused as unknown:
        return _fix_despite_event(device, raw, unknown), [unknown]
    return _event(device, kind, raw, received_at)


def _fix_despite_event(device: str, raw: dict[str, Any], unknown: Refused) -> Fix:
    """An event we cannot name must not cost the position it came with (newer firmware, typos)."""
    fix_raw = raw.get("fix")
    if fix_raw is None:
        raise unknown
    try:
        return fix_of(device, message_time(raw.get("at"), "at"), fix_raw, "fix")
    except Refused:
        raise unknown from None


def _event(
    device: str, kind: EventKind, raw: dict[str, Any], received_at: datetime
) -> tuple[Report, list[Refused]]:
    soft: list[Refused] = []
    try:
        at = message_time(raw.get("at"), "at")
    except Refused as refused:
        soft.append(refused)
        at = received_at
    fix: Fix | None = None
    fix_raw = raw.get("fix")
    if fix_raw is not None:
        try:
            fix = fix_of(device, at, fix_raw, "fix")
        except Refused as refused:
            soft.append(refused)
    detail: dict[str, str] = {}
    detail_raw = raw.get("detail")
    if detail_raw is not None:
        try:
            detail = detail_map(detail_raw, "detail")
        except Refused as refused:
            soft.append(refused)
    return DeviceEvent(device_id=device, time=at, kind=kind, fix=fix, detail=detail), soft


def message_time(value: object, field: str) -> datetime:
    """A native time: ISO-8601 with an explicit offset, as aware UTC."""
    if value is None:
        raise Refused(field, MISSING)
    if not isinstance(value, str):
        raise Refused(field, NOT_A_STRING)
    moment = parse_iso(value, field)
    if moment.utcoffset() is None:
        raise Refused(field, NEEDS_OFFSET)
    return to_utc(moment, field)


def fix_of(device: str, at: datetime, raw: object, field: str) -> Fix:
    if not isinstance(raw, dict):
        raise Refused(field, NOT_AN_OBJECT)
    return Fix(
        device_id=device,
        time=at,
        lat=_required(raw, "lat", field, LAT_MIN, LAT_MAX),
        lon=_required(raw, "lon", field, LON_MIN, LON_MAX),
        accuracy_m=_optional(raw, "accuracy_m", field, 0.0, None),
        speed_mps=_optional(raw, "speed_mps", field, 0.0, None),
        heading_deg=_optional(raw, "heading_deg", field, 0.0, HEADING_MAX),
        source=_source(raw.get("source"), f"{field}.source"),
        battery_pct=_optional(raw, "battery_pct", field, 0.0, BATTERY_MAX),
    )


def _required(raw: dict[str, Any], key: str, parent: str, low: float, high: float) -> float:
    value = raw.get(key)
    if value is None:
        raise Refused(f"{parent}.{key}", MISSING)
    return number_in(value, f"{parent}.{key}", low, high)


def _optional(raw: dict[str, Any], key: str, parent: str, low: float, high: float | None) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    return number_in(value, f"{parent}.{key}", low, high)


def _source(value: object, field: str) -> FixSource:
    if value is None:
        return FixSource.GNSS
    if not isinstance(value, str):
        raise Refused(field, NOT_A_STRING)
    source = FIX_SOURCES.get(value)
    if source is None:
        raise Refused(field, UNKNOWN_SOURCE)
    return source
