"""The durable log and the bus, on NATS JetStream: names, set-up, appending.

One stream holds every report message, on one subject per partition (`<cluster>.reports.<n>`), so
a worker reads its partitions in order and a report's place in the log is its stream sequence.
Registry changes that workers must take in travel on the same subjects (`<cluster>.reports.<n>`,
marked by a header), so they are applied in order with the reports around them. A key-value
bucket holds the workers' leases.

Durable, here: the edge answers a device only after JetStream's acknowledgement of the append,
which the server sends once the message is in the stream's file store (and, on a clustered NATS
with `replicas` > 1, on a majority of its servers). docs/scale-out.md says what that survives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.errors import Error as JetStreamError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

KIND = "Vigil-Kind"  # header: what a log message is (absent: reports)
RELOAD = "reload"
OFFLINE = "offline"  # a device's last will
# How long the log keeps a message, applied or not: long enough to outlive any outage of the
# workers (they read on from PostgreSQL's offsets), short enough to bound the disk.
KEEP_S = 7 * 86_400
APPEND_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Names:
    """Everything of one cluster on a NATS server, under its name: several installations or test
    runs can share a server without seeing each other's messages."""

    cluster: str

    @property
    def stream(self) -> str:
        return f"{self.cluster}_reports"

    def partition_subject(self, partition: int) -> str:
        return f"{self.cluster}.reports.{partition}"

    @property
    def all_partitions(self) -> str:
        return f"{self.cluster}.reports.*"

    @property
    def leases(self) -> str:
        return f"{self.cluster}_workers"

    @property
    def changes(self) -> str:
        """Core NATS subject (not stored) on which workers publish what they committed."""
        return f"{self.cluster}.changes"


class Log:
    """A connection to the cluster's NATS server, with its stream and bucket in place."""

    def __init__(self, nc: NatsClient, js: JetStreamContext, names: Names, partitions: int) -> None:
        self.nc = nc
        self.js = js
        self.names = names
        self.partitions = partitions
        self.leases: KeyValue | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        cluster: str,
        partitions: int,
        *,
        lease_s: float,
        replicas: int = 1,
        name: str = "vigil",
    ) -> Log:
        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,  # a NATS restart is waited out, never a reason to exit
            reconnect_time_wait=0.5,
            connect_timeout=2,
            # nats-py's own callbacks log every failed reconnect with a traceback (two a second
            # while the server is away): one line each says as much
            error_cb=_error,
            disconnected_cb=_disconnected,
            reconnected_cb=_reconnected,
        )
        js = nc.jetstream(timeout=APPEND_TIMEOUT_S)
        self = cls(nc, js, Names(cluster), partitions)
        await self._ensure(lease_s, replicas)
        return self

    async def _ensure(self, lease_s: float, replicas: int) -> None:
        config = StreamConfig(
            name=self.names.stream,
            subjects=[self.names.all_partitions],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=KEEP_S,
            duplicate_window=120,
        )
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)  # made by an earlier version: bring it in line
        # The leases' bucket: a worker's key lives `lease_s` after its last renewal.
        self.leases = await self.js.create_key_value(bucket=self.names.leases, ttl=lease_s, history=1)

    async def append(self, partition: int, data: bytes, headers: dict[str, str] | None = None) -> int:
        """Append to a partition; returns the stream sequence once the log holds it durably.
        Raises when it could not (the caller must not acknowledge anything)."""
        (seq,) = await self.append_all([(partition, data, headers)])
        return seq

    async def append_all(self, messages: Sequence[tuple[int, bytes, dict[str, str] | None]]) -> list[int]:
        """Append several messages at once (one device post's partitions): all are sent, then their
        acknowledgements awaited together under one deadline. Returns their stream sequences; raises
        if any is not held (nothing of the post may then be acknowledged; the device's retry is
        deduplicated by the workers, as after any failure).

        JetStream's asynchronous publish rather than a request per message: one shared reply
        subscription instead of an inbox and a timer each, which halved the edge's cost of an
        append. Reports carry no header (the stream is the only one on these subjects; the
        acknowledgement names it and is checked), which spares the parsing of one at both ends."""
        pending = [
            await self.js.publish_async(self.names.partition_subject(p), data, headers=headers)
            for p, data, headers in messages
        ]
        try:
            acks = await asyncio.wait_for(asyncio.gather(*pending), timeout=APPEND_TIMEOUT_S)
        except BaseException:
            for future in pending:
                future.cancel()  # frees its place among the client's outstanding publishes
            raise
        for ack in acks:
            if ack.stream != self.names.stream:
                raise JetStreamError(f"appended to stream {ack.stream!r}, not {self.names.stream!r}")
        return [ack.seq for ack in acks]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=5)
        except Exception:  # closing: nothing left to save
            log.debug("NATS drain on close failed", exc_info=True)
            await self.nc.close()


async def _error(exc: Exception) -> None:
    # The connection's own troubles in one line; anything else (a callback that raised) with its
    # traceback, as nats-py's default said it.
    expected = isinstance(exc, (OSError, nats.errors.Error))
    log.warning("NATS: %s", exc or type(exc).__name__, exc_info=None if expected else exc)


async def _disconnected() -> None:
    # unless this process is closing, the client reconnects; appends wait for it, then fail (503)
    log.warning("NATS: disconnected")


async def _reconnected() -> None:
    log.warning("NATS: reconnected")
