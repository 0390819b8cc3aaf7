"""Ground truth from true positions, and a score of a run's alerts against it.

What is true (never what devices reported):
  * proximity violations: per order, each interval in which the true distance between subject and
    protected person was at most the order's violation distance, starting at the true crossing;
  * zone violations: the subject truly inside an order's exclusion zone, or truly outside his curfew
    zone while its schedule is active;
  * events: what the devices truly sent (tamper, SOS, battery low, power off), and silences of an
    ankle monitor longer than the server's limit, from the receiver's point of view.

Violations are found by scanning each watched margin (distance minus threshold) in adaptive steps:
the margin cannot change faster than the combined top speed of the people involved, so a step of
margin / top-speed can never skip a crossing; near the line the step shrinks to 1 s, and a crossing
is placed by bisection to within 1 s.

`score(truth, alerts)` matches replay-format alert lines against the truth; see its docstring.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigil_sim.movement import DAY_S, MAX_SPEED_MPS, Position, day_of, day_start, separation, weekday

MAX_STEP_S = 600.0
INSIDE_STEP_S = 10.0
EARLY_S = 300.0  # an alert up to 5 min before the true crossing still detects it (accuracy leans early)
FALSE_WINDOW_S = 300.0  # a violation alert with no true violation within +-5 min is false
EVENT_WINDOW_S = 300.0  # an event's alert must come within 5 min

PROXIMITY = "proximity_violation"
ZONE = "zone_violation"
EVENT_ALERTS = {
    "strap_cut": "tamper",
    "strap_open": "tamper",
    "case_open": "tamper",
    "removal": "tamper",
    "sos": "sos",
    "battery_low": "battery_low",
    "power_off": "power_off",
}


# --- what is true --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrueViolation:
    kind: str  # the alert kind that should report it: proximity_violation or zone_violation
    subject_id: str
    protected_person_id: str | None
    order_id: str | None
    zone_id: str | None
    start: datetime  # the true crossing
    end: datetime | None  # None: still going on at the end of the run
    depth_m: float  # how far past the line it went (metres), as sampled every 10 s: a lower bound


@dataclass(frozen=True, slots=True)
class TrueEvent:
    alert_kind: str  # tamper, sos, battery_low, power_off, signal_loss
    event: str  # the device event, or "silence"
    device_id: str
    person_id: str
    is_subject: bool
    at: datetime
    end: datetime | None = None  # silences: when the device was heard again (None: not yet)


@dataclass(frozen=True, slots=True)
class TrueIncident:
    kind: str
    subject_id: str
    protected_person_id: str | None
    device_id: str
    start: datetime
    end: datetime
    forced: bool


@dataclass(frozen=True, slots=True)
class TrueBlind:
    """The subject's only body-worn device was cut off and lay elsewhere: from `start` (the cut) to
    `end` nothing tells where he is, and the tamper alert is what reports it."""

    subject_id: str
    device_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Truth:
    start: datetime
    until: datetime
    subjects: int
    interval_s: float  # normal reporting interval, for the detection window
    violations: tuple[TrueViolation, ...]
    events: tuple[TrueEvent, ...]
    incidents: tuple[TrueIncident, ...]
    blind: tuple[TrueBlind, ...] = ()
    # person -> the longest interval their body-worn devices report at (default: interval_s)
    intervals: Mapping[str, float] = field(default_factory=dict)

    def interval_of(self, person_id: str | None) -> float:
        if person_id is None:
            return self.interval_s
        return self.intervals.get(person_id, self.interval_s)

    def blind_at(self, subject_id: str, at: datetime) -> TrueBlind | None:
        """The window in which the subject's monitor lay cut off, if `at` is in one."""
        for b in self.blind:
            if b.subject_id == subject_id and b.start <= at < b.end:
                return b
        return None

    def excused(self, v: TrueViolation) -> bool:
        """A violation that starts after his monitor was cut off is not expected of the position
        rules: the device no longer tells where he is. The tamper alert reports that danger."""
        return self.blind_at(v.subject_id, v.start) is not None

    @property
    def subject_days(self) -> float:
        return self.subjects * (self.until - self.start).total_seconds() / DAY_S

    @property
    def proximity_violations(self) -> tuple[TrueViolation, ...]:
        return tuple(v for v in self.violations if v.kind == PROXIMITY)

    @property
    def zone_violations(self) -> tuple[TrueViolation, ...]:
        return tuple(v for v in self.violations if v.kind == ZONE)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- scanning ------------------------------------------------------------------------------------

