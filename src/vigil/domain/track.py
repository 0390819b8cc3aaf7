"""Where a person has been lately: one track per device, and the person's position fused from them.

Each device keeps its own track (its fixes in time order) so that speed, heading and plausibility are
always judged between fixes of one receiver: two devices of one person disagree by their accuracies,
and a hop between them is no movement. The person's live position is fused from the devices' newest
fixes: body-worn devices (ankle monitor, smartwatch) first while they are current, then the freshest,
then the most accurate. A phone left at home therefore never stands for him while his ankle monitor
reports from somewhere else.

Memory is bounded by time, not by count alone: a track keeps the fixes of the last `keep_s` seconds
(at most `keep_n`), enough for the live rules and for most late fixes. What it no longer holds, it
says: `answers(when)` is False when the fix in force at `when` may have been dropped (or never loaded
after a restart), and the engine then asks its caller for that part of the past from the store.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from vigil.domain import geo
from vigil.domain.alerts import Position
from vigil.domain.model import DeviceKind, Fix, FixSource

# Devices strapped to or worn on the body: where they are, the person is.
# Two positions of one receiver at rest are of the same place within both accuracies and this.
SAME_PLACE_M = 20.0
BODY_WORN = frozenset({DeviceKind.ANKLE_MONITOR, DeviceKind.SMARTWATCH})
# Defaults of the memory window (rules/tuning.py sets the engine's): at one fix a minute, 15 minutes
# is 15 fixes of about 300 bytes; `vigil bench` projects 100,000 people with full tracks at well
# under 1 GB (with 20 minutes it was 975 MiB: too close). The count caps faster reporters: 32 let
# 10,000 devices reporting every 10 s hold 145 MiB of tracks, past the gateway's 300 MB.
KEEP_S = 900.0
KEEP_N = 16
# A body-worn device stands for the person while its newest fix is at most this much older than the
# newest fix of any of the person's devices; beyond it (switched off, cut off) the others take over.
WORN_CURRENT_S = 900.0
# A body-worn device that reports less often stands for this many of its intervals (engine `_worn_s`).
WORN_INTERVALS = 2.0
# Fixes of one class this close in time to its newest are equally fresh: the more accurate wins.
SAME_MOMENT_S = 30.0
# Speed is derived from two fixes only when they are close enough in time to describe one movement.
DERIVE_SPEED_WITHIN_S = 600.0
DERIVE_SPEED_AFTER_S = 5.0
# A fix with no accuracy is taken to be a phone's usual GNSS, where an accuracy is needed.
UNKNOWN_ACCURACY_M = 30.0


def accuracy(fix: Fix) -> float:
    return UNKNOWN_ACCURACY_M if fix.accuracy_m is None else fix.accuracy_m


def same_place(a: Fix, b: Fix, slack_m: float = 0.0) -> bool:
    """Whether two fixes may be of one place: within both accuracies, `SAME_PLACE_M` and `slack_m`
    (what moved between them)."""
    return geo.distance_m(a.lat, a.lon, b.lat, b.lon) <= accuracy(a) + accuracy(b) + SAME_PLACE_M + slack_m


@dataclass(slots=True)
class Track:
    """One device's fixes, oldest first."""

    device_id: str
    # How long the device's fix stands for the person against a fresher one of another of their
    # devices: 0 for one that is not body-worn (a phone, a beacon), else `WORN_CURRENT_S` or more.
    worn: float = 0.0
    history: list[Fix] = field(default_factory=list)
    # True while the track holds every fix the device ever sent before its newest: nothing dropped
    # by the window and nothing left in the store at a restart.
    complete: bool = True

    @property
    def latest(self) -> Fix | None:
        return self.history[-1] if self.history else None

    def add(self, fix: Fix, keep_s: float = KEEP_S, keep_n: int = KEEP_N) -> bool:
        """Insert a fix in time order; False when it is not held (an instant already held, or older
        than what an incomplete track holds: the store has it)."""
        history = self.history
        if not history or fix.time > history[-1].time:
            history.append(fix)
            self._trim(keep_s, keep_n)
            return True
        i = bisect.bisect_left(history, fix.time, key=_time)
        if i < len(history) and history[i].time == fix.time:
            return False
        if i == 0 and not self.complete:
            return False  # the fixes between it and the oldest held may be missing: do not pretend
        if fix.time < history[-1].time - timedelta(seconds=keep_s):
            return False
        history.insert(i, fix)
        self._trim(keep_s, keep_n)
        return True

    def _trim(self, keep_s: float, keep_n: int) -> None:
        history = self.history
        horizon = history[-1].time - _span(keep_s)
        if len(history) <= keep_n and history[0].time >= horizon:
            return  # the common case: nothing to drop
        drop = bisect.bisect_left(history, horizon, key=_time)
        drop = max(drop, len(history) - keep_n)
        if drop > 0:
            del history[:drop]
            self.complete = False

    def holds(self, when: datetime) -> bool:
        """Whether a fix measured at exactly `when` is held."""
        i = bisect.bisect_left(self.history, when, key=_time)
        return i < len(self.history) and self.history[i].time == when

    def answers(self, when: datetime) -> bool:
        """Whether the fix in force at `when` (the last measured at or before it) is surely held."""
        return self.complete or (bool(self.history) and self.history[0].time <= when)

    def at(self, when: datetime) -> Fix | None:
        """The last fix measured at or before `when`, if held."""
        i = bisect.bisect_right(self.history, when, key=_time)
        return self.history[i - 1] if i > 0 else None

    def before(self, fix: Fix) -> Fix | None:
        i = bisect.bisect_left(self.history, fix.time, key=_time)
        return self.history[i - 1] if i > 0 else None

    def fine_before(self, fix: Fix, coarse_accuracy_m: float) -> Fix | None:
        """The last fix before `fix` whose accuracy is no coarser than `coarse_accuracy_m` (a fix
        with no accuracy counts as fine): what confirms or contradicts it."""
        return self._last_fine(bisect.bisect_left(self.history, fix.time, key=_time), coarse_accuracy_m)

    def fine_at(self, when: datetime, coarse_accuracy_m: float) -> Fix | None:
        """The last fine fix (as `fine_before`) measured at or before `when`."""
        return self._last_fine(bisect.bisect_right(self.history, when, key=_time), coarse_accuracy_m)

    def _through(self, fix: Fix) -> int:
        """How many of the history's fixes lead up to `fix` and include it; 0 when `fix` is not the
        one held for its instant."""
        end = bisect.bisect_right(self.history, fix.time, key=_time)
        return end if end and self.history[end - 1] is fix else 0

    def still_since(self, fix: Fix, moving_mps: float) -> datetime | None:
        """Since when this device's receiver has measured a standstill in `fix`'s place: the earliest
        of the unbroken run of fixes up to `fix` with a speed measured below `moving_mps`, each within
        both accuracies and `SAME_PLACE_M` of `fix`. None when `fix` itself measures no standstill."""
        history, end = self.history, self._through(fix)
        if end == 0:
            return None
        since = None
        for i in range(end - 1, -1, -1):
            f = history[i]
            if f.speed_mps is None or f.speed_mps >= moving_mps:
                break
            if not same_place(f, fix):
                break
            since = f.time
        return since

    def kept(self, fix: Fix, window_s: float, walk_mps: float, moving_mps: float) -> Fix | None:
        """Where the wearer is at `fix`'s time if he has been at rest since a standstill this
        device's GNSS receiver measured within `window_s`: that fix and every fix after it up to
        `fix`, combined by accuracy, the estimate's uncertainty growing at `walk_mps` between them
        (a man at rest may have started to walk). None when no such standstill is held, a fix since
        measures him moving, or one lies beyond both discs (he has moved, or it is off by more than
        it claims: either way it is judged as it is). A Wi-Fi fix indoors moves the estimate by
        little; its error no longer decides alone."""
        history, end = self.history, self._through(fix)
        if end == 0:
            return None
        anchor = None
        for i in range(end - 2, -1, -1):
            f = history[i]
            if (fix.time - f.time).total_seconds() > window_s:
                break
            if f.speed_mps is not None and f.speed_mps >= moving_mps:
                return None  # measured moving since the standstill, if any
            if f.source is FixSource.GNSS and f.speed_mps is not None:
                anchor = i
                break
        if anchor is None or (fix.speed_mps is not None and fix.speed_mps >= moving_mps):
            return None
        first = history[anchor]
        lat, lon, var = first.lat, first.lon, accuracy(first) ** 2
        at = first.time
        for g in history[anchor + 1 : end]:
            var += (walk_mps * (g.time - at).total_seconds()) ** 2
            at = g.time
            a = accuracy(g)
            if geo.distance_m(lat, lon, g.lat, g.lon) > 2.0 * (math.sqrt(var) + a):
                return None
            gain = var / (var + a * a)
            lat, lon, var = (
                lat + gain * (g.lat - lat),
                lon + gain * (g.lon - lon),
                var * a * a / (var + a * a),
            )
        return replace(fix, lat=lat, lon=lon, accuracy_m=math.sqrt(var), source=FixSource.GNSS)

    def _last_fine(self, end: int, coarse_accuracy_m: float) -> Fix | None:
        for i in range(end - 1, -1, -1):
            if (self.history[i].accuracy_m or 0.0) <= coarse_accuracy_m:
                return self.history[i]
        return None


