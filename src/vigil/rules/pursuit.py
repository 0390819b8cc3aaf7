"""Pursuit mode: which devices are asked to report fast, and why.

A monitor that reports every minute (or five) leaves a man walking 80-400 m unseen between fixes; in
danger, every fix counts. So while there is a danger, the devices of the people in it are asked to
report every `Tuning.pursuit_interval_s` (15 s), and back to normal when it ends:

* an open alert of a kind that is a danger to her (`KINDS`: he is within the warning distance or
  closer, in a zone he must not be in, his strap is cut, she pressed SOS, his monitor gives no usable
  position), while it is active and not closed: his devices, and for an alert that names her, hers;
* the engine doubts one of a device's fixes and asks for confirmation (`ReportingRequest`): that
  device, until the request's time.

The mode ends `Tuning.pursuit_hold_s` after the last reason ended (a pair that falls back into the
warning tier within it does not flip the monitor's interval back and forth); a confirmation request
ends at its own time. Whether a device can be commanded at all is the caller's question (its
protocol): this module says what is wanted, as `ModeChange`s, once per change.

Pure: handed the time, no I/O. The engine feeds it every alert change and request, and asks it for
the time of its next deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.domain.alerts import TERMINAL, Alert, AlertKind

KINDS = frozenset(
    {
        AlertKind.PROXIMITY_WARNING,
        AlertKind.PROXIMITY_VIOLATION,
        AlertKind.ZONE_VIOLATION,
        AlertKind.TAMPER,
        AlertKind.SOS,
        AlertKind.LOCATION_LOSS,
    }
)


@dataclass(frozen=True, slots=True)
class ModeChange:
    """Ask `device_id` to report fast (`pursuit`), or as it normally does, because of `reason`."""

    device_id: str
    pursuit: bool
    reason: str
    at: datetime


def in_danger(alert: Alert) -> bool:
    return alert.kind in KINDS and alert.active and alert.state not in TERMINAL


class Pursuit:
    def __init__(self, hold_s: float) -> None:
        self._hold = timedelta(seconds=hold_s)
        # device -> reason -> until (None: while the alert that is the reason stays a danger)
        self._reasons: dict[str, dict[str, datetime | None]] = {}
        self._on: set[str] = set()  # devices in pursuit now (as last asked)
        self._ending: dict[str, datetime] = {}  # devices with no reason left: when their mode ends
        self.changes: list[ModeChange] = []
        # `next_due`, kept as times come (`_moved`) and worked out again only when the earliest
        # goes: the writer asks for it on every batch, and thousands of devices may be in pursuit.
        self._due: datetime | None = None
        self._stale = False

    def restore(self, in_pursuit: Iterable[str]) -> None:
        """The devices a previous run left in pursuit (from the store): those with no reason once
        the alerts are restored end after the hold, like any other."""
        self._on |= set(in_pursuit)

    def settle(self, now: datetime) -> None:
        """After a restart: devices in pursuit with no reason start their hold now."""
        self._stale = True
        for device_id in self._on:
            if not self._reasons.get(device_id):
                self._ending.setdefault(device_id, now + self._hold)

    def follow(self, alert: Alert, devices: Iterable[str], at: datetime) -> None:
        """An alert changed (or was restored): `devices` are the parties' devices."""
        if alert.kind not in KINDS:
            return
        reason = f"{alert.kind.value} {alert.id}"
        # The same alert under a kind it had before is the same danger: a warning that escalated to
        # a violation is one reason, not two (the warning's, never dropped, kept the mode on for
        # ever after the violation cleared).
        former = [f"{k.value} {alert.id}" for k in sorted(KINDS) if k is not alert.kind]
        if in_danger(alert):
            for device_id in devices:
                self._add(device_id, reason, None, at)
                for old in former:
                    self._drop(device_id, old, at)
        else:
            for device_id in devices:
                for ended in (reason, *former):
                    self._drop(device_id, ended, at)

    def request(self, device_id: str, reason: str, until: datetime, at: datetime) -> None:
        """A confirmation asked of one device, until `until`."""
        self._add(device_id, f"confirm: {reason}", until, at)

    def next_due(self) -> datetime | None:
        """When `due` has something to end: a hold, or a request's time."""
        if self._stale:
            times = list(self._ending.values())
            times += [u for reasons in self._reasons.values() for u in reasons.values() if u is not None]
            self._due, self._stale = (min(times) if times else None), False
        return self._due

    def due(self, now: datetime) -> None:
        """End what is over by `now`: requests past their time, then modes past their hold."""
        first = self.next_due()
        if first is None or first > now:
            return  # nothing is over yet (the common case: this runs on every tick)
        self._stale = True
        for device_id, reasons in list(self._reasons.items()):
            for reason, until in list(reasons.items()):
                if until is not None and until <= now:
                    del reasons[reason]
                    if not reasons:
                        # a confirmation window ends the mode at its own time: no hold after it
                        self._ending[device_id] = until
        for device_id, when in list(self._ending.items()):
            if when <= now and not self._reasons.get(device_id):
                del self._ending[device_id]
                self._reasons.pop(device_id, None)
                if device_id in self._on:
                    self._on.discard(device_id)
                    self.changes.append(ModeChange(device_id, False, "the danger ended", when))

    def drain(self) -> list[ModeChange]:
        changes, self.changes = self.changes, []
        return changes

    def on(self, device_id: str) -> bool:
        return device_id in self._on

    def _add(self, device_id: str, reason: str, until: datetime | None, at: datetime) -> None:
        reasons = self._reasons.setdefault(device_id, {})
        held = reasons.get(reason)
        if until is None or (reason in reasons and held is None):
            reasons[reason] = None  # for as long as the alert stays a danger
        else:
            reasons[reason] = until if held is None else max(until, held)
        self._moved(held, reasons[reason])
        self._moved(self._ending.pop(device_id, None), None)
        if device_id not in self._on:
            self._on.add(device_id)
            self.changes.append(ModeChange(device_id, True, reason, at))

    def _drop(self, device_id: str, reason: str, at: datetime) -> None:
        reasons = self._reasons.get(device_id)
        if reasons is None or reason not in reasons:
            return
        self._moved(reasons.pop(reason), None)
        if not reasons and device_id in self._on:
            self._moved(self._ending.get(device_id), at + self._hold)
            self._ending[device_id] = at + self._hold

    def _moved(self, old: datetime | None, new: datetime | None) -> None:
        """A time `next_due` looks at changed from `old` to `new` (None: none). The earliest is kept
        as it goes, and worked out again (`_stale`) only when the earliest itself is taken away: an
        alert that is a danger adds no time at all, and with thousands of devices in pursuit a scan
        of every time after each of them was a cost on every batch."""
        if old == new:
            return
        if old is not None and self._due is not None and old <= self._due:
            self._stale = True
        if new is not None and not self._stale and (self._due is None or new < self._due):
            self._due = new