Margin = Callable[[float], tuple[float, float, float]]
"""At epoch second t: (signed margin, how fast it can change right now in m/s, until when that rate
holds). Margin > 0 is compliant, <= 0 a violation, math.inf when not watched (off schedule)."""

Boundary = Callable[[float], float]
"""The next instant after t at which watching starts or stops (schedules), or math.inf."""


@dataclass(slots=True)
class Scanner:
    """Finds the intervals where a margin is <= 0, scanning forward in adaptive steps.

    The step is as long as the margin provably cannot reach zero: |margin| / rate, where the rate is
    the current one (0 when everybody involved stands still) until it may change, and the worst case
    `rate` after that. People at home all night cost one step, not one per minute."""

    margin: Margin
    rate: float  # the fastest the margin can ever change, m/s
    t: float  # next instant to look at
    boundary: Boundary | None = None
    prev: float | None = None
    since: float | None = None
    depth: float = 0.0
    found: list[tuple[float, float | None, float]] = field(default_factory=list)  # (start, end, depth)

    def run(self, until: float) -> None:
        while self.t <= until:
            t = self.t
            m, rate_now, held_until = self.margin(t)
            bad = m <= 0.0
            if bad != (self.since is not None):
                at = t if self.prev is None else self._crossing(self.prev, t, bad)
                if bad:
                    self.since, self.depth = at, -m
                else:
                    assert self.since is not None
                    self.found.append((self.since, at, self.depth))
                    self.since = None
            if bad:
                self.depth = max(self.depth, -m)
            if math.isinf(m):
                step = MAX_STEP_S
            else:
                gap = abs(m)
                worst = gap / self.rate
                calm = held_until - t if rate_now <= 0.0 else min(gap / rate_now, held_until - t)
                # (held_until may be inf: while everybody moves at top speed, `worst` is the step)
                step = max(1.0, worst, calm)
            if bad:
                step = min(step, INSIDE_STEP_S)  # violations are rare: sample them finely for their depth
            if self.boundary is not None:
                step = min(step, max(1e-3, self.boundary(t) - t))
            self.prev = t
            self.t = t + step

    def rewind(self, to: float) -> None:
        """Look again from `to` on: the future changed there (an incident was forced). Only valid
        for `to` at or after the last instant looked at."""
        if self.prev is None or to >= self.prev:
            self.t = min(self.t, to)

    def _crossing(self, good_at: float, bad_at: float, entering: bool) -> float:
        """The first instant (to 1 s) of the new state between the two samples."""
        lo, hi = good_at, bad_at
        while hi - lo > 1.0:
            mid = (lo + hi) * 0.5
            if (self.margin(mid)[0] <= 0.0) == entering:
                hi = mid
            else:
                lo = mid
        return hi

    def intervals(self) -> list[tuple[float, float | None, float]]:
        """Closed intervals, then the open one (end None) if a violation is going on."""
        if self.since is None:
            return list(self.found)
        return [*self.found, (self.since, None, self.depth)]


@dataclass(frozen=True, slots=True)
class Watch:
    """What one scanner watches, for labelling what it finds."""

    kind: str
    subject_id: str
    protected_person_id: str | None
    order_id: str | None
    zone_id: str | None
    scanner: Scanner


HeldAt = Callable[[str, float], tuple[Position, float]]
"""A person's true position at t and until when it stays exactly there (t itself while moving)."""


def _rate(t: float, held_until: float) -> tuple[float, float]:
    """(how fast a person can move now, until when that holds): standing still until `held_until`,
    or moving at up to top speed for ever after."""
    return (0.0, held_until) if held_until > t else (MAX_SPEED_MPS, math.inf)


def proximity_watch(
    held: HeldAt, order_id: str, subject_id: str, person_id: str, distance_m: float, start: float
) -> Watch:
    def margin(t: float) -> tuple[float, float, float]:
        a, a_until = held(subject_id, t)
        b, b_until = held(person_id, t)
        a_rate, a_calm = _rate(t, a_until)
        b_rate, b_calm = _rate(t, b_until)
        return separation(a, b) - distance_m, a_rate + b_rate, min(a_calm, b_calm)

    scanner = Scanner(margin, 2.0 * MAX_SPEED_MPS, start)
    return Watch(PROXIMITY, subject_id, person_id, order_id, None, scanner)