def _time(fix: Fix) -> datetime:
    return fix.time


_SPANS: dict[float, timedelta] = {}


def _span(seconds: float) -> timedelta:
    """timedelta(seconds=...), made once per value (on the hot path at every fix)."""
    span = _SPANS.get(seconds)
    if span is None:
        span = _SPANS[seconds] = timedelta(seconds=seconds)
    return span


@dataclass(slots=True)
class Whereabouts:
    """One person's devices' tracks, and the live position fused from them."""

    person_id: str
    devices: dict[str, Track] = field(default_factory=dict)
    latest: Fix | None = None  # the fused live position

    @property
    def history(self) -> list[Fix]:
        """Every fix held, of all devices, oldest first (for views and tests; not the hot path)."""
        return sorted((f for t in self.devices.values() for f in t.history), key=_time)

    def track(self, device_id: str) -> Track | None:
        return self.devices.get(device_id)

    def add(self, fix: Fix, worn: float, keep_s: float = KEEP_S, keep_n: int = KEEP_N) -> tuple[bool, bool]:
        """Hold a fix in its device's track: (held, live): live when the fused position changed."""
        track = self.devices.get(fix.device_id)
        if track is None:
            track = self.devices[fix.device_id] = Track(fix.device_id, worn)
        track.worn = worn
        if not track.add(fix, keep_s, keep_n):
            return False, False
        if track.latest is not fix:
            return True, False  # an older fix of its device: the live position is not about it
        return True, self._refuse(forward=True)

    def drop(self, device_id: str) -> bool:
        """The device is no longer this person's; True when the live position changed."""
        if self.devices.pop(device_id, None) is None:
            return False
        return self._refuse(forward=False)

    def _refuse(self, forward: bool) -> bool:
        """Fuse the live position again. `forward`: it never moves back in time (a body-worn device's
        fix that arrives after a fresher one of another device is judged as late, not made live)."""
        if len(self.devices) == 1:
            (only,) = self.devices.values()
            fused = only.latest
        else:
            fused = fuse((t.latest, t.worn) for t in self.devices.values())
            current = self.latest
            if forward and fused is not None and current is not None and fused.time < current.time:
                return False
        changed = fused is not self.latest
        self.latest = fused
        return changed

    def worn_elsewhere(self, spread_m: float) -> list[Fix]:
        """The latest fixes of the person's other body-worn devices that are current as fusion counts
        them (`fuse`) and place the person more than `spread_m` from the live position: two
        monitors bound to one man (a replacement fitted while the old one, left on a desk, still
        reports). Fusion takes the fresher, so the live position swaps between them at every report;
        which of them is on his ankle, no fix says. Empty in the common case of one device."""
        live = self.latest
        if live is None or len(self.devices) == 1:
            return []
        newest = max(
            (t.latest.time for t in self.devices.values() if t.latest is not None), default=live.time
        )
        out = []
        for track in self.devices.values():
            f = track.latest
            if f is None or f is live or track.worn <= 0 or f.time < newest - timedelta(seconds=track.worn):
                continue
            if geo.distance_m(f.lat, f.lon, live.lat, live.lon) > spread_m:
                out.append(f)
        return out

    def escorted_elsewhere(self, spread_m: float) -> list[Fix]:
        """The fresher latest fixes of the person's devices that are not body-worn but were with the
        body-worn one at its live fix (`escorts`), placing the person more than `spread_m` from that
        live fix. His monitor reports every 5 minutes, his phone in his pocket every 30 s: the
        monitor's fix of 2 minutes ago is where he was, the phone's where he is (it showed him at
        her door 3 minutes before the monitor did). Judged beside the live position, never instead
        of it: a phone handed to someone else once it was with him can raise, not clear."""
        live = self.latest
        if live is None or len(self.devices) == 1:
            return []
        return [
            f
            for track in self.devices.values()
            if (f := track.latest) is not None
            and self.escorts(f)
            and geo.distance_m(f.lat, f.lon, live.lat, live.lon) > spread_m
        ]

    def escorts(self, fix: Fix) -> bool:
        """Whether `fix`, the latest of a device that is not body-worn, is fresher than the live fix
        of a body-worn one and its device was with it then: a fix of its within `SAME_MOMENT_S` of
        the live one, within both accuracies, `SAME_PLACE_M` and the way either moved in between
        (in a car at 12 m/s, fixes 5 s apart are 60 m apart)."""
        live = self.latest
        track = self.devices.get(fix.device_id)
        worn = None if live is None else self.devices.get(live.device_id)
        moment = timedelta(seconds=SAME_MOMENT_S)
        if (
            live is None
            or track is None
            or worn is None
            or worn is track
            or worn.worn <= 0
            or track.worn > 0
            or track.latest is not fix
            or fix.time - live.time <= moment
        ):
            return False
        beside = track.at(live.time + moment)
        if beside is None or beside.time < live.time - moment:
            return False
        gap = abs((beside.time - live.time).total_seconds())
        shown = velocity(beside, track.before(beside))
        speed = max(beside.speed_mps or 0.0, live.speed_mps or 0.0, math.hypot(*shown) if shown else 0.0)
        return same_place(beside, live, speed * gap)

    def carried_elsewhere(self, spread_m: float, current_s: Callable[[str], float]) -> list[Fix]:
        """The latest fixes of the person's other devices, of any kind, at most `current_s(device)`
        older than the newest of them (a phone set to report every 12 minutes stays current for two
        of its intervals), that place the person more than `spread_m` from the live position.
        For a protected person: her watch on the charger at home stands for her (body-worn first)
        while her phone, with her in a park, says where she is; which of them she has, no fix says."""
        live = self.latest
        if live is None or len(self.devices) == 1:
            return []
        newest = max(t.latest.time for t in self.devices.values() if t.latest is not None)
        return [
            f
            for track in self.devices.values()
            if (f := track.latest) is not None
            and f is not live
            and f.time >= newest - timedelta(seconds=current_s(f.device_id))
            and geo.distance_m(f.lat, f.lon, live.lat, live.lon) > spread_m
        ]

    def answers(self, when: datetime) -> bool:
        if len(self.devices) == 1:
            (only,) = self.devices.values()
            return only.answers(when)
        return all(t.answers(when) for t in self.devices.values())

    def at(self, when: datetime) -> Fix | None:
        """The fused position in force at `when`, from the fixes held."""
        if len(self.devices) == 1:
            (only,) = self.devices.values()
            return only.at(when)
        latest = self.latest
        # the live position is in force from its time on, unless a device reported since
        if (
            latest is not None
            and latest.time <= when
            and self.answers(when)
            and all(t.latest is None or t.latest.time <= latest.time for t in self.devices.values())
        ):
            return latest
        return fuse((t.at(when), t.worn) for t in self.devices.values())

    def earliest(self) -> Fix | None:
        return min((t.history[0] for t in self.devices.values() if t.history), key=_time, default=None)

    def before(self, fix: Fix) -> Fix | None:
        """The fix before `fix` from the same device: speed and heading never mix receivers."""
        track = self.devices.get(fix.device_id)
        return track.before(fix) if track is not None else None

    def fine_before(self, fix: Fix, coarse_accuracy_m: float) -> Fix | None:
        track = self.devices.get(fix.device_id)
        return track.fine_before(fix, coarse_accuracy_m) if track is not None else None

    def still_since(self, fix: Fix, moving_mps: float) -> datetime | None:
        track = self.devices.get(fix.device_id)
        return track.still_since(fix, moving_mps) if track is not None else None

    def kept(self, fix: Fix, window_s: float, walk_mps: float, moving_mps: float) -> Fix | None:
        track = self.devices.get(fix.device_id)
        return track.kept(fix, window_s, walk_mps, moving_mps) if track is not None else None

    def others_fine(self, fix: Fix, coarse_accuracy_m: float) -> Fix | None:
        """The newest fine fix measured by another of the person's devices, at or before `fix`: a
        second receiver's word on where the person is (a reflection misleads one receiver only)."""
        found = (
            t.fine_at(fix.time, coarse_accuracy_m) for d, t in self.devices.items() if d != fix.device_id
        )
        return max((f for f in found if f is not None), key=_time, default=None)

    def with_past(self, fixes: Iterable[Fix], worn: Callable[[str], float]) -> Whereabouts:
        """A copy that also holds `fixes` (read back from the store), complete over their span, for
        judging late fixes; nothing is trimmed from it and it is dropped after use."""
        copy = Whereabouts(self.person_id)
        for device_id, held in self.devices.items():
            copy.devices[device_id] = Track(device_id, held.worn, list(held.history), True)
        for fix in fixes:
            track = copy.devices.get(fix.device_id)
            if track is None:
                track = copy.devices[fix.device_id] = Track(fix.device_id, worn(fix.device_id))
            i = bisect.bisect_left(track.history, fix.time, key=_time)
            if i == len(track.history) or track.history[i].time != fix.time:
                track.history.insert(i, fix)
        copy.latest = self.latest
        return copy


