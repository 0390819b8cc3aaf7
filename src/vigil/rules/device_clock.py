"""Whether a device's own time for a report is believed, and at what time a report is judged.

Device clocks drift, a GPS receiver can report a wrong week after a rollover or a cold start, and a
forged report may carry any time at all. None of that may cost an alarm, and none of it may make a
position count at a moment it was not taken. A report's time is believed unless it is

- ahead by more than `clock_future_s`, counted from the later of the server's clock and the newest
  receipt (so a server clock stepped backwards does not make every device look like it is in the
  future);
- older than the device's own last message by more than `clock_behind_s` (a reset or a rollover: a
  late batch is seldom sent newest first a day apart);
- or garbage: before 2000, or more than a year ahead, which no working clock says;
- or steadily behind (`steady_lag`): reports sent one at a time, each as far behind its receipt as
  the last, by more than `clock_lag_s`. A clock 3 hours slow made every live fix "a late upload",
  judged 3 hours in the past: an approach to 50 m was never a violation.

A report whose time is not believed is judged at its receipt time, and says so (`ClockSuspect`, with
both times). What follows from the verdict (an alarm is always taken; a fix whose time is garbage is
refused) is the processor's to apply, so that every ingest path, today's and tomorrow's, meets the
same rule in the one place they all go through. Pure: the times are handed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from vigil.domain.model import ClockDoubt
from vigil.rules.tuning import Tuning

GARBAGE_BEFORE = datetime(2000, 1, 1, tzinfo=UTC)
GARBAGE_AHEAD = timedelta(days=366)
# A claimed time is kept as evidence within these bounds, so that every backend, in any session time
# zone, can read it back (year 1 in a zone west of UTC would be year 0, which Python has not).
KEPT_FROM = datetime(2, 1, 1, tzinfo=UTC)
KEPT_UNTIL = datetime(9998, 12, 31, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


def _later(at: datetime, delta: timedelta) -> datetime:
    try:
        return at + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


class Receipt:
    """The bounds for the reports of one receipt: built once per request, then asked per report (the
    hot path asks for every fix, so the edges are computed here once)."""

    __slots__ = ("_behind", "_future", "_garbage_after", "received_at")

    def __init__(self, received_at: datetime, newest_receipt: datetime | None, tuning: Tuning) -> None:
        reference = received_at
        if newest_receipt is not None and newest_receipt > received_at:
            reference = newest_receipt
        self.received_at = received_at
        self._future = _later(reference, timedelta(seconds=tuning.clock_future_s))
        self._garbage_after = _later(reference, GARBAGE_AHEAD)
        self._behind = timedelta(seconds=tuning.clock_behind_s)

    def doubt(self, claimed: datetime, last_message: datetime | None) -> ClockDoubt | None:
        """Why `claimed` is not believed for a device last heard of at `last_message` (the time its
        newest stored report was judged at), or None when it is."""
        if claimed < GARBAGE_BEFORE or claimed > self._garbage_after:
            return ClockDoubt.GARBAGE
        if claimed > self._future:
            return ClockDoubt.FUTURE
        if last_message is not None and last_message - claimed > self._behind:
            return ClockDoubt.BEHIND
        return None


def doubt(
    claimed: datetime,
    received_at: datetime,
    last_message: datetime | None,
    tuning: Tuning,
    newest_receipt: datetime | None = None,
) -> ClockDoubt | None:
    """The verdict for one report: see `Receipt.doubt`."""
    return Receipt(received_at, newest_receipt, tuning).doubt(claimed, last_message)


def steady_lag(
    previous: tuple[datetime, float] | None, received_at: datetime, lag_s: float, tuning: Tuning
) -> bool:
    """Whether a report its device sent alone, `lag_s` seconds behind its receipt, shows a clock
    running behind rather than a late report: the device's previous report, also sent alone
    (`previous`: its receipt and lag), lagged as much, and not in the same burst. A backlog sent a
    fix per message comes in quick succession, the lag shrinking by the interval at each."""
    if previous is None or lag_s <= tuning.clock_lag_s:
        return False
    then, lag_then = previous
    return (received_at - then).total_seconds() >= tuning.clock_steady_gap_s and abs(
        lag_s - lag_then
    ) <= tuning.clock_steady_s


def kept(claimed: datetime) -> datetime:
    """The claimed time as it is stored and compared (clamped to what every store can read back)."""
    return min(max(claimed, KEPT_FROM), KEPT_UNTIL)


def judged_times(claims: Sequence[datetime], received_at: datetime, tuning: Tuning) -> list[datetime]:
    """When one device's doubted reports of one request are judged: the newest claim at receipt, each
    other one as long before it as the device said (a wrong clock still counts the intervals right,
    so a buffered track keeps its shape and speeds), unless that is more than `clock_behind_s` (a
    clock that jumped within the request): then at receipt. No two share an instant, which the store
    keeps for one report per device: a tie moves back by a microsecond."""
    if len(claims) == 1:
        return [received_at]
    newest = max(claims)
    spread = timedelta(seconds=tuning.clock_behind_s)
    taken: set[datetime] = set()
    judged: list[datetime] = []
    for claimed in claims:
        gap = newest - claimed
        at = received_at - gap if gap <= spread else received_at
        while at in taken:
            at -= _TICK
        taken.add(at)
        judged.append(at)
    return judged
