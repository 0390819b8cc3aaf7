"""Retention: position history and device events older than the retention period are deleted, except
evidence.

Evidence is, per device (through the person it is bound to):
- an alert of that person (as subject or protected person), incidents included: the device's history
  from 30 minutes before the alert opened to 30 minutes after it was closed (resolved or false alarm;
  an alert still open keeps everything from its start on);
- a legal hold on that person, or on everyone (person null), from its start to its end (open-ended
  when it has none), as long as it is not released.

The purge walks the devices that have history older than the cut-off and deletes, per device, the
ranges between evidence windows with the (device, time) index, at most `chunk` rows per transaction.
On the server every transaction goes through the single writer (`runner.submit(Write(apply))`), so
devices wait at most one chunk behind it; the evidence windows are read again inside each
transaction, so a hold placed while the purge runs is honoured by the next chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, or_, select, union

from vigil.commands import Conflict, Touched, Write
from vigil.store import tables as t
from vigil.store.database import one_at_a_time

if TYPE_CHECKING:
    from vigil.services import Services

log = logging.getLogger(__name__)

EVIDENCE_MARGIN = timedelta(minutes=30)  # history kept either side of an alert
CLOSED_STATES = ("resolved", "false_alarm")
HISTORY: tuple[Table, ...] = (t.fixes, t.device_events)
DEVICES_PER_STEP = 200  # bounds the look-ups of one transaction when most devices have little to go
FIRST_RUN_AFTER_S = 300.0  # the server's first purge, a while after start-up

Window = tuple[datetime, datetime | None]  # inclusive; None: open-ended
Gap = tuple[datetime | None, datetime]  # exclusive on both sides; None: from the beginning
Apply = Callable[[Connection, datetime], Touched]
Execute = Callable[[Apply], Any]  # runs `apply` in one transaction, returns its Touched.result


@dataclass(slots=True)
class Step:
    """What one transaction did (or, in a dry run, would do)."""

    fixes_deleted: int = 0
    events_deleted: int = 0
    fixes_kept: int = 0  # older than the cut-off but evidence
    events_kept: int = 0
    finished: int = 0  # devices, from the front of the list handed in, with nothing left to delete


@dataclass(slots=True)
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    fixes_deleted: int = 0
    events_deleted: int = 0
    fixes_kept: int = 0
    events_kept: int = 0
    devices: int = 0  # devices that had history older than the cut-off
    transactions: int = 0

    @property
    def kept(self) -> int:
        return self.fixes_kept + self.events_kept

    def add(self, step: Step) -> None:
        self.fixes_deleted += step.fixes_deleted
        self.events_deleted += step.events_deleted
        self.fixes_kept += step.fixes_kept
        self.events_kept += step.events_kept

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cutoff"] = self.cutoff.isoformat()
        out["kept"] = self.kept
        return out


# --- evidence windows -----------------------------------------------------------------------------


def evidence_windows(conn: Connection, device_id: str, *, now: datetime, cutoff: datetime) -> list[Window]:
    """The merged, sorted windows of this device's history that are evidence, as far as they reach
    before `cutoff` (windows starting after it cannot protect anything the purge would touch)."""
    person = conn.execute(select(t.devices.c.person_id).where(t.devices.c.id == device_id)).scalar()
    windows: list[Window] = []
    if person is not None:
        alerts = conn.execute(
            select(t.alerts.c.opened_at, t.alerts.c.updated_at, t.alerts.c.state).where(
                or_(t.alerts.c.subject_id == person, t.alerts.c.protected_person_id == person),
                t.alerts.c.opened_at < cutoff + EVIDENCE_MARGIN,
            )
        )
        for opened_at, updated_at, state in alerts:
            end = updated_at if state in CLOSED_STATES else max(now, updated_at)
            windows.append((opened_at - EVIDENCE_MARGIN, end + EVIDENCE_MARGIN))
    held: ColumnElement[bool] = t.legal_holds.c.person_id.is_(None)
    if person is not None:
        held = or_(held, t.legal_holds.c.person_id == person)
    holds = conn.execute(
        select(t.legal_holds.c.held_from, t.legal_holds.c.held_until).where(
            held, t.legal_holds.c.released_at.is_(None), t.legal_holds.c.held_from < cutoff
        )
    )
    windows += [(start, end) for start, end in holds]
    return merge(windows)


def merge(windows: Sequence[Window]) -> list[Window]:
    """Overlapping or touching windows as one."""
    merged: list[Window] = []
    for start, end in sorted(windows, key=lambda w: w[0]):
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or start <= last_end:
                merged[-1] = (last_start, None if last_end is None or end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def gaps(windows: Sequence[Window], cutoff: datetime) -> list[Gap]:
    """What lies before `cutoff` and outside the (merged, sorted) windows: what may go."""
    out: list[Gap] = []
    low: datetime | None = None
    for start, end in windows:
        if start >= cutoff:
            break
        if low is None or start > low:
            out.append((low, start))
        if end is None or end >= cutoff:
            return out
        low = end
    out.append((low, cutoff))
    return out


# --- one transaction ------------------------------------------------------------------------------


def _in_gap(table: Table, device_id: str, gap: Gap) -> list[Any]:
    low, high = gap
    where = [table.c.device_id == device_id, table.c.time < high]
    if low is not None:
        where.append(table.c.time > low)
    return where


def _older(conn: Connection, table: Table, device_id: str, cutoff: datetime) -> int:
    query = (
        select(func.count()).select_from(table).where(table.c.device_id == device_id, table.c.time < cutoff)
    )
    return int(conn.execute(query).scalar_one())


def purge_step(
    conn: Connection,
    devices: Sequence[str],
    *,
    now: datetime,
    cutoff: datetime,
    limit: int | None,
    dry_run: bool = False,
) -> Step:
    """Delete (dry run: count) what may go of these devices' history, in order, at most `limit` rows
    (None: no limit). Devices whose old history is down to evidence count as finished, with what was
    kept of it."""
    step = Step()
    budget = limit
    for device_id in devices[:DEVICES_PER_STEP]:
        open_gaps = gaps(evidence_windows(conn, device_id, now=now, cutoff=cutoff), cutoff)
        done = True
        gone = [0, 0]  # fixes, events of this device
        for index, table in enumerate(HISTORY):
            for gap in open_gaps:
                if budget == 0:
                    break
                where = _in_gap(table, device_id, gap)
                if dry_run:
                    n = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
                else:
                    ids = select(table.c.id).where(*where).order_by(table.c.time)
                    if budget is not None:
                        ids = ids.limit(budget)
                    n = conn.execute(delete(table).where(table.c.id.in_(ids.scalar_subquery()))).rowcount
                gone[index] += n
                if budget is not None:
                    budget -= n
                    if budget == 0:
                        done = False  # a full chunk: perhaps more in this gap
            if not done:
                break
        step.fixes_deleted += gone[0]
        step.events_deleted += gone[1]
        if not done:
            break
        # What is still older than the cut-off is evidence (in a dry run: what would not go).
        old = [_older(conn, table, device_id, cutoff) for table in HISTORY]
        if dry_run:
            old = [o - g for o, g in zip(old, gone, strict=True)]
        step.fixes_kept += old[0]
        step.events_kept += old[1]
        step.finished += 1
    return step


def devices_with_old_history(conn: Connection, cutoff: datetime) -> list[str]:
    """Every device that has fixes or events older than `cutoff` (read beside the writer)."""
    query = union(*(select(table.c.device_id).where(table.c.time < cutoff).distinct() for table in HISTORY))
    return sorted(str(row[0]) for row in conn.execute(query))


# --- a whole run ----------------------------------------------------------------------------------


def purge(
    db: Engine,
    execute: Execute,
    *,
    now: datetime,
    retention: timedelta,
    chunk: int = 5000,
    dry_run: bool = False,
) -> PurgeReport:
    """One purge of everything older than `now - retention` that is not evidence, one `execute`
    (transaction) per chunk of at most `chunk` deleted rows. A dry run deletes nothing and says what
    would go (on a read connection)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    cutoff = now - retention
    with db.connect() as conn:
        devices = devices_with_old_history(conn, cutoff)
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run, devices=len(devices))
    position = 0
    while position < len(devices):
        batch = devices[position : position + DEVICES_PER_STEP]
        if dry_run:
            with db.connect() as conn:
                step = purge_step(conn, batch, now=now, cutoff=cutoff, limit=None, dry_run=True)
        else:

            def apply(conn: Connection, _: datetime, batch: list[str] = batch) -> Touched:
                # A failure here must not fail the reports batched with it: undo this step alone.
                try:
                    with conn.begin_nested():
                        return Touched(result=purge_step(conn, batch, now=now, cutoff=cutoff, limit=chunk))
                except Exception as exc:
                    log.exception("retention purge step failed")
                    # a refusal: the writer undoes this step alone, and the caller's wait raises it
                    raise Conflict(f"retention purge step failed: {exc}") from exc

            step = execute(apply)
            assert isinstance(step, Step)
            report.transactions += 1
        report.add(step)
        position += step.finished
    return report


