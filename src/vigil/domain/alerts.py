"""Alerts: what the rules raise, their lifecycle, and the book that keeps one open alert per key.

Rules say what is true now (a `Signal`); the book turns that into alert changes: it opens an alert on
a new onset, updates it when something material changes, escalates a warning into a violation, and
clears it when the condition ends. People move the lifecycle (acknowledge, dispatch, ...); the rules
never close an alert, because someone must look at every breach.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from vigil.domain import geo
from vigil.domain.model import ClockSuspect, PersonRef, protected_ref, subject_ref


class AlertKind(StrEnum):
    PROXIMITY_WARNING = "proximity_warning"
    PROXIMITY_VIOLATION = "proximity_violation"
    ZONE_VIOLATION = "zone_violation"
    TAMPER = "tamper"
    BATTERY_LOW = "battery_low"
    SIGNAL_LOSS = "signal_loss"
    POWER_OFF = "power_off"
    SOS = "sos"
    # The control centre's own alarm: a push to a dispatch system is not getting through.
    DISPATCH_FAILURE = "dispatch_failure"
    # For operators: a person's device keeps reporting positions that cannot be true (the victim
    # app's account may be in someone else's hands).
    POSITION_DOUBT = "position_doubt"
    # A device that keeps reporting but gives no usable position (no fix, or cell positions only)
    # for longer than its limit: possible jamming or shielding, unlike signal_loss (nothing heard).
    LOCATION_LOSS = "location_loss"
    # Reports under a device's identifier that cannot all be the device: two live connections at
    # once, or reports from outside its network. Someone may be speaking for his monitor.
    DEVICE_CONFLICT = "device_conflict"
    # Probation's: a police stalking or domestic-violence case names a man they already supervise
    # (issue 18). Not a danger to answer with a patrol car; a fact his officer must act on at once.
    CASE_MATCH = "case_match"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.PROXIMITY_VIOLATION: Severity.CRITICAL,
    AlertKind.TAMPER: Severity.CRITICAL,
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.ZONE_VIOLATION: Severity.HIGH,
    AlertKind.POWER_OFF: Severity.HIGH,
    AlertKind.DISPATCH_FAILURE: Severity.HIGH,
    AlertKind.POSITION_DOUBT: Severity.HIGH,
    AlertKind.LOCATION_LOSS: Severity.HIGH,
    AlertKind.DEVICE_CONFLICT: Severity.HIGH,
    AlertKind.CASE_MATCH: Severity.HIGH,
    AlertKind.PROXIMITY_WARNING: Severity.MEDIUM,
    AlertKind.SIGNAL_LOSS: Severity.MEDIUM,
    AlertKind.BATTERY_LOW: Severity.LOW,
}

# Escalation order inside one key: a warning may rise into a violation, never fall back.
RANK: dict[AlertKind, int] = {AlertKind.PROXIMITY_WARNING: 1, AlertKind.PROXIMITY_VIOLATION: 2}


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


TERMINAL = frozenset({AlertState.RESOLVED, AlertState.FALSE_ALARM})
_PROGRESS = (AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.DISPATCHED, AlertState.ON_SCENE)


class Change(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    ESCALATED = "escalated"
    CLEARED = "cleared"
    # lifecycle steps taken by people (or by dispatch callbacks)
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    # timeline entries about the dispatch push, which leave the state as it is
    CALLBACK = "callback"  # a dispatch system reported (received, en route, rejected, ...)
    UNACKNOWLEDGED = "unacknowledged"  # no acknowledgement in time: escalated to the next target
    COVERED = "covered"  # held back from dispatch: an approved absence covers it (issue 18)


class IllegalTransition(ValueError):
    """A lifecycle step that the alert's current state does not allow."""


class UnknownAlert(KeyError):
    """No open alert has that id."""


def parties(alert: Alert, kept_from: Callable[[str], Iterable[str]]) -> frozenset[PersonRef]:
    """The people an alert concerns, each with their kind. Her SOS names only her; the men her
    orders keep away (`kept_from(her)`, subjects) are parties too, since the police sent to her must
    know where they are."""
    found: set[PersonRef] = set()
    if alert.subject_id:
        found.add(subject_ref(alert.subject_id))
    if alert.protected_person_id:
        found.add(protected_ref(alert.protected_person_id))
    if alert.subject_id is None and alert.protected_person_id is not None:
        found.update(subject_ref(s) for s in kept_from(alert.protected_person_id))
    return frozenset(found)


def needs_note(alert: Alert, target: AlertState) -> bool:
    """Closing a critical alert (resolved or false alarm) takes a note: why a violation, a cut strap
    or an SOS is over is part of the record, and one careless click must not end it silently."""
    return target in TERMINAL and alert.severity is Severity.CRITICAL


