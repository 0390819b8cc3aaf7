"""Weekly schedules in local time: is a zone's schedule active now, and when does that next change.

Windows are wall-clock times in the schedule's zone, so DST needs a rule. The rule here: a
boundary takes effect at the first instant the local clock has shown that wall time (or a later
one). Concretely:

- Spring-forward gap (Berlin 02:00 -> 03:00): a boundary inside the skipped hour, say 02:30, takes
  effect when the clock jumps over it, i.e. at 03:00 summer time. A curfew starting 02:30 starts
  at the jump; one ending 02:30 ends at the jump. Nothing is silently skipped.
- Fall-back fold (Berlin 03:00 -> 02:00): a boundary inside the repeated hour takes effect at its
  first showing, and the repeat does not undo it. A curfew starting 02:30 starts at 02:30 summer
  time and stays on through the repeated hour.

So every window occurrence is one unbroken run of instants and nothing flaps on or off during a
fold, which matters more for a monitoring system than matching the clock face minute by minute.
A window is a span of wall-clock days, so "22:00-06:00" lasts 7 or 9 real hours across a DST
night, and a start == end window lasts 23 or 25 real hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from vigil.domain.model import WEEKDAYS, Schedule, Weekday

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_DAY_BITS = {day: 1 << i for i, day in enumerate(WEEKDAYS)}  # bit i = date.weekday() == i

# (start-day mask, start, end, runs past midnight)
_Window = tuple[int, time, time, bool]


def is_active(schedule: Schedule | None, at: datetime) -> bool:
    """True when `at` (aware) falls inside one of the schedule's windows in its time zone.

    None or a schedule without windows is always active."""
    _require_aware(at, "at")
    if schedule is None or not schedule.windows:
        return True
    tz, windows = _compile(schedule)
    return _active_at_wall(windows, _wall_reached(tz, at))


def next_change(schedule: Schedule | None, after: datetime) -> datetime | None:
    """The first instant strictly after `after` at which is_active flips, in UTC; None if it never does."""
    _require_aware(after, "after")
    if schedule is None or not schedule.windows:
        return None
    tz, windows = _compile(schedule)
    base = after.astimezone(tz).date()

    # Every flip happens at some window boundary. Activity is constant between consecutive
    # boundaries, so the first boundary whose state differs from the state at `after` is the flip;
    # that skips boundaries between merged windows. The pattern repeats weekly, so a day before to
    # eight days after nearly always holds the flip; the second week is only scanned when it does
    # not, for schedules that never flip and calendars that skipped a day (Samoa, 2011-12-30).
    state = _active_at_wall(windows, _wall_reached(tz, after))
    for first, stop in ((-1, 9), (9, 16)):
        candidates: set[datetime] = set()
        for offset in range(first, stop):
            day = base + timedelta(days=offset)
            bit = 1 << day.weekday()
            for mask, start, end, overnight in windows:
                if mask & bit:
                    candidates.add(_first_reached(tz, datetime.combine(day, start)))
                    end_day = day + _DAY if overnight else day
                    candidates.add(_first_reached(tz, datetime.combine(end_day, end)))
        # Boundaries from the first pass all kept `state`, so a flip found in the second pass is
        # still the earliest even where the two interleave.
        for instant in sorted(c for c in candidates if c > after):
            if _active_at_wall(windows, _wall_reached(tz, instant)) != state:
                return instant
    return None


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


@lru_cache(maxsize=1024)
def _compile(schedule: Schedule) -> tuple[ZoneInfo, tuple[_Window, ...]]:
    windows: list[_Window] = []
    for w in schedule.windows:
        if w.start.tzinfo is not None or w.end.tzinfo is not None:
            raise ValueError(f"schedule window times must be naive local times: {w!r}")
        mask = 0
        for day in w.days:
            mask |= _DAY_BITS[Weekday(day)]  # tolerates plain "mon" strings
        # A window time is a plain wall-clock reading; a stray fold=1 on it would leak into
        # datetime.combine and pick the wrong occurrence of an ambiguous time.
        start = w.start.replace(fold=0)
        end = w.end.replace(fold=0)
        windows.append((mask, start, end, end <= start))
    return _zone(schedule.timezone), tuple(windows)


@lru_cache(maxsize=64)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def _active_at_wall(windows: tuple[_Window, ...], wall: datetime) -> bool:
    """Whether local wall time `wall` lies in a window; any tzinfo on it is ignored."""
    weekday = wall.weekday()
    today = 1 << weekday
    yesterday = 1 << ((weekday - 1) % 7)
    clock = wall.time()
    for mask, start, end, overnight in windows:
        if overnight:
            if (mask & today and clock >= start) or (mask & yesterday and clock < end):
                return True
        elif mask & today and start <= clock < end:
            return True
    return False


def _wall_reached(tz: ZoneInfo, at: datetime) -> datetime:
    """The latest local wall time the clock has shown up to `at`; only its fields are meaningful.

    That is the local time itself, except during the second pass of a fall-back fold, where it is
    the wall time just before the clock was turned back."""
    local = at.astimezone(tz)
    if not local.fold:
        return local
    first_pass = local.replace(fold=0).astimezone(UTC)
    now = local.astimezone(UTC)
    if first_pass == now:
        return local
    turned_back = _transition(tz, first_pass, now)
    return (turned_back - _TICK).astimezone(tz).replace(tzinfo=None)


def _first_reached(tz: ZoneInfo, wall: datetime) -> datetime:
    """The first instant, in UTC, at which the local clock has shown `wall` (naive) or later."""
    # PEP 495: fold=0 maps with the offset in force before a transition and fold=1 after it. In a
    # fold that makes fold=0 the earlier of two real instants; in a gap it makes it the later of
    # two instants that both lie outside the gap, with the jump itself between them.
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early <= late:
        return early
    return _transition(tz, late, early)


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant between `before` and `after` (UTC) where the UTC offset changes to `after`'s.

    tzdata puts every transition on a whole second, so bisecting whole seconds finds it exactly;
    this runs only around a DST change, so its few dozen conversions are of no concern."""
    target = after.astimezone(tz).utcoffset()
    lo = (before - _EPOCH) // _SECOND
    hi = -((_EPOCH - after) // _SECOND)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (_EPOCH + mid * _SECOND).astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return _EPOCH + hi * _SECOND
