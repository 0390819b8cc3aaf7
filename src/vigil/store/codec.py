"""Domain objects to and from their JSON forms (database columns, REST bodies, replay files)."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import UTC, datetime, time
from typing import Any

from vigil.domain.alerts import Alert, AlertKey, AlertKind, AlertState, Confidence, Facts, Position
from vigil.domain.model import (
    Circle,
    ClockDoubt,
    ClockSuspect,
    Polygon,
    Schedule,
    ScheduleWindow,
    Shape,
    Weekday,
)


class CodecError(ValueError):
    """A JSON form that does not describe a valid object; `path` says where."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def reject_constant(name: str) -> Any:
    """For json.loads(parse_constant=...): NaN and Infinity are not JSON numbers, and no store or
    rule can use them."""
    raise ValueError(f"{name} is not a JSON number")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CodecError(path, "must be a finite number")
    return float(value)


def _lat_lon(lat: Any, lon: Any, path: str) -> tuple[float, float]:
    la, lo = _number(lat, f"{path}.lat"), _number(lon, f"{path}.lon")
    if not -90 <= la <= 90:
        raise CodecError(f"{path}.lat", "must be within [-90, 90]")
    if not -180 <= lo <= 180:
        raise CodecError(f"{path}.lon", "must be within [-180, 180]")
    return la, lo


def shape_from_json(data: Any, path: str = "shape") -> Shape:
    """{"circle": {"lat", "lon", "radius_m"}} or {"polygon": [[lon, lat], ...]} (GeoJSON order)."""
    if not isinstance(data, dict):
        raise CodecError(path, "must be an object with 'circle' or 'polygon'")
    if "circle" in data:
        c = data["circle"]
        if not isinstance(c, dict):
            raise CodecError(f"{path}.circle", "must be an object")
        lat, lon = _lat_lon(c.get("lat"), c.get("lon"), f"{path}.circle")
        radius = _number(c.get("radius_m"), f"{path}.circle.radius_m")
        if not 0 < radius <= 100_000:
            raise CodecError(f"{path}.circle.radius_m", "must be above 0 and at most 100 km")
        return Circle(lat, lon, radius)
    if "polygon" in data:
        ring = data["polygon"]
        if not isinstance(ring, list):
            raise CodecError(f"{path}.polygon", "must be a list of [lon, lat] pairs")
        points: list[tuple[float, float]] = []
        for i, pair in enumerate(ring):
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise CodecError(f"{path}.polygon[{i}]", "must be a [lon, lat] pair")
            lat, lon = _lat_lon(pair[1], pair[0], f"{path}.polygon[{i}]")
            points.append((lon, lat))
        if len(set(points)) < 3:
            raise CodecError(f"{path}.polygon", "needs at least 3 distinct points")
        return Polygon(tuple(points))
    raise CodecError(path, "must have 'circle' or 'polygon'")


def shape_to_json(shape: Shape) -> dict[str, Any]:
    if isinstance(shape, Circle):
        return {"circle": {"lat": shape.lat, "lon": shape.lon, "radius_m": shape.radius_m}}
    return {"polygon": [[lon, lat] for lon, lat in shape.ring]}


def _clock(value: Any, path: str) -> time:
    if not isinstance(value, str):
        raise CodecError(path, "must be a local time 'HH:MM'")
    if value == "24:00":
        return time(0, 0)
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise CodecError(path, "must be a local time 'HH:MM'") from None
    return parsed


def schedule_from_json(windows: Any, timezone: str, path: str = "schedule") -> Schedule:
    """[{"days": ["mon", ...], "start": "22:00", "end": "06:00"}, ...] in `timezone`."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CodecError("timezone", f"unknown time zone {timezone!r}") from None
    if not isinstance(windows, list):
        raise CodecError(path, "must be a list of windows")
    parsed: list[ScheduleWindow] = []
    for i, w in enumerate(windows):
        where = f"{path}[{i}]"
        if not isinstance(w, dict):
            raise CodecError(where, "must be an object with days, start and end")
        days = w.get("days")
        if not isinstance(days, list) or not days:
            raise CodecError(f"{where}.days", "must be a non-empty list of mon..sun")
        try:
            day_set = frozenset(Weekday(str(d).lower()) for d in days)
        except ValueError:
            raise CodecError(f"{where}.days", "days are mon, tue, wed, thu, fri, sat, sun") from None
        parsed.append(
            ScheduleWindow(
                day_set, _clock(w.get("start"), f"{where}.start"), _clock(w.get("end"), f"{where}.end")
            )
        )
    return Schedule(tuple(parsed), timezone)


def schedule_to_json(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    order = list(Weekday)
    return {
        "timezone": schedule.timezone,
        "windows": [
            {
                "days": sorted((d.value for d in w.days), key=lambda d: order.index(Weekday(d))),
                "start": w.start.strftime("%H:%M"),
                "end": w.end.strftime("%H:%M"),
            }
            for w in schedule.windows
        ],
    }


def schedule_from_stored(data: Any) -> Schedule | None:
    if data is None:
        return None
    return schedule_from_json(data["windows"], data["timezone"])


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def plain(value: Any) -> Any:
    """Dataclasses, enums and datetimes as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | tuple | frozenset | set):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _position_json(p: Position | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "lat": p.lat,
        "lon": p.lon,
        "accuracy_m": p.accuracy_m,
        "time": iso(p.time),
        "age_s": p.age_s,
        "speed_mps": p.speed_mps,
        "heading_deg": p.heading_deg,
        "source": p.source,
    }