def can_move(current: AlertState, target: AlertState) -> bool:
    """Forward only: a step may skip ahead (one click from open to dispatched), never go back,
    and nothing leaves resolved or false_alarm."""
    if current in TERMINAL or target == AlertState.OPEN:
        return False
    if target in TERMINAL:
        return True
    return _PROGRESS.index(target) > _PROGRESS.index(current)


class AlertKey(NamedTuple):
    """One open alert per key: (family, person, what it concerns).

    `family` groups kinds that escalate into each other (proximity), `person` is the subject (or the
    protected person for sos), `target` the protected person, zone or device concerned. A named
    tuple, not a dataclass: keys are built and looked up for every fix, and tuples are cheapest."""

    family: str
    person: str
    target: str

    def __str__(self) -> str:  # the form stored in the database
        return f"{self.family}:{self.person}:{self.target}"


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float
    accuracy_m: float | None
    time: datetime
    age_s: float
    speed_mps: float | None = None
    heading_deg: float | None = None
    source: str = "gnss"


class Confidence(StrEnum):
    CERTAIN = "certain"  # even the far edge of the accuracy discs is in breach
    LIKELY = "likely"  # the reported positions themselves are in breach
    POSSIBLE = "possible"  # only the near edge of the accuracy discs is in breach
    COARSE = "coarse"  # accuracy too poor to tell: judged on the reported positions alone


@dataclass(frozen=True, slots=True)
class Facts:
    """What an alert says about the situation; fields that do not apply to a kind stay None."""

    subject_position: Position | None = None
    protected_position: Position | None = None
    distance_m: float | None = None
    confidence: Confidence | None = None
    bearing_deg: float | None = None  # the subject as seen from the protected person
    compass: str | None = None
    subject_speed_mps: float | None = None
    closing_speed_mps: float | None = None
    time_to_contact_s: float | None = None
    stale: tuple[str, ...] = ()  # parties whose last fix is too old to be trusted as current
    zone_label: str | None = None
    device_id: str | None = None
    event: str | None = None
    occurred_at: datetime | None = None  # when the breach happened, if it differs from the alert time
    # The device's clock was not believed: the event was judged at receipt; both times are here.
    clock_suspect: ClockSuspect | None = None
    # Where a tiered alert stands now and the highest it reached: "warning", "violation", or None
    # (clear, or no tiers). A violation whose parties are back at warning range says so here.
    tier: str | None = None
    peak_tier: str | None = None
    # Raised on the straight path between two consecutive plausible fixes, not on a fix itself;
    # `evidence` holds the fixes the verdict rests on (both ends of the path, or a late pair).
    inferred: bool = False
    evidence: tuple[Position, ...] = ()
    # Raised on a position that is not yet believed (an implausible move): at most a possible
    # warning until the next consistent fix or corroboration confirms it.
    unconfirmed: bool = False
    # Raised on her device seeing his monitor's BLE tag (no GPS needed: indoors, basements, car
    # parks), with the signal strength it was seen at (dBm).
    ble: bool = False
    ble_rssi: float | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict for one key at one moment.

    active: the condition holds now. onset: it has just begun (or risen), so an alert may open.
    late: the evidence arrived late (out of order, or long after it was measured)."""

    key: AlertKey
    kind: AlertKind
    active: bool
    onset: bool
    facts: Facts
    subject_id: str | None = None
    protected_person_id: str | None = None
    zone_id: str | None = None
    order_id: str | None = None
    late: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    key: AlertKey
    kind: AlertKind
    state: AlertState
    active: bool
    opened_at: datetime
    updated_at: datetime
    facts: Facts
    subject_id: str | None = None
    protected_person_id: str | None = None
    zone_id: str | None = None
    order_id: str | None = None
    # What it last raised (its opening, or its escalation) was learned late: a warning an upload
    # revealed, then a violation judged live, is a live violation.
    late: bool = False
    # The incident (one danger: the same pair or subject within a window) this alert belongs to.
    incident_id: str | None = None
    # When it was last raised: opened, or escalated (a warning that became a violation). The queue's
    # age and order, and the time to acknowledge, count from here, not from the first warning. None
    # only for alerts stored before it was kept: their opening stands in (`raised_at`).
    escalated_at: datetime | None = None

    @property
    def raised_at(self) -> datetime:
        return self.escalated_at or self.opened_at

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One line of an alert's timeline: the alert as it stands after the change."""

    alert: Alert
    change: Change
    at: datetime
    actor: str = "vigil"
    note: str = ""


