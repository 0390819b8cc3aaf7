"""Counts kept on the hot paths for `/metrics` (vigil/metrics.py reads them at scrape time).

Each is a plain integer add where it happens: no lock, no label look-up, no metrics library on the
path of a report. Who writes and who reads matters, since a scrape runs on the event loop:

* `Reports` and `Traffic` are written on the event loop (the HTTP routes, the device listeners, the
  MQTT subscriber), where the scrape runs too: nothing can change them during a scrape.
* `AlertTally` is written on the writer thread. Its keys are all made up front, so the writer only
  ever changes values, never the dict's size, and a scrape on another thread can copy it safely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vigil.domain.alerts import AlertChange, AlertKind, Change

if TYPE_CHECKING:
    from vigil.adapters import InputError
    from vigil.commands import IngestOutcome


@dataclass(slots=True)
class Reports:
    """One channel's device reports: handed to the writer, stored (new), already stored (a device's
    retry), refused by the writer (by a fixed label), and lost to a failed store (nothing kept; the
    device is not acknowledged and retries)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unstored: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def took(self, handed: int, outcome: IngestOutcome) -> None:
        self.received += handed
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        for error in outcome.errors:  # rare: an unknown device, a time not believed
            self.refused[writer_reason(error)] += 1

    def lost(self, handed: int) -> None:
        self.received += handed
        self.unstored += handed


# The channels that arrive over HTTP routes (the device listeners count their own).
HTTP = "http"  # Vigil's native JSON, POST /v1/devices/messages
OSMAND = "osmand"  # OsmAnd / Traccar Client
APP = "app"  # the victim app's own position reports and SOS (POST /v1/me/...)


@dataclass(slots=True)
class Traffic:
    """The HTTP channels' reports, and the messages their decoders refused, by channel and reason
    (what the writer refused is counted with each channel's `Reports`)."""

    channels: dict[str, Reports] = field(default_factory=lambda: {c: Reports() for c in (HTTP, OSMAND, APP)})
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)

    def took(self, channel: str, handed: int, outcome: IngestOutcome) -> None:
        self.channels[channel].took(handed, outcome)

    def lost(self, channel: str, handed: int) -> None:
        self.channels[channel].lost(handed)

    def rejected(self, channel: str, errors: Iterable[InputError]) -> None:
        """Messages the decoder refused before anything reached the writer."""
        for error in errors:
            self.refused[(channel, "malformed body" if error.index is None else "invalid message")] += 1


def writer_reason(error: InputError) -> str:
    """A short, fixed label for a message the writer refused. Labels never quote the input (a
    decoder's reasons may, and an attacker must not be able to multiply the series)."""
    if error.field.endswith(".at"):
        return "time not believable"
    if error.reason == "unknown device":
        return "unknown device"
    if error.field.endswith(".device"):
        return "not its own device"
    return "refused"


class AlertTally:
    """Alert changes committed, by kind and change; written by the writer thread after each commit."""

    def __init__(self) -> None:
        self.changes: dict[tuple[AlertKind, Change], int] = {(k, c): 0 for k in AlertKind for c in Change}

    def count(self, changes: Iterable[AlertChange]) -> None:
        for change in changes:
            self.changes[(change.alert.kind, change.change)] += 1

    def snapshot(self) -> dict[tuple[AlertKind, Change], int]:
        return dict(self.changes)  # the size never changes, so a copy from another thread is whole
