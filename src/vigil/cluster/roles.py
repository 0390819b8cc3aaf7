"""The cluster's processes: a worker's life, and `vigil serve --workers N` (an edge here, N workers
as child processes, each restarted if it dies)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from vigil import bootstrap
from vigil.cluster import bus
from vigil.cluster.figures import WorkerCollector
from vigil.cluster.log import Log
from vigil.cluster.worker import OutboxState, Worker, new_worker_id
from vigil.config import Settings
from vigil.dispatch.deliverer import Deliverer
from vigil.notify import vapid as vapid_key
from vigil.notify.messages import Notice
from vigil.notify.sender import Sender
from vigil.processor import Published
from vigil.runner import utc_now
from vigil.store.database import migrate, open_engine

log = logging.getLogger(__name__)

RESTART_AFTER_S = 1.0  # a dead worker is started again after this (and never faster)


def require_cluster(settings: Settings) -> str | None:
    """Why these settings cannot run a cluster role, or None."""
    if settings.nats_url is None:
        return "cluster mode needs VIGIL_NATS_URL (e.g. nats://127.0.0.1:4222)"
    if not settings.database_url.startswith("postgresql"):
        return "cluster mode needs a PostgreSQL VIGIL_DATABASE_URL (a SQLite file cannot be shared)"
    return None


async def run_worker(settings: Settings, stop: asyncio.Event, worker_id: str | None = None) -> Worker:
    """Run one worker until `stop` is set; returns it (with its figures) once stopped."""
    assert settings.nats_url is not None
    db = open_engine(settings.database_url)
    await asyncio.to_thread(migrate, db)
    trail_key = await asyncio.to_thread(bootstrap.load_trail_key, db, settings)
    # Her pushes are signed with the key the edges serve to her app: the same key file (or setting)
    vapid = await asyncio.to_thread(vapid_key.load, settings, create=True)
    services = bootstrap.build(
        db, settings, utc_now, lambda: str(uuid.uuid4()), trail_key=trail_key, vapid=vapid
    )
    worker_id = worker_id or new_worker_id()
    cluster_log = await Log.connect(
        settings.nats_url,
        settings.cluster_name,
        settings.partitions,
        lease_s=settings.worker_lease_s,
        name=f"vigil-worker {worker_id}",
    )

    async def publish(published: Published) -> None:
        data = bus.encode(published)
        if data is not None:
            await cluster_log.nc.publish(cluster_log.names.changes, data)

    def deliverer(submit: Callable[[Any], Future[Any]], load: Callable[[], OutboxState]) -> Deliverer:
        return bootstrap.make_deliverer(db, settings, submit, services.client, utc_now, load)

    def sender(submit: Callable[[Any], Future[Any]], load: Callable[[], list[Notice]]) -> Sender:
        return bootstrap.make_sender(settings, submit, services.client, utc_now, vapid, load)

    worker = Worker(
        db,
        cluster_log,
        services.processor,
        utc_now,
        worker_id=worker_id,
        lease_s=settings.worker_lease_s,
        publish=publish,
        make_deliverer=deliverer,
        make_sender=sender,
    )
    server = None
    if settings.worker_metrics_port:
        # Counts only, no personal data; bind it to an internal address (the API's host by default).
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WorkerCollector(worker))
        ProcessCollector(registry=registry)
        server, _ = start_http_server(settings.worker_metrics_port, addr=settings.host, registry=registry)
    try:
        await worker.run(stop)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        await cluster_log.close()
        await services.client.aclose()
        services.close()
        db.dispose()
    return worker


def worker_main(settings: Settings) -> int:
    """`vigil worker`: until SIGINT or SIGTERM."""
    problem = require_cluster(settings)
    if problem:
        print(f"vigil worker: {problem}", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = await run_worker(settings, stop)
        log.info(
            "worker %s stopped after %d messages in %d batches", worker.id, worker.applied, worker.batches
        )

    asyncio.run(main())
    return 0


class Supervisor:
    """N `vigil worker` child processes, each started again when it dies (kill -9 included): the
    cluster takes its partitions over meanwhile, and gives some back when it is up."""

    def __init__(self, count: int, argv: Sequence[str] | None = None) -> None:
        self.count = count
        self._argv = list(argv or [sys.executable, "-m", "vigil", "worker"])
        self.children: list[subprocess.Popen[bytes] | None] = [None] * count
        self._started_at = [0.0] * count
        self._stopping = False

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        self.children[i] = subprocess.Popen(self._argv)  # inherits the environment: same cluster
        self._started_at[i] = time.monotonic()

    def check(self) -> None:
        """Start again any child that died (called every second or so)."""
        if self._stopping:
            return
        for i, child in enumerate(self.children):
            if child is not None and child.poll() is not None:
                if time.monotonic() - self._started_at[i] < RESTART_AFTER_S:
                    continue
                log.warning(
                    "worker process %d (pid %d) exited with %s: starting it again",
                    i,
                    child.pid,
                    child.returncode,
                )
                self._spawn(i)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        for child in self.children:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in self.children:
            if child is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(max(0.0, deadline - time.monotonic()))
            if child.poll() is None:
                child.kill()
