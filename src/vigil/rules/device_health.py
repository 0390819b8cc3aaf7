"""Device health: tamper, battery, power and SOS, straight from what the device says (and a
device_conflict, which the gateway says about it).

Alarms never depend on position quality: an event with no fix (or a bad one) still raises, and the
alert carries the best position known, marked with its age.
"""

from __future__ import annotations

from datetime import datetime

from vigil.domain.alerts import AlertKey, AlertKind, Facts, Signal
from vigil.domain.model import TAMPER_EVENTS, Device, DeviceEvent, EventKind, Fix, PersonKind
from vigil.domain.track import position

_RAISES: dict[EventKind, tuple[str, AlertKind]] = {
    **{kind: ("tamper", AlertKind.TAMPER) for kind in TAMPER_EVENTS},
    EventKind.BATTERY_LOW: ("battery", AlertKind.BATTERY_LOW),
    EventKind.POWER_OFF: ("power", AlertKind.POWER_OFF),
    EventKind.SOS: ("sos", AlertKind.SOS),
    EventKind.DEVICE_CONFLICT: ("conflict", AlertKind.DEVICE_CONFLICT),
}
_ENDS: dict[EventKind, tuple[str, AlertKind]] = {
    EventKind.CHARGING: ("battery", AlertKind.BATTERY_LOW),
}


def on_event(event: DeviceEvent, device: Device, where: Fix | None, now: datetime) -> Signal | None:
    """The signal an event raises or ends, if any; `where` is the event's own fix or the latest known."""
    person = device.person_id
    if person is None:
        return None
    raised = _RAISES.get(event.kind)
    ended = _ENDS.get(event.kind)
    if raised is None and ended is None:
        return None
    family, kind = raised or ended  # type: ignore[misc]
    pos = None if where is None else position(where, now)
    is_subject = device.person_kind is PersonKind.SUBJECT
    facts = Facts(
        subject_position=pos if is_subject else None,
        protected_position=None if is_subject else pos,
        device_id=device.id,
        event=event.kind.value,
        occurred_at=event.time,  # as judged: the receipt time when the device's clock was not believed
        clock_suspect=event.clock_suspect,
    )
    return Signal(
        key=AlertKey(family, person, device.id),
        kind=kind,
        active=raised is not None,
        onset=raised is not None,
        facts=facts,
        subject_id=person if is_subject else None,
        protected_person_id=None if is_subject else person,
    )


def battery(device: Device, fix: Fix, low: bool, low_pct: float, ok_pct: float) -> tuple[bool, Signal | None]:
    """Battery level reported with fixes, with hysteresis between low and ok."""
    pct = fix.battery_pct
    if pct is None or device.person_id is None:
        return low, None
    now_low = pct <= low_pct or (low and pct < ok_pct)
    if now_low == low:
        return low, None
    event = DeviceEvent(device.id, fix.time, EventKind.BATTERY_LOW if now_low else EventKind.CHARGING)
    return now_low, on_event(event, device, fix, fix.time)
