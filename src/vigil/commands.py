"""What the single writer is asked to do, what it answers, and how it says no.

Every change of state is a command handed to the writer (`runner.Runner.submit`); the processor's
handler table (`processor.HANDLERS`) names the one handler for each. A command is typed by what it
answers, `Command[T]`, so submitting it gives a `Future[T]`.

A handler that turns a command down raises a refusal: `Refused` (the input is wrong, naming the
field, 422), `NotFound` (what it names is not there, 404) or `Conflict` (the record's state does
not allow it, 409). The processor undoes that command alone and goes on with the rest of its batch;
the caller's future raises the refusal, and the API answers it with its status and reason.

This module holds data only. Stores, routes, the outbox and the deliverer all import it; it
imports none of them, so no write path loops back through the processor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from vigil.adapters import InputError
from vigil.dispatch.reports import Outcome, Status
from vigil.domain.alerts import AlertChange, AlertState, Signal
from vigil.domain.model import Report

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from vigil.store.audit import Entry

T = TypeVar("T")


class Command(Generic[T]):
    """A request to change state; `T` is what the writer answers it with."""

    __slots__ = ()


# --- refusals -------------------------------------------------------------------------------------


class Refusal(Exception):
    """A command turned down on its own: its writes are undone, the rest of its batch goes through.

    `field` names the input at fault: with one (even an empty one) the API answers a list of
    {field, reason}, the shape every 422 has; without, the reason alone. `str()` is the message
    "field: reason" (or the reason), as logs and replays print it."""

    status: ClassVar[int] = 409

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def detail(self) -> str | list[dict[str, str]]:
        """The body's `detail`, in the shape the API answers with elsewhere."""
        if self.field is None:
            return self.reason
        return [{"field": self.field, "reason": self.reason}]


class Refused(Refusal):
    """The input is wrong (422), naming the field at fault ("" when no one field is)."""

    status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field)


class NotFound(Refusal):
    """What the command names is not there (404)."""

    status = 404

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class Unavailable(Refusal):
    """This process cannot do it (503): a step that cluster mode does not carry yet."""

    status = 503

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class Conflict(Refusal):
    """The record's state does not allow it (409): already ended, already removed, taken."""

    status = 409

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason, field)


# --- reports from devices -------------------------------------------------------------------------


@dataclass(slots=True)
class IngestOutcome:
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0  # alert changes these reports caused
    errors: list[InputError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ingest(Command[IngestOutcome]):
    reports: Sequence[tuple[int, Report]]
    received_at: datetime
    only_device: str | None = None  # a device's own token may post only for that device
    # Judge the positions' physical plausibility (the victim app's own reports): an implausible one
    # is stored with its doubt but moves no one and feeds no rule (an alarm still raises).
    vet: bool = False


@dataclass(frozen=True, slots=True)
class Offline(Command[bool]):
    """The device said it is going offline (an OwnTracks last will): shown until it is heard again;
    its silence is left to the silence rules. Answers whether the device is known."""

    device_id: str
    at: datetime


# --- registry writes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Touched:
    """What a registry write changed, so the engine can reload exactly that."""

    result: Any = None
    devices: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    # Audit entries for what the write did, appended in its transaction (the system's own steps,
    # such as a command handed to a device; a person's writes are audited at the edge).
    audit: tuple[Entry, ...] = ()
    # Alerts the write itself raises, no rule judging them (a police case that names a monitored
    # subject: store/cases.py), opened by the engine in the same batch.
    alarms: tuple[Signal, ...] = ()


@dataclass(frozen=True, slots=True)
class Write(Command[Any]):
    """A registry write: `apply` writes rows in the batch's transaction and says what it touched.
    It answers `Touched.result`, whatever the write chose to hand back."""

    apply: Callable[[Connection, datetime], Touched]


@dataclass(frozen=True, slots=True)
class Reload(Command[int]):
    """Take these registry records back into the engine as the database holds them: what a write
    touched (cluster mode: written by an edge, told to every worker over the log). Answers how
    many alert changes that made."""

    devices: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()


# --- cluster mode: the log's progress -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advance(Command[None]):
    """A log partition is applied up to `to_seq` by this batch; it was at `from_seq` when the worker
    last knew it (0: never applied)."""

    partition: int
    from_seq: int
    to_seq: int
    worker: str


@dataclass(frozen=True, slots=True)
class Advances(Command[None]):
    """Every partition a worker's batch applied, moved on together: one statement for all of them
    rather than one round trip each (a batch spans most of a worker's partitions)."""

    moves: tuple[Advance, ...]


class Fenced(Exception):
    """Another worker moved the partition on since this one read it: this one no longer owns it, and
    the whole batch must not commit (not a Refusal: it undoes the batch, not one command)."""

    def __init__(self, partition: int) -> None:
        super().__init__(f"partition {partition} was applied by another worker: given up")
        self.partition = partition


# --- people's steps and the clock -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move(Command[AlertChange]):
    """A lifecycle step on an open alert."""

    alert_id: str
    target: AlertState
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Audit(Command[int]):
    """Accesses to record in the audit trail (reads of location data, exports). Answers how many."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Tick(Command[int]):
    """The clock: run what is due. Answers how many alert changes that made."""


# --- dispatch: the deliverer's and the dispatch systems' reports ----------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt came to, for the record."""

    delivery_id: int
    at: datetime
    status: int | None  # HTTP status, None when no answer came (refused, timed out)
    error: str = ""
    delivered: bool = False
    gone: bool = False  # the target answered 410: it is disabled
    next_attempt_at: datetime | None = None
    alarm: bool = False  # undelivered for too long: operators are told (once)
    body: bytes = b""  # what was rendered and sent, stored with the delivery's first record


@dataclass(frozen=True, slots=True)
class Record(Command[None]):
    """Delivery attempts to record."""

    attempts: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class Escalate(Command[None]):
    """A pushed violation went unacknowledged (or was rejected): tell the next target."""

    delivery_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reported:
    """What a dispatch system's report did to its alert."""

    alert_id: str
    state: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Callback(Command[Reported]):
    """A dispatch system's signed report about an alert (already verified at the edge)."""

    target_id: str
    callback_id: str  # its webhook-id: a retried report is recorded once
    alert_id: str
    status: Status
    outcome: Outcome | None
    note: str
    body: dict[str, Any]


DispatchCommand = Record | Escalate | Callback


# --- waking her: pushes and texts to the protected person (notify/) -------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt at a message to her came to, for the record."""

    notification_id: int
    at: datetime
    status: int | None  # HTTP status, None when no answer came
    error: str = ""
    # pending (tried again at next_attempt_at) | delivered | gone (her subscription expired: it is
    # removed) | failed (refused for good: retrying cannot help) | expired (given up: too old)
    state: str = "pending"
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Notified(Command[None]):
    """Attempts at messages to her to record."""

    sent: tuple[Sent, ...]
