"""Why a violation was missed, or why a violation alert was false: read off what the devices reported.

The score says *that* a violation was missed; an operator (or an engineer) needs to know *why*. Each
trace names the rule that should have caught it and the first cause that fits, checked in this
order:

missed
    ``alert for another pair``  an alert of the same family was raised for the subject, but for
                                another protected person or zone;
    ``no fix``                  no position of his (or, for proximity, of hers) was measured during
                                the true interval;
    ``only coarse fixes``       every fix of his during it was a cell position (or worse than 300 m);
    ``fixes late``              the fixes during it arrived after the detection window had closed;
    ``engine did not raise``    some reported fix was itself inside (the centre in the zone, or the
                                centres within the violation distance) and no alert came;
    ``no fix inside``           fixes came, but none of their centres was inside (accuracy, or a
                                pass shorter than the reporting interval).

false
    ``device away from wearer`` the fix came from a device that was not with him (a phone left at
                                home, a monitor cut off and left behind);
    ``multipath jump``          a GNSS fix far beyond its stated accuracy;
    ``coarse fix``              a cell position, or accuracy worse than 300 m;
    ``wifi fix``                a Wi-Fi position (50-400 m accuracy);
    ``late fix``                a fix that arrived minutes after it was measured;
    ``accuracy disc``           honest fixes near the line: the nearest plausible separation (or
                                the disc's edge) was in breach while the truth was not.

late detection (later than the p95 target)
    ``waiting for a fix``       most of the delay passed before the first fix inside was measured;
    ``fix late``                ... while that fix was in transit (a late batch);
    ``engine waited``           ... after it arrived (a rule waiting for corroboration).

Measurement times are the devices' clocks put right (each simulated device knows its own skew).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vigil_sim.movement import Position, separation
from vigil_sim.simulator import TZ, Simulation
from vigil_sim.truth import PROXIMITY, ZONE, Quality, TrueViolation, Truth

COARSE_M = 300.0  # the engine's coarse limit: beyond this a fix can warn but not decide
LATE_S = 120.0  # arrived this long after it was measured: a late fix
NEAREST_S = 300.0  # her fix is paired with his if measured within this
JUMP_FLOOR_M = 100.0


@dataclass(frozen=True, slots=True)
class Sent:
    """One reported fix, as the engine received it, with when it was truly measured."""

    device: str
    person: str
    measured: float  # epoch s, true time
    received: float
    lat: float
    lon: float
    accuracy_m: float
    source: str

    @property
    def coarse(self) -> bool:
        return self.source == "cell" or self.accuracy_m > COARSE_M

    def json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "measured": _iso(self.measured),
            "received": _iso(self.received),
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "source": self.source,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, TZ).isoformat(timespec="seconds")  # as the alert lines say it


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Reported:
    """Every fix of a run, by person, in measurement order."""

    def __init__(self, sim: Simulation, messages: Iterable[Mapping[str, Any]]) -> None:
        by_person: dict[str, list[Sent]] = {}
        for m in messages:
            fix = m.get("fix")
            if not fix:
                continue
            device = sim.devices.get(m["device"])
            if device is None:
                continue
            at = _ts(m["at"])
            received = _ts(m["received_at"]) if "received_at" in m else at
            sent = Sent(
                m["device"],
                device.person_id,
                at - device.skew_s,
                received,
                float(fix["lat"]),
                float(fix["lon"]),
                float(fix.get("accuracy_m") or 0.0),
                str(fix.get("source") or "unknown"),
            )
            by_person.setdefault(device.person_id, []).append(sent)
        self.by_person = {p: sorted(v, key=lambda s: s.measured) for p, v in by_person.items()}
        self._times = {p: [s.measured for s in v] for p, v in self.by_person.items()}

    def between(self, person: str | None, a: float, b: float) -> list[Sent]:
        if person is None:
            return []
        times = self._times.get(person, [])
        fixes = self.by_person.get(person, [])
        return fixes[bisect.bisect_left(times, a) : bisect.bisect_right(times, b)]

    def known_at(self, person: str | None, at: float) -> list[Sent]:
        """The fixes the engine had just received at `at` (the ones that raised an alert then), or
        else the last fix received by then."""
        if person is None:
            return []
        fixes = self.by_person.get(person, [])
        now = [s for s in self.between(person, at - 3600.0, at + 60.0) if at - 1.0 <= s.received <= at]
        if now:
            return now
        before = [s for s in self.between(person, at - 6 * 3600.0, at) if s.received <= at]
        return before[-1:] if before else fixes[:0]

    def nearest(self, person: str | None, at: float) -> Sent | None:
        near = self.between(person, at - NEAREST_S, at + NEAREST_S)
        return min(near, key=lambda s: abs(s.measured - at)) if near else None


def _point(lat: float, lon: float) -> Position:
    return lat, lon, 0.0, 0.0, False


class Tracer:
    def __init__(self, sim: Simulation, messages: Iterable[Mapping[str, Any]], truth: Truth) -> None:
        self.sim = sim
        self.truth = truth
        self.reported = Reported(sim, messages)
        load = sim.caseload
        self.orders = {o.id: o for o in load.orders}
        self.zones: dict[str, tuple[float, float, float, bool]] = {}  # id -> lat, lon, radius, curfew
        for o in load.orders:
            for z in o.zones:
                self.zones[z.id] = (z.lat, z.lon, z.radius_m, False)
        for s in load.subjects:
            if s.curfew is not None:
                self.zones[s.curfew.id] = (s.curfew.lat, s.curfew.lon, s.curfew.radius_m, True)

    # --- what rule ---------------------------------------------------------------------------------

    def rule(self, kind: str, zone: str | None, order: str | None) -> str:
        if kind == PROXIMITY:
            return f"proximity (order {order})"
        z = self.zones.get(zone or "")
        return f"{'curfew' if z is not None and z[3] else 'exclusion zone'} {zone}"

    def _inside(self, v_kind: str, zone: str | None, order: str | None, s: Sent) -> float | None:
        """How far the fix's centre is inside the line (> 0 inside), or None if not judgeable."""
        if v_kind == ZONE:
            z = self.zones.get(zone or "")
            if z is None:
                return None
            d = separation(_point(s.lat, s.lon), _point(z[0], z[1]))
            return d - z[2] if z[3] else z[2] - d
        o = self.orders.get(order or "")
        if o is None:
            return None
        her = self.reported.nearest(o.protected_person_id, s.measured)
        if her is None:
            return None
        return o.violation_distance_m - separation(_point(s.lat, s.lon), _point(her.lat, her.lon))

    # --- misses --------------------------------------------------------------------------------------

    def delayed(self, v: TrueViolation, delay_s: float) -> dict[str, Any]:
        """Why a detection came late: the time from the crossing to the first fix that was inside,
        that fix's time in transit, and the time the engine took after it arrived (the largest of
        the three is the cause: `waiting for a fix`, `fix late`, `engine waited`)."""
        start = v.start.timestamp()
        alert_at = start + delay_s
        out = self._about(v)
        out["delay_s"] = round(delay_s)
        his = self.reported.between(v.subject_id, start, alert_at)
        inside = [
            s
            for s in his
            if not s.coarse and (m := self._inside(v.kind, v.zone_id, v.order_id, s)) is not None and m > 0.0
        ]
        out["fixes"] = len(his)
        if not inside:
            out["cause"] = "no fix inside" if his else "no fix"
            out["detail"] = f"{len(his)} fix(es) of his in the {delay_s:.0f} s, none inside"
            return out
        first = inside[0]
        parts = {
            "waiting for a fix": first.measured - start,
            "fix late": first.received - first.measured,
            "engine waited": alert_at - first.received,
        }
        out["cause"] = max(parts, key=lambda k: parts[k])
        out["detail"] = (
            f"first fix inside measured {parts['waiting for a fix']:.0f} s after the crossing "
            f"({first.device}, {first.source}, {first.accuracy_m:.0f} m), in transit "
            f"{parts['fix late']:.0f} s; alert {parts['engine waited']:.0f} s after it arrived"
        )
        out["evidence"] = [s.json() for s in inside[:3]]
        return out

    def _about(self, v: TrueViolation) -> dict[str, Any]:
        start = v.start.timestamp()
        end = self.truth.until.timestamp() if v.end is None else v.end.timestamp()
        return {
            "kind": v.kind,
            "rule": self.rule(v.kind, v.zone_id, v.order_id),
            "subject": v.subject_id,
            "protected_person": v.protected_person_id,
            "zone": v.zone_id,
            "start": _iso(start),
            "end": None if v.end is None else _iso(end),
            "duration_s": round(end - start),
            "depth_m": v.depth_m,
        }

    def missed(self, v: TrueViolation, alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Why nothing detected `v`."""
        truth = self.truth
        start = v.start.timestamp()
        end = truth.until.timestamp() if v.end is None else v.end.timestamp()
        grace = 2.0 * max(truth.interval_of(v.subject_id), truth.interval_of(v.protected_person_id))
        out = self._about(v)
        others = [
            a
            for a in alerts
            if a.get("subject") == v.subject_id
            and a["kind"] in ("proximity_warning", PROXIMITY, ZONE)
            and a["change"] != "cleared"
            and start - 300.0 <= _ts(a["at"]) <= end + grace
            and (a.get("protected_person"), a.get("zone")) != (v.protected_person_id, v.zone_id)
            and ((a["kind"] == ZONE) == (v.kind == ZONE))
        ]
        his = self.reported.between(v.subject_id, start, end)
        hers = self.reported.between(v.protected_person_id, start - NEAREST_S, end + NEAREST_S)
        out["fixes"] = len(his)
        if others:
            a = others[0]
            out["cause"] = "alert for another pair"
            out["detail"] = (
                f"{a['kind']} {a['change']} at {a['at']} for {a.get('protected_person') or a.get('zone')}"
            )
            return out
        if not his:
            out["cause"] = "no fix"
            out["detail"] = f"no fix of his measured during the {end - start:.0f} s it lasted"
            return out
        if v.kind == PROXIMITY and not hers:
            out["cause"] = "no fix"
            out["detail"] = "no fix of hers measured within 5 min of it"
            return out
        if all(s.coarse for s in his):
            out["cause"] = "only coarse fixes"
            out["detail"] = f"{len(his)} fix(es), best accuracy {min(s.accuracy_m for s in his):.0f} m"
            return out
        if all(s.received > end + grace for s in his):
            worst = min(s.received - s.measured for s in his)
            out["cause"] = "fixes late"
            out["detail"] = f"{len(his)} fix(es) arrived {worst:.0f} s or more after they were measured"
            return out
        margins = [(m, s) for s in his if (m := self._inside(v.kind, v.zone_id, v.order_id, s)) is not None]
        inside = [(m, s) for m, s in margins if m > 0.0 and not s.coarse]
        if inside:
            m, s = inside[0]
            out["cause"] = "engine did not raise"
            out["detail"] = (
                f"{len(inside)} fix(es) inside, first {s.device} measured {_iso(s.measured)} "
                f"{m:.0f} m inside ({s.source}, {s.accuracy_m:.0f} m)"
            )
            out["evidence"] = [s.json() for _, s in inside[:3]]
            return out
        best = max((m for m, _ in margins), default=None)
        out["cause"] = "no fix inside"
        out["detail"] = f"{len(his)} fix(es) during it" + (
            "" if best is None else f", the nearest {-best:.0f} m outside the line"
        )
        return out

    # --- false alerts --------------------------------------------------------------------------------

    def _where_device(self, s: Sent) -> tuple[Position, bool]:
        """Where the device truly was when it measured, and whether it was with its wearer."""
        device = self.sim.devices[s.device]
        wearer = self.sim.position(s.person, s.measured)
        there = device.true_location(s.measured, self.sim)
        return there, separation(there, wearer) < 1.0

    def _fix_cause(self, s: Sent) -> tuple[str, dict[str, Any]]:
        there, with_wearer = self._where_device(s)
        error = separation(_point(s.lat, s.lon), there)
        info = {**s.json(), "error_m": round(error), "late_s": round(s.received - s.measured)}
        if not with_wearer:
            return "device away from wearer", info
        if s.source in ("gnss", "unknown") and error > max(JUMP_FLOOR_M, 3.0 * s.accuracy_m):
            return "multipath jump", info
        if s.coarse:
            return "coarse fix", info
        if s.source == "wifi":
            return "wifi fix", info
        if s.received - s.measured > LATE_S:
            return "late fix", info
        return "accuracy disc", info

    def false(self, line: Mapping[str, Any]) -> dict[str, Any]:
        at = _ts(line["at"])
        kind = line["kind"]
        out: dict[str, Any] = {
            "at": line["at"],
            "alert": line.get("alert"),
            "kind": kind,
            "change": line["change"],
            "rule": self.rule(kind, line.get("zone"), line.get("order")),
            "subject": line.get("subject"),
            "protected_person": line.get("protected_person"),
            "zone": line.get("zone"),
            "confidence": line.get("confidence"),
            "distance_m": line.get("distance_m"),
        }
        subject = line.get("subject")
        person = line.get("protected_person") if kind == PROXIMITY else None
        his = self.reported.known_at(subject, at)
        hers = self.reported.known_at(person, at) if person else []
        if kind == PROXIMITY and subject and person:
            true_d = separation(self.sim.position(subject, at), self.sim.position(person, at))
            out["true_distance_m"] = round(true_d)
        elif line.get("zone") in self.zones:
            lat, lon, radius, curfew = self.zones[line["zone"]]
            d = separation(self.sim.position(subject or "", at), _point(lat, lon))
            out["true_outside_m" if curfew else "true_from_zone_m"] = round(d - radius)
        causes = [(*self._fix_cause(s), "subject") for s in his] + [
            (*self._fix_cause(s), "protected person") for s in hers
        ]
        rank = [
            "device away from wearer",
            "multipath jump",
            "coarse fix",
            "wifi fix",
            "late fix",
            "accuracy disc",
        ]
        if not causes:
            out["cause"] = "no fix"
            out["detail"] = "no fix had been received (raised on the clock)"
            return out
        cause, info, whose = min(causes, key=lambda c: rank.index(c[0]))
        out["cause"] = cause
        out["detail"] = (
            f"{whose}'s {info['device']} {info['source']} fix measured {info['measured']}: "
            f"{info['error_m']} m off, claims {info['accuracy_m']:.0f} m"
            + (f", {info['late_s']} s late" if info["late_s"] > LATE_S else "")
        )
        out["evidence"] = [c[1] for c in causes]
        return out


def trace(
    sim: Simulation,
    truth: Truth,
    messages: Iterable[Mapping[str, Any]],
    quality: Quality,
    alerts: Sequence[Mapping[str, Any]],
    slow_s: float = 120.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(every miss traced, every false violation alert traced, every detection later than
    `slow_s` traced)."""
    tracer = Tracer(sim, messages, truth)
    return (
        [tracer.missed(v, alerts) for v in quality.missed_violations],
        [tracer.false(line) for line in quality.false_alert_lines],
        [tracer.delayed(v, d) for v, d in quality.detections if d > slow_s],
    )