def fuse(candidates: Iterable[tuple[Fix | None, float]]) -> Fix | None:
    """The person's position from their devices' fixes (each with how long its device's fix stands
    for the person, `Track.worn`: 0 if it is not body-worn): body-worn first while current, then the
    freshest, then the most accurate of equally fresh ones."""
    pool = [(f, worn) for f, worn in candidates if f is not None]
    if not pool:
        return None
    if len(pool) == 1:
        return pool[0][0]
    newest = max(f.time for f, _ in pool)
    worn = [f for f, w in pool if w > 0 and f.time >= newest - timedelta(seconds=w)]
    chosen = worn or [f for f, _ in pool]
    top = max(f.time for f in chosen)
    moment = top - timedelta(seconds=SAME_MOMENT_S)
    return min((f for f in chosen if f.time >= moment), key=lambda f: (accuracy(f), -f.time.timestamp()))


def velocity(fix: Fix, previous: Fix | None) -> tuple[float, float] | None:
    """(east, north) in m/s: from the device's own speed and heading, else from the previous fix."""
    if fix.speed_mps is not None and fix.heading_deg is not None:
        rad = math.radians(fix.heading_deg)
        return fix.speed_mps * math.sin(rad), fix.speed_mps * math.cos(rad)
    if fix.speed_mps is not None and fix.speed_mps < 0.1:
        return 0.0, 0.0
    if previous is None:
        return None
    dt = (fix.time - previous.time).total_seconds()
    if not DERIVE_SPEED_AFTER_S <= dt <= DERIVE_SPEED_WITHIN_S:
        return None
    dist = geo.distance_m(previous.lat, previous.lon, fix.lat, fix.lon)
    rad = math.radians(geo.bearing_deg(previous.lat, previous.lon, fix.lat, fix.lon))
    speed = dist / dt
    return speed * math.sin(rad), speed * math.cos(rad)


def position(fix: Fix, now: datetime) -> Position:
    return Position(
        lat=fix.lat,
        lon=fix.lon,
        accuracy_m=fix.accuracy_m,
        time=fix.time,
        age_s=max(0.0, (now - fix.time).total_seconds()),
        speed_mps=fix.speed_mps,
        heading_deg=fix.heading_deg,
        source=fix.source.value,
    )
