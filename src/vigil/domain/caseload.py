"""A probation officer's load, and an order that will soon lapse: the two figures both agencies read
beside a case (issue 18). Pure: handed counts and times, it answers.

The load is the number of subjects an officer supervises against the guideline of 10 per officer;
the field average in Korea is 21.6, so an officer's figure is read against both. An order "expires
soon" when its `valid_until` falls within the reminder window (14 days by default): the time a
probation officer needs to ask the court for an extension and the police to tell her. The figure
is computed when read, not raised as an alert: it needs no one to act on it at once. The messages
to both agencies at each lead time are the sweep's (domain/reminders.py, store/reminders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GUIDELINE = 10  # subjects per probation officer (the Ministry of Justice's guideline)
FIELD_AVERAGE = 21.6  # what officers carry in practice
REMINDER_DAYS = 14  # an order ending within this many days is shown as expiring soon
RECENT_DAYS = 7  # "recent" alerts in a caseload view


@dataclass(frozen=True, slots=True)
class Load:
    subjects: int
    ratio: float  # subjects over the guideline (1.0: at it)
    over_guideline: bool
    over_field_average: bool


def load(subjects: int) -> Load:
    return Load(
        subjects=subjects,
        ratio=round(subjects / GUIDELINE, 2),
        over_guideline=subjects > GUIDELINE,
        over_field_average=subjects > FIELD_AVERAGE,
    )


@dataclass(frozen=True, slots=True)
class Expiry:
    in_force: bool  # started and not ended or lapsed
    days_left: int | None  # whole days until valid_until (0: today); None: no end date
    expires_soon: bool


def expiry(
    now: datetime,
    valid_from: datetime | None,
    valid_until: datetime | None,
    ended_at: datetime | None,
    within_days: int = REMINDER_DAYS,
) -> Expiry:
    """Where an order stands now: in force or not, and whether its end is within `within_days`.
    An ended or lapsed order expires no more (nothing to remind of)."""
    lapsed = ended_at is not None or (valid_until is not None and valid_until <= now)
    started = valid_from is None or valid_from <= now
    if valid_until is None or lapsed:
        return Expiry(in_force=started and not lapsed, days_left=None, expires_soon=False)
    left = valid_until - now
    return Expiry(
        in_force=started,
        days_left=left.days,
        expires_soon=left <= timedelta(days=within_days),
    )