def exclusion_watch(
    held: HeldAt,
    zone_id: str,
    subject_id: str,
    order: tuple[str, str] | None,
    centre: tuple[float, float, float],
    start: float,
) -> Watch:
    lat, lon, radius = centre
    point: Position = (lat, lon, 0.0, 0.0, False)

    def margin(t: float) -> tuple[float, float, float]:
        a, a_until = held(subject_id, t)
        return (separation(a, point) - radius, *_rate(t, a_until))

    order_id, person_id = order if order is not None else (None, None)
    return Watch(ZONE, subject_id, person_id, order_id, zone_id, Scanner(margin, MAX_SPEED_MPS, start))


def curfew_watch(
    held: HeldAt,
    zone_id: str,
    subject_id: str,
    centre: tuple[float, float, float],
    window: tuple[str, str, tuple[str, ...]],
    start: float,
) -> Watch:
    """Outside the circle while the weekly window (local "HH:MM" start, end, days) is active."""
    lat, lon, radius = centre
    point: Position = (lat, lon, 0.0, 0.0, False)
    spans = _Windows(*window)

    def margin(t: float) -> tuple[float, float, float]:
        if not spans.active(t):
            return math.inf, 0.0, t
        a, a_until = held(subject_id, t)
        return (radius - separation(a, point), *_rate(t, a_until))

    scanner = Scanner(margin, MAX_SPEED_MPS, start, boundary=spans.next_boundary)
    return Watch(ZONE, subject_id, None, None, zone_id, scanner)


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Windows:
    """A daily local-time window (past midnight if end <= start) on some weekdays, in epoch seconds."""

    def __init__(self, start: str, end: str, days: tuple[str, ...]) -> None:
        self.start_s = _clock(start)
        end_s = _clock(end)
        self.length = (end_s - self.start_s) % DAY_S or DAY_S
        self.days = {_DAY_NAMES.index(d) for d in days}

    def _spans(self, t: float) -> list[tuple[float, float]]:
        day = day_of(t)
        spans = []
        for d in (day - 1, day, day + 1):
            if weekday(d) in self.days:
                s = day_start(d) + self.start_s
                spans.append((s, s + self.length))
        return spans

    def active(self, t: float) -> bool:
        return any(s <= t < e for s, e in self._spans(t))

    def next_boundary(self, t: float) -> float:
        after = [b for s, e in self._spans(t) for b in (s, e) if b > t]
        return min(after) if after else day_start(day_of(t) + 1)


def _clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def violations(watches: Iterable[Watch]) -> list[TrueViolation]:
    found: list[TrueViolation] = []
    for w in watches:
        for start, end, depth in w.scanner.intervals():
            found.append(
                TrueViolation(
                    w.kind,
                    w.subject_id,
                    w.protected_person_id,
                    w.order_id,
                    w.zone_id,
                    utc(start),
                    None if end is None else utc(end),
                    round(depth, 1),
                )
            )
    found.sort(key=lambda v: (v.start, v.subject_id, v.kind))
    return found


# --- scoring -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quality:
    """How a run's alerts compare with the truth. Delays are from the true crossing to the alert
    that reported it (0 when the alert came early, or was already open for the same pair)."""

    subject_days: float
    true_violations: int  # the ones the position rules are expected to catch (excused ones apart)
    detected: int
    missed: int
    false_alerts: int
    delay_median_s: float | None
    delay_p95_s: float | None
    false_per_100_subject_days: float
    events: dict[str, tuple[int, int]]  # alert kind -> (true events, detected)
    missed_violations: tuple[TrueViolation, ...]
    false_alert_lines: tuple[Mapping[str, Any], ...]
    delays_s: tuple[float, ...]
    # Violations that started while the subject's monitor lay cut off (scored as the tamper), and
    # violation alerts raised then that the truth does not bear out (the dropped monitor's word).
    excused_violations: tuple[TrueViolation, ...] = ()
    excused_alert_lines: tuple[Mapping[str, Any], ...] = ()
    detections: tuple[tuple[TrueViolation, float], ...] = ()  # each detected violation and its delay

    @property
    def detection_rate(self) -> float | None:
        return None if self.true_violations == 0 else self.detected / self.true_violations