# Below these, a still-active alert is not re-announced: the same approach must not become a flood.
# Each grows with the distance (a tenth of it): 25 m matters at 100 m from her, not at 1.2 km, where
# Wi-Fi jitter alone moves a position by more than that at every fix.
MATERIAL_DISTANCE_M = 25.0
MATERIAL_MOVE_M = 100.0
MATERIAL_FRACTION = 0.1


def _material(old: Facts, new: Facts) -> bool:
    if old.stale != new.stale:
        return True
    # Into or out of the violation tier is what dispatch acts on (a violation back at warning range,
    # or in again). Between warning and apart-within-the-hold is not: that is the boundary jitter
    # the hold absorbs, and the hysteresis on each tier keeps these changes few.
    if old.tier != new.tier and "violation" in (old.tier, new.tier):
        return True
    if new.tier is None and new.peak_tier is not None:
        # Apart, in the hold before the alert clears: where they wander meanwhile is no news (the
        # clear, or their return, will be).
        return False
    # Confidence flips with every jittering fix at a boundary, so only a change of the kind of
    # evidence (coarse cell/Wi-Fi fallback versus a real fix) is material, not likely <-> possible.
    if (old.confidence is Confidence.COARSE) != (new.confidence is Confidence.COARSE):
        return True
    scale = MATERIAL_FRACTION * min(old.distance_m or 0.0, new.distance_m or 0.0)
    # Nor is a change within the positions' own accuracy: Wi-Fi fixes of neighbours who live inside
    # the warning distance moved them by more than 100 m at every fix, all day.
    noise_s = _noise(old.subject_position, new.subject_position)
    noise_p = _noise(old.protected_position, new.protected_position)
    if (
        old.distance_m is not None
        and new.distance_m is not None
        and abs(old.distance_m - new.distance_m)
        >= max(MATERIAL_DISTANCE_M, scale, math.hypot(noise_s, noise_p))
    ):
        return True
    # Circling her at the same distance is news too: responders need to know where he is now.
    return any(
        before is not None
        and after is not None
        and geo.distance_m(before.lat, before.lon, after.lat, after.lon) >= max(MATERIAL_MOVE_M, scale, noise)
        for before, after, noise in (
            (old.subject_position, new.subject_position, noise_s),
            (old.protected_position, new.protected_position, noise_p),
        )
    )


def _noise(before: Position | None, after: Position | None) -> float:
    """How far one party's reported position may wander with no move: the worse of the two
    accuracies (0 when unknown)."""
    return max((p.accuracy_m or 0.0 for p in (before, after) if p is not None), default=0.0)


_TIER_RANK = {None: 0, "warning": 1, "violation": 2}


def _peaked(old: Facts, new: Facts) -> Facts:
    """The new facts, with the highest tier the alert ever reached: a rule sees only its own state
    (an inferred breach or a restart is not in the pair's memory), the alert remembers them all."""
    if _TIER_RANK.get(old.peak_tier, 0) <= _TIER_RANK.get(new.peak_tier, 0):
        return new
    return replace(new, peak_tier=old.peak_tier)


