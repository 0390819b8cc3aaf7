"""The composition root: the one function that sees every part and wires the data flow.

devices ─► api.ingest ─► adapters (bytes → Fix/DeviceEvent)
                          │
                          ▼
          runner (one thread, group commit) ─► processor ─► rules.engine (pure, handed the time)
                          │                        │
                          │                        └─► store (SQLite | PostgreSQL), one transaction
                          ▼
          hub (after commit) ─► api.streams (per-viewer filtered WebSockets)
                          │
          dispatch.outbox (pushes staged in the same transaction as the alert changes)
                          ▼
          dispatch.deliverer (after commit: renders, signs) ─► signed POSTs to 112 / probation targets
                                     ▲                        │
                                     └── api.dispatch ◄───────┘ signed callbacks (received … closed)
          notify.staging (her pushes and texts, staged in the same transaction)
                          ▼
          notify.sender (after commit: encrypts, signs) ─► Web Push to her browsers, the SMS gateway

people ─► api.registry / api.alerts ─► runner (writes) | store.reader (reads)
     └─► api.auth (token cache) ◄── store.revocations ◄── every revocation, in any process on the database

`build` is used by the server (`app.create_app`), by `vigil replay` and by the benchmarks, so the
system they exercise is the one that runs. It starts nothing: the server starts the parts in its
lifespan (`Services.start`), a replay drives the processor on its own virtual clock.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from vigil.anchoring import Anchorer, Witness
from vigil.api.auth import Tokens
from vigil.api.streams import Hub
from vigil.config import Settings
from vigil.dispatch.deliverer import Deliverer
from vigil.dispatch.fallback import Fallback, HttpFallback, LogFallback
from vigil.dispatch.outbox import DispatchCommand, Outbox, Pending
from vigil.dispatch.routing import Target
from vigil.dispatch.targets import load_targets, sync_env_target
from vigil.notify import records as notify_records
from vigil.notify.messages import Notice
from vigil.notify.sender import Sender
from vigil.notify.staging import Notifier
from vigil.notify.vapid import VapidKey
from vigil.processor import Processor, Published
from vigil.runner import Runner, utc_now
from vigil.services import Handoff, Services
from vigil.store import audit_key
from vigil.store.audit import head_problem
from vigil.store.audit_key import AuditKey
from vigil.store.reader import Reader
from vigil.store.revocations import Watcher

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def build(
    db: Engine,
    settings: Settings,
    clock: Clock,
    new_id: Callable[[], str],
    *,
    new_incident_id: Callable[[], str] | None = None,
    trail_key: AuditKey | None = None,
    observe: Callable[[Published], None] | None = None,
    vapid: VapidKey | None = None,
) -> Services:
    """Every long-lived part on a migrated database, wired and not started.

    new_id names alerts (the server: random, unique across restarts and servers; a replay: a-1,
    a-2, …); new_incident_id likewise incidents (default random). trail_key: the audit chain's key
    (None: nothing can be audited, as in replays and benchmarks). observe: told of every committed
    batch on the writer thread (a benchmark's count). vapid: the key her pushes are signed with (None:
    nothing is staged for her: replays and benchmarks wake no one)."""
    hub = Hub(settings.stream_queue, settings.stream_batch_s)
    handoff = Handoff(hub, observe)
    # asked at each push: `services` is made below, and where the server listens is known later
    outbox = Outbox(settings.outbox(), link_base=lambda: services.link_base())  # noqa: PLW0108
    processor = Processor(
        db,
        tuning=settings.tuning(),
        new_id=new_id,
        outbox=outbox,
        audit_key=trail_key,
        new_incident_id=new_incident_id,
        local_zone=ZoneInfo(settings.timezone),
        notifier=Notifier(settings.notify()) if vapid is not None else None,
    )
    runner = Runner(processor, handoff, clock)
    # Pushes leave from this process over a client that ignores proxy settings in the environment:
    # alerts go to the configured targets and nowhere else.
    client = httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=_tls())
    deliverer = make_deliverer(db, settings, runner.submit, client, clock)
    handoff.deliverer = deliverer
    sender = None
    if vapid is not None:
        sender = make_sender(settings, runner.submit, client, clock, vapid, lambda: _notify_state(db))
        handoff.sender = sender
    # Revocations made by any process on the database (another server, the CLI) reach the token
    # cache before it answers again; the ones made here are told after their commit.
    revocations = Watcher(db)
    anchorer = None
    if trail_key is not None:
        anchor_file = audit_key.places(settings).anchor_file
        anchorer = Anchorer(db, trail_key, anchor_file, clock, utc_now, _witness(settings))
    services = Services(
        settings=settings,
        clock=clock,
        db=db,
        reader=Reader(db),
        revocations=revocations,
        tokens=Tokens(db, settings.token_cache_s, clock, revocations),
        hub=hub,
        outbox=outbox,
        processor=processor,
        runner=runner,
        handoff=handoff,
        client=client,
        deliverer=deliverer,
        audit_key=trail_key,
        anchorer=anchorer,
        sender=sender,
        vapid=vapid,
    )
    return services


def make_deliverer(
    db: Engine,
    settings: Settings,
    submit: Callable[[DispatchCommand], Future[Any]],
    client: httpx.AsyncClient,
    clock: Clock,
    load: Callable[[], tuple[list[Pending], list[tuple[int, str, str, datetime]]]] | None = None,
) -> Deliverer:
    """The deliverer of what the outbox staged in `db`, with the settings' retries, alarm and
    fallback channel; `submit` runs its records through the writer (a replay: its own processor).
    `load`: what it takes over at its start (default: every pending push; a cluster worker: its
    partitions' alone)."""
    return Deliverer(
        submit=submit,
        load=load or (lambda: _outbox_state(db)),
        targets=lambda: _targets(db),
        settings=settings.delivery(),
        fallback=_fallback(settings, client),
        client=client,
        clock=clock,
        wall=utc_now,  # signatures carry the real time: receivers check it against their clocks
    )


def make_sender(
    settings: Settings,
    submit: Callable[[Any], Future[Any]],
    client: httpx.AsyncClient,
    clock: Clock,
    vapid: VapidKey,
    load: Callable[[], list[Notice]],
) -> Sender:
    """The sender of her pushes and texts; `submit` runs its records through the writer, `load` is
    what it takes over at its start (every pending message; a cluster worker: its partitions')."""
    return Sender(
        submit=submit,
        load=load,
        client=client,
        key=vapid,
        settings=settings.sender(),
        clock=clock,
        wall=utc_now,  # VAPID tokens carry the real time: push services check it
    )


def prepare(db: Engine, settings: Settings, now: datetime) -> None:
    """Start-up writes before the writer thread runs: the environment's dispatch target."""
    with db.begin() as conn:
        sync_env_target(conn, settings.dispatch_url, settings.dispatch_secret, now)


def load_trail_key(db: Engine, settings: Settings) -> AuditKey:
    """The audit chain's key (made on first start in development), and a look at whether the trail's
    newest entry still checks out under it: a replaced key or a re-chained tail is logged at once."""
    key, _ = audit_key.load(settings, create=True)
    log.info("audit trail keyed with the key from %s", key.source)
    with db.connect() as conn:
        problem = head_problem(conn, key)
    if problem:
        log.error("%s", problem)
    return key


@functools.cache
def _tls() -> ssl.SSLContext:
    """The pushes' TLS settings, httpx's defaults (its CA bundle, the environment ignored), made once
    per process: loading the CA bundle takes tens of milliseconds, paid at every `build` before (each
    server start; each test's app). A context is safe to share between clients."""
    return httpx.create_ssl_context(trust_env=False)


def _witness(settings: Settings) -> Witness | None:
    if settings.audit_witness_url is None or settings.audit_witness_secret is None:
        return None
    return Witness(
        settings.audit_witness_url, settings.audit_witness_secret, settings.audit_witness_timeout_s
    )


def _outbox_state(db: Engine) -> tuple[list[Pending], list[tuple[int, str, str, datetime]]]:
    with db.connect() as conn:
        return Outbox.pending(conn), Outbox.awaiting_ack(conn)


def _notify_state(db: Engine) -> list[Notice]:
    with db.connect() as conn:
        return notify_records.pending(conn)


def _targets(db: Engine) -> list[Target]:
    with db.connect() as conn:
        return load_targets(conn)


def _fallback(settings: Settings, client: httpx.AsyncClient) -> Fallback:
    return HttpFallback(settings.fallback_url, client) if settings.fallback_url else LogFallback()
