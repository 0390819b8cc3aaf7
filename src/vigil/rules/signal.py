"""Silence: a device that stops reporting. Time-driven: the engine sets a deadline per device and a
clock tick at that deadline raises signal_loss; the next message from the device clears it."""

from __future__ import annotations

from datetime import datetime, timedelta

from vigil.domain.alerts import AlertKey, AlertKind, Facts, Signal
from vigil.domain.model import Device, DeviceKind, Fix, PersonKind
from vigil.domain.track import position
from vigil.rules.tuning import Tuning

FAMILY = "signal"


def silence_limit(device: Device, tuning: Tuning) -> float | None:
    """Seconds of silence allowed; ankle monitors are watched by default, victims' devices are not."""
    if device.silence_limit_s is not None:
        return device.silence_limit_s
    if device.kind is DeviceKind.ANKLE_MONITOR:
        return tuning.default_silence_s
    return None


def deadline(device: Device, heard_at: datetime, tuning: Tuning) -> datetime | None:
    limit = silence_limit(device, tuning)
    if limit is None or device.person_id is None:
        return None
    return heard_at + timedelta(seconds=limit)


def signal(device: Device, active: bool, heard_at: datetime, last_fix: Fix | None, now: datetime) -> Signal:
    person = device.person_id or ""
    is_subject = device.person_kind is PersonKind.SUBJECT
    pos = None if last_fix is None else position(last_fix, now)
    return Signal(
        key=AlertKey(FAMILY, person, device.id),
        kind=AlertKind.SIGNAL_LOSS,
        active=active,
        onset=active,
        facts=Facts(
            subject_position=pos if is_subject else None,
            protected_position=None if is_subject else pos,
            device_id=device.id,
            occurred_at=heard_at,  # last heard
        ),
        subject_id=person if is_subject else None,
        protected_person_id=None if is_subject else person,
    )