def _parse(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def _key_of_alert(line: Mapping[str, Any]) -> tuple[str, str, str | None]:
    if line["kind"] == PROXIMITY:
        return PROXIMITY, line["subject"], line.get("protected_person")
    return ZONE, line["subject"], line.get("zone")


def _key_of_truth(v: TrueViolation) -> tuple[str, str, str | None]:
    if v.kind == PROXIMITY:
        return PROXIMITY, v.subject_id, v.protected_person_id
    return ZONE, v.subject_id, v.zone_id


@dataclass(slots=True)
class _AlertSpan:
    """One stretch of an alert's life as the lines tell it: raised (opened, escalated to this kind,
    or active again after a clear) until cleared."""

    kind: str
    line: Mapping[str, Any]
    raised: float
    cleared: float = math.inf
    fresh: bool = True  # opened or escalated; False when an old alert became active again
    # When the breach it reports happened: its `occurred_at` for a late alert (a batch revealing a
    # breach long after), else when it was raised.
    occurred: float = math.nan

    def __post_init__(self) -> None:
        if math.isnan(self.occurred):
            occurred_at = self.line.get("occurred_at")
            late = bool(self.line.get("late"))
            self.occurred = _parse(occurred_at) if late and isinstance(occurred_at, str) else self.raised

    def within(self, a: float, b: float) -> bool:
        """Raised, or (late) its breach happened, between a and b."""
        return a <= self.raised <= b or a <= self.occurred <= b


def _spans(alerts: Sequence[Mapping[str, Any]]) -> list[_AlertSpan]:
    spans: dict[str, _AlertSpan] = {}
    ordered: list[_AlertSpan] = []
    for line in sorted(alerts, key=lambda a: _parse(a["at"])):
        change, alert_id = line["change"], str(line.get("alert"))
        at = _parse(line["at"])
        span = spans.get(alert_id)
        # An alert stays open until a person closes it; when its condition clears and recurs, the
        # engine marks it active again with an "updated" line: that is a new raise too.
        again = change == "updated" and line.get("active", True) and (span is None or span.cleared <= at)
        if change in ("opened", "escalated") or again:
            span = _AlertSpan(line["kind"], line, at, fresh=not again)
            spans[alert_id] = span
            ordered.append(span)
        elif change == "cleared" and span is not None:
            span.cleared = min(span.cleared, at)
    return ordered


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))  # nearest rank
    return ordered[k]


def _claims_violation(span: _AlertSpan) -> bool:
    """Whether a raise says "violation". An escalated proximity alert keeps its violation kind when
    it later comes back at warning level, so a re-activation counts only when its line says the
    tier is violation (engines that report tiers); zones have one tier, so theirs always count."""
    return span.fresh or span.kind == ZONE or span.line.get("tier") == "violation"


