"""Silence: a device that stops reporting. Time-driven: the engine sets a deadline per device and a
clock tick at that deadline raises signal_loss; the next message from the device clears it.

The silence allowed follows the device's reporting interval: a device set to report every 300 s
must not be "silent" between two of its own reports (with a flat 300 s limit its signal_loss cleared
and re-opened on every report). The interval is the configured one, else learned from the gaps
between the messages it sends (`Cadence`)."""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime, timedelta

from vigil.domain.alerts import AlertKey, AlertKind, Facts, Signal
from vigil.domain.model import Device, DeviceKind, Fix, PersonKind
from vigil.domain.track import position
from vigil.rules.tuning import Tuning

FAMILY = "signal"


class Cadence:
    """How often one device reports, learned from the gaps between its messages' arrivals.

    The low median of the last few gaps: one outage (a single long gap) or one burst (a batch
    arriving at once, gaps under a second, which are not counted) does not move it, while a device
    switched from 60 s to 300 s reporting is followed within a few reports. Low, so that two gaps
    known (the least taken) give the shorter one: an outage in a device's first minutes must not
    stretch its silence limit."""

    def __init__(self, keep: int) -> None:
        self._gaps: deque[float] = deque(maxlen=keep)
        self._last: datetime | None = None
        self._median: float | None = None  # of the gaps held; asked for on every message, so kept

    def heard(self, at: datetime) -> None:
        if self._last is not None and at > self._last:
            gap = (at - self._last).total_seconds()
            if gap >= 1.0:
                self._gaps.append(gap)
                self._median = None
        if self._last is None or at > self._last:
            self._last = at

    def shortest(self) -> float | None:
        """The shortest gap held, None before the first."""
        return min(self._gaps) if self._gaps else None

    def interval(self, least: int) -> float | None:
        """The learned interval; None until `least` gaps are known."""
        if len(self._gaps) < max(1, least):
            return None
        if self._median is None:
            self._median = float(statistics.median_low(self._gaps))
        return self._median


def interval(device: Device, learned: float | None) -> float | None:
    """The device's reporting interval: as configured, else as learned (None: not known yet)."""
    return device.report_interval_s if device.report_interval_s is not None else learned


def silence_limit(device: Device, tuning: Tuning, learned: float | None = None) -> float | None:
    """Seconds of silence allowed; ankle monitors are watched by default, victims' devices are not.
    Never less than `tuning.silence_intervals` reporting intervals: a report or two lost in a row (a
    lift, a tunnel, a retry) is not an outage, and a slow reporter is not silent between reports."""
    if device.silence_limit_s is not None:
        base = device.silence_limit_s
    elif device.kind is DeviceKind.ANKLE_MONITOR:
        base = tuning.default_silence_s
    else:
        return None
    every = interval(device, learned)
    return base if every is None else max(base, tuning.silence_intervals * every)


def deadline(
    device: Device, heard_at: datetime, tuning: Tuning, learned: float | None = None
) -> datetime | None:
    limit = silence_limit(device, tuning, learned)
    if limit is None or device.person_id is None:
        return None
    return heard_at + timedelta(seconds=limit)


def signal(device: Device, active: bool, heard_at: datetime, last_fix: Fix | None, now: datetime) -> Signal:
    return device_signal(device, FAMILY, AlertKind.SIGNAL_LOSS, active, last_fix, heard_at, now)  # last heard


def device_signal(
    device: Device, family: str, kind: AlertKind, active: bool, where: Fix | None,
    occurred_at: datetime | None, now: datetime,
) -> Signal:  # fmt: skip
    """A verdict about one device of a person (silence, location loss): keyed by the device, with the
    person's side of the facts set from the position it was last placed at."""
    person = device.person_id or ""
    is_subject = device.person_kind is PersonKind.SUBJECT
    pos = None if where is None else position(where, now)
    return Signal(
        key=AlertKey(family, person, device.id),
        kind=kind,
        active=active,
        onset=active,
        facts=Facts(
            subject_position=pos if is_subject else None,
            protected_position=None if is_subject else pos,
            device_id=device.id,
            occurred_at=occurred_at,
        ),
        subject_id=person if is_subject else None,
        protected_person_id=None if is_subject else person,
    )
