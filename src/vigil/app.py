"""The composition root: the one module that sees everything and wires the data flow.

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
          dispatch.deliverer (after commit) ─► signed POSTs to 112 / probation targets
                                     ▲                        │
                                     └── api.dispatch ◄───────┘ signed callbacks (received … closed)

people ─► api.registry / api.alerts ─► runner (writes) | store.reader (reads)
     └─► api.auth (token cache) ◄── store.revocations ◄── every revocation, in any process on the database
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from vigil import __version__
from vigil.anchoring import Anchorer, Witness
from vigil.api import (
    accounts,
    admin,
    alerts,
    audit,
    dispatch,
    evidence,
    hardening,
    incidents,
    ingest,
    me,
    notices,
    positions,
    registry,
    streams,
    web,
    writer,
)
from vigil.api.auth import Tokens
from vigil.api.streams import Hub
from vigil.config import Settings
from vigil.dispatch.deliverer import Deliverer, DeliverySettings
from vigil.dispatch.fallback import Fallback, HttpFallback, LogFallback
from vigil.dispatch.outbox import Outbox, OutboxSettings, Pending
from vigil.dispatch.routing import Target
from vigil.dispatch.targets import load_targets, sync_env_target
from vigil.processor import Processor, Published
from vigil.retention import purge_periodically
from vigil.rules.tuning import Tuning
from vigil.runner import Runner, utc_now
from vigil.store import audit_key
from vigil.store.audit import head_problem
from vigil.store.audit_key import AuditKey
from vigil.store.database import migrate, open_engine
from vigil.store.reader import Reader
from vigil.store.revocations import Watcher

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    settings = settings or Settings()
    db = open_engine(settings.database_url)
    tuning = Tuning(
        stale_after_s=settings.stale_after_s,
        default_silence_s=settings.default_silence_s,
        clock_future_s=settings.clock_future_limit_s,
        clock_behind_s=settings.clock_behind_limit_s,
        late_horizon_s=settings.late_horizon_s,
        tier_hold_s=settings.tier_hold_s,
        move_max_mps=settings.move_max_mps,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, db)
        for shared in await asyncio.to_thread(app.state.reader.shared_ids):  # made before one namespace
            log.warning("the id %r names both a subject and a protected person: rename one", shared)
        await asyncio.to_thread(_prepare, db, settings, clock())
        trail_key = await asyncio.to_thread(_audit_key, db, settings)
        loop = asyncio.get_running_loop()
        hub = Hub(settings.stream_queue)
        outbox = Outbox(
            OutboxSettings(
                sender=settings.dispatch_sender,
                source=settings.dispatch_source,
                timezone=settings.timezone,
                stale_after_s=settings.stale_after_s,
                link_lifetime_s=settings.incident_link_s,
            ),
            # asked at each push: where the server listens is known only after this lifespan starts
            link_base=lambda: settings.link_base(app.state.listening),
        )
        # Pushes leave from this process over a client that ignores proxy settings in the
        # environment: alerts go to the configured targets and nowhere else.
        client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        deliverer: Deliverer | None = None

        def publish(published: Published) -> None:
            loop.call_soon_threadsafe(hub.publish, published)
            if published.deliveries or published.acks:
                assert deliverer is not None
                loop.call_soon_threadsafe(deliverer.accept, published.deliveries, published.acks)

        # Alert ids must stay unique across restarts and servers: random, not counted.
        processor = Processor(
            db,
            tuning=tuning,
            new_id=lambda: str(uuid.uuid4()),
            outbox=outbox,
            audit_key=trail_key,
            new_incident_id=lambda: f"inc-{uuid.uuid4()}",
            local_zone=ZoneInfo(settings.timezone),
        )
        runner = Runner(processor, publish, clock)
        deliverer = Deliverer(
            submit=runner.submit,
            load=lambda: _outbox_state(db),
            targets=lambda: _targets(db),
            settings=DeliverySettings(
                timeout_s=settings.dispatch_timeout_s,
                backoff_s=settings.dispatch_backoff_s,
                backoff_max_s=settings.dispatch_backoff_max_s,
                alarm_after_s=settings.dispatch_alarm_after_s,
                ack_timeout_s=settings.dispatch_ack_timeout_s,
            ),
            fallback=_fallback(settings, client),
            client=client,
            clock=clock,
            wall=utc_now,
        )
        anchorer = Anchorer(
            db, trail_key, audit_key.places(settings).anchor_file, clock, utc_now, _witness(settings)
        )
        await asyncio.to_thread(runner.start)
        await deliverer.start()
        purge = asyncio.create_task(purge_periodically(app.state, settings.retention_purge_every_s))
        anchoring = asyncio.create_task(anchorer.run(settings.audit_anchor_every_s, client))
        app.state.hub = hub
        app.state.runner = runner
        app.state.deliverer = deliverer
        app.state.audit_key = trail_key
        app.state.anchorer = anchorer
        try:
            yield
        finally:
            purge.cancel()
            anchoring.cancel()
            await asyncio.gather(purge, anchoring, return_exceptions=True)
            await deliverer.stop()
            await asyncio.to_thread(runner.stop)
            await anchorer.step(client)  # the last head, once every entry is committed
            await client.aclose()
            revocations.close()
            db.dispose()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        summary="Electronic-monitoring control centre for victim protection",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.listening = None  # http://host:port once serving.Server has bound its sockets
    app.state.clock = clock
    app.state.db = db
    app.state.reader = Reader(db)
    # Revocations made by any process on the database (another server, the CLI) reach the token
    # cache before it answers again; the ones made here are told after their commit.
    revocations = Watcher(db)
    app.state.tokens = Tokens(db, settings.token_cache_s, clock, revocations)
    for router in (
        ingest.router, registry.router, alerts.router, positions.router, streams.router, dispatch.router,
        incidents.router, me.router, notices.router, web.router, evidence.router, audit.router, accounts.router,
        admin.router,
    ):  # fmt: skip
        app.include_router(router)
    web.mount(app)
    hardening.install(app, settings)  # rate limits, body checks, security headers, CORS, log redaction
    writer.install(app)  # what the single writer refuses answers 4xx, naming the field

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with the field (as a dotted path) and the reason for each problem."""
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness, without authentication and without any personal data."""
        return {"status": "ok", "version": __version__}

    return app


def _prepare(db: Engine, settings: Settings, now: datetime) -> None:
    """Start-up writes before the writer thread runs: the environment's dispatch target."""
    with db.begin() as conn:
        sync_env_target(conn, settings.dispatch_url, settings.dispatch_secret, now)


def _audit_key(db: Engine, settings: Settings) -> AuditKey:
    """The audit chain's key (made on first start in development), and a look at whether the trail's
    newest entry still checks out under it: a replaced key or a re-chained tail is logged at once."""
    key, _ = audit_key.load(settings, create=True)
    log.info("audit trail keyed with the key from %s", key.source)
    with db.connect() as conn:
        problem = head_problem(conn, key)
    if problem:
        log.error("%s", problem)
    return key


def _witness(settings: Settings) -> Witness | None:
    if settings.audit_witness_url is None or settings.audit_witness_secret is None:
        return None
    return Witness(
        settings.audit_witness_url, settings.audit_witness_secret, settings.audit_witness_timeout_s
    )


def _outbox_state(db: Engine) -> tuple[list[Pending], list[tuple[int, str, str, datetime]]]:
    with db.connect() as conn:
        return Outbox.pending(conn), Outbox.awaiting_ack(conn)


def _targets(db: Engine) -> list[Target]:
    with db.connect() as conn:
        return load_targets(conn)


def _fallback(settings: Settings, client: httpx.AsyncClient) -> Fallback:
    return HttpFallback(settings.fallback_url, client) if settings.fallback_url else LogFallback()