def score(truth: Truth, alerts: Sequence[Mapping[str, Any]]) -> Quality:
    """Match replay-format alert lines ({"at", "alert", "kind", "change", "subject",
    "protected_person", "zone", ...}) against the truth.

    * A violation that starts while the subject's monitor lies cut off (`Truth.blind`) is excused:
      nothing tells where he is, the tamper alert reports that. It is neither detected nor missed.
    * Any other true violation is detected by an alert of the matching kind and pair (proximity:
      subject and protected person; zone: subject and zone) raised -- opened, escalated from a
      warning, or made active again by an "updated" line after it had cleared -- between 5 min
      before the true crossing and 2 reporting intervals (the slower party's) after the violation
      ended, or by such an alert already raised and not cleared when the crossing happened. A late
      alert (a batch that revealed the breach long after) is matched by when the breach happened
      (`occurred_at`); its delay is still counted to when it was raised. Otherwise it is missed.
    * A violation alert raised with no true violation of its pair within +-5 min is false (for
      proximity re-activations, only those whose line says tier "violation"); raised while the
      subject's monitor lay cut off, it is excused instead (the dropped monitor's word).
    * An event (tamper, SOS, battery low, power off) is detected by an alert of its kind for the
      same person raised within 5 min after it (1 min before allowed for clock skew) or still open
      then; a monitor's silence by a signal_loss alert raised while it lasted (+2 intervals).
    """
    spans = _spans(alerts)
    frontier = truth.until.timestamp()
    by_key: dict[tuple[str, str, str | None], list[_AlertSpan]] = {}
    for s in spans:
        if s.kind in (PROXIMITY, ZONE):
            by_key.setdefault(_key_of_alert(s.line), []).append(s)

    delays: list[float] = []
    detections: list[tuple[TrueViolation, float]] = []
    missed: list[TrueViolation] = []
    excused: list[TrueViolation] = []
    windows: dict[tuple[str, str, str | None], list[tuple[float, float]]] = {}
    for v in truth.violations:
        start = v.start.timestamp()
        end = frontier if v.end is None else v.end.timestamp()
        key = _key_of_truth(v)
        windows.setdefault(key, []).append((start, end))
        if truth.excused(v):
            excused.append(v)
            continue
        grace = 2.0 * max(truth.interval_of(v.subject_id), truth.interval_of(v.protected_person_id))
        hit: float | None = None
        for s in by_key.get(key, ()):
            if s.within(start - EARLY_S, end + grace) or s.raised <= start < s.cleared:
                delay = max(0.0, s.raised - start)
                hit = delay if hit is None else min(hit, delay)
        if hit is None:
            missed.append(v)
        else:
            delays.append(hit)
            detections.append((v, hit))

    false_lines: list[Mapping[str, Any]] = []
    excused_lines: list[Mapping[str, Any]] = []
    scored_from = truth.start.timestamp()
    for key, found in by_key.items():
        for s in found:
            if s.raised < scored_from:
                continue  # raised in the simulator's warm-up, before the measured run
            if not _claims_violation(s) or any(
                s.within(a - FALSE_WINDOW_S, b + FALSE_WINDOW_S) for a, b in windows.get(key, ())
            ):
                continue
            blind = truth.blind_at(key[1], datetime.fromtimestamp(s.raised - FALSE_WINDOW_S, UTC))
            if blind is not None or truth.blind_at(key[1], datetime.fromtimestamp(s.raised, UTC)):
                excused_lines.append(s.line)
            else:
                false_lines.append(s.line)

    events: dict[str, tuple[int, int]] = {}
    event_grace = 2.0 * truth.interval_s
    for e in truth.events:
        total, hits = events.get(e.alert_kind, (0, 0))
        grace = 2.0 * truth.interval_of(e.person_id) if e.alert_kind == "signal_loss" else event_grace
        events[e.alert_kind] = (total + 1, hits + (1 if _event_detected(e, spans, grace, frontier) else 0))

    days = truth.subject_days
    return Quality(
        subject_days=days,
        true_violations=len(truth.violations) - len(excused),
        detected=len(delays),
        missed=len(missed),
        false_alerts=len(false_lines),
        delay_median_s=statistics.median(delays) if delays else None,
        delay_p95_s=percentile(delays, 0.95),
        false_per_100_subject_days=100.0 * len(false_lines) / days if days > 0 else 0.0,
        events=events,
        missed_violations=tuple(missed),
        false_alert_lines=tuple(false_lines),
        delays_s=tuple(delays),
        excused_violations=tuple(excused),
        excused_alert_lines=tuple(excused_lines),
        detections=tuple(detections),
    )


def _event_detected(e: TrueEvent, spans: Sequence[_AlertSpan], grace: float, frontier: float) -> bool:
    at = e.at.timestamp()
    if e.alert_kind == "signal_loss":
        lo, hi = at, (frontier if e.end is None else e.end.timestamp()) + grace
    else:
        lo, hi = at - 60.0, at + EVENT_WINDOW_S
    field_name = "subject" if e.is_subject else "protected_person"
    for s in spans:
        if s.kind != e.alert_kind or s.line.get(field_name) != e.person_id:
            continue
        if lo <= s.raised <= hi or s.raised <= lo < s.cleared:
            return True
    return False


# --- operator load ---------------------------------------------------------------------------------

PAIR_RAISES_PER_DAY = 3  # the issue: no pair raising more than 3 times a day without a true violation
POSITION_KINDS = frozenset({"proximity_warning", PROXIMITY, ZONE})


@dataclass(frozen=True, slots=True)
class Raise:
    """An alert line that puts an alert in front of an operator: an `opened` line, or an `updated`
    or `escalated` line that makes an inactive alert active again. (Escalating an active warning is
    not a raise: it is the same alert, already in front of someone, getting worse.)"""

    at: datetime
    kind: str
    alert: str
    person: str  # the subject (the protected person for an alert about her alone, e.g. sos)
    target: str  # the protected person or zone of a position alert; the kind (and device) otherwise
    day: str  # the local day of the line (its own offset), YYYY-MM-DD

    @property
    def pair(self) -> tuple[str, str]:
        return self.person, self.target


