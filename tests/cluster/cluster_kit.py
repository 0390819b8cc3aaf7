"""Cluster-mode fixtures: the NATS server (the machine's shared one, each test under a cluster name of
its own, removed afterwards), a PostgreSQL database, and workers run in threads or processes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from dispatch.receiver import Receiver
from services import service_unavailable
from vigil.cluster.log import Names
from vigil.dispatch.signing import new_secret

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture(scope="session")
def nats_url() -> str:
    where = urlparse(NATS_URL)
    try:
        with socket.create_connection((where.hostname, where.port or 4222), timeout=1):
            pass
    except OSError as exc:
        service_unavailable("NATS (JetStream)", NATS_URL, exc)
    return NATS_URL


@pytest.fixture
def cluster_name(nats_url: str) -> Iterator[str]:
    """A cluster name no other test uses; its stream and bucket are deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name

    async def remove() -> None:
        import nats

        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        names = Names(name)
        for step in (js.delete_stream(names.stream), js.delete_key_value(names.leases)):
            with contextlib.suppress(Exception):  # never made (a test that failed early)
                await step
        await nc.close()

    asyncio.run(remove())


class ThreadWorker:
    """A worker on its own thread and event loop, stopped on request (as SIGTERM would)."""

    def __init__(self, settings: Any, worker_id: str) -> None:
        self.settings = settings
        self.id = worker_id
        self.worker: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"worker-{worker_id}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> ThreadWorker:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _main(self) -> None:
        from vigil.cluster.roles import run_worker

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            self.worker = await run_worker(self.settings, self._stop, self.id)

        try:
            asyncio.run(main())
        except BaseException as exc:  # seen by the test
            self.error = exc
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A dispatch system on loopback at /112 (signatures checked; the formats are checked elsewhere)."""
    found = Receiver({"/112": new_secret()}, lambda _: None)
    found.up()
    try:
        yield found
    finally:
        found.down()
