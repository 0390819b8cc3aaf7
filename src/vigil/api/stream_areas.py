"""The whole map at national zoom: instead of every fix, how many people of each kind the viewer may
see are in each municipality (`/v1/stream?view=areas`).

A viewer's tally holds one entry per person it may see (where they were last placed) and one count
per municipality and kind; a flush sends the counts of the municipalities that changed since the
last message, as absolute numbers (a client overwrites, it never adds). At most one message is
waiting in the viewer's queue at a time: a viewer that falls behind is sent the newest counts when it
catches up, so its memory does not grow with time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import msgspec

Key = tuple[str, str]  # (person_kind, person_id)

_encoder = msgspec.json.Encoder()


class Tally:
    def __init__(self) -> None:
        self.where: dict[Key, tuple[datetime, str]] = {}  # person -> (fix time, municipality code)
        self.counts: Counter[tuple[str, str]] = Counter()  # (code, kind) -> people
        self.changed: set[str] = set()  # codes whose counts changed since the last message
        self.queued = False  # a message is waiting in the viewer's queue (rendered when sent)

    def place(self, key: Key, at: datetime, code: str) -> None:
        """A person seen at `at` in municipality `code` (an older fix than the one known is ignored)."""
        known = self.where.get(key)
        kind = key[0] or "unknown"  # a device bound before kinds were recorded
        if known is not None:
            if known[0] > at:
                return
            if known[1] == code:
                self.where[key] = (at, code)
                return
            self.counts[known[1], kind] -= 1
            self.changed.add(known[1])
        self.where[key] = (at, code)
        self.counts[code, kind] += 1
        self.changed.add(code)

    def seed(self, key: Key, at: datetime, code: str) -> None:
        """Where a person was when the viewer connected, unless the stream has told of them since."""
        if key not in self.where:
            self.place(key, at, code)

    def take(self) -> str | None:
        """The message for what changed since the last one, taken by the viewer's sender."""
        self.queued = False
        if not self.changed:
            return None
        areas: dict[str, dict[str, int]] = {}
        for code in sorted(self.changed):
            areas[code] = {}
        for (code, kind), n in self.counts.items():
            if code in areas and n:
                areas[code][kind] = n
        self.changed.clear()
        for key in [k for k, n in self.counts.items() if n == 0]:
            del self.counts[key]  # an emptied municipality was just sent as {}
        message: dict[str, Any] = {"type": "areas", "areas": areas}
        return _encoder.encode(message).decode()
