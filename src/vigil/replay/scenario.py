"""A scenario file, checked and typed (the format is docs/replay.md: a contract, files written by
others are fed to it).

Each part of the file is described by a pydantic model made of the REST bodies' own field types
and checks (`api.bodies`): what a valid order, zone, device or schedule is has one definition. What
a model cannot see on its own, that ids are unique and that references name something in the file,
is checked over the whole document afterwards. Every problem is reported, each named by its JSON
path ("$.orders[0].violation_distance_m: must be above 0"), before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from vigil.adapters import native
from vigil.api.bodies import (
    BleTag,
    DeviceSeconds,
    Ident,
    Text,
    ViolationDistance,
    WarningDistance,
    after_valid_from,
    one_shape,
    read_schedule,
    read_shape,
)
from vigil.domain.model import DeviceKind, LegalBasis, Schedule, Shape, ZoneKind
from vigil.store import records
from vigil.store.codec import CodecError, reject_constant

_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)

ID_RULE = "must be an id of 1..64 letters, digits, '.', '_' or '-'"


class ScenarioError(ValueError):
    """The file does not describe a scenario; `errors` holds every problem as "path: reason"."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


# --- the checked scenario, as the replay runs it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    id: str
    kind: DeviceKind
    silence_limit_s: float | None = None
    location_limit_s: float | None = None
    report_interval_s: float | None = None
    ble_tag: str | None = None


@dataclass(frozen=True, slots=True)
class PersonSpec:
    id: str
    name: str
    devices: tuple[DeviceSpec, ...]
    legal_basis: LegalBasis = LegalBasis.OTHER  # subjects only


@dataclass(frozen=True, slots=True)
class OrderSpec:
    id: str
    subject: str
    protected_person: str
    violation_distance_m: float
    warning_distance_m: float
    legal_basis: LegalBasis
    valid_from: datetime | None
    valid_until: datetime | None
    zones: tuple[records.ZoneSpec, ...]


@dataclass(frozen=True, slots=True)
class SubjectZoneSpec:
    subject: str
    zone: records.ZoneSpec


@dataclass(frozen=True, slots=True)
class MessageSpec:
    index: int  # position in the file's "messages"
    received_at: datetime
    body: dict[str, Any]  # the message as a device sent it (without received_at)


@dataclass(frozen=True, slots=True)
class Scenario:
    timezone: str
    subjects: tuple[PersonSpec, ...]
    protected_persons: tuple[PersonSpec, ...]
    orders: tuple[OrderSpec, ...]
    zones: tuple[SubjectZoneSpec, ...]
    messages: tuple[MessageSpec, ...]  # in arrival order: (received_at, index)
    until: datetime

    @property
    def start(self) -> datetime:
        """When the registry comes into being: the first arrival (or `until` if nothing arrives)."""
        return self.messages[0].received_at if self.messages else self.until


# --- the file's own types: JSON as written, read by the device protocol's rules -----------------------


def _time(value: object, info: ValidationInfo) -> datetime:
    """ISO 8601 with an offset, as the native device protocol reads it; aware UTC."""
    try:
        return native.message_time(value, info.field_name or "")
    except native.Refused as refused:
        raise PydanticCustomError("time", "{reason}", {"reason": refused.reason}) from None


def _number(value: object) -> float:
    """A JSON number (not a string, not a boolean), finite."""
    number = native.finite(value)
    if number is None:
        raise PydanticCustomError("number", "must be a finite number")
    return number


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone",
            "unknown time zone {value} (an IANA name such as 'Asia/Seoul')",
            {"value": repr(value)},
        ) from None
    return value