def direct(db: Engine) -> Execute:
    """Transactions straight on the database, for `vigil purge` (no server writer in this process)."""

    def execute(apply: Apply) -> Any:
        with db.begin() as conn:
            return apply(conn, datetime.now(UTC)).result

    return execute


def through_writer(runner: Any) -> Execute:
    """Transactions through the server's single writer; blocks the calling thread (not the loop)."""

    def execute(apply: Apply) -> Any:
        return runner.submit(Write(apply)).result()

    return execute


PURGE_LOCK = 0x76_69_67_69_70  # PostgreSQL's advisory lock: one purge at a time in a cluster


def purge_now(services: Services) -> PurgeReport | None:
    """One purge on a running server, with its settings, clock and writer. None: another process
    on the same PostgreSQL database is purging (in cluster mode every edge keeps the schedule;
    whichever takes the lock first does the work, the others skip this turn rather than repeat it)."""
    with one_at_a_time(services.db, PURGE_LOCK) as mine:
        return _purge_with(services) if mine else None


def _purge_with(services: Services) -> PurgeReport:
    settings = services.settings
    return purge(
        services.db,
        through_writer(services.runner),
        now=services.clock(),
        retention=timedelta(days=settings.retention_days),
        chunk=settings.retention_chunk,
    )


async def purge_periodically(services: Services, every_s: float) -> None:
    """The server's schedule: a purge a few minutes after start-up, then every `every_s` seconds
    (0: never). A failed run is logged and retried at the next time. Cancel the task to stop it."""
    if every_s <= 0:
        return
    await asyncio.sleep(min(every_s, FIRST_RUN_AFTER_S))
    while True:
        try:
            report = await asyncio.to_thread(purge_now, services)
            if report is None:
                log.info("retention purge: another process of the cluster is purging; skipped")
            else:
                log.info("retention purge: %s", report.as_dict())
        except Exception:
            log.exception("retention purge failed; retrying at the next run")
        await asyncio.sleep(every_s)
