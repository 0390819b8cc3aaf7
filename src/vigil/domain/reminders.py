"""When an order about to end reminds both agencies (issue 18). Pure: handed the order's end, the
time and the reminders already sent for that end, it says whether one is due now.

A reminder goes at each lead time before the order's `valid_until` (14 days and 3 days by default):
long enough for probation to ask the court for an extension and for the police to tell her, and a
last call. Reminders are keyed by the end they are about: an extension (a new `valid_until`) starts
a new series, so the new end is reminded of in its turn, and the old end's reminders no longer
stand. A sweep that was not running when a lead time passed sends it at its next run (a lead time
is due from the moment it is reached until the order ends, not at one exact minute). When several
lead times are reached at once (an order made with two days left, a server down for a week), one
reminder goes, for the nearest lead time, and the longer ones are marked as covered by it: two
messages about the same end at the same minute would only be noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

LEAD_DAYS = (14, 3)  # the default lead times, in days before valid_until


@dataclass(frozen=True, slots=True)
class Due:
    lead_days: int  # the lead time this reminder is sent for (the nearest one reached)
    covers: tuple[int, ...]  # every lead time it marks as sent (itself and longer ones not yet sent)
    days_left: int  # whole days until the end (0: it ends within a day)


def due(
    now: datetime,
    valid_until: datetime | None,
    ended_at: datetime | None,
    sent: Iterable[int],
    lead_days: Iterable[int] = LEAD_DAYS,
) -> Due | None:
    """The reminder due now for an order ending at `valid_until`, given the lead times already sent
    for that same end; None when nothing is due (no end, ended or lapsed already, no lead time
    reached, or every reached one sent)."""
    if valid_until is None or ended_at is not None or valid_until <= now:
        return None
    left = valid_until - now
    reached = sorted(d for d in set(lead_days) if d > 0 and left <= timedelta(days=d))
    if not reached:
        return None
    done = set(sent)
    if reached[0] in done:
        # The nearest lead time reached was reminded of already: anything longer is older news.
        return None
    return Due(
        lead_days=reached[0],
        covers=tuple(d for d in reached if d not in done),
        days_left=left.days,
    )
