"""The detection engine: registry knowledge, per-pair and per-zone rule state, and the open alerts.

It is handed every input and the time, and answers with alert changes; it does no I/O and reads no
clock. The rules each report goes through, in the order they run, are listed once, at the end of
this module: ON_FIX, ON_EVENT (the event's own alarm, then its fix as any fix) and ON_DOUBTED (a
position judged implausible by `doubt`: it moves no one and feeds no other rule). `tick` runs the
deadlines due: device silence, a device's spell with no usable position (location_loss), a pair's
pending clear at the end of its hold, zone schedule boundaries, orders starting or ending.

A fix older than the person's live position (out of order, or a late batch) is judged at its own
time against what the partner's position was then; it may open an alert (marked late) but never
moves the live position or the live rule state.

Where people were (domain/track.py): each device keeps its own track, bounded by time
(`Tuning.keep_s`); a person's live position is fused from their devices. A late fix older than what
memory holds of the partner (up to `Tuning.late_horizon_s`) needs the partner's past from the store:
the caller asks `past_needed(fix, now)` before handing the fix in, reads those fixes and gives them
with `recall(person, fixes)`, and calls `forget()` after the batch. The engine stays pure: it says
what it needs and is handed it.

Every device's fix is first checked for plausibility against the same device's last good fix
(rules/movement.py): a suspect one moves no one, raises at most an unconfirmed possible warning, and
asks for faster reporting (`requests`, drained by the caller with `drain_requests()`). A live fix of
the subject is also judged on the straight path from the device's previous fix (rules/between.py).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from vigil.domain import geo, plausibility
from vigil.domain import schedule as schedules
from vigil.domain.alerts import (
    RANK,
    Alert,
    AlertBook,
    AlertChange,
    AlertKey,
    AlertKind,
    AlertState,
    Change,
    Confidence,
    Facts,
    Signal,
)
from vigil.domain.incidents import Incident, IncidentBook
from vigil.domain.model import (
    Device,
    DeviceEvent,
    EventKind,
    Fix,
    FixSource,
    Order,
    PersonKind,
    Zone,
    ZoneKind,
)
from vigil.domain.plausibility import Doubt
from vigil.domain.track import BODY_WORN, WORN_CURRENT_S, WORN_INTERVALS, Track, Whereabouts, fuse, position
from vigil.rules import (
    between,
    ble,
    device_health,
    location,
    movement,
    position_doubt,
    proximity,
    pursuit,
    signal,
    zones,
)
from vigil.rules.location import LocationState
from vigil.rules.movement import ReportingRequest, Suspect
from vigil.rules.position_doubt import DoubtState
from vigil.rules.proximity import PairState, Party
from vigil.rules.tuning import Tuning
from vigil.rules.zones import ZoneState

_APART = PairState()

# Deadline kinds on the engine's timer.
_SILENCE, _SCHEDULE, _ORDER = "silence", "schedule", "order"
_LOCATION, _LOCATED, _HOLD = "location", "located", "hold"


class UnknownDevice(KeyError):
    """A report from a device that is not registered or not bound to anyone."""


class Engine:
    def __init__(
        self,
        tuning: Tuning | None = None,
        new_id: Callable[[], str] | None = None,
        new_incident_id: Callable[[], str] | None = None,
    ) -> None:
        counter = itertools.count(1)
        incident_counter = itertools.count(1)
        self.tuning = tuning or Tuning()
        # a danger back within a tier's hold after its alert cleared is that alert again; later, new
        self.book = AlertBook(new_id or (lambda: f"a-{next(counter)}"), self.tuning.tier_hold_s)
        self.incidents = IncidentBook(
            new_incident_id or (lambda: f"i-{next(incident_counter)}"), self.tuning.incident_window_s
        )
        self.devices: dict[str, Device] = {}
        self.orders: dict[str, Order] = {}
        self.zones: dict[str, Zone] = {}  # a subject's own zones and orders' fixed zones, by id
        self.tracks: dict[str, Whereabouts] = {}
        # Per person, memory completed with the past read back from the store for this batch's late
        # fixes (`recall`); dropped by `forget`.
        self._past: dict[str, Whereabouts] = {}
        # Per device, the fix that is not yet believed (an implausible move) awaiting the next one.
        self._suspects: dict[str, Suspect] = {}
        # Requests for faster reporting, drained by the caller.
        self.requests: list[ReportingRequest] = []
        # Which devices are asked to report fast, and why (pursuit mode): changes drained by the caller.
        self.pursuit = pursuit.Pursuit(self.tuning.pursuit_hold_s)
        self._bound: dict[str, set[str]] = {}  # person -> the devices bound to them
        self._tags: dict[str, str] = {}  # a monitor's BLE tag -> the monitor
        self._horizon = timedelta(seconds=self.tuning.late_horizon_s)
        self._orders_of: dict[str, set[str]] = {}  # person (either side) -> order ids
        self._zones_of: dict[str, set[str]] = {}  # subject -> zone ids
        self._pairs: dict[str, PairState] = {}
        # The order speaking for a pair's alert when several orders protect her from him (`_speak`).
        self._speaker: dict[AlertKey, str] = {}
        self._handing_over: set[AlertKey] = set()
        # Breaches from the past that an upload's older fixes raised, their clear held until the
        # batch's newest fix of that device has been judged (`_settle`): device, the breach.
        self._unsettled: dict[AlertKey, tuple[str, Signal]] = {}
        self._zone_states: dict[str, ZoneState] = {}
        self._heard: dict[str, datetime] = {}
        # One timer entry per device at most: a fix every second must not grow the heap; an entry
        # that comes due early is pushed back to the device's current deadline.
        self._silence_at: dict[str, datetime] = {}
        self._silence_queued: set[str] = set()
        self._cadence: dict[str, signal.Cadence] = {}  # how often each device reports, as learned
        # devices whose signal_loss flaps (opened again within the hold of its clear), each with when
        # the first message since the silence came, if one has (`_reporting_again`)
        self._flapping: dict[str, datetime | None] = {}
        # Each watched device's spell with no usable position; its deadline, one timer entry per
        # device at most (as for silence).
        self._located: dict[str, LocationState] = {}
        self._location_at: dict[str, datetime] = {}
        self._location_queued: set[str] = set()
        # A location_loss alert whose positions came back clears at the end of a hold, when they are
        # still coming then (`location.clear_after`): one alert per real outage, not per stray fix.
        self._location_clear_at: dict[str, datetime] = {}
        self._battery_low: dict[str, bool] = {}
        self._doubts: dict[str, DoubtState] = {}  # people with recent implausible positions
        # A zone's next schedule boundary on the timer; an entry for any other time is stale (the zone
        # was replaced or removed), so putting a zone again does not start a second chain of entries.
        self._flip_at: dict[str, datetime] = {}
        self._deadlines: list[tuple[datetime, int, str, str]] = []
        self._seq = itertools.count()

    # --- registry ---------------------------------------------------------------------------------

    def put_device(self, device: Device) -> None:
        old = self.devices.get(device.id)
        if old is not None and old.person_id is not None and old.person_id != device.person_id:
            # Rebound (or returned to stock): its fixes no longer say where its old person is.
            where = self.tracks.get(old.person_id)
            if where is not None:
                where.drop(device.id)
            self._suspects.pop(device.id, None)
        if old is not None and old.person_id is not None:
            self._bound.get(old.person_id, set()).discard(device.id)
        if device.person_id is not None:
            self._bound.setdefault(device.person_id, set()).add(device.id)
        if (
            old is not None
            and old.ble_tag is not None
            and self._tags.get(ble.normal_tag(old.ble_tag)) == device.id
        ):
            del self._tags[ble.normal_tag(old.ble_tag)]
        if device.ble_tag is not None:
            self._tags[ble.normal_tag(device.ble_tag)] = device.id
        if device.in_pursuit and (old is None or not old.in_pursuit):
            self.pursuit.restore([device.id])
        self.devices[device.id] = device
        heard = self._heard.get(device.id)
        if heard is not None:
            self._schedule_silence(device, heard)
        self._schedule_location(device)

    def kept_from(self, protected_id: str, at: datetime | None = None) -> list[str]:
        """The subjects of the orders protecting this person (in force at `at`, if given)."""
        orders = (self.orders[o] for o in self._orders_of.get(protected_id, ()))
        return sorted(
            {
                o.subject_id
                for o in orders
                if o.protected_person_id == protected_id and (at is None or o.active_at(at))
            }
        )

    def kept_away(self, subject_id: str) -> list[str]:
        """The people the orders in force keep this subject from."""
        orders = (self.orders[o] for o in self._orders_of.get(subject_id, ()))
        return sorted({o.protected_person_id for o in orders if o.subject_id == subject_id})

    def put_order(self, order: Order, now: datetime) -> list[AlertChange]:
        """Add or replace an order. It protects at once: the pair and its zones are judged now
        against the positions already known, with no fix needed from either party."""
        changes: list[AlertChange] = []
        old = self.orders.get(order.id)
        if old is not None:
            self._unindex(old)
            if (old.subject_id, old.protected_person_id) != (order.subject_id, order.protected_person_id):
                self._pairs.pop(order.id, None)  # a different pair: what the old one raised ends
                changes += self._speak(old, proximity.cleared(old, Facts()), now)
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
        changes = self._speak(order, proximity.cleared(order, Facts()), now)
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

    def on_fix(
        self, fix: Fix, received_at: datetime, now: datetime, *, followed: bool = False
    ) -> list[AlertChange]:
        """A fix, through the rules of ON_FIX in their order. `followed`: a newer fix of the same
        device comes in the same batch (see `_Report.followed`)."""
        device = self.device_for(fix.device_id)
        return self._judge(ON_FIX, _Report(device, received_at, now, fix, followed=followed))

    def on_event(
        self, event: DeviceEvent, received_at: datetime, now: datetime, *, followed: bool = False
    ) -> list[AlertChange]:
        """A device event, through the rules of ON_EVENT in their order (its own fix, if it has one,
        as a fix is)."""
        device = self.device_for(event.device_id)
        assert device.person_id is not None
        report = _Report(device, received_at, now, event.fix, event=event, followed=followed)
        return self._judge(ON_EVENT, report)

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
        return self._judge(ON_DOUBTED, _Report(device, received_at, now, fix, doubt=doubt))

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
            elif kind == _LOCATED:
                changes += self._located_due(ref, when)
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
        self.pursuit.due(now)
        return changes

    def next_deadline(self) -> datetime | None:
        due = [self._deadlines[0][0]] if self._deadlines else []
        ending = self.pursuit.next_due()
        return min(due + ([ending] if ending is not None else []), default=None)

    def drain_modes(self) -> list[pursuit.ModeChange]:
        """The pursuit-mode changes made since the last drain: devices to ask to report fast, or as
        normal (rules/pursuit.py)."""
        return self.pursuit.drain()

    def move(
        self, alert_id: str, target: AlertState, *, actor: str, now: datetime, note: str = ""
    ) -> AlertChange:
        return self._grouped(self.book.move(alert_id, target, actor=actor, now=now, note=note))

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange:
        return self._grouped(self.book.note(alert_id, change, actor=actor, now=now, note=note))

    def alarm(self, verdict: Signal, now: datetime) -> list[AlertChange]:
        """Raise or clear an alarm that no rule judges: the control centre's own delivery failures."""
        return self._apply([verdict], now)

    def orders_of(self, person_id: str) -> list[Order]:
        """The orders a person is party to (either side), in force or not."""
        return [self.orders[o] for o in sorted(self._orders_of.get(person_id, ()))]

    # --- restoring after a restart -----------------------------------------------------------------

    def restore(
        self,
        fixes: Iterable[Fix],
        heard: dict[str, datetime],
        alerts: Iterable[Alert],
        now: datetime,
        incidents: Iterable[Incident] = (),
    ) -> None:
        """Take back recent fixes, last-heard times, open alerts and open incidents from storage, then
        settle the rule state on the positions known, without announcing anything: the next input
        carries on."""
        alerts = list(alerts)
        members: dict[str, list[Alert]] = {}
        for alert in alerts:
            if alert.incident_id is not None:
                members.setdefault(alert.incident_id, []).append(alert)
        for incident in incidents:
            self.incidents.restore(incident, members.get(incident.id, []))
        for fix in sorted(fixes, key=lambda f: f.time):
            device = self.devices.get(fix.device_id)
            if device is not None and device.person_id is not None:
                # how often it reports, from the gaps between its recent fixes: a restart (or a
                # partition taken over) must not give every device a stranger's silence allowance
                cadence = self._cadence.get(device.id)
                if cadence is None:
                    cadence = self._cadence[device.id] = signal.Cadence(self.tuning.cadence_keep)
                cadence.heard(fix.time)
                where = self.tracks.setdefault(device.person_id, Whereabouts(device.person_id))
                where.add(fix, self._worn_s(device), self.tuning.keep_s, self.tuning.keep_n)
                if location.limit(device, self.tuning) is not None:
                    # the location clock carries on from his last usable position (and whether he
                    # was at rest): a restart must not start every indoor monitor's spell afresh
                    placed = location.placed(self._located.get(device.id), fix, self.tuning)
                    if placed is not None:
                        self._located[device.id] = placed
        for whereabouts in self.tracks.values():
            for kept in whereabouts.devices.values():
                kept.complete = False  # the store holds what came before: late fixes read it there
        for device_id, at in heard.items():
            self._heard[device_id] = at
            device = self.devices.get(device_id)
            if device is not None:
                self._schedule_silence(device, at)
        for alert in alerts:
            self.book.restore(alert)
            self._pursue(alert, now)
            if alert.key.family == position_doubt.FAMILY and alert.active:
                # the doubts themselves are not kept; the next believed position ends the alarm
                self._doubts[alert.key.person] = DoubtState(raised=True)
        for device_id in self._located:
            device = self.devices.get(device_id)
            if device is not None:
                self._schedule_location(device)
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
        self.pursuit.settle(now)  # devices left in pursuit with no danger now end after the hold

    # --- the rules, in order ----------------------------------------------------------------------

    def _heard_from(
        self, device: Device, received_at: datetime, now: datetime, kind: EventKind
    ) -> list[AlertChange]:
        previous = self._heard.get(device.id)
        cadence = self._cadence.get(device.id)
        if cadence is None:
            cadence = self._cadence[device.id] = signal.Cadence(self.tuning.cadence_keep)
        cadence.heard(received_at)
        if previous is None or received_at > previous:
            self._heard[device.id] = received_at
            self._schedule_silence(device, received_at)
            self._still_worn(device, received_at)
        self._location_heard(device, received_at, previous)
        ended: list[Signal] = []
        person = device.person_id or ""
        if self._is_active(AlertKey(signal.FAMILY, person, device.id)) and self._reporting_again(
            device, received_at
        ):
            ended.append(signal.signal(device, False, received_at, self._latest(person), now))
        if kind is not EventKind.POWER_OFF and self._is_active(AlertKey("power", person, device.id)):
            back_on = DeviceEvent(device.id, received_at, EventKind.HEARTBEAT)
            power = device_health.on_event(replace(back_on, kind=EventKind.POWER_OFF), device, None, now)
            assert power is not None
            ended.append(replace(power, active=False, onset=False))
        return self._apply(ended, now)

    # --- the rules a report goes through (ON_FIX, ON_EVENT, ON_DOUBTED below the class) -------------
    # Each adds its alert changes to the report's and answers whether the report goes on to the next.

    def _judge(self, rules: tuple[Rule, ...], report: _Report) -> list[AlertChange]:
        for rule in rules:
            if not rule(self, report):
                break
        if self._unsettled and not report.followed:
            report.changes += self._settle(report.device.id, report.now)
        return report.changes

    def _alive(self, r: _Report) -> bool:
        """Any message proves the device alive: its silence (signal_loss), or power_off, ends."""
        kind = EventKind.HEARTBEAT if r.event is None else r.event.kind
        r.changes += self._heard_from(r.device, r.received_at, r.now, kind)
        return True

    def _alarm(self, r: _Report) -> bool:
        """The event's own alarm (tamper, sos, power, battery: device_health), where it was sent
        from, or where the person last was."""
        event, device = r.event, r.device
        assert event is not None and device.person_id is not None
        if event.kind is EventKind.BATTERY_LOW:
            # What the device says outright is what the levels on its fixes are compared with, so a
            # charged level on a later fix ends the alert (charging is not always reported).
            self._battery_low[device.id] = True
        track = self.tracks.get(device.person_id)
        where = event.fix or (track.latest if track else None)
        alarm = device_health.on_event(event, device, where, r.now)
        if alarm is not None:
            if (r.received_at - event.time).total_seconds() > self.tuning.late_after_s:
                # raised all the same, and marked: a strap cut 18 minutes ago is not one under way
                alarm = replace(alarm, late=True)
            r.changes += self._apply([alarm], r.now)
        if event.kind is EventKind.BLE_CONTACT:
            r.changes += self._ble_contact(event, device, where, r.now)
        return r.fix is not None  # an event with no fix of its own goes no further

    def _ble_contact(
        self, event: DeviceEvent, device: Device, hers: Fix | None, now: datetime
    ) -> list[AlertChange]:
        """Her device saw a monitor's tag: each order in force between her and its wearer is in the
        violation tier (rules/ble.py). A tag no monitor has, or a wearer she has no order against,
        says nothing."""
        tag = ble.tag_of(event)
        monitor = self.devices.get(self._tags.get(tag, "")) if tag is not None else None
        if (
            device.person_kind is not PersonKind.PROTECTED_PERSON
            or monitor is None
            or monitor.person_kind is not PersonKind.SUBJECT  # an id is looked up with its kind
            or monitor.person_id is None
        ):
            return []
        subject, her = monitor.person_id, device.person_id
        assert her is not None
        verdicts: list[Signal] = []
        for order in self.orders_of(her):
            if (
                order.subject_id != subject
                or order.protected_person_id != her
                or not order.active_at(event.time)
            ):
                continue
            held = self._pairs.get(order.id, _APART)
            state, verdict = ble.contact(
                order, held, hers, self._latest(subject), ble.rssi_of(event), event.time
            )
            self._pairs[order.id] = state
            verdicts.append(verdict)
        return self._apply(verdicts, now) + self._seen_elsewhere(monitor, now)

    def _seen_elsewhere(self, monitor: Device, now: datetime) -> list[AlertChange]:
        """His tag at her side says he is not where his monitor last placed him at rest: a monitor
        giving no position there is no longer a man at home, and the short location limit applies
        (jammed at her door, it was left to the 2-hour rest allowance). Raised now if that limit
        ran out long ago."""
        located = self._located.get(monitor.id)
        if located is None or not located.at_rest:
            return []
        self._located[monitor.id] = replace(located, at_rest=False, arrived=False, arrived_at=None)
        self._schedule_location(monitor)
        due = self._location_at.get(monitor.id)
        return self._location_due(monitor.id, now) if due is not None and due <= now else []

    def _doubted(self, r: _Report) -> bool:
        """A position not believed: repeated ones raise position_doubt for the person. It moves no
        one and feeds no other rule."""
        device, doubt = r.device, r.doubt
        assert device.person_id is not None and doubt is not None
        held = self._doubts.get(device.person_id, DoubtState())
        state, verdict = position_doubt.doubted(held, device, doubt, r.received_at, self.tuning)
        self._doubts[device.person_id] = state
        if verdict is None:
            return False
        if verdict.active and held.raised and self.book.for_key(verdict.key) is None:
            return False  # a person closed it while the doubts went on: not again until they stop
        # the sentence goes in the timeline too, where the operator reads what happened
        r.changes += [replace(c, note=verdict.facts.event or "") for c in self._apply([verdict], r.now)]
        return False

    def _location(self, r: _Report) -> bool:
        """location: a usable position ends the device's spell with none (location_loss)."""
        r.changes += self._located_by(r.device, r.position, r.now)
        return True

    def _placed(self, r: _Report) -> bool:
        """Where the fix falls in its device's track: the newest, older, or a repeat of an instant."""
        person = r.device.person_id
        assert person is not None
        where = self.tracks.get(person)
        if where is None:
            where = self.tracks[person] = Whereabouts(person)
        own = where.devices.get(r.device.id)
        r.where, r.own = where, own
        r.newest = own is None or not own.history or r.position.time > own.history[-1].time
        # A device keeps the first fix of an instant (a resend); a second one is no new evidence and
        # must not be judged as late.
        r.repeat = not r.newest and own is not None and own.holds(r.position.time)
        return True

    def _doubt_ended(self, r: _Report) -> bool:
        """position_doubt: a believed position ends the person's doubt."""
        person = r.device.person_id
        assert person is not None
        doubts = self._doubts.get(person)
        if doubts is not None:
            doubts, ended = position_doubt.trusted(doubts, r.device, r.received_at, self.tuning)
            if doubts.raised or doubts.times:
                self._doubts[person] = doubts
            else:
                del self._doubts[person]
            if ended is not None:
                r.changes += self._apply([ended], r.now)
        return True

    def _battery(self, r: _Report) -> bool:
        """device_health: the battery level the fix carries."""
        device = r.device
        low, battery = device_health.battery(
            device,
            r.position,
            self._battery_low.get(device.id, False),
            self.tuning.battery_low_pct,
            self.tuning.battery_ok_pct,
        )
        self._battery_low[device.id] = low
        if battery is not None:
            r.changes += self._apply([battery], r.now)
        return not r.repeat  # a repeat goes no further

    def _plausible(self, r: _Report) -> bool:
        """movement: a newest fix that is not a move its device could have made is held aside until
        the next one settles it (an unconfirmed warning at most), and goes no further."""
        if not r.newest:
            return True
        fix, own, tuning = r.position, r.own, self.tuning
        history = own.history if own is not None else []
        anchor = history[-1] if history else None
        before = history[-2] if len(history) > 1 else None
        pending = self._suspects.pop(r.device.id, None) if self._suspects else None
        if pending is not None and movement.agrees(pending, fix, tuning):
            # Confirmed: he really was where the doubted fix said; it becomes a good fix.
            r.track.add(pending.fix, self._worn_s(r.device), tuning.keep_s, tuning.keep_n)
            anchor, before = pending.fix, anchor
        doubt = movement.suspect(anchor, fix, tuning, before)
        if doubt is not None and anchor is not None:
            if r.followed:
                # an upload's older fix: the next fix of the same batch settles it, at once; no
                # warning judged against where the other party is now, no request to report faster
                self._suspects[r.device.id] = Suspect(fix, anchor, doubt)
                return False
            r.changes += self._unconfirmed(r.device, fix, anchor, doubt, r.now)
            return False
        return True

    def _recent(self, r: _Report) -> bool:
        """A fix older than the late horizon is stored for the record, too old to act on."""
        if r.now - r.position.time > self._horizon:
            r.track.add(r.position, self._worn_s(r.device), self.tuning.keep_s, self.tuning.keep_n)
            return False
        return True

    def _tracked(self, r: _Report) -> bool:
        """Into the person's track: live when it becomes (or confirms) the person's position."""
        where, tuning = r.track, self.tuning
        _, r.live = where.add(r.position, self._worn_s(r.device), tuning.keep_s, tuning.keep_n)
        if self._suspects and r.newest and self._corroborates(where, r.device, r.position):
            r.live = True  # another device's doubted fix is confirmed: the person is judged again
        if r.live:
            latest = where.latest
            assert latest is not None
            r.latest = latest
            r.late = (r.received_at - latest.time).total_seconds() > tuning.late_after_s
        return True

    def _proximity(self, r: _Report) -> bool:
        """proximity: each order the person is party to, on the live positions; and on the newest fix
        of another of his devices, which may be judged beside the live one (`_worn_elsewhere`): his
        phone at her door while his slow monitor's fix is minutes old."""
        escort = (
            r.newest
            and not r.late
            and r.device.person_kind is PersonKind.SUBJECT
            and len(r.track.devices) > 1
            and r.track.escorts(r.position)
        )
        if (r.live or escort) and not r.passing:
            person = r.track.person_id
            measured_at = None if r.latest is None else r.latest.time
            for order_id in sorted(self._orders_of.get(person, ())):
                order = self.orders[order_id]
                r.changes += self._judge_order(order, r.now, late=r.late, measured_at=measured_at)
        return True

    def _zones(self, r: _Report) -> bool:
        """zones: a subject's zones (his own and his orders'), on his live position."""
        if r.live and not r.passing and r.device.person_kind is PersonKind.SUBJECT:
            person = r.track.person_id
            for zone_id in sorted(self._zones_of.get(person, ())):
                r.changes += self._judge_zone(person, self.zones[zone_id], r.now, late=r.late)
        return True

    def _late(self, r: _Report) -> bool:
        """A fix judged at its own time: one out of order (for its device, or behind the person's
        live position), or the newest but measured long ago (the partner's latest fix may be from a
        later moment, so it is also judged against where the partner was when it was measured)."""
        fix, where = r.position, r.track
        if r.live:
            judge = r.late and r.latest is fix
        else:
            judge = where.latest is not None and fix.time < where.latest.time
        if judge:
            r.changes += self._judge_late(r.device, fix, r.now, hold=r.followed)
        return True

    def _path(self, r: _Report) -> bool:
        """between: the straight path to a subject's live fix from his previous one."""
        if r.live and r.latest is r.position and r.device.person_kind is PersonKind.SUBJECT:
            r.changes += self._judge_path(r.track.person_id, r.position, r.now, hold=r.followed)
        return True

    def _corroborates(self, where: Whereabouts, device: Device, fix: Fix) -> bool:
        """A believed fix of one device that agrees with another device's doubted one, within the
        confirmation window, confirms it (he really is there): it becomes a good fix of its device.
        True when one was confirmed."""
        confirmed = False
        for other_id in [d for d in where.devices if d != device.id and d in self._suspects]:
            pending = self._suspects[other_id]
            seconds = abs((fix.time - pending.fix.time).total_seconds())
            if seconds > self.tuning.confirm_window_s or not movement.corroborates(pending, fix, self.tuning):
                continue
            del self._suspects[other_id]
            other = self.devices[other_id]
            where.add(pending.fix, self._worn_s(other), self.tuning.keep_s, self.tuning.keep_n)
            confirmed = True
        return confirmed

    def _unconfirmed(
        self, device: Device, fix: Fix, anchor: Fix, doubt: Doubt, now: datetime
    ) -> list[AlertChange]:
        """A fix that is not a move its device could have made: held aside until the next fix settles
        it. It moves no one; where it would put him inside a tier the pair is not in, a possible
        warning marked unconfirmed is raised, and the device is asked to report faster."""
        person = device.person_id
        assert person is not None
        tuning = self.tuning
        self._suspects[device.id] = Suspect(fix, anchor, doubt)
        until = now + timedelta(seconds=tuning.confirm_window_s)
        self.requests.append(ReportingRequest(device.id, tuning.confirm_interval_s, doubt.reason, until))
        self.pursuit.request(device.id, doubt.reason, until, now)
        if self._own_at(person, fix) is not fix:
            return []  # another device (a body-worn one) stands for the person: this one warns of nothing
        # A coarse doubted fix defers to the device's last fine fix as any coarse fix does
        # (proximity._best): a cell fix far from the cell fix before it is no move, and no warning,
        # when its disc holds where she last was measured well.
        fine = (
            self.tracks[person].fine_before(fix, tuning.coarse_accuracy_m)
            if proximity.is_coarse(fix, tuning)
            else None
        )
        verdicts: list[Signal] = []
        for order_id in sorted(self._orders_of.get(person, ())):
            order = self.orders[order_id]
            if not order.active_at(now) or self._is_active(proximity.key(order)):
                continue  # a believed position already holds the pair in a tier: nothing to add
            other = order.protected_person_id if person == order.subject_id else order.subject_id
            partner = self._latest(other)
            if partner is None:
                continue
            # No speed from a doubted move: only what the receiver itself measures.
            doubted, believed = Party(fix, None, fine), Party(partner, self.tracks[other].before(partner))
            pair = (doubted, believed) if person == order.subject_id else (believed, doubted)
            _, verdict = proximity.assess(order, PairState(), *pair, now, tuning)
            # Only where it may put him within the violation distance, or a receiver measures one of
            # them moving: a still pair's lone impossible fix that would only warn is a reflection
            # (a GNSS fix claiming 17 m, 366 m off, put neighbours 1.3 km apart "within 1 km" for a
            # minute), as a lone Wi-Fi fix across the line is (`proximity._seen_twice`). The device
            # is asked to report faster all the same, and its next fix settles it.
            if verdict.active and (
                proximity.reaches_violation(order, *(p.fix for p in pair))
                or proximity.moving(fix, partner, tuning)
            ):
                # the good fix it jumped from and the doubted one: what an operator weighs
                evidence = (position(anchor, now), position(fix, now))
                # No closing speed or time to contact (nor his speed, if it is his fix): they would be
                # worked out from the very fix not believed; they come from plausible fixes only.
                his = person == order.subject_id
                facts = replace(
                    verdict.facts, confidence=Confidence.POSSIBLE, unconfirmed=True, evidence=evidence,
                    tier="warning", peak_tier="warning",  # at most a warning until it is confirmed
                    closing_speed_mps=None, time_to_contact_s=None,
                    subject_speed_mps=None if his else verdict.facts.subject_speed_mps,
                )  # fmt: skip
                verdicts.append(replace(verdict, kind=AlertKind.PROXIMITY_WARNING, facts=facts))
        return self._apply(verdicts, now)

    def _judge_path(self, person: str, fix: Fix, now: datetime, *, hold: bool = False) -> list[AlertChange]:
        """The straight path from the device's previous fix to this one (rules/between.py): a breach
        between them raises an alert marked inferred, which clears at once when the live state does
        not hold it (he has passed)."""
        if person not in self._orders_of and person not in self._zones_of:
            return []
        where = self.tracks[person]
        previous = where.before(fix)
        if previous is None or not between.believable(previous, fix, self.tuning):
            return []
        verdicts: list[Signal] = []
        for order_id in sorted(self._orders_of.get(person, ())):
            order = self.orders[order_id]
            if order.subject_id != person or not (
                order.active_at(previous.time) or order.active_at(fix.time)
            ):
                continue
            if self._pairs.get(order.id, _APART).tier >= proximity.VIOLATION:
                continue  # the fix itself is inside: the live rule has it
            her = self.tracks.get(order.protected_person_id)
            q = None if her is None else her.latest
            if her is None or q is None:
                continue
            if q.time <= fix.time and her.answers(previous.time):
                # the common case, without look-ups: her live position, and where she was before
                p = q if q.time <= previous.time else her.at(previous.time)
            else:
                q, p = (
                    self._position_at(her.person_id, fix.time),
                    self._position_at(her.person_id, previous.time),
                )
            if p is None or q is None or self._far_from_path(order, previous, fix, p, q):
                continue
            verdict = between.proximity_pass(order, previous, fix, p, q, now, self.tuning)
            if verdict is not None and order.active_at(_passed(verdict)):
                verdicts.append(verdict)
        for zone_id in sorted(self._zones_of.get(person, ())):
            zone = self.zones[zone_id]
            if zone.kind is not ZoneKind.EXCLUSION or self._zone_states.get(zone.id, ZoneState()).breach:
                continue
            scheduled, protected = self._zone_in_force(zone, previous.time)
            if not (scheduled or self._zone_in_force(zone, fix.time)[0]):
                continue
            verdict = between.zone_pass(person, zone, previous, fix, now, self.tuning, protected)
            # judged as the zone stood when he passed: a pass at 09:00:10 through a zone counting
            # from 09:00 was let go (it did not count at the fix before), and one at 18:00:20 out of
            # a zone that stopped counting at 18:00 was raised
            if verdict is not None and self._zone_in_force(zone, _passed(verdict))[0]:
                verdicts.append(verdict)
        if verdicts and (now - fix.time).total_seconds() > self.tuning.late_after_s:
            verdicts = [replace(v, late=True) for v in verdicts]  # a pass an upload revealed
        return self._raise_past(verdicts, now, fix.device_id if hold else None)

    @staticmethod
    def _far_from_path(order: Order, a: Fix, b: Fix, p: Fix, q: Fix) -> bool:
        """No point of his path a->b can come within her violation distance of her path p->q: the
        gap at the end exceeds what either of them moved. The hot path's test: the latitude
        difference alone (never more than the distance) settles most pairs without trigonometry."""
        reach = order.violation_distance_m + geo.flat_bound_m(a.lat, a.lon, b.lat, b.lon)
        if p is not q:
            reach += geo.flat_bound_m(p.lat, p.lon, q.lat, q.lon)
        if abs(b.lat - q.lat) * geo.M_PER_DEG > reach:
            return True
        return geo.distance_m(b.lat, b.lon, q.lat, q.lon) > reach

    def _judge_order(
        self, order: Order, now: datetime, *, late: bool = False, measured_at: datetime | None = None
    ) -> list[AlertChange]:
        if not order.active_at(now):
            self._pairs.pop(order.id, None)
            # An order renewed at its end (the next in force from the same instant, the same pair):
            # the renewal is judged first, so the danger that goes on is never cleared and raised
            # again (it gave a `cleared` then an `updated` line at the same second).
            changes: list[AlertChange] = []
            for renewal in self._renewals(order, now):
                changes += self._judge_order(renewal, now)
            return changes + self._speak(order, proximity.cleared(order, Facts()), now)
        held = self._pairs.get(order.id, _APART)
        if held.left_at is not None and not self._is_active(proximity.key(order)):
            held = _APART  # a person closed it in its hold: a new approach must open a new one
        if (
            held.tier == proximity.CLEAR
            and held.doubt_at is None
            and not self._is_active(proximity.key(order))
        ):
            # The common case, on the hot path: far apart, nothing raised. Judging in full would
            # build facts only to say nothing; the same verdict costs one distance. (A pending doubt
            # is judged in full: a fix far apart may be what answers it.)
            s, p = self._latest(order.subject_id), self._latest(order.protected_person_id)
            if (
                s is not None
                and p is not None
                and proximity.clearly_apart(order, s, p, now, self.tuning)
                and not self._worn_elsewhere(order.subject_id, order)
                and not self._carried_elsewhere(order)
            ):
                self._pairs[order.id] = held
                return []
        pair = self._parties(order, now)
        if pair is None:
            return []
        state, verdict = proximity.assess(
            order, held, *pair, now, self.tuning, late=late, measured_at=measured_at
        )
        # A person's current devices that disagree are each judged, and the nearer danger stands
        # (safety first), so the alert neither clears nor changes tier as they take turns: his two
        # worn ones (a replacement monitor, the old one on a desk), any two of hers (her watch on
        # the charger at home, her phone with her 60 m from him raised nothing).
        for side, person, elsewhere in (
            (0, order.subject_id, self._worn_elsewhere(order.subject_id, order)),
            (1, order.protected_person_id, self._carried_elsewhere(order)),
        ):
            for other in elsewhere:
                alt = self._party_of(pair[side], other, person, poor_at_rest=side == 1)
                sides = (alt, pair[1]) if side == 0 else (pair[0], alt)
                alt_state, alt_verdict = proximity.assess(
                    order, held, *sides, now, self.tuning, late=late, measured_at=measured_at
                )
                rank, alt_rank = (state.tier, state.holding), (alt_state.tier, alt_state.holding)
                if alt_rank > rank or (
                    alt_rank == rank > (proximity.CLEAR, False) and _nearer(alt_verdict, verdict)
                ):
                    state, verdict = alt_state, alt_verdict  # (in the same tier, the nearer says where)
        self._pairs[order.id] = self._start_hold(order, state) if state.left_at != held.left_at else state
        if not verdict.active and self._awaiting(order):
            return []  # an unconfirmed warning stands until its device's next fix settles it
        return self._speak(order, verdict, now)

    def _party_of(self, party: Party, fix: Fix, person: str, *, poor_at_rest: bool) -> Party:
        """`party` judged on another of `person`'s devices' fix: that receiver's fix before (for
        its velocity) and its last hearing; `poor_at_rest`: a poor fix of it is judged where it has
        been at rest, as any of hers (a phone on the table giving Wi-Fi fixes biased toward him)."""
        where, tuning = self.tracks[person], self.tuning
        kept = (
            partial(where.kept, fix, tuning.rest_window_s, tuning.walk_mps, tuning.moving_mps)
            if poor_at_rest and proximity.is_poor(fix, tuning)
            else None
        )
        return replace(
            party,
            fix=fix,
            previous=where.before(fix),
            fine=None,
            kept=kept,
            heard=self._heard.get(fix.device_id),
        )

    def _carried_elsewhere(self, order: Order) -> list[Fix]:
        """Her other current devices' fixes (any kind: her phone as well as her watch) placing her
        elsewhere than her live position by more than the order's violation distance
        (`Whereabouts.carried_elsewhere`): each is judged, and the nearer danger stands."""
        where = self.tracks.get(order.protected_person_id)
        if where is None or len(where.devices) == 1:
            return []
        return where.carried_elsewhere(order.violation_distance_m, self._current_s)

    def _worn_elsewhere(self, subject_id: str, order: Order) -> list[Fix]:
        """His other current body-worn devices' fixes placing him elsewhere than his live position by
        more than the order's violation distance (`Whereabouts.worn_elsewhere`), and the fresher
        fixes of a device that was with his monitor at its live fix (`Whereabouts.escorted_elsewhere`:
        his phone, reporting more often than his monitor)."""
        where = self.tracks.get(subject_id)
        if where is None or len(where.devices) == 1:
            return []
        spread = order.violation_distance_m
        return where.worn_elsewhere(spread) + where.escorted_elsewhere(spread)

    def _renewals(self, order: Order, now: datetime) -> list[Order]:
        """The other orders keeping him from the same woman that are in force at `now` and were not
        judged yet (one that comes into force at the instant this one ends)."""
        return [
            other
            for oid in sorted(self._orders_of.get(order.subject_id, ()))
            if oid != order.id
            and oid not in self._pairs
            and (other := self.orders[oid]).protected_person_id == order.protected_person_id
            and other.active_at(now)
        ]

    def _speak(self, order: Order, verdict: Signal, now: datetime) -> list[AlertChange]:
        """Apply an order's proximity verdict to its pair's alert. Several orders may keep him from
        her (a court's order and a probation condition, each with its own distances); they share the
        pair's one alert, and the order that holds the higher tier speaks for it (on a tie, the one
        speaking already). Each order's verdict overwrote the other's at every fix before: cleared,
        then updated, every 30 s of a real approach. When the speaker falls below another order
        still holding, that order is judged now and speaks instead."""
        key = verdict.key
        siblings = [
            other
            for oid in self._orders_of.get(order.subject_id, ())
            if oid != order.id
            and (other := self.orders[oid]).protected_person_id == order.protected_person_id
            and other.active_at(now)
        ]
        if not siblings:
            self._speaker.pop(key, None)
            return self._apply([verdict], now)
        alert = self.book.for_key(key)
        speaker = self._speaker.get(key) or (alert.order_id if alert is not None and alert.active else None)

        def rank(o: Order) -> tuple[int, bool]:
            state = self._pairs.get(o.id, _APART)
            return state.tier, state.holding

        best = max(siblings, key=lambda o: (rank(o), o.id == speaker))
        mine = rank(order) if order.id in self.orders and order.active_at(now) else (-1, False)
        if rank(best) > (proximity.CLEAR, False) and (
            rank(best) > mine or (rank(best) == mine and speaker == best.id)
        ):
            if speaker in (order.id, None) and key not in self._handing_over:
                self._speaker[key] = best.id
                self._handing_over.add(key)  # once: the order judged now speaks, whatever it says
                try:
                    return self._judge_order(best, now)
                finally:
                    self._handing_over.discard(key)
            if key not in self._handing_over:
                return []  # the other order speaks for the pair
        if verdict.active:
            self._speaker[key] = order.id
        else:
            self._speaker.pop(key, None)
        return self._apply([verdict], now)

    def _awaiting(self, order: Order) -> bool:
        """Whether the pair's open alert rests on a doubted fix still awaiting confirmation."""
        if not self._suspects:
            return False
        alert = self.book.for_key(proximity.key(order))
        if alert is None or not alert.active or not alert.facts.unconfirmed:
            return False
        return any(
            self.devices[d].person_id in (order.subject_id, order.protected_person_id) for d in self._suspects
        )

    def _judge_zone(
        self, subject_id: str, zone: Zone, now: datetime, *, late: bool = False
    ) -> list[AlertChange]:
        track = self.tracks.get(subject_id)
        if track is None or track.latest is None:
            return []
        latest, coarse = track.latest, self.tuning.coarse_accuracy_m
        scheduled, protected = self._zone_in_force(zone, now)
        held = self._zone_states.get(zone.id, ZoneState())
        # What a curfew absence may start on, looked up only for a fix that would start one (the
        # curfew on, the fix outside): at home, or by day, every fix would pay for nothing.
        absent = zone.kind is ZoneKind.INCLUSION and scheduled and zones.absent(zone, latest, self.tuning)
        returning = zone.kind is ZoneKind.INCLUSION and held.breach  # ... and what ends an absence
        # where he stood, asked only of a fix that would start an exclusion zone's breach
        stood = (
            partial(self._stood, track, latest)
            if zone.kind is ZoneKind.EXCLUSION and scheduled and not held.breach
            else None
        )
        self._zone_states[zone.id], verdict = zones.assess(
            subject_id, zone, held, latest, now, scheduled, self.tuning,
            protected_person_id=protected, late=late,
            previous=track.fine_before(latest, coarse) if absent or returning else None,
            confirm_within_s=self._confirm_window(latest.device_id),
            lost=absent and not late and self._position_lost(latest, now),
            other=track.others_fine(latest, coarse) if absent and len(track.devices) > 1 else None,
            in_force_then=self._in_force_then(zone, latest, now, scheduled),
            stood=stood,
        )  # fmt: skip
        return self._apply([verdict], now)

    def _stood(self, track: Whereabouts, fix: Fix) -> Fix | None:
        """For a fix that measured no movement: the device's last sharp (satellite, at most
        `Tuning.poor_accuracy_m`) fix held before it, of the last `Tuning.coarse_defers_s`, if it
        measured a standstill, is sharper than this one and lies inside its ~95 % disc; this fix then only repeats
        it, less precisely (a Wi-Fi fix claiming 90 m, or an indoor GNSS fix claiming 30 m, of a man
        asleep 45-60 m outside a zone, each opened a zone violation)."""
        tuning = self.tuning
        if fix.speed_mps is not None and fix.speed_mps >= tuning.moving_mps:
            return None
        own = track.devices.get(fix.device_id)
        if own is None:
            return None
        sharp = next(
            (
                f
                for f in reversed(own.history)
                if f.time < fix.time and f.source is not FixSource.CELL and not proximity.is_poor(f, tuning)
            ),
            None,
        )
        if (
            sharp is None
            or sharp.speed_mps is None
            or sharp.speed_mps >= tuning.moving_mps
            or (sharp.accuracy_m or 0.0) >= (fix.accuracy_m or 0.0)
            or (fix.time - sharp.time).total_seconds() > tuning.coarse_defers_s
        ):
            return None
        # within the wider fix's ~95 % disc (twice its stated accuracy: indoors one fix in three lies
        # beyond it), as `location._discs` judges two positions of a man at rest
        inside = geo.distance_m(sharp.lat, sharp.lon, fix.lat, fix.lon) <= 2.0 * (fix.accuracy_m or 0.0)
        return sharp if inside else None

    def _in_force_then(self, zone: Zone, fix: Fix, now: datetime, scheduled: bool) -> bool:
        """Whether the zone counted when `fix` was measured, as far as `zones.assess` needs to know:
        asked only for an exclusion zone in force now and a fix no longer current (`_current_s`)."""
        if zone.kind is not ZoneKind.EXCLUSION or not scheduled:
            return True
        if (now - fix.time).total_seconds() <= self._current_s(fix.device_id):
            return True
        return self._zone_in_force(zone, fix.time)[0]

    def _current_s(self, device_id: str) -> float:
        """How long a device's fix stands for where its wearer is now: `Tuning.stale_after_s`, or two
        of its reporting intervals (configured or learned) if it reports less often, as in fusion
        (`_worn_s`). Older, it says where he was: it can warn but proves no violation that began
        since (proximity `_his_out_of_date`, `zones.assess` `in_force_then`)."""
        every = self._interval(device_id)
        stale = self.tuning.stale_after_s
        return stale if every is None else max(stale, WORN_INTERVALS * every)

    def _position_lost(self, fix: Fix, now: datetime) -> bool:
        """Whether `fix` no longer says where its person is: its device is under location loss (an
        active alert) and the fix is older than the device's limit."""
        device = self.devices.get(fix.device_id)
        if device is None or device.person_id is None:
            return False
        if not self._is_active(AlertKey(location.FAMILY, device.person_id, device.id)):
            return False
        allowed = location.limit(device, self.tuning)
        return allowed is not None and (now - fix.time).total_seconds() > allowed

    def _zone_in_force(self, zone: Zone, at: datetime) -> tuple[bool, str | None]:
        """Whether the zone counts at `at` (its order in force, its schedule on), and whom it protects."""
        if zone.order_id is not None:
            order = self.orders.get(zone.order_id)
            in_force = order is not None and order.active_at(at)
            protected = order.protected_person_id if order else None
        else:
            in_force, protected = True, None
        return in_force and schedules.is_active(zone.schedule, at), protected

    def _judge_late(
        self, device: Device, fix: Fix, now: datetime, *, hold: bool = False
    ) -> list[AlertChange]:
        """Judge an out-of-order fix at its own time. It may open (or escalate) an alert marked late;
        an alert already open for the same thing keeps its live facts. Then the live state is
        re-asserted, so a breach that is over shows as opened then cleared. Where another of the
        person's devices stood for them at that time (a body-worn one), the fix judges nothing."""
        person = device.person_id
        assert person is not None
        at = fix.time
        if (now - at).total_seconds() > self.tuning.late_horizon_s or self._own_at(person, fix) is not fix:
            return []
        verdicts: list[Signal] = []
        for order_id in sorted(self._orders_of.get(person, ())):
            order = self.orders[order_id]
            if not order.active_at(at):
                continue
            pair = self._parties(order, at, late_fix=fix)
            if pair is None:
                continue
            _, verdict = proximity.assess(order, PairState(), *pair, at, self.tuning, late=True)
            if verdict.active:
                # both positions, as measured, are what the late alert rests on
                verdict = replace(
                    verdict,
                    facts=replace(
                        verdict.facts, evidence=(position(pair[0].fix, now), position(pair[1].fix, now))
                    ),
                )
            verdicts.append(verdict)
        if device.person_kind is PersonKind.SUBJECT:
            previous = self._view(person, at).fine_before(fix, self.tuning.coarse_accuracy_m)
            for zone_id in sorted(self._zones_of.get(person, ())):
                zone = self.zones[zone_id]
                scheduled, protected = self._zone_in_force(zone, at)
                _, verdict = zones.assess(
                    person, zone, ZoneState(), fix, at, scheduled, self.tuning,
                    protected_person_id=protected, late=True, previous=previous,
                    confirm_within_s=self._confirm_window(fix.device_id),
                )  # fmt: skip
                if verdict.active:
                    # the fix, as measured, is what the late alert rests on (as both are for a pair):
                    # "[]" says an alert rests on the current positions, which a breach at 02:34
                    # learned at 08:30 does not
                    verdict = replace(verdict, facts=replace(verdict.facts, evidence=(position(fix, now),)))
                verdicts.append(verdict)
        changes: list[AlertChange] = []
        for verdict in verdicts:
            if not verdict.active or not self._news(verdict, at):
                continue
            changes += self._from_past(verdict, now, device.id if hold else None)
        return changes

    def _raise_past(
        self, verdicts: list[Signal], now: datetime, hold_for: str | None = None
    ) -> list[AlertChange]:
        """Raise breaches that happened between fixes; one that the live state does not hold (he has
        passed) clears at once and stays open for a person to look at. An alert already active for the
        same thing at the same or a higher kind is left as it is."""
        changes: list[AlertChange] = []
        for verdict in verdicts:
            current = self.book.for_key(verdict.key)
            if (
                current is not None
                and current.active
                and RANK.get(verdict.kind, 0) <= RANK.get(current.kind, 0)
            ):
                continue
            changes += self._from_past(verdict, now, hold_for)
        return changes

    def _from_past(self, verdict: Signal, now: datetime, hold_for: str | None) -> list[AlertChange]:
        """Raise one breach from the past, and clear it at once if the live state does not hold it;
        `hold_for`: a device whose upload goes on (more of its fixes follow in the batch), so the
        clear waits for the batch's newest fix of it (`_settle`). An upload that showed her passing
        his café within his warning line, then within 100 m, gave opened, cleared, escalated,
        cleared, all at one instant: now opened, escalated, cleared."""
        changes = self._apply([verdict], now)
        if hold_for is not None:
            self._unsettled[verdict.key] = (hold_for, verdict)
        elif not self._live_holds(verdict.key):
            self._unsettled.pop(verdict.key, None)
            changes += self._apply([_over(verdict)], now)
        return changes

    def _settle(self, device_id: str, now: datetime) -> list[AlertChange]:
        """The batch's newest fix of `device_id` has been judged: the breaches its older fixes raised
        clear now, unless the live state holds them."""
        changes: list[AlertChange] = []
        for key, (owner, breach) in list(self._unsettled.items()):
            if owner != device_id:
                continue
            del self._unsettled[key]
            current = self.book.for_key(key)
            if current is not None and current.active and not self._live_holds(key):
                changes += self._apply([_over(replace(breach, kind=current.kind))], now)
        return changes

    def _news(self, late: Signal, at: datetime) -> bool:
        """Whether a breach at `at` that a late fix reveals is not already told: no alert for it, one
        of a lower kind, or one that had cleared before `at`. (A zone entry at 12:10 uploaded at 12:30
        was dropped because the morning's entry, cleared at 08:03, still awaited its operator.)"""
        current = self.book.for_key(late.key)
        if current is None or RANK.get(late.kind, 0) > RANK.get(current.kind, 0):
            return True
        cleared = self.book.cleared_at(current)
        return cleared is not None and cleared < at

    def _live_holds(self, key: AlertKey) -> bool:
        if key.family == proximity.FAMILY:
            return any(
                self._pairs.get(oid, PairState()).holding
                for oid in self._orders_of.get(key.person, ())
                if self.orders[oid].protected_person_id == key.target
            )
        return self._zone_states.get(key.target, ZoneState()).breach

    def _parties(self, order: Order, at: datetime, late_fix: Fix | None = None) -> tuple[Party, Party] | None:
        """Both parties' fixes in force at `at`; for a late fix, its own side is that fix, and the
        other side comes from memory or, older than memory holds, from what was recalled."""
        sides: list[Party] = []
        late_person = None if late_fix is None else self.devices[late_fix.device_id].person_id
        for person in (order.subject_id, order.protected_person_id):
            where = self.tracks.get(person)
            if where is None:
                return None
            if late_fix is None:
                fix = where.latest
            else:
                where = self._view(person, at)
                fix = late_fix if person == late_person else (where.at(at) or where.earliest())
            if fix is None:
                return None
            # the last fine fix only for a coarse one: the only fix it can stand in for
            fine = (
                where.fine_before(fix, self.tuning.coarse_accuracy_m)
                if proximity.is_coarse(fix, self.tuning)
                else None
            )
            tuning = self.tuning
            kept = (
                partial(where.kept, fix, tuning.rest_window_s, tuning.walk_mps, tuning.moving_mps)
                if late_fix is None and proximity.is_poor(fix, tuning)
                else None
            )
            current = self._current_s(fix.device_id) if person == order.subject_id else None
            rest = partial(where.still_since, fix, tuning.moving_mps) if late_fix is None else None
            heard = self._heard.get(fix.device_id) if late_fix is None else None
            sides.append(Party(fix, where.before(fix), fine, kept, current, rest, heard))
        return sides[0], sides[1]

    def _view(self, person: str, at: datetime) -> Whereabouts:
        """What is known of where the person was around `at`: memory when it holds that time, else
        memory completed by the past recalled from the store for this batch."""
        where = self.tracks[person]
        if where.answers(at):
            return where
        return self._past.get(person, where)

    def _position_at(self, person: str, at: datetime) -> Fix | None:
        """The person's fused position in force at `at` (the earliest known when nothing is older)."""
        if person not in self.tracks:
            return None
        where = self._view(person, at)
        return where.at(at) or where.earliest()

    def _own_at(self, person: str, fix: Fix) -> Fix | None:
        """Which fix stood for the person at `fix`'s time, `fix` included: another device's when a
        body-worn one was current then."""
        where = self._view(person, fix.time)
        device = self.devices[fix.device_id]
        candidates = [
            (fix if device_id == fix.device_id else track.at(fix.time), track.worn)
            for device_id, track in where.devices.items()
        ]
        if fix.device_id not in where.devices:
            candidates.append((fix, self._worn_s(device)))
        return fuse(candidates)

    # --- the past from the store ----------------------------------------------------------------

    def past_needed(self, fix: Fix, now: datetime) -> list[tuple[str, datetime, datetime]]:
        """What of the past judging `fix` needs that memory does not hold: (person, since, until) per
        partner whose position at the fix's time was dropped from memory (or never loaded). The caller
        reads those fixes of all the person's devices from the store and hands them to `recall`."""
        device = self.devices.get(fix.device_id)
        if device is None or device.person_id is None:
            return []
        at = fix.time
        if (now - at).total_seconds() > self.tuning.late_horizon_s:
            return []
        orders = self._orders_of.get(device.person_id)
        if not orders:
            return []
        needs: list[tuple[str, datetime, datetime]] = []
        reach = timedelta(seconds=self.tuning.stale_after_s)
        for order_id in sorted(orders):
            order = self.orders[order_id]
            other = order.protected_person_id if order.subject_id == device.person_id else order.subject_id
            where = self.tracks.get(other)
            if where is not None and not where.answers(at):
                needs.append((other, at - reach, at + reach))
        return needs

    def devices_of(self, person: str) -> list[str]:
        """The person's devices now (whose stored fixes tell where they were)."""
        where = self.tracks.get(person)
        bound = {d.id for d in self.devices.values() if d.person_id == person} if where is None else set()
        return sorted(bound | (set(where.devices) if where is not None else set()))

    def recall(self, person: str, fixes: Iterable[Fix]) -> None:
        """Hand in the person's stored fixes that `past_needed` asked for (believed ones only)."""
        where = self.tracks.get(person) or Whereabouts(person)
        base = self._past.get(person, where)
        self._past[person] = base.with_past(fixes, self._worn)

    def _still_worn(self, device: Device, received_at: datetime) -> None:
        """A body-worn device heard gives no position (wrapped in foil at her door, or indoors): it
        still stands for its wearer against his other devices for as long as it is heard, and its
        usual window after (`_worn_s`). His monitor shielded at her door while his phone reported
        from home: after 15 minutes the phone stood for him and the violation cleared."""
        if device.kind not in BODY_WORN or device.person_id is None:
            return
        where = self.tracks.get(device.person_id)
        track = None if where is None or len(where.devices) == 1 else where.devices.get(device.id)
        if track is None or track.latest is None or received_at <= track.latest.time:
            return
        track.worn = max(track.worn, self._worn_s(device) + (received_at - track.latest.time).total_seconds())

    def _worn(self, device_id: str) -> float:
        device = self.devices.get(device_id)
        return 0.0 if device is None else self._worn_s(device)

    def _worn_s(self, device: Device) -> float:
        """How long the device's fix stands for its wearer against a fresher fix of another of their
        devices (`track.fuse`): a body-worn one while current, `WORN_CURRENT_S` or two of its
        reporting intervals if it reports less often (configured or learned); a phone or beacon, 0.
        A monitor set to report every 40 minutes lost to the phone left at home between reports,
        which cleared her violation at every report and opened it again at the next."""
        if device.kind not in BODY_WORN:
            return 0.0
        every = self._interval(device.id)
        return WORN_CURRENT_S if every is None else max(WORN_CURRENT_S, WORN_INTERVALS * every)

    def forget(self) -> None:
        """Drop what `recall` handed in: memory stays bounded between batches. A breach whose clear
        still waits for its batch's newest fix (a batch that failed half-way) is let go too: the
        next live judgement clears it, or it would never clear."""
        self._past.clear()
        self._unsettled.clear()

    def suspicion(self, fix: Fix) -> Doubt | None:
        """Why the engine put this fix aside as an implausible move (awaiting confirmation), if it did."""
        pending = self._suspects.get(fix.device_id)
        return pending.doubt if pending is not None and pending.fix is fix else None

    def drain_requests(self) -> list[ReportingRequest]:
        """The requests for faster reporting made since the last drain."""
        requests, self.requests = self.requests, []
        return requests

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
        alert = self.book.for_key(AlertKey(signal.FAMILY, person, device_id))
        cleared = None if alert is None else self.book.cleared_at(alert)
        if cleared is not None and (when - cleared).total_seconds() <= self.tuning.tier_hold_s:
            self._flapping[device_id] = None  # silent again within the hold of its clear
        return self._apply([signal.signal(device, True, heard, self._latest(person), when)], when)

    # --- no churn: reporting cadence, location loss, pending clears -----------------------------------

    def _reporting_again(self, device: Device, received_at: datetime) -> bool:
        """Whether a device whose signal_loss is open is reporting again. Its first message is,
        unless the alert flaps: opened again within the hold of its clear (`_silence_due`). Then
        it is a second message within the silence limit of the first one back: a 60 s monitor in
        poor coverage got one message through every 6-7 minutes, and each cleared the alert
        ("device back") minutes before it reopened, 5 clears in 30 minutes. (A backlog uploaded at
        once is reporting: its second message clears.)"""
        if device.id not in self._flapping:
            return True
        back = self._flapping[device.id]
        if (
            back is not None
            and back <= received_at
            and (received_at - back).total_seconds() <= self._silence_allowed(device)
        ):
            del self._flapping[device.id]
            return True
        if back is None or received_at > back:
            self._flapping[device.id] = received_at
        return False

    def _learned(self, device_id: str) -> float | None:
        cadence = self._cadence.get(device_id)
        return None if cadence is None else cadence.interval(self.tuning.cadence_least)

    def _silence_every(self, device_id: str) -> float:
        """The interval a silence is counted in when none is configured: as learned, and before it
        is (a device's first gaps, or its first after a restart) the slowest normal one
        (`Tuning.unknown_interval_s`), or the shortest gap seen if that is shorter. A monitor that
        reports every 5 minutes, new to the engine, raised signal_loss at its first report and
        cleared it 17 s later: an alert to police for a device working as set."""
        cadence = self._cadence.get(device_id)
        device = self.devices.get(device_id)
        if device is not None and device.silence_limit_s is not None:
            return self._learned(device_id) or 0.0  # a limit of its own is kept as set until one is learned
        if cadence is None:
            return self.tuning.unknown_interval_s
        learned = cadence.interval(self.tuning.cadence_least)
        if learned is not None:
            return learned
        seen = cadence.shortest()
        return self.tuning.unknown_interval_s if seen is None else min(seen, self.tuning.unknown_interval_s)

    def _interval(self, device_id: str) -> float | None:
        device = self.devices.get(device_id)
        return None if device is None else signal.interval(device, self._learned(device_id))

    def _confirm_window(self, device_id: str) -> float:
        return zones.confirm_window(self._interval(device_id), self.tuning)

    def _silence_allowed(self, device: Device) -> float:
        """The silence after which the device is not "reporting" any more: its signal_loss limit, or
        for a device whose silence is not watched, what an ankle monitor would be allowed."""
        every = self._silence_every(device.id)
        limit = signal.silence_limit(device, self.tuning, every)
        if limit is not None:
            return limit
        every = signal.interval(device, every) or every
        return max(self.tuning.default_silence_s, self.tuning.silence_intervals * every)

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
        if location.limit(device, self.tuning) is None:
            return []
        placed = location.placed(state, fix, self.tuning)
        if placed is None or placed == state:
            return []
        self._located[device.id] = placed
        if not location.usable(fix, self.tuning):  # a coarse position that places him elsewhere
            self._schedule_location(device)  # the shorter limit: its deadline comes forward
            return []
        key = AlertKey(location.FAMILY, device.person_id or "", device.id)
        if self._is_active(key) and device.id not in self._location_clear_at:
            # back, perhaps: it clears at the end of the hold if positions are still coming then
            every = signal.interval(device, self._learned(device.id))
            when = placed.since + timedelta(seconds=location.clear_after(device, self.tuning, every))
            self._location_clear_at[device.id] = when
            self._push(when, _LOCATED, device.id)
        self._schedule_location(device)  # once it is clear: the next spell is watched again
        return []

    def _schedule_location(self, device: Device) -> None:
        state = self._located.get(device.id)
        key = AlertKey(location.FAMILY, device.person_id or "", device.id)
        every = signal.interval(device, self._learned(device.id))
        # the short limit on the timer: whether rest earns more is decided when it comes, against
        # where she is then (`_location_due`)
        due = None if state is None else location.deadline(device, state, self.tuning, every, rest=False)
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
        if self._rests(device, state, when):
            every = signal.interval(device, self._learned(device_id))
            rest = location.deadline(device, state, self.tuning, every)
            if rest is not None and rest > when:
                self._location_at[device_id] = rest
                self._location_queued.add(device_id)
                self._push(rest, _LOCATION, device_id)
                return []
        return self._apply([location.signal(device, True, state, when)], when)

    def _rests(self, device: Device, state: LocationState, when: datetime) -> bool:
        """Whether the rest limit applies to his spell: at rest, and not on an arrival near her."""
        return state.at_rest and not (state.arrived and self._near_danger(device, state, when))

    def _near_danger(self, device: Device, state: LocationState, when: datetime) -> bool:
        """His last usable position against each order in force that he is the subject of."""
        last, person = state.last_usable, device.person_id
        if last is None or person is None:
            return False
        return any(
            location.near_danger(order, last, self._latest(order.protected_person_id), self.tuning)
            for order in self.orders_of(person)
            if order.subject_id == person and order.active_at(when)
        )

    def _located_due(self, device_id: str, when: datetime) -> list[AlertChange]:
        """The end of a location_loss alert's hold: it clears if positions are still coming then
        (`location.back`); if not, the loss goes on under the same alert, and the next usable
        position starts another hold."""
        if self._location_clear_at.get(device_id) != when:
            return []
        del self._location_clear_at[device_id]
        device = self.devices.get(device_id)
        state = self._located.get(device_id)
        if device is None or state is None:
            return []
        every = signal.interval(device, self._learned(device_id))
        if not location.back(device, state, when, self.tuning, every, rest=self._rests(device, state, when)):
            return []
        changes = self._apply([location.signal(device, False, state, when)], when)
        self._schedule_location(device)
        return changes

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
            return self._speak(order, proximity.cleared(order, Facts()), when)
        self._pairs[order_id], verdict = proximity.assess(order, state, *pair, when, self.tuning)
        return self._speak(order, verdict, when)

    # --- plumbing ---------------------------------------------------------------------------------

    def _apply(self, verdicts: list[Signal], now: datetime) -> list[AlertChange]:
        changes = []
        for verdict in verdicts:
            if self._unsettled and not verdict.active and verdict.key in self._unsettled:
                continue  # a breach an upload revealed clears at the batch's end, with its own facts
            change = self.book.apply(verdict, now)
            if change is not None:
                changes.append(self._grouped(change))
        return changes

    def _grouped(self, change: AlertChange) -> AlertChange:
        """Count a change into its incident; an alert that has just opened is first placed in one
        (domain/incidents.py), and carries that incident's id from then on."""
        alert = change.alert
        if change.change is Change.OPENED and alert.incident_id is None:
            incident_id = self.incidents.place(alert, change.at, self.kept_from, self.kept_away)
            if incident_id is not None:
                alert = replace(alert, incident_id=incident_id)
                self.book.restore(alert)  # the open alert carries its incident from now on
                change = replace(change, alert=alert)
        self.incidents.follow(change)
        self._pursue(change.alert, change.at)
        return change

    def _pursue(self, alert: Alert, at: datetime) -> None:
        """Pursuit mode follows the alert: the devices of the people it names."""
        if alert.kind in pursuit.KINDS:
            people = [p for p in (alert.subject_id, alert.protected_person_id) if p is not None]
            if alert.kind is AlertKind.SOS and alert.subject_id is None and alert.protected_person_id:
                # her SOS names no subject: the men her orders in force keep from her are followed
                # too, so that where each is comes every 15 s while she calls for help
                people += self.kept_from(alert.protected_person_id, at)
            self.pursuit.follow(alert, sorted({d for p in people for d in self._bound.get(p, ())}), at)

    def _is_active(self, key: AlertKey) -> bool:
        alert = self.book.for_key(key)
        return alert is not None and alert.active

    def _latest(self, person: str) -> Fix | None:
        track = self.tracks.get(person)
        return track.latest if track else None

    def _schedule_silence(self, device: Device, heard: datetime) -> None:
        due = signal.deadline(device, heard, self.tuning, self._silence_every(device.id))
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


