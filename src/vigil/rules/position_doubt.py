"""Repeated implausible positions from one person: the account (or device) may be in someone else's
hands. An operator's alarm, never a push to dispatch (dispatch/routing.INTERNAL).

One implausible position is a glitch and only stored with its doubt; `doubt_alert_count` of them
within `doubt_alert_window_s` raise `position_doubt`, one open alert per person, updated with every
further doubt while it is open. The condition ends when the count within the window falls below the
threshold again (seen at the person's next report, trusted or not); as with every alert, a person
closes it. The alert carries no position: what was claimed is not believed, and the alert must not
place her in anyone's jurisdiction (dispatchers see alerts by where their parties stand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.domain.alerts import AlertKey, AlertKind, Facts, Signal
from vigil.domain.model import Device, PersonKind
from vigil.domain.plausibility import Doubt
from vigil.rules.tuning import Tuning

FAMILY = "position_doubt"


@dataclass(frozen=True, slots=True)
class DoubtState:
    """A person's recent doubts (receipt times, within the window) and whether the alarm is raised."""

    times: tuple[datetime, ...] = ()
    raised: bool = False


def key(person_id: str) -> AlertKey:
    return AlertKey(FAMILY, person_id, person_id)


def doubted(
    state: DoubtState, device: Device, doubt: Doubt, at: datetime, tuning: Tuning
) -> tuple[DoubtState, Signal | None]:
    """One more implausible position, received at `at`. The signal is active (and an onset) once the
    count within the window reaches the threshold; the engine decides whether an onset may reopen."""
    times = (*_recent(state.times, at, tuning), at)
    count = len(times)
    if count < tuning.doubt_alert_count:
        return DoubtState(times, False), (
            _signal(device, False, count, doubt, at, tuning) if state.raised else None
        )
    return DoubtState(times, True), _signal(device, True, count, doubt, at, tuning)


def trusted(
    state: DoubtState, device: Device, at: datetime, tuning: Tuning
) -> tuple[DoubtState, Signal | None]:
    """A believed position at `at`: the alarm ends once the doubts within the window are too few."""
    times = _recent(state.times, at, tuning)
    if not state.raised or len(times) >= tuning.doubt_alert_count:
        return DoubtState(times, state.raised), None
    return DoubtState(times, False), _signal(device, False, len(times), None, at, tuning)


def _recent(times: tuple[datetime, ...], at: datetime, tuning: Tuning) -> tuple[datetime, ...]:
    since = at - timedelta(seconds=tuning.doubt_alert_window_s)
    return tuple(t for t in times if t > since)


def _signal(
    device: Device, active: bool, count: int, doubt: Doubt | None, at: datetime, tuning: Tuning
) -> Signal:
    person = device.person_id or ""
    is_subject = device.person_kind is PersonKind.SUBJECT
    minutes = tuning.doubt_alert_window_s / 60
    if active:
        assert doubt is not None
        text = (
            f"{count} implausible positions within {minutes:g} min from device {device.id}: "
            f"the account may be in someone else's hands. Latest: {doubt.reason}"
        )
    else:
        text = f"fewer than {tuning.doubt_alert_count} implausible positions within {minutes:g} min"
    return Signal(
        key=key(person),
        kind=AlertKind.POSITION_DOUBT,
        active=active,
        onset=active,
        facts=Facts(device_id=device.id, event=text, occurred_at=at),
        subject_id=person if is_subject else None,
        protected_person_id=None if is_subject else person,
    )
