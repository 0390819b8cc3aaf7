"""Anchoring the audit chain while the server runs: its head written down outside the database at
start-up, every `VIGIL_AUDIT_ANCHOR_EVERY_S` while the trail grows, and at clean shutdown
(store/anchors.py); and, optionally, each anchor pushed to a witness outside the operator's
control, signed (Standard Webhooks, its own secret).

It stays out of the writer's way: the head is read on a reader connection, without the chain's
lock (an anchor of a head a moment old is as good as any), the file is written from a worker
thread, and a witness that is down only delays its own copies: they wait in memory (a bounded
backlog) and go out, oldest first, at the next anchor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from vigil.dispatch import signing
from vigil.store import anchors, audit
from vigil.store.anchors import Anchor
from vigil.store.audit_key import AuditKey

log = logging.getLogger(__name__)

WITNESS_BACKLOG = 1440  # a day of one-minute anchors held for a witness that is down


@dataclass(frozen=True, slots=True)
class Witness:
    url: str
    secret: str  # whsec_...
    timeout_s: float = 5.0


class Anchorer:
    def __init__(
        self,
        db: Engine,
        key: AuditKey,
        path: Path,
        clock: Callable[[], datetime],
        wall: Callable[[], datetime],
        witness: Witness | None = None,
    ) -> None:
        self._db = db
        self._key = key
        self.path = path
        self._clock = clock  # the anchor's time
        self._wall = wall  # the witness signature's time (checked against the witness's clock)
        self.witness = witness
        self._lock = threading.Lock()
        self._known: tuple[int, int] | None = None  # (seq, entries) this process last anchored
        self.backlog: deque[Anchor] = deque()

    def anchor_now(self) -> Anchor | None:
        """Write the current head to the anchor file (None: the trail is empty, or its head is already
        the file's last anchor). Blocking: call from a worker thread."""
        with self._lock:
            with self._db.connect() as conn:
                newest = audit.newest(conn)
                if newest is None:
                    return None
                seq, head = newest
                known = self._known
                if known is not None and known[0] <= seq:
                    entries = known[1] + audit.count(conn, after=known[0], through=seq)
                else:  # first anchor of this process, or the head went back: count them all
                    entries = audit.count(conn, through=seq)
            before = anchors.last(self.path)
            if before is not None and (before.seq > seq or (before.seq == seq and before.head != head)):
                log.error(
                    "the audit trail's head went back from seq %d to %d (head %s) since the last anchor: "
                    "entries were cut or re-chained, or the database was restored from an older backup; "
                    "run `vigil audit verify`",
                    before.seq,
                    seq,
                    head,
                )
            anchor = anchors.append(self.path, self._key, self._clock(), seq, head, entries)
            self._known = (seq, entries)
            if anchor is not None and self.witness is not None:
                if len(self.backlog) >= WITNESS_BACKLOG:
                    dropped = self.backlog.popleft()
                    log.error("audit witness backlog full: anchor of seq %d will not be sent", dropped.seq)
                self.backlog.append(anchor)
            return anchor

    async def push(self, client: httpx.AsyncClient) -> None:
        """Send the witness every anchor it has not acknowledged, oldest first; stop at the first
        failure (logged) and leave the rest for the next time."""
        witness = self.witness
        if witness is None:
            return
        while self.backlog:
            anchor = self.backlog[0]
            body = anchor.line().rstrip(b"\n")
            # One id per anchor: a witness that got it before and did not answer sees the repeat.
            headers = signing.headers(witness.secret, f"anchor-{anchor.mac[:32]}", self._wall(), body)
            try:
                answer = await client.post(
                    witness.url,
                    content=body,
                    headers={**headers, "content-type": "application/json"},
                    timeout=witness.timeout_s,
                )
            except httpx.HTTPError as exc:
                log.warning("audit witness unreachable (%s); retrying at the next anchor", type(exc).__name__)
                return
            if not answer.is_success:
                log.warning("audit witness answered %d; retrying at the next anchor", answer.status_code)
                return
            self.backlog.popleft()

    async def step(self, client: httpx.AsyncClient | None) -> None:
        """Anchor once, then push what the witness still lacks. Failures are logged, never raised."""
        try:
            await asyncio.to_thread(self.anchor_now)
        except Exception:
            log.exception("anchoring the audit trail failed; retrying at the next interval")
        if client is not None:
            await self.push(client)

    async def run(self, every_s: float, client: httpx.AsyncClient | None) -> None:
        """The server's schedule: at once, then every `every_s` seconds (0: only this once; the
        lifespan anchors again at shutdown). Cancel the task to stop it."""
        await self.step(client)
        if every_s <= 0:
            return
        while True:
            await asyncio.sleep(every_s)
            await self.step(client)