def _nearer(one: Signal, other: Signal) -> bool:
    """Whether verdict `one` puts the pair nearer than `other` does."""
    a, b = one.facts.distance_m, other.facts.distance_m
    return a is not None and (b is None or a < b)


@dataclass(slots=True)
class _Report:
    """One report on its way through the rules: what each rule hands the next."""

    device: Device
    received_at: datetime
    now: datetime
    fix: Fix | None  # the fix, or an event's own (None: an event sent without one)
    event: DeviceEvent | None = None
    doubt: Doubt | None = None  # why the fix is not believed (on_doubted)
    changes: list[AlertChange] = field(default_factory=list)
    # Set by `_placed` and `_tracked`, for the rules after them:
    where: Whereabouts | None = None
    own: Track | None = None
    newest: bool = False
    repeat: bool = False
    live: bool = False
    latest: Fix | None = None  # the person's live position, when this fix made it live
    late: bool = False  # ...measured long before it was received
    # A newer fix of the same device comes in the same batch (a late upload's older fixes). Such a
    # fix is live only until the next one is handed in: a late one is judged at its own time
    # (`_late`) and on its path (`_path`), not against where the partner is now, or each fix of an
    # hours-old upload would open and clear a stale warning (and pursuit mode) in the same instant.
    followed: bool = False

    @property
    def passing(self) -> bool:
        """Live for a moment only: late, and followed by a newer fix of its batch."""
        return self.late and self.followed

    @property
    def position(self) -> Fix:
        """The fix being judged (past `_alarm`, an event has one)."""
        assert self.fix is not None
        return self.fix

    @property
    def track(self) -> Whereabouts:
        """The person's whereabouts (past `_placed`)."""
        assert self.where is not None
        return self.where


