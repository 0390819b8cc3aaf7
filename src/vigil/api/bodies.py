"""What a valid registry record is: the REST bodies and the field types and checks they are made of.

One definition, shared by the REST edge (`api.registry`) and by the scenario files of `vigil replay`
(`replay.scenario`), so that a scenario can describe only what the REST edge accepts. Shapes and
schedules are read by the store's codec (`zone_parts`), the one reader of their JSON forms. Only
pydantic here: no framework, so the replay does not load the web stack.
"""

from __future__ import annotations

import ipaddress
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil.adapters.wire import Protocol, identifier_problem
from vigil.domain.model import DeviceKind, LegalBasis, Schedule, Shape, ZoneKind
from vigil.store.codec import schedule_from_json, shape_from_json

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN, description="the agency's own reference, or any unique id")]
Text = Annotated[str, Field(max_length=200)]  # names, labels, references
BleTag = Annotated[str, Field(pattern=r"^[0-9A-Za-z:._-]{1,64}$", description="a BLE tag id, as reported")]
# A person's name: required, and not blank (trimmed; a record no one can recognise helps no one).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PHONE_DIGITS = (7, 15)  # a Korean landline has 9 or 10 digits, a mobile 11; E.164 allows 15


def _a_phone(value: str) -> str:
    """Empty (not known), or a phone number: digits with spaces, '-', '.', '(' or ')' between them
    and an optional leading '+', 7 to 15 digits in all. The error's type, `phone`, lets a client
    say it in its own words."""
    value = value.strip()
    if not value:
        return value
    digits = sum(c.isdigit() for c in value)
    shaped = all(c.isdigit() or c in " -.()" for c in value.removeprefix("+"))
    if not shaped or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] or not value.isascii():
        raise PydanticCustomError(
            "phone",
            "must be a phone number: {low} to {high} digits, with spaces, '-', '.', '(' or ')' and an "
            "optional leading '+' (e.g. 010-1234-5678)",
            {"low": PHONE_DIGITS[0], "high": PHONE_DIGITS[1]},
        )
    return value


Phone = Annotated[str, Field(max_length=40), AfterValidator(_a_phone)]


def _a_plate(value: str) -> str:
    """Empty (no vehicle known), or a number plate as written on it: 2 to 20 letters (any script:
    Korean plates carry a Hangul syllable, "12가 3456", older ones a region, "서울 12 가 3456"), digits,
    spaces and '-', with at least one digit. Loose on purpose: foreign and old plates must fit."""
    value = " ".join(value.split())
    if not value:
        return value
    shaped = all(c.isalnum() or c in " -" for c in value) and any(c.isdigit() for c in value)
    if not shaped or not 2 <= len(value) <= 20:
        raise PydanticCustomError(
            "plate", "must be a number plate: 2 to 20 letters and digits (at least one digit), spaces or '-'"
        )
    return value


Plate = Annotated[str, Field(max_length=40), AfterValidator(_a_plate)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]

# A device's own limits and interval, in seconds: at most a day.
DeviceSeconds = Annotated[float, Field(gt=0, le=86_400)]


def _not_inside_violation(value: float, info: ValidationInfo) -> float:
    # Checked on the field (not the model), so that an error names the field at fault; it sees the
    # fields declared before it in info.data (absent there if that one was invalid itself).
    violation = info.data.get("violation_distance_m")
    if violation is not None and value < violation:
        raise ValueError("must be at least violation_distance_m")
    return value


