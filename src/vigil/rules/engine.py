"""The detection engine: registry knowledge, per-pair and per-zone rule state, and the open alerts.

It is handed every input and the time, and answers with alert changes; it does no I/O and reads no
clock. Inputs, in the order they are judged:

  on_fix    -> silence ended -> battery -> proximity to each protected party (or each subject)
               -> the subject's zones
  on_event  -> silence ended -> the event's own alarm (tamper, sos, power, battery) -> its fix as above
  on_doubted -> silence ended -> position_doubt (a position judged implausible by `doubt`: it moves
               no one and feeds no other rule)
  tick      -> due deadlines: device silence, a device's spell with no usable position
               (location_loss), a pair's pending clear at the end of its hold, zone schedule
               boundaries, orders starting or ending

A fix older than the person's live position (out of order, or a late batch) is judged at its own
time against what the partner's position was then; it may open an alert (marked late) but never
moves the live position or the live rule state.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from vigil.domain import plausibility
from vigil.domain import schedule as schedules
from vigil.domain.alerts import (
    RANK,
    Alert,
    AlertBook,
    AlertChange,
    AlertKey,
    AlertState,
    Change,
    Facts,
    Signal,
)
from vigil.domain.model import (
    Device,
    DeviceEvent,
    EventKind,
    Fix,
    Order,
    PersonKind,
    Zone,
    ZoneKind,
)
from vigil.domain.plausibility import Doubt
from vigil.domain.track import Track
from vigil.rules import device_health, location, position_doubt, proximity, signal, zones
from vigil.rules.location import LocationState
from vigil.rules.position_doubt import DoubtState
from vigil.rules.proximity import PairState, Party
from vigil.rules.tuning import Tuning
from vigil.rules.zones import ZoneState

_APART = PairState()

# Deadline kinds on the engine's timer.
_SILENCE, _SCHEDULE, _ORDER = "silence", "schedule", "order"
_LOCATION, _HOLD = "location", "hold"


class UnknownDevice(KeyError):
    """A report from a device that is not registered or not bound to anyone."""


class Engine:
    def __init__(self, tuning: Tuning | None = None, new_id: Callable[[], str] | None = None) -> None:
        counter = itertools.count(1)
        self.tuning = tuning or Tuning()
        self.book = AlertBook(new_id or (lambda: f"a-{next(counter)}"))
        self.devices: dict[str, Device] = {}
        self.orders: dict[str, Order] = {}
        self.zones: dict[str, Zone] = {}  # a subject's own zones and orders' fixed zones, by id
        self.tracks: dict[str, Track] = {}
        self._orders_of: dict[str, set[str]] = {}  # person (either side) -> order ids
        self._zones_of: dict[str, set[str]] = {}  # subject -> zone ids
        self._pairs: dict[str, PairState] = {}
        self._zone_states: dict[str, ZoneState] = {}
        self._heard: dict[str, datetime] = {}
        # One timer entry per device at most: a fix every second must not grow the heap; an entry
        # that comes due early is pushed back to the device's current deadline.
        self._silence_at: dict[str, datetime] = {}
        self._silence_queued: set[str] = set()
        self._cadence: dict[str, signal.Cadence] = {}  # how often each device reports, as learned
        # Each watched device's spell with no usable position; its deadline, one timer entry per
        # device at most (as for silence).
        self._located: dict[str, LocationState] = {}
        self._location_at: dict[str, datetime] = {}
        self._location_queued: set[str] = set()
        self._battery_low: dict[str, bool] = {}
        self._doubts: dict[str, DoubtState] = {}  # people with recent implausible positions
        # A zone's next schedule boundary on the timer; an entry for any other time is stale (the zone
        # was replaced or removed), so putting a zone again does not start a second chain of entries.
        self._flip_at: dict[str, datetime] = {}
        self._deadlines: list[tuple[datetime, int, str, str]] = []
        self._seq = itertools.count()

    # --- registry ---------------------------------------------------------------------------------

    def put_device(self, device: Device) -> None:
        self.devices[device.id] = device
        heard = self._heard.get(device.id)
        if heard is not None:
            self._schedule_silence(device, heard)
        self._schedule_location(device)

    def kept_from(self, protected_id: str) -> list[str]:
        """The subjects of the orders in force protecting this person."""
        orders = (self.orders[o] for o in self._orders_of.get(protected_id, ()))
        return sorted({o.subject_id for o in orders if o.protected_person_id == protected_id})

    def put_order(self, order: Order, now: datetime) -> list[AlertChange]:
        """Add or replace an order. It protects at once: the pair and its zones are judged now
        against the positions already known, with no fix needed from either party."""
        changes: list[AlertChange] = []
        old = self.orders.get(order.id)
        if old is not None:
            self._unindex(old)
            if (old.subject_id, old.protected_person_id) != (order.subject_id, order.protected_person_id):
                self._pairs.pop(order.id, None)  # a different pair: what the old one raised ends
                changes += self._apply([proximity.cleared(old, Facts())], now)
            kept = {z.id for z in order.zones}
            for zone in old.zones:
                if zone.id not in kept:
                    changes += self.remove_zone(zone.id, now)
        self.orders[order.id] = order
        for person in (order.subject_id, order.protected_person_id):
            self._orders_of.setdefault(person, set()).add(order.id)
        for zone in order.zones:
            self._add_zone(replace(zone, subject_id=order.subject_id, order_id=order.id), now)
        for boundary in (order.valid_from, order.valid_until):
            if boundary is not None and boundary > now:
                self._push(boundary, _ORDER, order.id)
        changes += self._judge_order(order, now)
        for zone in order.zones:
            changes += self._judge_zone(order.subject_id, self.zones[zone.id], now)
        return changes

    def end_order(self, order_id: str, now: datetime) -> list[AlertChange]:
        """The order ended: its pair and zones stop being watched and what they raised stops holding."""
        order = self.orders.get(order_id)
        if order is None:
            return []
        self._unindex(order)
        self._pairs.pop(order_id, None)
        changes = self._apply([proximity.cleared(order, Facts())], now)
        for zone in order.zones:
            changes += self.remove_zone(zone.id, now)
        return changes

    def _unindex(self, order: Order) -> None:
        del self.orders[order.id]
        for person in (order.subject_id, order.protected_person_id):
            self._orders_of.get(person, set()).discard(order.id)

    def put_zone(self, zone: Zone, now: datetime) -> list[AlertChange]:
        """Add or replace a subject's own zone and judge it at once."""
        if zone.subject_id is None:
            raise ValueError("a subject zone needs its subject")
        self._add_zone(zone, now)
        return self._judge_zone(zone.subject_id, zone, now)

    def remove_zone(self, zone_id: str, now: datetime) -> list[AlertChange]:
        zone = self.zones.pop(zone_id, None)
        if zone is None or zone.subject_id is None:
            return []
        self._zones_of.get(zone.subject_id, set()).discard(zone_id)
        self._zone_states.pop(zone_id, None)
        self._flip_at.pop(zone_id, None)
        return self._apply([zones.lifted(zone.subject_id, zone)], now)

    def _add_zone(self, zone: Zone, now: datetime) -> None:
        assert zone.subject_id is not None
        self.zones[zone.id] = zone
        self._zones_of.setdefault(zone.subject_id, set()).add(zone.id)
        self._queue_flip(zone.id, schedules.next_change(zone.schedule, now))

    def _queue_flip(self, zone_id: str, flip: datetime | None) -> None:
        if flip is None:
            self._flip_at.pop(zone_id, None)
        elif self._flip_at.get(zone_id) != flip:
            self._flip_at[zone_id] = flip
            self._push(flip, _SCHEDULE, zone_id)

    # --- inputs -----------------------------------------------------------------------------------

    def device_for(self, device_id: str) -> Device:
        device = self.devices.get(device_id)
        if device is None or device.person_id is None:
            raise UnknownDevice(device_id)
        return device

    def on_fix(self, fix: Fix, received_at: datetime, now: datetime) -> list[AlertChange]:
        device = self.device_for(fix.device_id)
        changes = self._heard_from(device, received_at, now, EventKind.HEARTBEAT)
        changes += self._located_by(device, fix, now)
        changes += self._place(device, fix, received_at, now)
        return changes

    def on_event(self, event: DeviceEvent, received_at: datetime, now: datetime) -> list[AlertChange]:
        device = self.device_for(event.device_id)
        assert device.person_id is not None
        changes = self._heard_from(device, received_at, now, event.kind)
        if event.kind is EventKind.BATTERY_LOW:
            # What the device says outright is what the levels on its fixes are compared with, so a
            # charged level on a later fix ends the alert (charging is not always reported).
            self._battery_low[device.id] = True
        track = self.tracks.get(device.person_id)
        where = event.fix or (track.latest if track else None)
        alarm = device_health.on_event(event, device, where, now)
        if alarm is not None:
            changes += self._apply([alarm], now)
        if event.fix is not None:
            changes += self._located_by(device, event.fix, now)
            changes += self._place(device, event.fix, received_at, now)
        return changes

    def doubt(self, fix: Fix) -> Doubt | None:
        """Why the fix's position is not believed, judged against the person's trusted positions (the
        track holds only believed ones); None: it is plausible."""
        device = self.device_for(fix.device_id)
        track = self.tracks.get(device.person_id or "")
        return plausibility.judge(track.history if track else (), fix, self.tuning.plausibility)

    def on_doubted(self, fix: Fix, doubt: Doubt, received_at: datetime, now: datetime) -> list[AlertChange]:
        """A fix whose position is not believed (stored by the caller for the record): it proves the
        device alive, but moves no one and feeds no rule and no view; repeated ones raise
        position_doubt for the person."""
        device = self.device_for(fix.device_id)
        assert device.person_id is not None
        changes = self._heard_from(device, received_at, now, EventKind.HEARTBEAT)
        held = self._doubts.get(device.person_id, DoubtState())
        state, verdict = position_doubt.doubted(held, device, doubt, received_at, self.tuning)
        self._doubts[device.person_id] = state
        if verdict is None:
            return changes
        if verdict.active and held.raised and self.book.for_key(verdict.key) is None:
            return changes  # a person closed it while the doubts went on: not again until they stop
        # the sentence goes in the timeline too, where the operator reads what happened
        return changes + [replace(c, note=verdict.facts.event or "") for c in self._apply([verdict], now)]

    def on_heard(self, device_id: str, received_at: datetime, now: datetime) -> list[AlertChange]:
        """A message that carries nothing to judge (a heartbeat) still proves the device is alive."""
        return self._heard_from(self.device_for(device_id), received_at, now, EventKind.HEARTBEAT)

    def tick(self, now: datetime) -> list[AlertChange]:
        """Run every deadline due by `now`, in time order."""
        changes: list[AlertChange] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            when, _, kind, ref = heapq.heappop(self._deadlines)
            if kind == _SILENCE:
                changes += self._silence_due(ref, when)
            elif kind == _LOCATION:
                changes += self._location_due(ref, when)
            elif kind == _HOLD:
                changes += self._hold_due(ref, when)
            elif kind == _SCHEDULE:
                zone = self.zones.get(ref)
                if zone is not None and zone.subject_id is not None and self._flip_at.get(ref) == when:
                    changes += self._judge_zone(zone.subject_id, zone, when)
                    self._queue_flip(ref, schedules.next_change(zone.schedule, when))
            elif kind == _ORDER:
                order = self.orders.get(ref)
                if order is not None:
                    changes += self._judge_order(order, when)
                    # its zones start and stop counting at the same instant, with no fix needed
                    for zone_id in sorted(z.id for z in order.zones if z.id in self.zones):
                        changes += self._judge_zone(order.subject_id, self.zones[zone_id], when)
        return changes

    def next_deadline(self) -> datetime | None:
        return self._deadlines[0][0] if self._deadlines else None

    def move(
        self, alert_id: str, target: AlertState, *, actor: str, now: datetime, note: str = ""
    ) -> AlertChange:
        return self.book.move(alert_id, target, actor=actor, now=now, note=note)

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange:
        return self.book.note(alert_id, change, actor=actor, now=now, note=note)

    def alarm(self, verdict: Signal, now: datetime) -> list[AlertChange]:
        """Raise or clear an alarm that no rule judges: the control centre's own delivery failures."""
        return self._apply([verdict], now)

    def orders_of(self, person_id: str) -> list[Order]:
        """The orders a person is party to (either side), in force or not."""
        return [self.orders[o] for o in sorted(self._orders_of.get(person_id, ()))]

    # --- restoring after a restart -----------------------------------------------------------------

    def restore(
        self, fixes: Iterable[Fix], heard: dict[str, datetime], alerts: Iterable[Alert], now: datetime
    ) -> None:
        """Take back recent fixes, last-heard times and open alerts from storage, then settle the rule
        state on the positions known, without announcing anything: the next input carries on."""
        for fix in sorted(fixes, key=lambda f: f.time):
            device = self.devices.get(fix.device_id)
            if device is not None and device.person_id is not None:
                self.tracks.setdefault(device.person_id, Track(device.person_id)).add(fix)
        for device_id, at in heard.items():
            self._heard[device_id] = at
            device = self.devices.get(device_id)
            if device is not None:
                self._schedule_silence(device, at)
        for alert in alerts:
            self.book.restore(alert)
            if alert.key.family == position_doubt.FAMILY and alert.active:
                # the doubts themselves are not kept; the next believed position ends the alarm
                self._doubts[alert.key.person] = DoubtState(raised=True)
        for order in self.orders.values():
            pair = self._parties(order, now)
            if pair is not None and order.active_at(now):
                state, _ = proximity.assess(order, PairState(), *pair, now, self.tuning)
                held = self.book.for_key(proximity.key(order))
                if state.tier == proximity.CLEAR and held is not None and held.active:
                    # its alert is still open but they are apart: the hold starts again now
                    peak = proximity.VIOLATION if RANK.get(held.kind, 0) > 1 else proximity.WARNING
                    state = self._start_hold(order, PairState(proximity.CLEAR, peak, now))
                self._pairs[order.id] = state
        for zone in self.zones.values():
            track = self.tracks.get(zone.subject_id or "")
            if zone.subject_id and track and track.latest:
                on = schedules.is_active(zone.schedule, now)
                latest = track.latest
                self._zone_states[zone.id], _ = zones.assess(
                    zone.subject_id, zone, ZoneState(), latest, now, on, self.tuning,
                    previous=track.fine_before(latest, self.tuning.coarse_accuracy_m),
                )  # fmt: skip

    # --- the rules, in order ----------------------------------------------------------------------

    def _heard_from(
        self, device: Device, received_at: datetime, now: datetime, kind: EventKind
    ) -> list[AlertChange]:
        previous = self._heard.get(device.id)
        self._cadence.setdefault(device.id, signal.Cadence(self.tuning.cadence_keep)).heard(received_at)
        if previous is None or received_at > previous:
            self._heard[device.id] = received_at
            self._schedule_silence(device, received_at)
        self._location_heard(device, received_at, previous)
        ended: list[Signal] = []
        person = device.person_id or ""
        if self._is_active(AlertKey(signal.FAMILY, person, device.id)):
            ended.append(signal.signal(device, False, received_at, self._latest(person), now))
        if kind is not EventKind.POWER_OFF and self._is_active(AlertKey("power", person, device.id)):
            back_on = DeviceEvent(device.id, received_at, EventKind.HEARTBEAT)
            power = device_health.on_event(replace(back_on, kind=EventKind.POWER_OFF), device, None, now)
            assert power is not None
            ended.append(replace(power, active=False, onset=False))
        return self._apply(ended, now)

    def _place(self, device: Device, fix: Fix, received_at: datetime, now: datetime) -> list[AlertChange]:
        person = device.person_id
        assert person is not None
        track = self.tracks.setdefault(person, Track(person))
        latest = track.latest
        # The track keeps the first fix of an instant (a resend, or another of the person's devices
        # in the same second); a second one is no new evidence and must not be judged as late.
        repeat = (
            latest is not None and fix.time <= latest.time and any(f.time == fix.time for f in track.history)
        )
        live = track.add(fix)
        changes: list[AlertChange] = []
        doubts = self._doubts.get(person)
        if doubts is not None:
            doubts, ended = position_doubt.trusted(doubts, device, received_at, self.tuning)
            if doubts.raised or doubts.times:
                self._doubts[person] = doubts
            else:
                del self._doubts[person]
            if ended is not None:
                changes += self._apply([ended], now)
        low, battery = device_health.battery(
            device,
            fix,
            self._battery_low.get(device.id, False),
            self.tuning.battery_low_pct,
            self.tuning.battery_ok_pct,
        )
        self._battery_low[device.id] = low
        if battery is not None:
            changes += self._apply([battery], now)
        if live:
            late = (received_at - fix.time).total_seconds() > self.tuning.late_after_s
            for order_id in sorted(self._orders_of.get(person, ())):
                changes += self._judge_order(self.orders[order_id], now, late=late, measured_at=fix.time)
            if device.person_kind is PersonKind.SUBJECT:
                for zone_id in sorted(self._zones_of.get(person, ())):
                    changes += self._judge_zone(person, self.zones[zone_id], now, late=late)
            if late:
                # The newest fix, but measured long ago: the partner's latest fix may be from a later
                # moment, so also judge it against where the partner was when it was measured.
                changes += self._judge_late(device, fix, now)
        elif not repeat:
            changes += self._judge_late(device, fix, now)
        return changes

    def _judge_order(
        self, order: Order, now: datetime, *, late: bool = False, measured_at: datetime | None = None
    ) -> list[AlertChange]:
        if not order.active_at(now):
            self._pairs.pop(order.id, None)
            return self._apply([proximity.cleared(order, Facts())], now)
        held = self._pairs.get(order.id, _APART)
        if held.left_at is not None and not self._is_active(proximity.key(order)):
            held = _APART  # a person closed it in its hold: a new approach must open a new one
        if held.tier == proximity.CLEAR and not self._is_active(proximity.key(order)):
            # The common case, on the hot path: far apart, nothing raised. Judging in full would
            # build facts only to say nothing; the same verdict costs one distance.
            s, p = self._latest(order.subject_id), self._latest(order.protected_person_id)
            if s is not None and p is not None and proximity.clearly_apart(order, s, p):
                self._pairs[order.id] = held
                return []
        pair = self._parties(order, now)
        if pair is None:
            return []
        state, verdict = proximity.assess(
            order, held, *pair, now, self.tuning, late=late, measured_at=measured_at
        )
        self._pairs[order.id] = self._start_hold(order, state) if state.left_at != held.left_at else state
        return self._apply([verdict], now)

    def _judge_zone(
        self, subject_id: str, zone: Zone, now: datetime, *, late: bool = False
    ) -> list[AlertChange]:
        track = self.tracks.get(subject_id)
        if track is None or track.latest is None:
            return []
        scheduled, protected = self._zone_in_force(zone, now)
        held = self._zone_states.get(zone.id, ZoneState())
        self._zone_states[zone.id], verdict = zones.assess(
            subject_id, zone, held, track.latest, now, scheduled, self.tuning,
            protected_person_id=protected, late=late, previous=self._fine_before(zone, track),
            confirm_within_s=self._confirm_window(track.latest.device_id),
        )  # fmt: skip
        return self._apply([verdict], now)

    def _fine_before(self, zone: Zone, track: Track) -> Fix | None:
        """What confirms a curfew absence (zones.assess); exclusion zones need nothing, so the hot
        path does not look for it."""
        if zone.kind is not ZoneKind.INCLUSION or track.latest is None:
            return None
        return track.fine_before(track.latest, self.tuning.coarse_accuracy_m)

    def _zone_in_force(self, zone: Zone, at: datetime) -> tuple[bool, str | None]:
        """Whether the zone counts at `at` (its order in force, its schedule on), and whom it protects."""
        if zone.order_id is not None:
            order = self.orders.get(zone.order_id)
            in_force = order is not None and order.active_at(at)
            protected = order.protected_person_id if order else None
        else:
            in_force, protected = True, None
        return in_force and schedules.is_active(zone.schedule, at), protected

    def _judge_late(self, device: Device, fix: Fix, now: datetime) -> list[AlertChange]:
        """Judge an out-of-order fix at its own time. It may open (or escalate) an alert marked late;
        an alert already open for the same thing keeps its live facts. Then the live state is
        re-asserted, so a breach that is over shows as opened then cleared."""
        person = device.person_id
        assert person is not None
        at = fix.time
        verdicts: list[Signal] = []
        for order_id in sorted(self._orders_of.get(person, ())):
            order = self.orders[order_id]
            if not order.active_at(at):
                continue
            pair = self._parties(order, at, late_fix=fix)
            if pair is None:
                continue
            _, verdict = proximity.assess(order, PairState(), *pair, at, self.tuning, late=True)
            verdicts.append(verdict)
        if device.person_kind is PersonKind.SUBJECT:
            track = self.tracks[person]
            previous = track.fine_before(fix, self.tuning.coarse_accuracy_m)
            for zone_id in sorted(self._zones_of.get(person, ())):
                zone = self.zones[zone_id]
                scheduled, protected = self._zone_in_force(zone, at)
                _, verdict = zones.assess(
                    person, zone, ZoneState(), fix, at, scheduled, self.tuning,
                    protected_person_id=protected, late=True, previous=previous,
                    confirm_within_s=self._confirm_window(fix.device_id),
                )  # fmt: skip
                verdicts.append(verdict)
        changes: list[AlertChange] = []
        for verdict in verdicts:
            if not verdict.active or not self._news(verdict):
                continue
            changes += self._apply([verdict], now)
            if not self._live_holds(verdict.key):
                changes += self._apply([replace(verdict, active=False, onset=False)], now)
        return changes

    def _news(self, late: Signal) -> bool:
        current = self.book.for_key(late.key)
        return current is None or RANK.get(late.kind, 0) > RANK.get(current.kind, 0)

    def _live_holds(self, key: AlertKey) -> bool:
        if key.family == proximity.FAMILY:
            return any(
                self._pairs.get(oid, PairState()).holding
                for oid in self._orders_of.get(key.person, ())
                if self.orders[oid].protected_person_id == key.target
            )
        return self._zone_states.get(key.target, ZoneState()).breach

    def _parties(self, order: Order, at: datetime, late_fix: Fix | None = None) -> tuple[Party, Party] | None:
        """Both parties' fixes in force at `at`; for a late fix, its own side is that fix."""
        sides: list[Party] = []
        for person in (order.subject_id, order.protected_person_id):
            track = self.tracks.get(person)
            if track is None:
                return None
            own = late_fix is not None and self.devices[late_fix.device_id].person_id == person
            fix = late_fix if own else (track.at(at) if late_fix is not None else track.latest)
            if fix is None:
                return None
            sides.append(Party(fix, track.before(fix)))
        return sides[0], sides[1]

    def _silence_due(self, device_id: str, when: datetime) -> list[AlertChange]:
        self._silence_queued.discard(device_id)
        device = self.devices.get(device_id)
        heard = self._heard.get(device_id)
        due = self._silence_at.get(device_id)
        if device is None or heard is None or due is None:
            return []
        if due > when:  # heard again since this entry was queued
            self._silence_queued.add(device_id)
            self._push(due, _SILENCE, device_id)
            return []
        del self._silence_at[device_id]
        person = device.person_id or ""
        return self._apply([signal.signal(device, True, heard, self._latest(person), when)], when)

    # --- no churn: reporting cadence, location loss, pending clears -----------------------------------

    def _learned(self, device_id: str) -> float | None:
        cadence = self._cadence.get(device_id)
        return None if cadence is None else cadence.interval(self.tuning.cadence_least)

    def _interval(self, device_id: str) -> float | None:
        device = self.devices.get(device_id)
        return None if device is None else signal.interval(device, self._learned(device_id))

    def _confirm_window(self, device_id: str) -> float:
        return zones.confirm_window(self._interval(device_id), self.tuning)

    def _silence_allowed(self, device: Device) -> float:
        """The silence after which the device is not "reporting" any more: its signal_loss limit, or
        for a device whose silence is not watched, what an ankle monitor would be allowed."""
        limit = signal.silence_limit(device, self.tuning, self._learned(device.id))
        if limit is not None:
            return limit
        every = signal.interval(device, self._learned(device.id))
        return max(self.tuning.default_silence_s, self.tuning.silence_intervals * (every or 0.0))

    def _location_heard(self, device: Device, received_at: datetime, previous: datetime | None) -> None:
        """Any message starts the location clock if none runs; after a silence it starts again, so a
        silence is signal_loss alone and its end does not raise location_loss at once."""
        if location.limit(device, self.tuning) is None:
            return
        state = self._located.get(device.id)
        if state is None:
            state = LocationState(received_at)
        elif previous is not None and (received_at - previous).total_seconds() > self._silence_allowed(
            device
        ):
            state = replace(state, since=max(state.since, received_at))
        else:
            return
        self._located[device.id] = state
        self._schedule_location(device)

    def _located_by(self, device: Device, fix: Fix, now: datetime) -> list[AlertChange]:
        """A fix from the device: a usable position ends the spell (and its location_loss)."""
        state = self._located.get(device.id)
        if location.limit(device, self.tuning) is None or not location.usable(fix, self.tuning):
            return []
        placed = location.placed(state, fix, self.tuning)
        if placed is None or placed == state:
            return []
        self._located[device.id] = placed
        key = AlertKey(location.FAMILY, device.person_id or "", device.id)
        changes = []
        if self._is_active(key):
            changes = self._apply([location.signal(device, False, placed, now)], now)
        self._schedule_location(device)  # once it is clear: the next spell is watched again
        return changes

    def _schedule_location(self, device: Device) -> None:
        state = self._located.get(device.id)
        key = AlertKey(location.FAMILY, device.person_id or "", device.id)
        due = None if state is None else location.deadline(device, state, self.tuning)
        if due is None or self._is_active(key):
            self._location_at.pop(device.id, None)
            return
        previous = self._location_at.get(device.id)
        self._location_at[device.id] = due
        if device.id not in self._location_queued or previous is None or due < previous:
            self._location_queued.add(device.id)
            self._push(due, _LOCATION, device.id)

    def _location_due(self, device_id: str, when: datetime) -> list[AlertChange]:
        self._location_queued.discard(device_id)
        device = self.devices.get(device_id)
        state = self._located.get(device_id)
        due = self._location_at.get(device_id)
        if device is None or state is None or due is None:
            return []
        if due > when:  # a usable position since this entry was queued
            self._location_queued.add(device_id)
            self._push(due, _LOCATION, device_id)
            return []
        del self._location_at[device_id]
        heard = self._heard.get(device_id)
        person = device.person_id or ""
        silent = (
            heard is None
            or heard <= state.since  # nothing heard since the spell began: silence, not shielding
            or self._is_active(AlertKey(signal.FAMILY, person, device_id))
            or (when - heard).total_seconds() >= self._silence_allowed(device)
        )
        if silent:
            return []  # signal_loss covers it; the clock starts again when the device is heard
        return self._apply([location.signal(device, True, state, when)], when)

    def _start_hold(self, order: Order, state: PairState) -> PairState:
        """Queue the pending clear of a pair that has just left every tier."""
        due = proximity.hold_ends(state, self.tuning)
        if due is not None:
            self._push(due, _HOLD, order.id)
        return state

    def _hold_due(self, order_id: str, when: datetime) -> list[AlertChange]:
        """The end of a pair's hold: if they are still apart, its alert clears now."""
        order = self.orders.get(order_id)
        state = self._pairs.get(order_id)
        if order is None or state is None or proximity.hold_ends(state, self.tuning) != when:
            return []  # back in a tier, or left again later (that entry is queued), or gone
        pair = self._parties(order, when)
        if pair is None:
            self._pairs[order_id] = PairState()
            return self._apply([proximity.cleared(order, Facts())], when)
        self._pairs[order_id], verdict = proximity.assess(order, state, *pair, when, self.tuning)
        return self._apply([verdict], when)

    # --- plumbing ---------------------------------------------------------------------------------

    def _apply(self, verdicts: list[Signal], now: datetime) -> list[AlertChange]:
        changes = []
        for verdict in verdicts:
            change = self.book.apply(verdict, now)
            if change is not None:
                changes.append(change)
        return changes

    def _is_active(self, key: AlertKey) -> bool:
        alert = self.book.for_key(key)
        return alert is not None and alert.active

    def _latest(self, person: str) -> Fix | None:
        track = self.tracks.get(person)
        return track.latest if track else None

    def _schedule_silence(self, device: Device, heard: datetime) -> None:
        due = signal.deadline(device, heard, self.tuning, self._learned(device.id))
        if due is None:
            self._silence_at.pop(device.id, None)
            return
        previous = self._silence_at.get(device.id)
        self._silence_at[device.id] = due
        # An entry already queued comes due no later than the deadline it was pushed for; it is
        # pushed back when reached early. A deadline brought forward (a shorter limit) needs its own.
        if device.id not in self._silence_queued or previous is None or due < previous:
            self._silence_queued.add(device.id)
            self._push(due, _SILENCE, device.id)

    def _push(self, when: datetime, kind: str, ref: str) -> None:
        heapq.heappush(self._deadlines, (when, next(self._seq), kind, ref))
