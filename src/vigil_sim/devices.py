"""Devices: what a monitor, a watch or a phone sends, given where its wearer truly is.

Each device samples its wearer's true position on its own clock (every 60 s, every 15 s in pursuit)
and turns it into what real hardware reports: GNSS error, the occasional multipath jump, no fix
indoors (or a coarse Wi-Fi / cell one), battery drain and nightly charging, late batches after a
coverage gap, a clock a few seconds off. Scripted incidents add events, outages, a dying battery or
a monitor cut off and left behind.

A device draws from its own random generator, seeded by (simulation seed, device id), and always in
the same order for the same inputs, so its reports do not depend on how `run` calls are chunked or
on which other devices exist.

Accuracy convention: `accuracy_m` is the 68 % radius, as Android's Location.getAccuracy() reports
it. With independent Gaussian error of sigma on each axis the radial error is Rayleigh distributed
and 68 % of it lies within 1.5096 sigma, so a fix drawn with sigma = accuracy / 1.5096 is honest.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from vigil.domain import geo
from vigil.domain.model import DeviceKind, EventKind
from vigil_sim.caseload import DeviceInfo
from vigil_sim.draws import unit_hash, unit_hashes
from vigil_sim.movement import DAY_S, MAX_SPEED_MPS, UTC_OFFSET_S, Position

R68 = 1.5096  # radius holding 68 % of a 2-D Gaussian, in per-axis sigmas: sqrt(-2 ln 0.32)
KNOT_MPS = 1852.0 / 3600.0
KST = timezone(timedelta(hours=9), "KST")  # the ISO form is what Asia/Seoul gives: "+09:00"
_M_PER_DEG = geo.EARTH_RADIUS_M * math.pi / 180.0
_INF = math.inf

Protocol_ = Literal["native", "osmand"]
Fix = tuple[float, float, float, float | None, float | None, str]
"""A measured fix: (lat, lon, accuracy_m, speed_mps | None, heading_deg | None, source)."""


@dataclass(frozen=True, slots=True)
class DeviceTuning:
    """How devices behave; the defaults follow the field figures in the domain notes."""

    interval_s: int = 60  # the usual interval (a device's own, `DeviceInfo.interval_s`, rules)
    pursuit_interval_s: int = 15
    pursuit_distance_m: float = 2_000.0  # auto pursuit when the other party of an order is this close
    accuracy_median_m: float = 12.0  # outdoor GNSS, log-normal, clipped to 5-50 m
    accuracy_min_m: float = 5.0
    accuracy_max_m: float = 50.0
    multipath_per_fix: float = 1 / 500
    indoor_missing: float = 0.7  # indoor samples with no fix at all
    indoor_wifi_share: float = 0.5  # of indoor fixes: Wi-Fi (50-200 m)
    indoor_cell_share: float = 0.05  # of indoor fixes: cell (500-2000 m); the rest is weak GNSS
    wifi_accuracy_m: tuple[float, float] = (50.0, 200.0)
    cell_accuracy_m: tuple[float, float] = (500.0, 2000.0)
    indoor_gnss_accuracy_min_m: float = 20.0  # weak GNSS indoors: this to accuracy_max_m
    outdoor_cell_per_fix: float = 0.0  # outdoor samples where the receiver falls back to a cell position
    drain_pct_per_h: tuple[float, float] = (3.0, 5.0)
    charge_pct_per_h: float = 40.0
    forget_charging: float = 0.02  # charges a wearer skips
    called_to_charge_min: tuple[float, float] = (20.0, 90.0)  # after battery_low, until plugged in
    battery_low_pct: float = 15.0
    battery_ok_pct: float = 30.0
    gap_per_fix: float = 1 / 10_000  # a coverage gap starts (then a late batch)
    gap_s: tuple[int, int] = (300, 1200)
    # Hours in which a device reports at another interval (a firmware profile switch, power saving),
    # and the intervals it switches to.
    interval_change_per_hour: float = 0.0
    changed_intervals_s: tuple[int, ...] = (120, 300)
    skew_sigma_s: float = 3.0
    max_skew_s: int = 10
    latency_s: tuple[int, int] = (0, 2)
    silence_s: float = 300.0  # what the server allows an ankle monitor; gaps beyond it are truth


NOISE_PROFILES: dict[str, DeviceTuning] = {
    # Ideal receivers: no multipath, tight GNSS, Wi-Fi indoors at its best, no cell fallback.
    "clean": DeviceTuning(
        accuracy_median_m=8.0,
        accuracy_max_m=30.0,
        multipath_per_fix=0.0,
        indoor_cell_share=0.0,
        wifi_accuracy_m=(30.0, 80.0),
        indoor_gnss_accuracy_min_m=15.0,
    ),
    # The field figures of the domain notes (what every run used before the profiles existed).
    "default": DeviceTuning(),
    # A bad month: five times the multipath, worse indoor positions and more cell fallbacks,
    # coverage gaps uploaded as a batch 30-60 min late, devices switching interval now and then.
    "noisy": DeviceTuning(
        accuracy_median_m=16.0,
        multipath_per_fix=1 / 100,
        indoor_missing=0.6,
        indoor_wifi_share=0.45,
        indoor_cell_share=0.2,
        wifi_accuracy_m=(80.0, 400.0),
        outdoor_cell_per_fix=0.02,
        gap_per_fix=1 / 2_000,
        gap_s=(1800, 3600),
        interval_change_per_hour=0.03,
    ),
}
NOISE_NAMES = tuple(NOISE_PROFILES)


@dataclass(frozen=True, slots=True)
class Report:
    """One request ready to send: a native JSON message (dict) or OsmAnd query pairs."""

    send_at: datetime
    device_id: str
    protocol: Protocol_
    payload: dict[str, Any] | list[tuple[str, str]]


# --- scripts: what incidents make a device do ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptedEvent:
    at: float
    kind: EventKind
    with_fix: bool = True


@dataclass(frozen=True, slots=True)
class Outage:
    """The device sends nothing (shielded, jammed, out of coverage without buffering)."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class BatteryDeath:
    """The battery drains from full to empty in `empty_s`, then the device is off until `revive_at`."""

    start: float
    empty_s: float
    revive_at: float


