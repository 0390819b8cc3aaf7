"""The things Vigil knows about: people, devices, orders, zones, and what devices report.

Plain frozen dataclasses: cheap on the hot path, comparable in tests, and free of any framework.
Times are timezone-aware datetimes in UTC; local time matters only for zone schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from typing import NamedTuple


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    PROBATION_OFFICER = "probation_officer"
    POLICE_DISPATCHER = "police_dispatcher"
    # A police investigator (issue 18): records stalking and domestic-violence cases for their
    # station's areas, and the courts' decisions on them; sees no one's positions or alerts.
    POLICE_INVESTIGATOR = "police_investigator"
    FIELD_OFFICER = "field_officer"
    PROTECTED_PERSON = "protected_person"
    AUDITOR = "auditor"
    # A court or prosecutor (issue 18): obtains sealed evidence (a breach report, the full version of
    # a victim's period) and checks files against Vigil; sees nothing live, changes nothing.
    COURT = "court"
    DEVICE = "device"


class LegalBasis(StrEnum):
    SEX_OFFENCE_EM_ORDER = "sex_offence_em_order"
    PAROLE = "parole"
    BAIL = "bail"
    STALKING_PROVISIONAL_MEASURE = "stalking_provisional_measure"
    OTHER = "other"


class PersonKind(StrEnum):
    SUBJECT = "subject"
    PROTECTED_PERSON = "protected_person"


class PersonRef(NamedTuple):
    """A person named with their kind. An id names one person only (the registry refuses an id the
    other kind already uses), but a database made before that rule may hold one id in both tables:
    whoever decides access compares kind and id together, never a bare id."""

    kind: PersonKind
    id: str


def subject_ref(person_id: str) -> PersonRef:
    return PersonRef(PersonKind.SUBJECT, person_id)


def protected_ref(person_id: str) -> PersonRef:
    return PersonRef(PersonKind.PROTECTED_PERSON, person_id)


class DeviceKind(StrEnum):
    ANKLE_MONITOR = "ankle_monitor"
    SMARTWATCH = "smartwatch"
    PHONE = "phone"


class FixSource(StrEnum):
    GNSS = "gnss"
    WIFI = "wifi"
    CELL = "cell"
    BLE = "ble"


class EventKind(StrEnum):
    STRAP_CUT = "strap_cut"
    STRAP_OPEN = "strap_open"
    CASE_OPEN = "case_open"
    REMOVAL = "removal"
    BATTERY_LOW = "battery_low"
    CHARGING = "charging"
    POWER_OFF = "power_off"
    SOS = "sos"
    BLE_CONTACT = "ble_contact"
    # The monitor lost the BLE link to its paired unit (a two-piece system's strap and base): as
    # good as the strap cut, as far as knowing where he is goes.
    BLE_LINK_LOST = "ble_link_lost"
    HEARTBEAT = "heartbeat"
    # Made by the gateway, not sent by a device: the device's identifier spoke from two connections
    # at once, or from outside the network it is restricted to. An IMEI is no secret.
    DEVICE_CONFLICT = "device_conflict"


TAMPER_EVENTS = frozenset(
    {
        EventKind.STRAP_CUT,
        EventKind.STRAP_OPEN,
        EventKind.CASE_OPEN,
        EventKind.REMOVAL,
        EventKind.BLE_LINK_LOST,
    }
)
# Events that are never refused, whatever their time says: everything but the routine ones. Written
# as "all but" so that a kind added later is an alarm until someone decides otherwise.
ROUTINE_EVENTS = frozenset({EventKind.HEARTBEAT, EventKind.BLE_CONTACT, EventKind.CHARGING})
ALARM_EVENTS = frozenset(EventKind) - ROUTINE_EVENTS


class CommandKind(StrEnum):
    """What Vigil can ask of a device over its own channel."""

    SET_INTERVAL = "set_interval"  # report every `seconds` (pursuit mode: 15 s)
    LOCATE = "locate"  # send a fix now
    VIBRATE = "vibrate"  # the wearer must call probation
    ALARM = "alarm"  # sound the device's alarm
    MESSAGE = "message"  # show `text` on the device


class ClockDoubt(StrEnum):
    """Why a device's own time for a report was not believed."""

    FUTURE = "future"  # ahead of the server (and of the newest receipt) by more than the limit
    BEHIND = "behind"  # older than the device's last message by more than the limit
    GARBAGE = "garbage"  # a time no working clock gives (before 2000, or years ahead)


class ZoneKind(StrEnum):
    EXCLUSION = "exclusion"  # must not enter (victim's home, work, school)
    INCLUSION = "inclusion"  # must stay inside while the schedule is active (curfew at home)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)


# --- geometry -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon; `ring` holds (lon, lat) pairs in GeoJSON order, closed or not."""

    ring: tuple[tuple[float, float], ...]


Shape = Circle | Polygon


@dataclass(frozen=True, slots=True)
class ScheduleWindow:
    """Active on `days` from `start` to `end` local time; end <= start means it runs past midnight
    (a window 22:00-06:00 on "mon" is active from Monday 22:00 to Tuesday 06:00)."""

    days: frozenset[Weekday]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly schedule in a named IANA time zone. No windows means always active."""

    windows: tuple[ScheduleWindow, ...]
    timezone: str


# --- registry -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: DeviceKind
    person_id: str | None  # bound to one person at a time, or to nobody (in stock)
    person_kind: PersonKind | None
    # Silence longer than this raises signal_loss; None leaves the device unwatched (victim phones
    # are closed and opened at will, so their silence is normal and is shown as staleness instead).
    silence_limit_s: float | None = None
    # Reporting but no usable position (no fix, or only cell positions) for longer than this raises
    # location_loss; None: the default for its kind (rules/tuning.py).
    location_limit_s: float | None = None
    # How often it is set to report, when known; otherwise the rules learn it from what it sends.
    report_interval_s: float | None = None
    # Asked to report fast (pursuit mode, rules/pursuit.py) when last stored: a restart carries on.
    in_pursuit: bool = False
    # The BLE tag his monitor broadcasts, which her watch or phone may see (rules/ble.py).
    ble_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    kind: ZoneKind
    shape: Shape
    label: str = ""
    subject_id: str | None = None  # set for a subject's own zones
    order_id: str | None = None  # set for an order's fixed exclusion zones
    schedule: Schedule | None = None


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    subject_id: str
    protected_person_id: str
    violation_distance_m: float
    warning_distance_m: float
    legal_basis: LegalBasis = LegalBasis.OTHER
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    zones: tuple[Zone, ...] = ()
    issuing_agency: str = ""
    reference: str = ""
    ended_at: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        if self.ended_at is not None and at >= self.ended_at:
            return False
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


# --- what devices report --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockSuspect:
    """A report whose own time was not believed: it is judged (and stored) at the server's receipt
    time, and keeps what the device claimed as evidence."""

    doubt: ClockDoubt
    device_time: datetime  # what the device said
    received_at: datetime  # when the server received it


@dataclass(frozen=True, slots=True)
class Fix:
    device_id: str
    time: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    source: FixSource = FixSource.GNSS
    battery_pct: float | None = None
    clock_suspect: ClockSuspect | None = None  # set when `time` is the receipt time, not the device's


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    device_id: str
    time: datetime
    kind: EventKind
    fix: Fix | None = None  # where it happened, if the device knew; an alarm never needs one
    detail: dict[str, str] = field(default_factory=dict)
    clock_suspect: ClockSuspect | None = None  # as for Fix; an event's fix carries the same mark


Report = Fix | DeviceEvent