Rule = Callable[[Engine, _Report], bool]

# The rules each kind of report goes through, in the order they run, the way Traccar lists its
# position handlers. Each rule answers whether the report goes on; where one stops it is said.
ON_FIX: tuple[Rule, ...] = (
    Engine._alive,  # signal_loss, power_off: any message ends them
    Engine._location,  # location_loss: a usable position ends the spell with none
    Engine._placed,  # where the fix falls in its device's track (newest, older, a repeat)
    Engine._doubt_ended,  # position_doubt: a believed position ends it
    Engine._battery,  # battery_low from the level on the fix; a repeat stops here
    Engine._plausible,  # movement: an impossible move is held aside (unconfirmed warning) and stops
    Engine._recent,  # older than the late horizon: kept for the record only, and stops
    Engine._tracked,  # into the person's track: live, or out of order
    Engine._proximity,  # proximity, each order (live)
    Engine._zones,  # zones, a subject's (live)
    Engine._late,  # judged at its own time: out of order, or long delayed
    Engine._path,  # between: the straight path from his previous fix (live subject)
)
# An event: its own alarm, then its fix (if it carries one) as any fix is.
ON_EVENT: tuple[Rule, ...] = (Engine._alive, Engine._alarm, *ON_FIX[1:])
# A position judged implausible (`Engine.doubt`): it proves the device alive and feeds only this.
ON_DOUBTED: tuple[Rule, ...] = (Engine._alive, Engine._doubted)


def _passed(verdict: Signal) -> datetime:
    """When an inferred pass happened (`between`: always set on its facts)."""
    assert verdict.facts.occurred_at is not None
    return verdict.facts.occurred_at


def _over(breach: Signal) -> Signal:
    """A breach from the past that the live state does not hold: cleared at once, its facts still
    those of the breach (where and when it happened), its tier now none."""
    return replace(breach, active=False, onset=False, facts=replace(breach.facts, tier=None))
