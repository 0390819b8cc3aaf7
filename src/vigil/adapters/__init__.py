"""Device adapters: bytes or requests in, Fix/DeviceEvent out, nothing else.

An adapter checks that a time is a time, never whether it is believable: that is one rule for every
adapter, applied by the processor (rules/device_clock.py), so an alarm is never refused for its time
by a new adapter that forgot it."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.domain.model import Report


@dataclass(frozen=True, slots=True)
class InputError:
    """Why one message of a request was refused: which message, which field, and why."""

    index: int | None  # position in the batch; None when the whole body is at fault
    field: str  # JSON-path-like: "messages[3].fix.lat", or "body"
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(slots=True)
class Decoded:
    """What an adapter made of one request: the good reports (with their batch index) and the errors."""

    reports: list[tuple[int, Report]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