def facts_json(f: Facts) -> dict[str, Any]:
    """Facts as JSON, written out field by field: this runs for every alert change, where the
    generic `plain` walk was a noticeable share of a batch. A test keeps the two in agreement."""
    return {
        "subject_position": _position_json(f.subject_position),
        "protected_position": _position_json(f.protected_position),
        "distance_m": f.distance_m,
        "confidence": None if f.confidence is None else f.confidence.value,
        "bearing_deg": f.bearing_deg,
        "compass": f.compass,
        "subject_speed_mps": f.subject_speed_mps,
        "closing_speed_mps": f.closing_speed_mps,
        "time_to_contact_s": f.time_to_contact_s,
        "stale": list(f.stale),
        "zone_label": f.zone_label,
        "device_id": f.device_id,
        "event": f.event,
        "occurred_at": iso(f.occurred_at),
        "clock_suspect": _suspect_json(f.clock_suspect),
        "tier": f.tier,
        "peak_tier": f.peak_tier,
        "inferred": f.inferred,
        "evidence": [_position_json(p) for p in f.evidence],
        "unconfirmed": f.unconfirmed,
        "ble": f.ble,
        "ble_rssi": f.ble_rssi,
    }


def _suspect_json(c: ClockSuspect | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"doubt": c.doubt.value, "device_time": iso(c.device_time), "received_at": iso(c.received_at)}


def _suspect(data: dict[str, Any] | None) -> ClockSuspect | None:
    if data is None:
        return None
    return ClockSuspect(
        ClockDoubt(data["doubt"]),
        datetime.fromisoformat(data["device_time"]),
        datetime.fromisoformat(data["received_at"]),
    )


def _position(data: dict[str, Any] | None) -> Position | None:
    if data is None:
        return None
    return Position(
        lat=data["lat"],
        lon=data["lon"],
        accuracy_m=data.get("accuracy_m"),
        time=datetime.fromisoformat(data["time"]),
        age_s=data.get("age_s", 0.0),
        speed_mps=data.get("speed_mps"),
        heading_deg=data.get("heading_deg"),
        source=data.get("source", "gnss"),
    )


def facts_from_json(data: dict[str, Any]) -> Facts:
    occurred = data.get("occurred_at")
    confidence = data.get("confidence")
    return Facts(
        subject_position=_position(data.get("subject_position")),
        protected_position=_position(data.get("protected_position")),
        distance_m=data.get("distance_m"),
        confidence=None if confidence is None else Confidence(confidence),
        bearing_deg=data.get("bearing_deg"),
        compass=data.get("compass"),
        subject_speed_mps=data.get("subject_speed_mps"),
        closing_speed_mps=data.get("closing_speed_mps"),
        time_to_contact_s=data.get("time_to_contact_s"),
        stale=tuple(data.get("stale", ())),
        zone_label=data.get("zone_label"),
        device_id=data.get("device_id"),
        event=data.get("event"),
        occurred_at=None if occurred is None else datetime.fromisoformat(occurred),
        clock_suspect=_suspect(data.get("clock_suspect")),
        tier=data.get("tier"),
        peak_tier=data.get("peak_tier"),
        inferred=bool(data.get("inferred", False)),
        evidence=tuple(p for p in (_position(e) for e in data.get("evidence") or ()) if p is not None),
        unconfirmed=bool(data.get("unconfirmed", False)),
        ble=bool(data.get("ble", False)),
        ble_rssi=data.get("ble_rssi"),
    )


def alert_from_row(row: Any) -> Alert:
    family, person, target = str(row.key).split(":", 2)
    return Alert(
        id=row.id,
        key=AlertKey(family, person, target),
        kind=AlertKind(row.kind),
        state=AlertState(row.state),
        active=bool(row.active),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        facts=facts_from_json(row.facts),
        subject_id=row.subject_id,
        protected_person_id=row.protected_person_id,
        zone_id=row.zone_id,
        order_id=row.order_id,
        late=bool(row.late),
        incident_id=getattr(row, "incident_id", None),
        escalated_at=getattr(row, "escalated_at", None),
    )