Time = Annotated[datetime, PlainValidator(_time)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
Seconds = Annotated[DeviceSeconds, BeforeValidator(_number)]
ViolationNumber = Annotated[ViolationDistance, BeforeValidator(_number)]
WarningNumber = Annotated[WarningDistance, BeforeValidator(_number)]


class _Part(BaseModel):
    """A part of the file: unknown keys are ignored, and null counts as absent."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Outline(_Part):
    """The top level: each part there and of the right kind (its items are checked one by one)."""

    timezone: TimeZoneName
    subjects: list[Any]
    protected_persons: list[Any]
    orders: list[Any]
    zones: list[Any] = Field(default_factory=list)
    messages: list[Any]
    until: Time


class Device(_Part):
    """A plain id, or {"id", "kind", "silence_limit_s", "location_limit_s", "report_interval_s",
    "ble_tag"}."""

    id: Ident
    kind: DeviceKind | None = None  # None: the person's usual kind
    silence_limit_s: Seconds | None = None
    location_limit_s: Seconds | None = None
    report_interval_s: Seconds | None = None
    ble_tag: BleTag | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _plain_id(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Self:
        if not isinstance(data, str):
            found: Self = handler(data)
            return found
        try:
            plain: Self = handler({"id": data})
        except ValidationError:
            raise PydanticCustomError(
                "device_id", "must be a device id of 1..64 letters, digits, '.', '_' or '-'"
            ) from None
        return plain

    def spec(self, usual: DeviceKind) -> DeviceSpec:
        kind = self.kind or usual
        return DeviceSpec(
            self.id, kind, self.silence_limit_s, self.location_limit_s, self.report_interval_s, self.ble_tag
        )


class Subject(_Part):
    id: Ident
    name: Text | None = None  # None: the id
    legal_basis: LegalBasis = LegalBasis.OTHER
    devices: list[Device]

    def spec(self) -> PersonSpec:
        devices = tuple(d.spec(DeviceKind.ANKLE_MONITOR) for d in self.devices)
        return PersonSpec(self.id, self.id if self.name is None else self.name, devices, self.legal_basis)


class ProtectedPerson(_Part):
    id: Ident
    name: Text | None = None
    devices: list[Device]

    def spec(self) -> PersonSpec:
        devices = tuple(d.spec(DeviceKind.SMARTWATCH) for d in self.devices)
        return PersonSpec(self.id, self.id if self.name is None else self.name, devices)


class Zone(_Part):
    """A zone's own fields; its shape and schedule are read by the codec, as the REST edge's are
    (each part on its own, so that every problem in it is reported)."""

    kind: ZoneKind = ZoneKind.EXCLUSION
    label: Text = ""
    circle: Any = None  # a Circle once read
    polygon: Any = None  # a Polygon once read
    schedule: Any = None  # a Schedule once read; None: always on

    @model_validator(mode="before")
    @classmethod
    def _one_shape(cls, data: Any) -> Any:
        if isinstance(data, dict):
            one_shape(data.get("circle"), data.get("polygon"))
        return data

    @field_validator("circle")
    @classmethod
    def _circle(cls, circle: Any) -> Shape:
        return _codec("circle", lambda: read_shape(circle, None, ""))

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, polygon: Any) -> Shape:
        return _codec("polygon", lambda: read_shape(None, polygon, ""))

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, windows: Any, info: ValidationInfo) -> Schedule | None:
        timezone = (info.context or {}).get("timezone", "UTC")
        return _codec("schedule", lambda: read_schedule(windows, timezone, ""))

    def spec(self, zone_id: str) -> records.ZoneSpec:
        shape: Shape = self.circle if self.circle is not None else self.polygon
        return records.ZoneSpec(zone_id, self.kind, shape, self.label, self.schedule)


def _codec(field: str, read: Callable[[], _T]) -> _T:
    """What the codec reads; its problems as validation errors, at its path below the field."""
    try:
        return read()
    except CodecError as exc:
        below = exc.path.removeprefix(f".{field}")
        raise PydanticCustomError("codec", "{reason}", {"reason": exc.reason, "path": below}) from None


class OrderZone(Zone):
    @field_validator("kind")
    @classmethod
    def _exclusion(cls, kind: ZoneKind) -> ZoneKind:
        if kind is not ZoneKind.EXCLUSION:
            raise ValueError("an order's zones are always exclusion")
        return kind


class Order(_Part):
    id: Ident
    subject: Ident
    protected_person: Ident
    violation_distance_m: ViolationNumber
    warning_distance_m: WarningNumber
    legal_basis: LegalBasis = LegalBasis.OTHER
    valid_from: Time | None = None
    valid_until: Annotated[Time | None, AfterValidator(after_valid_from)] = None
    zones: list[OrderZone] = Field(default_factory=list)

    def spec(self) -> OrderSpec:
        return OrderSpec(
            id=self.id,
            subject=self.subject,
            protected_person=self.protected_person,
            violation_distance_m=self.violation_distance_m,
            warning_distance_m=self.warning_distance_m,
            legal_basis=self.legal_basis,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            # Order zones get the ids O1.z1, O1.z2, … in file order.
            zones=tuple(zone.spec(f"{self.id}.z{n}") for n, zone in enumerate(self.zones, start=1)),
        )


class SubjectZone(Zone):
    id: Ident
    subject: Ident


class Message(_Part):
    """What a device sent and when it arrived; the rest is the device's, judged when replayed."""

    at: Time
    received_at: Time | None = None  # None: when it was sent
    device: Any  # checked against the devices in the file

    @property
    def arrival(self) -> datetime:
        return self.received_at or self.at


# --- reading ---------------------------------------------------------------------------------------------


def parse(doc: Any) -> Scenario:
    """The whole file checked and typed; raises ScenarioError listing every problem found."""
    if not isinstance(doc, dict):
        raise ScenarioError(["$: must be an object"])
    problems = _Problems()
    problems.check(Outline, doc, "$")
    timezone = _quietly(_TIME_ZONE, doc.get("timezone")) or "UTC"
    until = _quietly(_TIME, doc.get("until"))
    context = {"timezone": timezone}
    subjects = problems.each(Subject, doc, "subjects", context)
    protected = problems.each(ProtectedPerson, doc, "protected_persons", context)
    orders = problems.each(Order, doc, "orders", context)
    zones = problems.each(SubjectZone, doc, "zones", context)
    messages = problems.each(Message, doc, "messages", context)
    problems.cross_check(doc, messages, until)
    if problems.errors or until is None:
        raise ScenarioError(problems.errors)
    arrivals = sorted(messages.items(), key=lambda item: (item[1].arrival, item[0]))
    return Scenario(
        timezone=timezone,
        subjects=tuple(s.spec() for s in subjects.values()),
        protected_persons=tuple(p.spec() for p in protected.values()),
        orders=tuple(o.spec() for o in orders.values()),
        zones=tuple(SubjectZoneSpec(z.subject, z.spec(z.id)) for z in zones.values()),
        messages=tuple(
            MessageSpec(i, m.arrival, {k: v for k, v in doc["messages"][i].items() if k != "received_at"})
            for i, m in arrivals
        ),
        until=until,
    )


def load(path: str | Path) -> Any:
    """The file's JSON document; ScenarioError (with line and column for bad JSON) if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            [f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    except ValueError as exc:  # NaN or Infinity
        raise ScenarioError([f"{path}: invalid JSON: {exc}"]) from None
    except RecursionError:  # a thousand arrays inside each other: no scenario, a hostile file
        raise ScenarioError([f"{path}: invalid JSON: nested too deeply"]) from None


_TIME_ZONE: TypeAdapter[str] = TypeAdapter(TimeZoneName)
_TIME: TypeAdapter[datetime] = TypeAdapter(Time)
_IDENT: TypeAdapter[str] = TypeAdapter(Ident)


def _quietly(adapter: TypeAdapter[Any], value: Any) -> Any:
    """The value if valid, else None (its problem is reported where the outline is checked)."""
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _ident(value: Any) -> str | None:
    """A well-formed id, or None (a malformed one is reported by its part's own check)."""
    return value if isinstance(value, str) and _quietly(_IDENT, value) is not None else None


class _Problems:
    """Every problem found, as "path: reason", in the order found."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._claimed: dict[str, dict[str, str]] = {}  # what -> id -> the path that used it first

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: {reason}")

    def check(
        self, model: type[BaseModel], value: Any, path: str, context: dict[str, Any] | None = None
    ) -> Any:
        try:
            return model.model_validate(value, context=context)
        except ValidationError as exc:
            for error in exc.errors():
                self.fail(_path(path, error), _reason(error))
            return None

    def each(self, model: type[_M], doc: dict[str, Any], key: str, context: dict[str, Any]) -> dict[int, _M]:
        """The valid items of the part `key`, by index (the outline reports a part that is no list)."""
        items = doc.get(key)
        found: dict[int, _M] = {}
        for i, raw in enumerate(items if isinstance(items, list) else []):
            item = self.check(model, raw, f"$.{key}[{i}]", context)
            if item is not None:
                found[i] = item
        return found

    def claim(self, ident: str, path: str, what: str) -> bool:
        """Record that `path` uses `ident` as a `what`; False (reported) if it is already taken."""
        taken = self._claimed.setdefault(what, {})
        if ident in taken:
            self.fail(path, f"{what} {ident!r} is already used at {taken[ident]}")
            return False
        taken[ident] = path
        return True

    def cross_check(self, doc: dict[str, Any], messages: dict[int, Message], until: datetime | None) -> None:
        """What no part can see alone: ids used once, and references to what the file lists. Read
        from the document as written, so a part with a problem of its own still claims its ids."""
        subjects = self._people(doc, "subjects")
        protected = self._people(doc, "protected_persons")
        for i, order in _objects(doc, "orders"):
            path = f"$.orders[{i}]"
            order_id = _ident(order.get("id"))
            if order_id is not None and not self.claim(order_id, f"{path}.id", "order id"):
                order_id = None
            self._refers(order.get("subject"), subjects, f"{path}.subject", "subject", "$.subjects")
            self._refers(
                order.get("protected_person"),
                protected,
                f"{path}.protected_person",
                "protected person",
                "$.protected_persons",
            )
            zones = order.get("zones")
            for n in range(1, len(zones) + 1 if isinstance(zones, list) and order_id else 1):
                zone_id = f"{order_id}.z{n}"
                self.claim(zone_id, f"{path}.zones[{n - 1}] (id {zone_id})", "zone id")
        for i, zone in _objects(doc, "zones"):
            own_id = _ident(zone.get("id"))
            if own_id is not None:
                self.claim(own_id, f"$.zones[{i}].id", "zone id")
            self._refers(zone.get("subject"), subjects, f"$.zones[{i}].subject", "subject", "$.subjects")
        devices = self._claimed.get("device", {})
        for i, message in _objects(doc, "messages"):
            path = f"$.messages[{i}]"
            device = message.get("device")
            if device is not None and (not isinstance(device, str) or device not in devices):
                self.fail(f"{path}.device", f"unknown device {device!r}: not listed for any person")
            checked = messages.get(i)
            if checked is not None and until is not None and checked.arrival > until:
                key = "received_at" if message.get("received_at") is not None else "at"
                self.fail(f"{path}.{key}", "arrives after $.until")

    def _people(self, doc: dict[str, Any], key: str) -> set[str]:
        """The ids of one kind of person (each used once among all people), claiming their devices."""
        ids: set[str] = set()
        for i, person in _objects(doc, key):
            path = f"$.{key}[{i}]"
            person_id = _ident(person.get("id"))
            if person_id is not None and self.claim(person_id, f"{path}.id", "person id"):
                ids.add(person_id)
            devices = person.get("devices")
            for j, device in enumerate(devices if isinstance(devices, list) else []):
                plain = isinstance(device, str)
                device_id = _ident(
                    device if plain else device.get("id") if isinstance(device, dict) else None
                )
                if device_id is not None:
                    where = f"{path}.devices[{j}]"
                    self.claim(device_id, where if plain else f"{where}.id", "device")
        return ids

    def _refers(self, value: Any, known: set[str], path: str, what: str, where: str) -> None:
        ident = _ident(value)
        if ident is not None and ident not in known:
            self.fail(path, f"no {what} {ident!r} in {where}")


def _objects(doc: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = doc.get(key)
    return [
        (i, item) for i, item in enumerate(items if isinstance(items, list) else []) if isinstance(item, dict)
    ]


def _path(base: str, error: ErrorDetails) -> str:
    """The JSON path of a problem: the part's path, the location within it, and for a shape or
    schedule the codec's own path below that."""
    path = base + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    return path + str((error.get("ctx") or {}).get("path", ""))


# pydantic's kinds of problem, in the words of the file format (docs/replay.md)
_WORDS = {
    "missing": "missing",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be an array",
    "string_type": "must be a string",
    "string_pattern_mismatch": ID_RULE,  # the only pattern in a scenario is the id's
}


def _reason(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _WORDS:
        return _WORDS[kind]
    if kind == "string_too_long":
        return f"must be a string of at most {ctx['max_length']} characters"
    if kind == "greater_than":
        return f"must be above {ctx['gt']:g}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}"
    if kind == "enum":  # pydantic says "'a', 'b' or 'c'"; the file format's words are "a, b, c"
        return "must be one of " + str(ctx["expected"]).replace("'", "").replace(" or ", ", ")
    if kind == "value_error":
        return str(ctx["error"])
    return error["msg"]  # our own checks' words (custom errors)
