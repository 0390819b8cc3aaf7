"""The OsmAnd / Traccar Client HTTP protocol: the victim-phone location feed.

Semantics follow Traccar's OsmAndProtocolDecoder and https://www.traccar.org/osmand/ with these
deliberate choices:

* One position per request, reported at index 0.
* Repeated parameters: the last value wins (as in Traccar); for `alarm` the first value we can map.
* `timestamp` "yyyy-MM-dd HH:mm:ss" and ISO-8601 without an offset are taken as UTC. Traccar uses the
  server's default zone, which silently shifts every position when the server moves or changes zone;
  clients that care send an offset or an epoch.
* No position (and no alarm): a HEARTBEAT event without a fix. Traccar would reuse the last known
  location; we never invent a position, but the device's silence timer is still reset.
* valid=false (anything but "true"/"1", as in Traccar): the position is dropped, as if absent.
* Negative speed, heading or battery mean "unknown" (iOS Core Location reports -1 for these, and the
  JSON shape documents -1); a negative accuracy is refused, because Core Location uses it to say the
  coordinates themselves are invalid.
* An alarm keeps its event when the position, time or anything else optional is bad: the event is
  reported (time = receive time if needed) alongside an InputError for the refused part.
* hdop, altitude, charge, cell, wifi, mock and other attributes are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.adapters import Decoded, InputError
from vigil.adapters.native import (
    BATTERY_MAX,
    BODY,
    HEADING_MAX,
    LAT_MAX,
    LAT_MIN,
    LON_MAX,
    LON_MIN,
    MISSING,
    NOT_A_NUMBER,
    NOT_AN_OBJECT,
    Refused,
    as_utc,
    device_id,
    load_json,
    number_in,
    parse_iso,
    to_utc,
)
from vigil.domain.model import DeviceEvent, EventKind, Fix, Report

INDEX = 0  # one position per request
KNOTS_TO_MPS = 1852.0 / 3600.0  # the knot is defined as 1852 m/h (~0.514444 m/s)
# Traccar's rule: integers below Integer.MAX_VALUE are epoch seconds, larger ones milliseconds.
EPOCH_SECONDS_LIMIT = 2**31 - 1
MAX_EPOCH_DIGITS = 19
PERCENT = 100.0

NOT_A_TIMESTAMP = "must be epoch seconds or milliseconds, ISO-8601, or 'yyyy-MM-dd HH:mm:ss'"
NOT_LAT_COMMA_LON = "must be 'lat,lon'"
LAT_WITHOUT_LON = "lon is missing while lat is given"
LON_WITHOUT_LAT = "lat is missing while lon is given"
NEGATIVE_ACCURACY = "negative accuracy marks the position invalid"
NEGATIVE_TIME = "must not be negative"
NOT_A_JSON_OBJECT = "must be a JSON object"

TRUE_VALUES = frozenset({"true", "1"})
# Traccar's alarm attribute values that mean something for a protection order (matched lower-cased).
ALARMS: dict[str, EventKind] = {
    "sos": EventKind.SOS,
    "tampering": EventKind.REMOVAL,
    "removing": EventKind.REMOVAL,
    "lowbattery": EventKind.BATTERY_LOW,
    "poweroff": EventKind.POWER_OFF,
    "powercut": EventKind.POWER_OFF,
}
ALARM_DETAIL_KEY = "alarm"

# Plain decimal notation only: float() would also take "nan", "inf", "1_0" and non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_EPOCH = re.compile(rf"\d{{1,{MAX_EPOCH_DIGITS}}}", re.ASCII)
_DATE_TIME_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", re.ASCII)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- shared by both shapes ------------------------------------------------------------------------


def _epoch(value: int, field: str) -> datetime:
    if value < 0:
        raise Refused(field, NEGATIVE_TIME)
    try:
        if value < EPOCH_SECONDS_LIMIT:
            return _UNIX_EPOCH + timedelta(seconds=value)
        return _UNIX_EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise Refused(field, NOT_A_TIMESTAMP) from None


def _text_time(text: str, field: str) -> datetime:
    if _EPOCH.fullmatch(text):
        return _epoch(int(text), field)
    if not _DATE_TIME_PREFIX.match(text):
        raise Refused(field, NOT_A_TIMESTAMP)
    moment = parse_iso(text, field)
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)  # UTC by choice, not the server's zone: see module doc
    return to_utc(moment, field)


def _alarm(values: list[str]) -> tuple[EventKind, str] | None:
    for value in values:
        kind = ALARMS.get(value.lower())
        if kind is not None:
            return kind, value
    return None


def _report(
    device: str,
    at: datetime,
    fix: Fix | None,
    alarm: tuple[EventKind, str] | None,
) -> Report:
    if alarm is not None:
        kind, raw = alarm
        return DeviceEvent(device_id=device, time=at, kind=kind, fix=fix, detail={ALARM_DETAIL_KEY: raw})
    if fix is not None:
        return fix
    return DeviceEvent(device_id=device, time=at, kind=EventKind.HEARTBEAT)


def _optional(value: object, field: str, high: float | None) -> float | None:
    """An optional reading where a negative number means unknown."""
    if value is None:
        return None
    number = number_in(value, field, None, high)
    return None if number < 0 else number


def _accuracy(value: object, field: str) -> float | None:
    if value is None:
        return None
    number = number_in(value, field, None, None)
    if number < 0:
        raise Refused(field, NEGATIVE_ACCURACY)
    return number


class _Request:
    """What one request yields: the report parts and the refusals, assembled the same for both shapes."""

    def __init__(self, received_at: datetime, alarm: tuple[EventKind, str] | None) -> None:
        self.at = as_utc(received_at)
        self.alarm = alarm
        self.soft: list[Refused] = []

    def keep_or_refuse(self, refused: Refused) -> None:
        """Parts that only an event can live without: with no alarm the request is refused."""
        if self.alarm is None:
            raise refused
        self.soft.append(refused)


def _decoded(build: Callable[[], tuple[Report, list[Refused]]]) -> Decoded:
    out = Decoded()
    try:
        report, soft = build()
    except Refused as refused:
        out.errors.append(InputError(INDEX, refused.field, refused.reason))
        return out
    out.reports.append((INDEX, report))
    out.errors.extend(InputError(INDEX, problem.field, problem.reason) for problem in soft)
    return out


# --- query string / form ---------------------------------------------------------------------------


def decode_query(params: list[tuple[str, str]], received_at: datetime) -> Decoded:
    """Decode one OsmAnd request from its parsed query-string or form pairs; never raises."""
    return _decoded(lambda: _query(params, received_at))


def _query(params: list[tuple[str, str]], received_at: datetime) -> tuple[Report, list[Refused]]:
    fields = dict(params)
    raw_id = fields.get("id") or fields.get("deviceid")
    device = device_id(raw_id or None, "id")
    request = _Request(received_at, _alarm([value for key, value in params if key == "alarm"]))
    if "timestamp" in fields:
        try:
            request.at = _text_time(fields["timestamp"], "timestamp")
        except Refused as refused:
            request.keep_or_refuse(refused)
    fix: Fix | None = None
    if _has_position(fields):
        try:
            fix = _query_fix(device, request.at, fields)
        except Refused as refused:
            request.keep_or_refuse(refused)
    return _report(device, request.at, fix, request.alarm), request.soft


def _has_position(fields: dict[str, str]) -> bool:
    valid = fields.get("valid")
    if valid is not None and valid.lower() not in TRUE_VALUES:
        return False
    return "lat" in fields or "lon" in fields or "location" in fields


def _decimal(text: str | None, field: str) -> float | None:
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text):
        raise Refused(field, NOT_A_NUMBER)
    return float(text)  # may be inf for 1e999: the range checks after this refuse it


def _query_fix(device: str, at: datetime, fields: dict[str, str]) -> Fix:
    lat, lon = _query_lat_lon(fields)
    speed_kn = _optional(_decimal(fields.get("speed"), "speed"), "speed", None)
    heading_field = "bearing" if "bearing" in fields else "heading"
    return Fix(
        device_id=device,
        time=at,
        lat=lat,
        lon=lon,
        accuracy_m=_accuracy(_decimal(fields.get("accuracy"), "accuracy"), "accuracy"),
        speed_mps=None if speed_kn is None else speed_kn * KNOTS_TO_MPS,
        heading_deg=_optional(_decimal(fields.get(heading_field), heading_field), heading_field, HEADING_MAX),
        battery_pct=_optional(_decimal(fields.get("batt"), "batt"), "batt", BATTERY_MAX),
    )


def _query_lat_lon(fields: dict[str, str]) -> tuple[float, float]:
    lat_text, lon_text = fields.get("lat"), fields.get("lon")
    if lat_text is None and lon_text is None:
        return _location(fields["location"])
    if lon_text is None:
        raise Refused("lon", LAT_WITHOUT_LON)
    if lat_text is None:
        raise Refused("lat", LON_WITHOUT_LAT)
    lat = number_in(_decimal(lat_text, "lat"), "lat", LAT_MIN, LAT_MAX)
    return lat, number_in(_decimal(lon_text, "lon"), "lon", LON_MIN, LON_MAX)


def _location(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise Refused("location", NOT_LAT_COMMA_LON)
    lat = number_in(_decimal(parts[0], "location"), "location", LAT_MIN, LAT_MAX)
    return lat, number_in(_decimal(parts[1], "location"), "location", LON_MIN, LON_MAX)


# --- JSON (transistorsoft background-geolocation shape) --------------------------------------------


def decode_json(body: bytes, received_at: datetime) -> Decoded:
    """Decode one OsmAnd JSON request body; never raises."""
    doc, error = load_json(body)
    if error is not None:
        return Decoded(errors=[error])
    if not isinstance(doc, dict):
        return Decoded(errors=[InputError(None, BODY, NOT_A_JSON_OBJECT)])
    return _decoded(lambda: _json(doc, received_at))


def _json(doc: dict[str, Any], received_at: datetime) -> tuple[Report, list[Refused]]:
    device = device_id(doc.get("device_id"), "device_id")
    location = doc.get("location")
    if location is None:
        return _report(device, as_utc(received_at), None, None), []
    if not isinstance(location, dict):
        raise Refused("location", NOT_AN_OBJECT)
    request = _Request(received_at, _json_alarm(location))
    stamp = location.get("timestamp")
    if stamp is not None:
        try:
            request.at = _json_time(stamp, "location.timestamp")
        except Refused as refused:
            request.keep_or_refuse(refused)
    fix: Fix | None = None
    coords = location.get("coords")
    if coords is not None:
        try:
            fix = _json_fix(device, request.at, coords, location.get("battery"))
        except Refused as refused:
            request.keep_or_refuse(refused)
    return _report(device, request.at, fix, request.alarm), request.soft


def _json_alarm(location: dict[str, Any]) -> tuple[EventKind, str] | None:
    candidates = [location.get("alarm")]
    extras = location.get("extras")
    if isinstance(extras, dict):
        candidates.append(extras.get("alarm"))
    return _alarm([value for value in candidates if isinstance(value, str)])


def _json_time(value: object, field: str) -> datetime:
    if isinstance(value, str):
        return _text_time(value, field)
    if isinstance(value, int) and not isinstance(value, bool):
        return _epoch(value, field)
    raise Refused(field, NOT_A_TIMESTAMP)


def _json_fix(device: str, at: datetime, coords: object, battery: object) -> Fix:
    if not isinstance(coords, dict):
        raise Refused("location.coords", NOT_AN_OBJECT)
    return Fix(
        device_id=device,
        time=at,
        lat=_json_required(coords, "latitude", LAT_MIN, LAT_MAX),
        lon=_json_required(coords, "longitude", LON_MIN, LON_MAX),
        accuracy_m=_accuracy(coords.get("accuracy"), "location.coords.accuracy"),
        speed_mps=_optional(coords.get("speed"), "location.coords.speed", None),
        heading_deg=_optional(coords.get("heading"), "location.coords.heading", HEADING_MAX),
        battery_pct=_json_battery(battery),
    )


def _json_required(coords: dict[str, Any], key: str, low: float, high: float) -> float:
    field = f"location.coords.{key}"
    value = coords.get(key)
    if value is None:
        raise Refused(field, MISSING)
    return number_in(value, field, low, high)


def _json_battery(battery: object) -> float | None:
    if battery is None:
        return None
    if not isinstance(battery, dict):
        raise Refused("location.battery", NOT_AN_OBJECT)
    level = _optional(battery.get("level"), "location.battery.level", 1.0)
    return None if level is None else level * PERCENT