def after_valid_from(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """An order's end comes after its start (a field check on `valid_until`, declared after
    `valid_from`)."""
    start = info.data.get("valid_from")
    if value is not None and start is not None and value <= start:
        raise ValueError("must be after valid_from")
    return value


ViolationDistance = Annotated[float, Field(gt=0, le=100_000)]
# The warning ring lies on or outside the violation ring (declared after `violation_distance_m`).
WarningDistance = Annotated[float, Field(gt=0, le=200_000), AfterValidator(_not_inside_violation)]


def one_shape(circle: object, polygon: object) -> None:
    """A zone is a circle or a polygon: exactly one of them."""
    if (circle is None) == (polygon is None):
        raise ValueError("give exactly one of circle or polygon")


def read_shape(circle: Any, polygon: Any, path: str) -> Shape:
    """A zone's shape from the JSON form of its circle, else its polygon; raises CodecError naming
    the part at fault under `path` ("zones[0].circle.radius_m")."""
    return shape_from_json({"circle": circle} if circle is not None else {"polygon": polygon}, path)


def read_schedule(windows: Any, timezone: str, path: str) -> Schedule | None:
    """A zone's weekly schedule in local time (None: always on); raises CodecError likewise."""
    return None if windows is None else schedule_from_json(windows, timezone, f"{path}.schedule")


def zone_parts(
    circle: Any, polygon: Any, schedule: Any, timezone: str, path: str
) -> tuple[Shape, Schedule | None]:
    return read_shape(circle, polygon, path), read_schedule(schedule, timezone, path)


# --- the REST bodies ----------------------------------------------------------------------------------


class SubjectIn(BaseModel):
    name: Name
    legal_basis: LegalBasis
    case_reference: Text = ""
    notes: str = Field(default="", max_length=5000)
    probation_officer: Ident | None = Field(
        default=None,
        description="the probation officer (user id) whose caseload he is; left out: unchanged "
        "(a probation officer creating a subject takes him on)",
    )
    # His profile for the police sent to find him; each left out: unchanged (empty when created).
    description: str = Field(
        default="", max_length=2000, description="what he looks like: height, build, distinguishing marks"
    )
    vehicle_plate: Plate = Field(default="", description="his vehicle's number plate ('12가 3456')")
    vehicle: Text = Field(default="", description="its make, model and colour")
    home_address: Address = ""
    work_address: Address = ""
    # His identity, for matching police cases to him (issue 18); each left out: unchanged.
    birth_date: date | None = Field(default=None, description="YYYY-MM-DD")
    national_id: str | None = Field(
        default=None,
        pattern=r"^\d{6}-?\d{7}$",
        description="the resident registration number; stored only as a keyed hash, never shown back",
    )


PROFILE_FIELDS = ("description", "vehicle_plate", "vehicle", "home_address", "work_address")


class ProtectedPersonIn(BaseModel):
    name: Name
    phone: Phone = Field(default="", description="her phone number; empty: not known")
    notes: str = Field(default="", max_length=5000)


def _identifier_fits(value: str | None, info: ValidationInfo) -> str | None:
    # On the field, after `protocol`, so the error names `identifier` (absent protocol: native).
    if "protocol" not in info.data:
        return value  # the protocol itself was refused
    problem = identifier_problem(info.data["protocol"] or Protocol.NATIVE, value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _a_network(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError("must be an IP network in CIDR form, e.g. 10.64.0.0/16") from None


class DeviceIn(BaseModel):
    kind: DeviceKind
    person_id: Ident | None = Field(default=None, description="bind to this subject or protected person")
    silence_limit_s: DeviceSeconds | None = Field(default=None, description="silence that raises signal_loss")
    location_limit_s: DeviceSeconds | None = Field(
        default=None,
        description="reporting with no usable position (no fix, or cell/coarse ones only) for longer "
        "than this raises location_loss; null: the default for its kind (600 s for an ankle monitor, "
        "not watched for other kinds)",
    )
    report_interval_s: DeviceSeconds | None = Field(
        default=None,
        description="how often the device is set to report; null: learned from what it sends. The "
        "silence limit and the curfew confirmation window stretch to a slow reporter's interval",
    )
    protocol: Protocol | None = Field(
        default=None, description="how the device talks to Vigil; null: native (Vigil's JSON over HTTP)"
    )
    identifier: Annotated[str | None, AfterValidator(_identifier_fits)] = Field(
        default=None,
        validate_default=True,  # a protocol that needs one is refused without it
        description="what the device's frames name it by, unique per protocol: the IMEI (gt06, "
        "teltonika), the unit's id (watch), user/device of its topic (owntracks); null for native "
        "and osmand devices",
    )
    ble_tag: BleTag | None = Field(
        default=None,
        description="the BLE tag the device broadcasts (a monitor's), as her watch or phone reports it "
        "in ble_contact events: contact is proximity evidence without GPS",
    )
    network: Annotated[str | None, AfterValidator(_a_network)] = Field(
        default=None,
        description="the network (CIDR) its reports must come from (a private APN's range); a report "
        "from elsewhere raises device_conflict. Null: any",
    )


class Circle(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=100_000)


class Window(BaseModel):
    days: list[str] = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class ZoneIn(BaseModel):
    id: Ident | None = None
    kind: ZoneKind = ZoneKind.EXCLUSION
    label: Text = ""
    circle: Circle | None = None
    polygon: list[tuple[float, float]] | None = Field(
        default=None, description="[lon, lat] pairs, GeoJSON order"
    )
    schedule: list[Window] | None = None
    timezone: str = "Asia/Seoul"

    @model_validator(mode="after")
    def _one_shape(self) -> ZoneIn:
        one_shape(self.circle, self.polygon)
        return self

    def parts(self, path: str) -> tuple[Shape, Schedule | None]:
        """Its shape and schedule, read by the codec (an empty schedule: always on)."""
        return zone_parts(
            self.circle.model_dump() if self.circle else None,
            [list(p) for p in self.polygon] if self.polygon is not None else None,
            [w.model_dump() for w in self.schedule] if self.schedule else None,
            self.timezone,
            path,
        )


class OrderIn(BaseModel):
    subject_id: Ident
    protected_person_id: Ident
    violation_distance_m: ViolationDistance
    warning_distance_m: WarningDistance
    victim_view_m: float = Field(default=600.0, ge=0, le=100_000)
    legal_basis: LegalBasis
    valid_from: AwareDatetime | None = None
    valid_until: Annotated[AwareDatetime | None, AfterValidator(after_valid_from)] = None
    issuing_agency: Text = ""
    reference: Text = ""
    zones: list[ZoneIn] = Field(default_factory=list, max_length=50)
