"""The simulation: a caseload living its days, its devices reporting, incidents mixed in.

    caseload = make_caseload(200, seed=7)
    sim = Simulation(caseload, seed=7, start=datetime(2026, 3, 16, 8, 0, tzinfo=TZ))
    for method, path, body in caseload.registry_bodies(): ...  # load the registry first
    reports = sim.advance(sim.start + timedelta(minutes=1))     # then post these, in order
    sim.force(IncidentKind.NAMYANGJU, "S-000001", at)            # a scripted incident on demand
    doc = sim.replay_document(all_reports, until)                # or write the run for `vigil replay`
    quality = score(sim.truth, alert_lines)                      # and judge what the engine said

No clock is read and nothing is sent: time is what the caller passes to `advance`, and reports are
returned for the caller to deliver (HTTP driver) or to write as a replay file (`replay_document`).
Everything is deterministic in (caseload, seed, start, incident rate, forced incidents, pursuit
calls): people's routines and random incidents are keyed by (seed, person, day), each device draws
from its own generator, so nothing depends on iteration order or on how `advance` is chunked.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vigil.adapters.osmand import KNOTS_TO_MPS
from vigil.domain.model import DeviceKind
from vigil_sim.caseload import TIMEZONE, Caseload, CaseOrder, DeviceInfo, Person, Subject, gc_paused
from vigil_sim.devices import DeviceSim, DeviceTuning, Report, iso
from vigil_sim.incidents import DEFAULT_RATE, Incident, IncidentKind, Override, build, draw
from vigil_sim.movement import Position, Routines, day_of, separation
from vigil_sim.truth import (
    EVENT_ALERTS,
    TrueBlind,
    TrueEvent,
    TrueIncident,
    Truth,
    Watch,
    curfew_watch,
    exclusion_watch,
    proximity_watch,
    utc,
    violations,
)

TZ = ZoneInfo(TIMEZONE)
# Overrides that ended this long ago are dropped from the per-person lists.
_KEEP_OVERRIDES_S = 86_400.0


class Simulation:
    def __init__(
        self,
        caseload: Caseload,
        seed: int = 0,
        start: datetime | None = None,
        incident_rate: float = DEFAULT_RATE,
        tuning: DeviceTuning | None = None,
        warm_up_s: float = 0.0,
    ) -> None:
        """`warm_up_s`: the devices start reporting this long before `start`, with no incident, so
        that the engine knows where everyone was when the measured run begins, as a control centre
        that has been running does; the truth (and so the score) begins at `start`."""
        if start is None:
            start = datetime(2026, 3, 16, 0, 0, tzinfo=TZ)  # a Monday
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.caseload = caseload
        self.seed = seed
        self.incident_rate = incident_rate
        self.tuning = tuning or DeviceTuning()
        self.start = start
        self.start_ts = start.timestamp()
        self.now_ts = self.start_ts - max(0.0, warm_up_s)
        self.routines = Routines(seed)
        self.incidents: list[Incident] = []
        self._people = caseload.people
        self._partners = {pid: caseload.partners(pid) for pid in self._people}
        self._overrides: dict[str, list[Override]] = {}
        self._days_drawn: set[int] = set()
        self.devices: dict[str, DeviceSim] = {}
        with gc_paused():
            # Each person's main device first, in the order they always had, then the second units:
            # the index only breaks ties between reports sent at the same instant.
            index = 0
            for person in self._people.values():
                device = DeviceSim(person.device, person.id, index, seed, self.now_ts, self.tuning)
                self.devices[person.device.id] = device
                index += 1
            for person in self._people.values():
                for info in person.extra_devices:
                    home = (person.home.lat, person.home.lon)
                    extra = DeviceSim(info, person.id, index, seed, self.now_ts, self.tuning, home=home)
                    self.devices[info.id] = extra
                    index += 1
            self._watches = self._make_watches()

    # --- the world the devices see ------------------------------------------------------------------

    def position(self, person_id: str, ts: float) -> Position:
        """True position at epoch second `ts`: an incident's plan where one is active, else the routine."""
        overrides = self._overrides.get(person_id)
        if overrides:
            for o in overrides:
                if o.plan.start <= ts < o.plan.end:
                    return o.plan.at(ts)
        return self.routines.at(self._people[person_id], ts)

    def held(self, person_id: str, ts: float) -> tuple[Position, float]:
        """True position at `ts` and until when it stays exactly there (`ts` while moving)."""
        overrides = self._overrides.get(person_id)
        next_start = math.inf
        if overrides:
            for o in overrides:
                plan = o.plan
                if plan.start <= ts < plan.end:
                    pos, until = plan.held(ts)
                    return pos, min(until, plan.end)
                if ts < plan.start < next_start:
                    next_start = plan.start
        pos, until = self.routines.held(self._people[person_id], ts)
        return pos, min(until, next_start)

    def partner_distance(self, person_id: str, ts: float) -> float:
        partners = self._partners.get(person_id)
        if not partners:
            return math.inf
        here = self.position(person_id, ts)
        return min(separation(here, self.position(p, ts)) for p in partners)

    def true_position(self, person_id: str, t: datetime) -> Position:
        """(lat, lon, speed_mps, heading_deg, indoors) of the person at aware time `t`."""
        return self.position(person_id, t.timestamp())

    def _routine(self, person: Person, ts: float) -> Position:
        return self.routines.at(person, ts)

    # --- controls ------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ts, UTC)

    def pursuit(self, device_id: str, until: datetime, at: datetime | None = None) -> None:
        """Report every 15 s until `until` (as a server command would), on top of the automatic
        pursuit while the other party of an order is within 2 km. Told `at` a time, the device
        takes it then: its next report comes within 15 s of it, not at the end of a slow interval."""
        self.devices[device_id].pursue(until.timestamp(), None if at is None else at.timestamp())

    def force(
        self,
        kind: IncidentKind | str,
        subject_id: str,
        at: datetime,
        protected_person_id: str | None = None,
        approach_from_m: float | None = None,
    ) -> Incident:
        """Script an incident for `subject_id` starting at `at` (not before the simulation's
        present); `protected_person_id` picks the order for kinds involving a victim (default:
        the subject's first order). `approach_from_m`: a staged namyangju (the demo's): he is
        already driving to her, this far from her door at most, and she waits outdoors (only at
        the start, before his device reports)."""
        ts = at.timestamp()
        if ts < self.now_ts:
            raise ValueError(f"cannot force an incident in the simulated past ({at} < {self.now})")
        subject = self.caseload.subject_by_id[subject_id]
        order = self._order_for(subject, protected_person_id)
        rng = random.Random(f"{self.seed}/{subject_id}/forced/{ts}/{kind}")
        incident = self._script(
            IncidentKind(kind), rng, subject, order, ts, forced=True, approach_from_m=approach_from_m
        )
        # The truth scanners may have looked ahead past `at` on the old plans.
        for watch in self._watches:
            watch.scanner.rewind(ts)
        return incident

    def _order_for(self, subject: Subject, protected_person_id: str | None) -> CaseOrder | None:
        orders = self.caseload.orders_by_subject.get(subject.id, ())
        if protected_person_id is None:
            return orders[0] if orders else None
        for o in orders:
            if o.protected_person_id == protected_person_id:
                return o
        raise ValueError(f"no order protects {protected_person_id!r} from {subject.id!r}")

    def _script(
        self,
        kind: IncidentKind,
        rng: random.Random,
        subject: Subject,
        order: CaseOrder | None,
        ts: float,
        *,
        forced: bool = False,
        approach_from_m: float | None = None,
    ) -> Incident:
        victim = self._people[order.protected_person_id] if order is not None else None
        incident = build(
            kind,
            rng,
            subject,
            order,
            victim,
            ts,
            self._routine,
            forced=forced,
            approach_from_m=approach_from_m,
        )
        self.incidents.append(incident)
        for o in incident.overrides:
            found = [
                x
                for x in self._overrides.get(o.person_id, ())
                if x.plan.end > self.now_ts - _KEEP_OVERRIDES_S
            ]
            found.append(o)
            found.sort(key=lambda x: x.plan.start)
            self._overrides[o.person_id] = found
        device = self.devices[incident.device_id]
        for e in incident.events:
            device.add_event(e)
        device.outages.extend(incident.outages)
        device.deaths.extend(incident.deaths)
        subject_device = self.devices[subject.person.device.id]
        subject_device.drops.extend(incident.drops)
        return incident

    def _draw_days(self, first: int, last: int) -> None:
        """Random incidents for every local day in [first, last] not yet drawn."""
        for day in range(first, last + 1):
            if day in self._days_drawn:
                continue
            self._days_drawn.add(day)
            for subject in self.caseload.subjects:
                drawn = draw(self.seed, subject, day, self.incident_rate)
                if drawn is None:
                    continue
                kind, ts, rng = drawn
                if ts < self.now_ts or ts < self.start_ts:
                    continue  # the run started after it, or it falls in the warm-up
                orders = self.caseload.orders_by_subject.get(subject.id, ())
                order = rng.choice(orders) if orders else None
                if order is None and kind in (
                    IncidentKind.NAMYANGJU,
                    IncidentKind.VICTIM_APPROACH,
                    IncidentKind.SOS,
                ):
                    continue
                self._script(kind, rng, subject, order, ts)

    # --- running -------------------------------------------------------------------------------------

    def advance(self, until: datetime) -> list[Report]:
        """Run to `until` and return every report sent by then (send_at <= until), in send order.
        Reports measured before `until` but sent after it (network latency, a late batch) come
        with a later call."""
        u = until.timestamp()
        if u < self.now_ts:
            raise ValueError(f"cannot go back in time ({until} < {self.now})")
        # Incidents are drawn a little ahead, so that an override exists before anyone looks at
        # that time: the truth scanners and the pursuit check look at most ~10 min past `until`,
        # and drawn incidents start at 09:00 at the earliest (overrides of the night before are
        # drawn with their own day).
        self._draw_days(day_of(self.now_ts), day_of(u + 3600.0))
        sent: list[tuple[float, int, int, Report]] = []
        for device in self.devices.values():
            device.run(u, self)
            sent.extend((at, device.index, seq, report) for at, seq, report in device.take(u))
        for watch in self._watches:
            watch.scanner.run(u)
        self.now_ts = u
        sent.sort(key=lambda x: (x[0], x[1], x[2]))
        return [x[3] for x in sent]

    def run(self, until: datetime, step_s: float = 600.0) -> Iterable[Report]:
        """`advance` in steps, yielding reports as they are sent: for long runs in bounded memory."""
        t = self.now
        while t < until:
            t = min(until, t + timedelta(seconds=step_s))
            yield from self.advance(t)

    # --- truth ---------------------------------------------------------------------------------------

    def _make_watches(self) -> list[Watch]:
        watches: list[Watch] = []
        start, pos = self.start_ts, self.held
        for o in self.caseload.orders:
            watches.append(
                proximity_watch(pos, o.id, o.subject_id, o.protected_person_id, o.violation_distance_m, start)
            )
            for z in o.zones:
                centre = (z.lat, z.lon, z.radius_m)
                watches.append(
                    exclusion_watch(pos, z.id, o.subject_id, (o.id, o.protected_person_id), centre, start)
                )
        for s in self.caseload.subjects:
            c = s.curfew
            if c is not None:
                watches.append(
                    curfew_watch(pos, c.id, s.id, (c.lat, c.lon, c.radius_m), (c.start, c.end, c.days), start)
                )
        return watches

    @property
    def truth(self) -> Truth:
        """Ground truth from the start to the present (the last `advance`)."""
        events: list[TrueEvent] = []
        blind: list[TrueBlind] = []
        for device in self.devices.values():
            person = device.person_id
            is_subject = person in self.caseload.subject_by_id
            for ts, kind in device.emitted:
                alert = EVENT_ALERTS.get(kind)
                if alert is not None and ts >= self.start_ts:  # the warm-up is not scored
                    events.append(TrueEvent(alert, kind, device.info.id, person, is_subject, utc(ts)))
            for d in device.drops:
                if d.start <= self.now_ts:
                    blind.append(TrueBlind(person, device.info.id, utc(d.start), utc(d.end)))
            if not is_subject or device.info.kind is not DeviceKind.ANKLE_MONITOR:
                continue  # only a monitor's silence is watched (and raises signal_loss)
            gaps: list[tuple[float, float | None]] = list(device.silences)
            last = device.last_send
            if last is not None and self.now_ts - last > device.silence_limit_s:
                gaps.append((last, None))
            for a, b in gaps:
                if a < self.start_ts:
                    continue  # began in the warm-up
                end = None if b is None else utc(b)
                events.append(TrueEvent("signal_loss", "silence", device.info.id, person, True, utc(a), end))
        events.sort(key=lambda e: (e.at, e.device_id))
        incidents = tuple(
            TrueIncident(
                i.kind.value,
                i.subject_id,
                i.protected_person_id,
                i.device_id,
                utc(i.start),
                utc(i.end),
                i.forced,
            )
            for i in sorted(self.incidents, key=lambda i: (i.start, i.subject_id))
            if i.start <= self.now_ts
        )
        return Truth(
            start=self.start.astimezone(UTC),
            until=self.now,
            subjects=len(self.caseload.subjects),
            interval_s=float(self.tuning.interval_s),
            violations=tuple(violations(self._watches)),
            events=tuple(events),
            incidents=incidents,
            blind=tuple(sorted(blind, key=lambda b: (b.start, b.subject_id))),
            intervals=self.intervals(),
        )

    def intervals(self) -> dict[str, float]:
        """Per person, the longest interval any of their body-worn devices may report at: a
        violation is detected in time up to two of these after it ends."""
        found: dict[str, float] = {}
        for device in self.devices.values():
            if device.info.body_worn:
                person = device.person_id
                found[person] = max(found.get(person, 0.0), float(device.longest_interval_s))
        return found

    # --- replay files --------------------------------------------------------------------------------

    def replay_document(self, reports: Iterable[Report], until: datetime) -> dict[str, Any]:
        """The run as a `vigil replay` scenario (docs/replay.md): the whole registry, and every
        report as a native message with its arrival time (OsmAnd requests converted)."""
        return replay_document(self.caseload, reports, until)


