"""How the cluster is doing, as an edge sees it: the live workers and how far behind each partition
is. Looked at every few seconds by a task of the edge; read by `/metrics` and by the operators'
panel (`/v1/dispatch/status`), which raise an alarm when a worker is lost, no worker is alive, or a
partition lags past the limit. A cluster that fails over silently still needs someone to know.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.js.errors import NoKeysError, NotFoundError
from sqlalchemy import Engine, select

from vigil.cluster.log import Log
from vigil.store import tables as t

log = logging.getLogger(__name__)

EVERY_S = 5.0
LAG_ALARM_S = 30.0  # a partition whose oldest unapplied report is older than this is lagging
LOST_FOR_S = 600.0  # a drop in live workers is shown this long (or until they are back)


@dataclass(slots=True)
class ClusterStatus:
    checked_at: datetime | None = None
    workers: int = 0
    most_workers: int = 0  # the most seen alive lately: fewer now means one was lost
    lost_at: datetime | None = None
    lag_s: dict[int, float] = field(default_factory=dict)  # partitions with unapplied reports
    error: str | None = None  # the last look failed (NATS or the database away)

    def alarms(self, lag_limit_s: float = LAG_ALARM_S) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if self.checked_at is None:
            return found
        if self.error is not None:
            found.append({"kind": "cluster_unreachable", "detail": self.error})
        if self.workers == 0:
            found.append({"kind": "no_workers", "detail": "no worker is alive: reports wait on the log"})
        elif self.workers < self.most_workers:
            found.append(
                {"kind": "worker_lost", "detail": f"{self.workers} of {self.most_workers} workers alive"}
            )
        lagging = sorted(p for p, s in self.lag_s.items() if s > lag_limit_s)
        if lagging:
            worst = max(self.lag_s[p] for p in lagging)
            found.append(
                {
                    "kind": "partition_lag",
                    "detail": f"{len(lagging)} partitions behind, the worst by {worst:.0f} s",
                    "partitions": lagging,
                }
            )
        return found

    def as_json(self, lag_limit_s: float = LAG_ALARM_S) -> dict[str, Any]:
        return {
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
            "workers": self.workers,
            "partitions_behind": len(self.lag_s),
            "worst_lag_s": round(max(self.lag_s.values(), default=0.0), 1),
            "alarms": self.alarms(lag_limit_s),
        }


class ClusterWatch:
    def __init__(self, db: Engine, cluster_log: Log) -> None:
        self._db = db
        self._log = cluster_log
        self.status = ClusterStatus()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vigil-cluster-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception as exc:  # NATS or the database away: say so, look again
                self.status.error = f"{type(exc).__name__}: {exc}"[:200]
                self.status.checked_at = datetime.now(UTC)
                log.warning("cluster watch: %s", self.status.error)
            await asyncio.sleep(EVERY_S)

    async def look(self) -> ClusterStatus:
        now = datetime.now(UTC)
        assert self._log.leases is not None
        try:
            workers = len(await self._log.leases.keys())
        except NoKeysError:
            workers = 0
        applied = await asyncio.to_thread(self._applied)
        lag: dict[int, float] = {}
        names, js = self._log.names, self._log.js
        for p in range(self._log.partitions):
            try:
                # the oldest report not applied yet, if any: its age is the partition's lag
                msg = await js.get_msg(
                    names.stream, seq=applied.get(p, 0) + 1, subject=names.partition_subject(p), next=True
                )
            except NotFoundError:
                continue
            if msg.time is not None:
                lag[p] = max(0.0, (now - msg.time).total_seconds())
        s = self.status
        if workers < s.workers and s.lost_at is None:
            s.lost_at = now
        recent = s.lost_at is not None and (now - s.lost_at).total_seconds() < LOST_FOR_S
        s.most_workers = max(workers, s.most_workers if recent else workers)
        if workers >= s.most_workers:
            s.lost_at = None
        s.workers, s.lag_s, s.checked_at, s.error = workers, lag, now, None
        return s

    def _applied(self) -> dict[int, int]:
        with self._db.connect() as conn:
            rows = conn.execute(select(t.cluster_offsets.c.partition, t.cluster_offsets.c.seq))
            return {int(p): int(seq) for p, seq in rows}