@dataclass(frozen=True, slots=True)
class Drop:
    """The device lies at (lat, lon) from `start` to `end`: cut off and left behind."""

    start: float
    end: float
    lat: float
    lon: float


class World(Protocol):
    """What a device needs to know about the world."""

    def position(self, person_id: str, ts: float) -> Position: ...

    def partner_distance(self, person_id: str, ts: float) -> float:
        """True metres to the nearest other party of the person's orders (inf if none)."""
        ...


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, KST).isoformat()


@dataclass(slots=True)
class DeviceSim:
    """One device's state. `run(until, world)` samples up to `until`; `take(until)` hands over what
    has been sent by then."""

    info: DeviceInfo
    person_id: str
    index: int  # stable tie-break when reports share a send time
    seed: int
    start: float
    tuning: DeviceTuning = field(default_factory=DeviceTuning)
    home: tuple[float, float] | None = None  # where a device left at home lies (a phone)
    rng: random.Random = field(init=False)
    skew_s: int = field(init=False)
    quality: float = field(init=False)
    drain: float = field(init=False)
    next_t: float = field(init=False)
    battery: float = field(init=False)
    battery_t: float = field(init=False)
    low_sent: bool = False
    off_until: float = -_INF
    pursuit_until: float = -_INF
    near_next: float = -_INF
    extra_charge: tuple[float, float] = (_INF, _INF)  # told to charge after a battery_low alert
    gap_until: float = -_INF
    buffer: list[tuple[float, dict[str, Any] | list[tuple[str, str]]]] = field(default_factory=list)
    events: list[ScriptedEvent] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    deaths: list[BatteryDeath] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    outbox: deque[tuple[float, int, Report]] = field(default_factory=deque)
    seq: int = 0
    last_send: float | None = None
    # truth kept by the device: events it sent (true time, kind) and silences (from, to) beyond
    # the server's limit, measured at the receiver (send times)
    emitted: list[tuple[float, str]] = field(default_factory=list)
    silences: list[tuple[float, float]] = field(default_factory=list)
    _charge_cache: dict[int, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    _plug: tuple[float, float, bool] = (_INF, _INF, False)  # (from, to, charging) known for that span

    def __post_init__(self) -> None:
        t = self.tuning
        self.rng = r = random.Random(f"{self.seed}/device/{self.info.id}")
        self.skew_s = max(-t.max_skew_s, min(t.max_skew_s, round(r.gauss(0.0, t.skew_sigma_s))))
        self.quality = r.uniform(0.8, 1.25)  # some devices (or wearers' surroundings) are worse
        self.drain = r.uniform(*t.drain_pct_per_h) / 3600.0
        self.next_t = float(math.floor(self.start) + r.randrange(self.info.interval_s))
        self.battery = self._settled_battery()
        self.battery_t = self.start

    @property
    def protocol(self) -> Protocol_:
        return "osmand" if self.info.kind is DeviceKind.PHONE else "native"

    # --- controls ---------------------------------------------------------------------------------

    def pursue(self, until: float, at: float | None = None) -> None:
        self.pursuit_until = max(self.pursuit_until, until)
        if at is not None:  # taken at `at`: the next sample within one pursuit interval of it
            self.next_t = min(self.next_t, at + self.tuning.pursuit_interval_s)

    def add_event(self, event: ScriptedEvent) -> None:
        self.events.append(event)
        self.events.sort(key=lambda e: e.at)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, until: float, world: World) -> None:
        """Sample, send and fire scripted events up to epoch second `until`."""
        while True:
            t_sample = self.next_t
            t_event = self.events[0].at if self.events else _INF
            t_flush = self.gap_until if self.buffer else _INF
            t = min(t_sample, t_event, t_flush)
            if t > until:
                return
            if t == t_flush:
                self._flush()
            elif t == t_event:
                self._event(self.events.pop(0), world)
            else:
                self.next_t = t + self._sample(t, world)

    def take(self, until: float) -> list[tuple[float, int, Report]]:
        """Reports sent by `until` (epoch s), as (send time, device index, report)."""
        out: list[tuple[float, int, Report]] = []
        box = self.outbox
        while box and box[0][0] <= until:
            out.append(box.popleft())
        return out

    def _sample(self, t: float, world: World) -> int:
        """One sampling instant; returns the interval to the next."""
        tuning = self.tuning
        pursuit = t < self.pursuit_until or self._near(t, world)
        interval = tuning.pursuit_interval_s if pursuit else self._interval(t)
        if not self._battery_at(t, world) or self._silenced(t):
            return interval
        fix = self._measure(self._where(t, world))
        if fix is None:
            # A monitor that cannot see the sky still says it is alive, so that silence means a
            # dead or shielded device, not a basement; a victim's app simply has nothing to send.
            if self.info.kind is DeviceKind.ANKLE_MONITOR:
                self._emit(t, None, EventKind.HEARTBEAT)
            return interval
        self._emit(t, fix, None)
        return interval

    def _event(self, event: ScriptedEvent, world: World) -> None:
        t = event.at
        if not self._battery_at(t, world, revive=event.kind is EventKind.CHARGING):
            return  # off: a dead device raises nothing
        fix = self._measure(self._where(t, world), force=True) if event.with_fix else None
        self._emit(t, fix, event.kind)

    def _near(self, t: float, world: World) -> bool:
        """Automatic pursuit: the other party of an order within 2 km. While they are far apart the
        distance is not looked at again before they could have closed it at top speed."""
        if t < self.near_next:
            return False
        gap = world.partner_distance(self.person_id, t) - self.tuning.pursuit_distance_m
        if gap <= 0.0:
            return True
        self.near_next = t + gap / (2.0 * MAX_SPEED_MPS)
        return False

    def _interval(self, t: float) -> int:
        """The interval outside pursuit: the device's own, or another one for the hour (noisy)."""
        tuning = self.tuning
        if tuning.interval_change_per_hour > 0.0:
            hour = int(t // 3600)
            a, b, _, _ = unit_hashes(self.seed, self.info.id, "interval", hour)
            if a < tuning.interval_change_per_hour:
                options = tuning.changed_intervals_s
                return options[min(len(options) - 1, int(b * len(options)))]
        return self.info.interval_s

    @property
    def longest_interval_s(self) -> int:
        """The longest interval it may report at outside pursuit."""
        longest = self.info.interval_s
        if self.tuning.interval_change_per_hour > 0.0:
            longest = max(longest, *self.tuning.changed_intervals_s)
        return longest

    @property
    def silence_limit_s(self) -> float:
        """A gap in sending longer than this is a true silence: the server's limit, or two of the
        device's intervals when it reports more rarely than that allows."""
        return max(self.tuning.silence_s, 2.0 * self.longest_interval_s)

    def left_home(self, t: float) -> bool:
        """A phone left at home all this local day."""
        if self.home is None or self.info.left_home_share <= 0.0:
            return False
        day = int((t + UTC_OFFSET_S) // DAY_S)
        return unit_hash(self.seed, self.info.id, "left", day) < self.info.left_home_share

    def true_location(self, t: float, world: World) -> Position:
        """Where the device itself truly is at `t` (with its wearer, left at home, or cut off)."""
        return self._where(t, world)

    def _where(self, t: float, world: World) -> Position:
        if self.home is not None and self.left_home(t):
            return self.home[0], self.home[1], 0.0, 0.0, True
        if self.drops:
            for d in self.drops:
                if d.start <= t < d.end:
                    return d.lat, d.lon, 0.0, 0.0, False
        return world.position(self.person_id, t)

    def _silenced(self, t: float) -> bool:
        return bool(self.outages) and any(o.start <= t < o.end for o in self.outages)

    # --- battery ----------------------------------------------------------------------------------

    def _charge_windows_of(self, night: int) -> tuple[tuple[float, float], ...]:
        """Charging in the day-and-night starting at local noon of day `night`. Phones and watches
        charge all night. A monitor drains 3-5 %/h, more than one charge a day can carry, so its
        wearer charges at bedtime (2.5 h) and tops up from a battery pack around midday (1 h) of
        the next day. Any of them may be skipped."""
        found = self._charge_cache.get(night)
        if found is None:
            if len(self._charge_cache) > 8:
                self._charge_cache.clear()
            noon = night * DAY_S - UTC_OFFSET_S + 12 * 3600
            # (start after noon in hours, spread of the start, hours plugged in)
            plans = [(10.0, 3.0, 2.5 if self.info.kind is DeviceKind.ANKLE_MONITOR else 7.5)]
            if self.info.kind is DeviceKind.ANKLE_MONITOR:
                plans.append((24.0, 3.0, 1.0))  # the battery pack, 12:00-15:00 the next day
            draws = unit_hashes(self.seed, self.info.id, "charge", night)
            windows = []
            for k, (offset_h, spread_h, hours) in enumerate(plans):
                if draws[2 * k] < self.tuning.forget_charging:
                    continue
                begin = noon + (offset_h + spread_h * draws[2 * k + 1]) * 3600.0
                windows.append((begin, begin + hours * 3600.0))
            found = self._charge_cache[night] = tuple(windows)
        return found

    def _charging(self, t: float) -> bool:
        if self.extra_charge[0] <= t < self.extra_charge[1]:
            return True
        if self._plug[0] <= t < self._plug[1]:
            return self._plug[2]
        # Work out the state at t and how long it lasts, so the next samples need not.
        night = int((t + UTC_OFFSET_S - 12 * 3600) // DAY_S)
        windows = sorted(w for n in (night - 1, night, night + 1) for w in self._charge_windows_of(n))
        frame_end = (night + 1) * DAY_S - UTC_OFFSET_S + 12 * 3600
        since, charging, until = -_INF, False, float(frame_end)
        for begin, end in windows:
            if begin <= t < end:
                since, charging, until = begin, True, end
                break
            if end <= t:
                since = max(since, end)
            elif begin > t:
                until = min(until, begin)
        self._plug = (since, until, charging)
        return charging

    def _settled_battery(self) -> float:
        """The level at the start, as if the device had been living its routine already."""
        t = self.start
        night = int((t + UTC_OFFSET_S - 12 * 3600) // DAY_S)
        ends = [e for n in (night - 2, night - 1, night) for b, e in self._charge_windows_of(n) if b <= t]
        if any(b <= t < e for n in (night - 1, night) for b, e in self._charge_windows_of(n)):
            return 70.0
        last = max(ends, default=t - 12 * 3600.0)
        return max(20.0, 100.0 - self.drain * (t - last))

    def _battery_at(self, t: float, world: World, *, revive: bool = False) -> bool:
        """Bring the battery to time `t`; False while the device is off. Emits battery_low,
        charging and power_off as levels cross their marks."""
        if t < self.off_until and not revive:
            self.battery_t = t
            return False
        if revive:
            # Back on because it was plugged in: it stays on the charger for a while.
            self.off_until = -_INF
            self.battery = max(self.battery, 25.0)
            self.battery_t = t
            self.extra_charge = (t, t + 2.0 * 3600.0)
            self._plug = (_INF, _INF, False)
            return True
        dt = t - self.battery_t
        self.battery_t = t
        death = next((d for d in self.deaths if d.start <= t < d.revive_at), None) if self.deaths else None
        charging = death is None and self._charging(t)
        if death is not None:
            self.battery -= 100.0 / death.empty_s * dt
        elif charging:
            was_low = self.low_sent
            self.battery = min(100.0, self.battery + self.tuning.charge_pct_per_h / 3600.0 * dt)
            if self.battery >= self.tuning.battery_ok_pct:
                self.low_sent = False
                if was_low and self.protocol == "native":
                    self._emit(t, None, EventKind.CHARGING)
        else:
            self.battery -= self.drain * dt
        if not self.low_sent and self.battery <= self.tuning.battery_low_pct:
            self.low_sent = True
            # The alert reaches the officer, who calls the wearer: he plugs in within the hour.
            plug = t + self.rng.uniform(*self.tuning.called_to_charge_min) * 60.0
            self.extra_charge = (plug, plug + 2.0 * 3600.0)
            self.emitted.append((t, EventKind.BATTERY_LOW.value))
            if self.protocol == "native":
                self._emit(t, self._measure(self._where(t, world)), EventKind.BATTERY_LOW, record=False)
        if self.battery <= 0.0:
            self.battery = 0.0
            revive_at = death.revive_at if death is not None else self._next_charge(t)
            if self.protocol == "native":
                self._emit(t, self._measure(self._where(t, world)), EventKind.POWER_OFF)
            self.off_until = revive_at
            self.add_event(ScriptedEvent(revive_at, EventKind.CHARGING, with_fix=True))
            return False
        return True

    def _next_charge(self, t: float) -> float:
        night = int((t + UTC_OFFSET_S - 12 * 3600) // DAY_S)
        starts = [b for n in range(night, night + 7) for b, _ in self._charge_windows_of(n) if b > t]
        if self.extra_charge[0] > t:
            starts.append(self.extra_charge[0])
        return min(starts, default=t + DAY_S) + 600.0  # plugged in, then ten minutes to boot

    # --- measuring --------------------------------------------------------------------------------

    def _measure(self, pos: Position, *, force: bool = False) -> Fix | None:
        """What the receiver makes of the true position; None when it gets no fix (indoors)."""
        lat, lon, speed, heading, indoors = pos
        r = self.rng
        t = self.tuning
        out_speed: float | None = None
        out_heading: float | None = None
        source = "gnss"
        if indoors:
            if not force and r.random() < t.indoor_missing:
                return None
            u = r.random()
            if u < t.indoor_wifi_share:
                source, accuracy = "wifi", r.uniform(*t.wifi_accuracy_m)
            elif u < t.indoor_wifi_share + t.indoor_cell_share:
                source, accuracy = "cell", r.uniform(*t.cell_accuracy_m)
            else:
                accuracy = r.uniform(t.indoor_gnss_accuracy_min_m, t.accuracy_max_m)
        elif t.outdoor_cell_per_fix > 0.0 and r.random() < t.outdoor_cell_per_fix:
            # (drawn only when the profile has outdoor fallbacks: the default's draws stay as they were)
            source, accuracy = "cell", r.uniform(*t.cell_accuracy_m)
        else:
            accuracy = r.lognormvariate(math.log(t.accuracy_median_m), 0.45) * self.quality
            accuracy = min(t.accuracy_max_m, max(t.accuracy_min_m, accuracy))
        if source == "gnss":
            if speed > 0.0:
                out_speed = max(0.0, speed + r.gauss(0.0, 0.3))
                out_heading = (heading + r.gauss(0.0, 4.0)) % 360.0
            else:
                out_speed = 0.0
        sigma = accuracy / R68
        north = r.gauss(0.0, sigma)
        east = r.gauss(0.0, sigma)
        if source == "gnss" and r.random() < t.multipath_per_fix:
            # A reflection off a building: hundreds of metres out while the receiver claims a
            # tight fix. The reported accuracy lies; that is what makes multipath dangerous.
            jump, direction = r.uniform(100.0, 500.0), r.uniform(0.0, 2.0 * math.pi)
            north += jump * math.cos(direction)
            east += jump * math.sin(direction)
            accuracy = r.uniform(5.0, 20.0)
        lat2 = lat + north / _M_PER_DEG
        lon2 = lon + east / (_M_PER_DEG * math.cos(math.radians(lat)))
        return lat2, lon2, accuracy, out_speed, out_heading, source

    # --- sending ----------------------------------------------------------------------------------

    def _payload(
        self, t: float, fix: Fix | None, event: EventKind | None
    ) -> dict[str, Any] | list[tuple[str, str]] | None:
        device_time = t + self.skew_s
        if self.protocol == "osmand":
            return self._osmand(device_time, fix, event)
        message: dict[str, Any] = {"device": self.info.id, "at": iso(device_time)}
        if fix is not None:
            lat, lon, accuracy, speed, heading, source = fix
            body: dict[str, Any] = {
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "accuracy_m": round(accuracy, 1),
            }
            if speed is not None:
                body["speed_mps"] = round(speed, 2)
            if heading is not None:
                body["heading_deg"] = round(heading, 1)
            body["source"] = source
            body["battery_pct"] = round(self.battery, 1)
            message["fix"] = body
        if event is not None:
            message["event"] = event.value
        return message

    def _osmand(
        self, device_time: float, fix: Fix | None, event: EventKind | None
    ) -> list[tuple[str, str]] | None:
        # A Traccar/OsmAnd client speaks only of positions and a few alarms; of our events only
        # SOS has a parameter it sends (alarm=sos). Battery is the batt parameter on every fix.
        alarm = event is EventKind.SOS
        if fix is None and not alarm:
            return None
        params = [("id", self.info.id), ("timestamp", str(int(device_time)))]
        if fix is not None:
            lat, lon, accuracy, speed, heading, _ = fix
            params += [("lat", f"{lat:.6f}"), ("lon", f"{lon:.6f}"), ("accuracy", f"{accuracy:.1f}")]
            if speed is not None:
                params.append(("speed", f"{speed / KNOT_MPS:.2f}"))  # OsmAnd speed is in knots
            if heading is not None:
                params.append(("bearing", f"{heading:.1f}"))
            params.append(("batt", f"{self.battery:.0f}"))
        if alarm:
            params.append(("alarm", "sos"))
        return params

    def _emit(self, t: float, fix: Fix | None, event: EventKind | None, *, record: bool = True) -> None:
        payload = self._payload(t, fix, event)
        if payload is None:
            return
        if record and event is not None and event not in (EventKind.HEARTBEAT, EventKind.CHARGING):
            self.emitted.append((t, event.value))
        if t < self.gap_until:
            self.buffer.append((t, payload))
            return
        if self.rng.random() < self.tuning.gap_per_fix:
            # Out of coverage: keep fixes and send them at once when back, with their own times.
            self.gap_until = t + self.rng.randint(*self.tuning.gap_s)
            self.buffer.append((t, payload))
            return
        self._send(t + self.rng.randint(*self.tuning.latency_s), payload)

    def _flush(self) -> None:
        at = self.gap_until + self.rng.randint(*self.tuning.latency_s)
        for _, payload in self.buffer:
            self._send(at, payload)
        self.buffer.clear()
        self.gap_until = -_INF

    def _send(self, at: float, payload: dict[str, Any] | list[tuple[str, str]]) -> None:
        last = self.last_send
        if last is not None:
            at = max(at, last)  # one connection: requests leave in order
            if at - last > self.silence_limit_s and self.info.kind is DeviceKind.ANKLE_MONITOR:
                self.silences.append((last, at))
        self.last_send = at
        self.seq += 1
        report = Report(datetime.fromtimestamp(at, UTC), self.info.id, self.protocol, payload)
        self.outbox.append((at, self.seq, report))