def replay_document(caseload: Caseload, reports: Iterable[Report], until: datetime) -> dict[str, Any]:
    messages = []
    for r in reports:
        message = native_message(r)
        received = iso(r.send_at.timestamp())
        if received != message["at"]:
            message["received_at"] = received
        messages.append(message)
    return {
        "timezone": TIMEZONE,
        "subjects": [
            {
                "id": s.id,
                "name": s.person.name,
                "legal_basis": s.legal_basis.value,
                "devices": [device_spec(d) for d in s.person.devices],
            }
            for s in caseload.subjects
        ],
        "protected_persons": [
            {"id": p.id, "name": p.name, "devices": [device_spec(d) for d in p.devices]}
            for p in caseload.protected_persons
        ],
        "orders": [
            {
                "id": o.id,
                "subject": o.subject_id,
                "protected_person": o.protected_person_id,
                "violation_distance_m": o.violation_distance_m,
                "warning_distance_m": o.warning_distance_m,
                "legal_basis": o.legal_basis.value,
                "zones": [
                    {"label": z.label, "circle": {"lat": z.lat, "lon": z.lon, "radius_m": z.radius_m}}
                    for z in o.zones
                ],
            }
            for o in caseload.orders
        ],
        "zones": [
            {
                "id": s.curfew.id,
                "subject": s.id,
                "kind": "inclusion",
                "label": "curfew",
                "circle": {"lat": s.curfew.lat, "lon": s.curfew.lon, "radius_m": s.curfew.radius_m},
                "schedule": [{"days": list(s.curfew.days), "start": s.curfew.start, "end": s.curfew.end}],
            }
            for s in caseload.subjects
            if s.curfew is not None
        ],
        "messages": messages,
        "until": iso(until.timestamp()),
    }


