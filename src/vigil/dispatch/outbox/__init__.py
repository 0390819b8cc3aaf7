"""The outbox: pushes are staged in the same transaction as the alert changes they report, so an
alert change and its pushes are committed together or not at all. The deliverer sends them later,
and reports each attempt back here (through the single writer) to be recorded.

Four jobs, one module each: `staging` (what a committed alert change makes to push), `escalation`
(a push left unacknowledged or rejected goes to the next target), `callbacks` (what a dispatch
system reports back) and `records` (the delivery attempts recorded, and the deliverer's view of
them). Each reads the engine through its own narrow view (`views`). `Outbox` is the one entry point
the processor calls; it is used only from the processor's thread, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from vigil.dispatch.outbox import callbacks, escalation, records
from vigil.dispatch.outbox.messages import (
    Attempt,
    Callback,
    DispatchCommand,
    Escalate,
    OutboxSettings,
    Pending,
    Record,
    Reported,
)
from vigil.dispatch.outbox.staging import Stager
from vigil.dispatch.outbox.views import EngineView
from vigil.domain.alerts import AlertChange


class Outbox:
    def __init__(self, settings: OutboxSettings, link_base: Callable[[], str | None] = lambda: None) -> None:
        """link_base: where people reach this server, asked at each push (the port is known only once
        the server listens); None: pushes carry no live-track link (replays)."""
        self.settings = settings
        self._stager = Stager(settings, link_base)

    def load(self, conn: Connection) -> None:
        """What was pushed about alerts still open (at start-up, and after a failed commit)."""
        self._stager.load(conn)

    def stage(
        self, conn: Connection, changes: Iterable[AlertChange], engine: EngineView, now: datetime
    ) -> tuple[list[Pending], list[AlertChange]]:
        """Stage the pushes these committed-to-be changes call for; returns the deliveries made and
        the alarms raised for any that could not be staged (to be written with the batch)."""
        return self._stager.stage(conn, changes, engine, now)

    def escalate(
        self, conn: Connection, delivery_id: int, reason: str, engine: EngineView, now: datetime
    ) -> tuple[list[Pending], list[AlertChange]]:
        """A push its target left unacknowledged (or rejected) goes to the next target: `escalation`."""
        return escalation.escalate(conn, self._stager, delivery_id, reason, engine, now)

    def record(
        self, conn: Connection, attempts: Sequence[Attempt], engine: EngineView, now: datetime
    ) -> list[AlertChange]:
        """The deliverer's attempts, written to their deliveries: `records`."""
        return records.record(conn, attempts, engine, now)

    def report(
        self, conn: Connection, report: Callback, engine: EngineView, now: datetime
    ) -> tuple[Reported, list[AlertChange], list[Pending], list[tuple[str, str]]]:
        """Apply a dispatch system's report (see `callbacks.report`); a rejection escalates here."""
        return callbacks.report(
            conn,
            report,
            engine,
            lambda delivery_id, reason: self.escalate(conn, delivery_id, reason, engine, now),
            now,
        )

    # The deliverer's view, read at start-up (after a crash): see `records`.
    pending = staticmethod(records.pending)
    awaiting_ack = staticmethod(records.awaiting_ack)


__all__ = [
    "Attempt",
    "Callback",
    "DispatchCommand",
    "Escalate",
    "Outbox",
    "OutboxSettings",
    "Pending",
    "Record",
    "Reported",
]
