"""Shared helpers for the rule tests: a small world of one subject and one protected person, positions
placed by bearing and distance, and the time handed in as seconds after a fixed instant.

Kept out of conftest so tests can import the helpers by name (the module name is unique on purpose:
the test tree has no packages, so basenames share one namespace)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.domain import geo
from vigil.domain.alerts import Alert, AlertChange, AlertKind, Change
from vigil.domain.model import (
    Circle,
    Device,
    DeviceEvent,
    DeviceKind,
    EventKind,
    Fix,
    FixSource,
    Order,
    PersonKind,
    Schedule,
    Zone,
    ZoneKind,
)
from vigil.rules.engine import Engine
from vigil.rules.tuning import Tuning

# Monday 2026-05-11 12:00 in Seoul.
T0 = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)

SUBJECT = "subject-1"
VICTIM = "victim-1"
ANKLE = "ankle-1"
PHONE = "phone-1"
WATCH = "watch-1"
ORDER_ID = "order-1"

HOME = (37.5663, 126.9779)  # the protected person's home: Seoul City Hall
FAR = (37.4979, 127.0276)  # about 8.8 km away: Gangnam station

ANKLE_MONITOR = Device(ANKLE, DeviceKind.ANKLE_MONITOR, SUBJECT, PersonKind.SUBJECT)
VICTIM_PHONE = Device(PHONE, DeviceKind.PHONE, VICTIM, PersonKind.PROTECTED_PERSON)
VICTIM_WATCH = Device(WATCH, DeviceKind.SMARTWATCH, VICTIM, PersonKind.PROTECTED_PERSON)
DEVICES = (ANKLE_MONITOR, VICTIM_PHONE, VICTIM_WATCH)
# The same, but with an ankle monitor whose silence (and want of a position) never matters here, so
# the only deadlines on the engine's timer are schedule and order boundaries.
QUIET = (
    replace(ANKLE_MONITOR, silence_limit_s=30 * 86400.0, location_limit_s=30 * 86400.0),
    VICTIM_PHONE,
    VICTIM_WATCH,
)

Point = tuple[float, float]


def at(seconds: float) -> datetime:
    """The instant `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def near(distance_m: float, bearing: float = 45.0, origin: Point = HOME) -> Point:
    """The point `distance_m` from `origin` along `bearing` (default north-east of home)."""
    return geo.destination(origin[0], origin[1], bearing, distance_m)


def fix(
    device: str,
    when: datetime,
    where: Point,
    *,
    acc: float | None = None,
    speed: float | None = None,
    heading: float | None = None,
    source: FixSource = FixSource.GNSS,
    battery: float | None = None,
) -> Fix:
    return Fix(
        device_id=device,
        time=when,
        lat=where[0],
        lon=where[1],
        accuracy_m=acc,
        speed_mps=speed,
        heading_deg=heading,
        source=source,
        battery_pct=battery,
    )


def order(
    *,
    violation: float = 100.0,
    warning: float = 500.0,
    zones: tuple[Zone, ...] = (),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    order_id: str = ORDER_ID,
) -> Order:
    return Order(
        id=order_id,
        subject_id=SUBJECT,
        protected_person_id=VICTIM,
        violation_distance_m=violation,
        warning_distance_m=warning,
        valid_from=valid_from,
        valid_until=valid_until,
        zones=zones,
    )


def circle_zone(
    zone_id: str,
    centre: Point,
    radius_m: float,
    kind: ZoneKind = ZoneKind.EXCLUSION,
    *,
    subject_id: str | None = SUBJECT,
    schedule: Schedule | None = None,
    label: str = "",
) -> Zone:
    return Zone(
        id=zone_id,
        kind=kind,
        shape=Circle(centre[0], centre[1], radius_m),
        label=label,
        subject_id=subject_id,
        schedule=schedule,
    )


class World:
    """An engine with the three standard devices registered and, unless told otherwise, the standard
    order in force from before T0. Inputs are handed their time; by default received on time."""

    def __init__(
        self,
        the_order: Order | None = None,
        *,
        tuning: Tuning | None = None,
        with_order: bool = True,
        devices: Iterable[Device] = DEVICES,
    ) -> None:
        self.engine = Engine(tuning)
        for device in devices:
            self.engine.put_device(device)
        self.log: list[AlertChange] = []
        if with_order:
            self.record(self.engine.put_order(the_order or order(), at(-3600)))

    def record(self, changes: list[AlertChange]) -> list[AlertChange]:
        self.log += changes
        return changes

    def report(
        self,
        device: str,
        seconds: float,
        where: Point,
        *,
        received: float | None = None,
        acc: float | None = None,
        speed: float | None = None,
        heading: float | None = None,
        source: FixSource = FixSource.GNSS,
        battery: float | None = None,
        followed: bool = False,
    ) -> list[AlertChange]:
        """A fix measured at T0+seconds, received (and processed) at T0+received (default: at once);
        `followed`: a newer fix of the device comes in the same batch."""
        got = at(seconds if received is None else received)
        measured = fix(
            device, at(seconds), where, acc=acc, speed=speed, heading=heading, source=source, battery=battery
        )
        return self.record(self.engine.on_fix(measured, got, got, followed=followed))

    def subject(self, seconds: float, where: Point, **kw: Any) -> list[AlertChange]:
        return self.report(ANKLE, seconds, where, **kw)

    def victim(self, seconds: float, where: Point = HOME, **kw: Any) -> list[AlertChange]:
        return self.report(PHONE, seconds, where, **kw)

    def event(
        self, device: str, seconds: float, kind: EventKind, where: Point | None = None
    ) -> list[AlertChange]:
        when = at(seconds)
        located = None if where is None else fix(device, when, where)
        return self.record(self.engine.on_event(DeviceEvent(device, when, kind, located), when, when))

    def tick(self, when: datetime) -> list[AlertChange]:
        return self.record(self.engine.tick(when))

    def open_alerts(self) -> list[Alert]:
        return list(self.engine.book)

    def only_alert(self) -> Alert:
        alerts = self.open_alerts()
        assert len(alerts) == 1, alerts
        return alerts[0]


def heartbeats(w: World, start: datetime, end: datetime, every_s: float = 60.0) -> list[AlertChange]:
    """His monitor's heartbeats (no position) at start, start+every_s, ... before end, each moment's
    tick run before its heartbeat: the changes they brought."""
    out: list[AlertChange] = []
    t = start
    while t < end:
        out += w.tick(t)
        out += w.record(w.engine.on_heard(ANKLE, t, t))
        t += timedelta(seconds=every_s)
    return out


def summary(changes: Iterable[AlertChange]) -> list[tuple[Change, AlertKind]]:
    """What happened, compactly: [(change, kind), ...]."""
    return [(c.change, c.alert.kind) for c in changes]


def kinds(changes: Iterable[AlertChange]) -> list[Change]:
    return [c.change for c in changes]