def device_spec(info: DeviceInfo) -> dict[str, Any]:
    """A device as a replay file names it. A device that reports more rarely than every minute
    says so (`report_interval_s`, for an engine that learns or is told each device's interval); no
    silence limit is set for it, as none would be in the field unless someone thought of it."""
    spec: dict[str, Any] = {"id": info.id, "kind": info.kind.value}
    if info.interval_s != 60:
        spec["report_interval_s"] = info.interval_s
    return spec


def native_message(report: Report) -> dict[str, Any]:
    """The report as a native JSON message; OsmAnd query pairs are converted (knots to m/s)."""
    if isinstance(report.payload, dict):
        return dict(report.payload)
    params = dict(report.payload)
    message: dict[str, Any] = {"device": params["id"], "at": iso(float(params["timestamp"]))}
    if "lat" in params and "lon" in params:
        fix: dict[str, Any] = {"lat": float(params["lat"]), "lon": float(params["lon"])}
        if "accuracy" in params:
            fix["accuracy_m"] = float(params["accuracy"])
        if "speed" in params:
            fix["speed_mps"] = round(float(params["speed"]) * KNOTS_TO_MPS, 2)
        if "bearing" in params:
            fix["heading_deg"] = float(params["bearing"])
        if "batt" in params:
            fix["battery_pct"] = float(params["batt"])
        message["fix"] = fix
    if params.get("alarm") == "sos":
        message["event"] = "sos"
    elif "fix" not in message:
        message["event"] = "heartbeat"
    return message