def pair_of(line: Mapping[str, Any]) -> tuple[str, str]:
    """(person, target): who the alert is about and what it concerns. The two proximity kinds are
    one pair (a warning that escalates is the same danger)."""
    kind = line["kind"]
    subject, person = line.get("subject"), line.get("protected_person")
    if kind in ("proximity_warning", PROXIMITY):
        return str(subject), f"protected:{person}"
    if kind == ZONE:
        return str(subject), f"zone:{line.get('zone')}"
    who = person if kind == "sos" or subject is None else subject
    device = line.get("device")
    return str(who), kind if device is None else f"{kind}:{device}"


def raises(alerts: Sequence[Mapping[str, Any]]) -> list[Raise]:
    active: dict[str, bool] = {}
    found: list[Raise] = []
    for line in sorted(alerts, key=lambda a: _parse(a["at"])):
        alert_id, change = str(line.get("alert")), line["change"]
        was = active.get(alert_id, False)
        now = change != "cleared" and bool(line.get("active", True))
        active[alert_id] = now
        if change == "opened" or (change in ("updated", "escalated") and now and not was):
            at = datetime.fromisoformat(line["at"])
            who, target = pair_of(line)
            found.append(Raise(at, line["kind"], alert_id, who, target, at.date().isoformat()))
    return found


@dataclass(frozen=True, slots=True)
class PairDay:
    person: str
    target: str
    day: str
    raises: int
    justified: bool  # a true violation (or, for an event kind, a true event) of the pair that day


@dataclass(frozen=True, slots=True)
class Load:
    """What the alerts ask of operators."""

    subject_days: float
    lines: int
    raises_by_kind: dict[str, int]
    pair_days: tuple[PairDay, ...]  # every (pair, day) with at least one raise, most raises first

    @property
    def raises(self) -> int:
        return sum(self.raises_by_kind.values())

    @property
    def raises_per_subject_day(self) -> float:
        return self.raises / self.subject_days if self.subject_days > 0 else 0.0

    @property
    def lines_per_subject_day(self) -> float:
        return self.lines / self.subject_days if self.subject_days > 0 else 0.0

    @property
    def worst(self) -> PairDay | None:
        return self.pair_days[0] if self.pair_days else None

    @property
    def noisy_pairs(self) -> tuple[PairDay, ...]:
        """Pairs raising more than 3 times in a day without a true violation that day."""
        return tuple(p for p in self.pair_days if p.raises > PAIR_RAISES_PER_DAY and not p.justified)


def _truth_days(truth: Truth, offset: Any) -> set[tuple[str, str, str]]:
    """(person, target, local day) for every day touched by a true violation or event."""
    days: set[tuple[str, str, str]] = set()

    def span(person: str, target: str, a: datetime, b: datetime | None) -> None:
        end = truth.until if b is None else b
        d = a.astimezone(offset).date()
        last = end.astimezone(offset).date()
        while d <= last:
            days.add((person, target, d.isoformat()))
            d = d.fromordinal(d.toordinal() + 1)

    for v in truth.violations:
        if v.kind == PROXIMITY:
            span(v.subject_id, f"protected:{v.protected_person_id}", v.start, v.end)
        else:
            span(v.subject_id, f"zone:{v.zone_id}", v.start, v.end)
    for e in truth.events:
        span(e.person_id, e.alert_kind, e.at, e.end if e.end is not None else e.at)
    return days


def load(truth: Truth, alerts: Sequence[Mapping[str, Any]]) -> Load:
    """Raises by kind, lines, and raises per (pair, local day) with whether the truth justifies them;
    from the truth's start (a line in the simulator's warm-up only tells which alerts were active)."""
    found = [r for r in raises(alerts) if r.at >= truth.start]
    alerts = [a for a in alerts if datetime.fromisoformat(a["at"]) >= truth.start]
    by_kind: dict[str, int] = {}
    per_pair_day: dict[tuple[str, str, str], int] = {}
    for r in found:
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
        key = (r.person, r.target, r.day)
        per_pair_day[key] = per_pair_day.get(key, 0) + 1
    offset = found[0].at.tzinfo if found else UTC
    justified = _truth_days(truth, offset)
    pair_days = [
        PairDay(
            person,
            target,
            day,
            n,
            (person, target, day) in justified or (person, target.split(":")[0], day) in justified,
        )
        for (person, target, day), n in per_pair_day.items()
    ]
    pair_days.sort(key=lambda p: (-p.raises, p.person, p.target, p.day))
    return Load(truth.subject_days, len(alerts), dict(sorted(by_kind.items())), tuple(pair_days))