class AlertBook:
    """The open alerts (not yet resolved or false_alarm). Pure: ids and time are given. One per key is
    active at most; a key may also hold cleared ones awaiting their operators (`apply`, `_put`)."""

    def __init__(self, new_id: Callable[[], str], same_within_s: float = 900.0) -> None:
        self._new_id = new_id
        self._by_key: dict[AlertKey, Alert] = {}
        self._by_id: dict[str, Alert] = {}
        # A danger back this soon after its alert cleared is the same alert, active again; later, a
        # new one (`apply`). When each cleared alert cleared (memory only: after a restart, a danger
        # back is a new alert).
        self._same_within = timedelta(seconds=same_within_s)
        self._cleared_at: dict[str, datetime] = {}

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, alert_id: str) -> Alert | None:
        return self._by_id.get(alert_id)

    def for_key(self, key: AlertKey) -> Alert | None:
        return self._by_key.get(key)

    def cleared_at(self, alert: Alert) -> datetime | None:
        """When an alert no longer active cleared (its last update, after a restart); None while it
        is active."""
        if alert.active:
            return None
        return self._cleared_at.get(alert.id, alert.updated_at)

    def restore(self, alert: Alert) -> None:
        """Take back an open alert from storage at start-up (several may share a key: `_put`)."""
        self._put(alert)

    def apply(self, signal: Signal, now: datetime) -> AlertChange | None:
        current = self._by_key.get(signal.key)
        if current is None or (signal.active and signal.onset and self._ended(current, now)):
            # Nothing open; or this key's alert cleared a while ago (`same_within_s`) and a danger
            # begins again: a new alert, raised as such (the next evening's breach is not
            # yesterday's: it must sound and be pushed as new). The cleared one stays open for its
            # operator to close. A danger back soon after the clear (a zone's edge crossed again, a
            # report lost twice) is the same alert, active again.
            if not (signal.active and signal.onset):
                return None  # nothing open, nothing new: a person closed it while it still held
            alert = Alert(
                id=self._new_id(),
                key=signal.key,
                kind=signal.kind,
                state=AlertState.OPEN,
                active=True,
                opened_at=now,
                updated_at=now,
                facts=signal.facts,
                subject_id=signal.subject_id,
                protected_person_id=signal.protected_person_id,
                zone_id=signal.zone_id,
                order_id=signal.order_id,
                late=signal.late,
                escalated_at=now,
            )
            return self._record(alert, Change.OPENED, now)
        if not signal.active:
            if not current.active:
                return None
            # say where things stand now (the breach itself stays in the timeline): no tier held, even
            # when the rule says nothing more (an order ended while he stood at her door)
            facts = (
                replace(current.facts, tier=None)
                if signal.facts == Facts()
                else _peaked(current.facts, signal.facts)
            )
            self._cleared_at[current.id] = now
            return self._record(
                replace(current, active=False, facts=facts, updated_at=now), Change.CLEARED, now
            )
        # The order it rests on now: an order renewed at its end carries the pair's alert on, and
        # the renewal is what police and probation must cite from then (it said the expired one).
        order_id = signal.order_id or current.order_id
        if RANK.get(signal.kind, 0) > RANK.get(current.kind, 0):
            escalated = replace(
                current, kind=signal.kind, active=True, facts=_peaked(current.facts, signal.facts),
                updated_at=now, late=signal.late, escalated_at=now, order_id=order_id,
            )  # fmt: skip
            return self._record(escalated, Change.ESCALATED, now)
        if (
            not current.active
            or signal.onset
            or order_id != current.order_id
            or _material(current.facts, signal.facts)
        ):
            updated = replace(
                current, active=True, facts=_peaked(current.facts, signal.facts), updated_at=now,
                # made active again, it says whether that was learned late (an upload's re-entry)
                late=current.late if current.active else signal.late, order_id=order_id,
            )  # fmt: skip
            return self._record(updated, Change.UPDATED, now)
        return None

    def _ended(self, alert: Alert, now: datetime) -> bool:
        """The alert cleared more than `same_within_s` ago (or before a restart)."""
        if alert.active:
            return False
        cleared = self._cleared_at.get(alert.id)
        return cleared is None or now - cleared > self._same_within

    def move(self, alert_id: str, target: AlertState, *, actor: str, now: datetime, note: str) -> AlertChange:
        """Take a lifecycle step; refuses an illegal one and changes nothing."""
        current = self._by_id.get(alert_id)
        if current is None:
            raise UnknownAlert(alert_id)
        if not can_move(current.state, target):
            raise IllegalTransition(f"an alert that is {current.state} cannot become {target}")
        return self._record(
            replace(current, state=target, updated_at=now), Change(target.value), now, actor, note
        )

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange:
        """A timeline entry that moves nothing (a dispatch system's report, an escalation)."""
        current = self._by_id.get(alert_id)
        if current is None:
            raise UnknownAlert(alert_id)
        return self._record(replace(current, updated_at=now), change, now, actor, note)

    def _record(
        self, alert: Alert, change: Change, now: datetime, actor: str = "vigil", note: str = ""
    ) -> AlertChange:
        if alert.state in TERMINAL:
            held = self._by_key.get(alert.key)
            self._by_id.pop(alert.id, None)
            self._cleared_at.pop(alert.id, None)
            if held is not None and held.id == alert.id:
                # the key goes to another open alert of it, if one is left (an older cleared one
                # awaiting its operator): active first, else the one opened last. (An operator's
                # step is rare; the scan is over the open alerts.)
                rest = [a for a in self._by_id.values() if a.key == alert.key]
                if rest:
                    self._by_key[alert.key] = max(rest, key=lambda a: (a.active, a.opened_at))
                else:
                    self._by_key.pop(alert.key, None)
        else:
            self._put(alert)
        return AlertChange(alert=alert, change=change, at=now, actor=actor, note=note)

    def _put(self, alert: Alert) -> None:
        """Held by id; and by key unless another alert of the key stands for it: several may share a
        key (a cleared one awaiting its operator, and the danger's new one), and the key goes to the
        active one, else to the one opened last (an operator's step on the old one leaves it so)."""
        self._by_id[alert.id] = alert
        held = self._by_key.get(alert.key)
        if (
            held is None
            or held.id == alert.id
            or (alert.active, alert.opened_at) > (held.active, held.opened_at)
        ):
            self._by_key[alert.key] = alert
