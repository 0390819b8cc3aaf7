"""The long-lived parts of one running Vigil, typed, as `bootstrap.build` wires them.

Routes receive them by dependency injection (`api.deps`); the server starts and stops them in its
lifespan; replays and benchmarks use the parts they drive. Only types (and `tally`'s counters,
standard library and domain only) are imported here, so every module may name `Services` without
importing the whole system.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from vigil.tally import AlertTally, Traffic

if TYPE_CHECKING:
    import httpx
    from prometheus_client import CollectorRegistry
    from sqlalchemy import Engine

    from vigil.anchoring import Anchorer
    from vigil.api.auth import Tokens
    from vigil.api.streams import Hub
    from vigil.cluster.watch import ClusterWatch
    from vigil.config import Settings
    from vigil.dispatch.deliverer import Deliverer
    from vigil.dispatch.outbox import Outbox
    from vigil.gateway.listeners import Gateway
    from vigil.notify.sender import Sender
    from vigil.notify.vapid import VapidKey
    from vigil.processor import Processor, Published
    from vigil.runner import Runner
    from vigil.store.audit_key import AuditKey
    from vigil.store.reader import Reader
    from vigil.store.revocations import Watcher


class Handoff:
    """Committed batches, from the writer thread to the event loop: the live streams and the
    deliverer. Until a loop is known (replays and benchmarks run none) there is no one to tell."""

    def __init__(self, hub: Hub, observe: Callable[[Published], None] | None = None) -> None:
        self.hub = hub
        self.deliverer: Deliverer | None = None  # set once built: it submits through the runner
        self.sender: Sender | None = None  # her pushes and texts (none in replays and benchmarks)
        self.gateway: Gateway | None = None  # set while a server runs its device listeners
        self.loop: asyncio.AbstractEventLoop | None = None
        self._observe = observe
        self.alerts = AlertTally()  # alert changes committed, for /metrics (on the writer thread)

    def __call__(self, published: Published) -> None:
        if self._observe is not None:
            self._observe(published)
        if published.alerts:
            self.alerts.count(published.alerts)
        loop = self.loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self.hub.publish, published)
        if self.deliverer is not None and (published.deliveries or published.acks):
            loop.call_soon_threadsafe(self.deliverer.accept, published.deliveries, published.acks)
        if self.sender is not None and published.notices:
            loop.call_soon_threadsafe(self.sender.accept, published.notices)
        gateway = self.gateway
        if gateway is not None and published.commanded:  # pursuit mode's commands, to connected devices
            loop.call_soon_threadsafe(gateway.hand, published.commanded)


@dataclass(eq=False, slots=True)
class Services:
    settings: Settings
    clock: Callable[[], datetime]
    db: Engine
    reader: Reader  # the read side: what routes and streams look up outside the writer
    revocations: Watcher  # revocations made by any process on the database
    tokens: Tokens  # token look-ups, cached, told of every revocation
    hub: Hub  # per-viewer live streams
    outbox: Outbox  # pushes staged in the same transaction as the alert changes they report
    processor: Processor  # the write path: rules engine and store, one transaction per batch
    runner: Runner  # the single writer thread (group commit) and the engine's timer
    handoff: Handoff
    client: httpx.AsyncClient  # the pushes' own client (proxy settings in the environment ignored)
    deliverer: Deliverer  # signed pushes after commit, retries, the fallback channel
    audit_key: AuditKey | None = None  # None: nothing can be audited (replays, benchmarks)
    anchorer: Anchorer | None = None  # the audit chain's head written down outside the database
    gateway: Gateway | None = None  # the device listeners, while a server runs them
    # http://host:port once serving.Server has bound its sockets (live-track links name it)
    listening: str | None = None
    # (time, reports stored) for the control centre's live fixes/s figure
    rate_samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))
    # Reports over the HTTP channels, counted for /metrics; and the registry /metrics serves (the
    # server makes it: never the library's global one, since tests run many apps in one process).
    traffic: Traffic = field(default_factory=Traffic)
    metrics: CollectorRegistry | None = None
    # Cluster mode's edge: how the workers and the log's partitions are doing (cluster/watch.py).
    cluster: ClusterWatch | None = None
    # Waking her (notify/): the sender of her pushes and texts, and the key that signs the pushes
    # (None in replays and benchmarks: nothing is sent to her).
    sender: Sender | None = None
    vapid: VapidKey | None = None
    started: bool = False

    def link_base(self) -> str | None:
        """Where people reach this server, asked at each push; None while no server runs (a replay):
        its pushes carry no live-track link."""
        return self.settings.link_base(self.listening) if self.started else None

    async def start(self, deliver: bool = True) -> None:
        """The writer (after loading the engine from the database), then the deliverer (not on a
        cluster's edge: `deliver` False)."""
        self.handoff.loop = asyncio.get_running_loop()
        self.started = True
        await asyncio.to_thread(self.runner.start)
        if deliver:
            await self.deliverer.start()
            if self.sender is not None:
                await self.sender.start()

    async def stop(self) -> None:
        """The reverse, then the last audit anchor once every entry is committed."""
        await self.deliverer.stop()
        if self.sender is not None:
            await self.sender.stop()
        await asyncio.to_thread(self.runner.stop)
        if self.anchorer is not None:
            await self.anchorer.step(self.client)
        await self.client.aclose()
        self.close()

    def close(self) -> None:
        """What is held without running: the revocation watcher's file or connection."""
        self.revocations.close()
