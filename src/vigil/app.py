"""The composition root: the one module that sees everything and wires the data flow.

devices ─► api.ingest ─► adapters (bytes → Fix/DeviceEvent)
                          │
                          ▼
          runner (one thread, group commit) ─► processor ─► rules.engine (pure, handed the time)
                          │                        │
                          │                        └─► store (SQLite | PostgreSQL), one transaction
                          ▼
          hub (after commit) ─► api.streams (per-viewer filtered WebSockets)

people ─► api.registry / api.alerts ─► runner (writes) | store.reader (reads)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vigil import __version__
from vigil.api import alerts, ingest, positions, registry, streams
from vigil.api.auth import Tokens
from vigil.api.streams import Hub
from vigil.config import Settings
from vigil.processor import Processor, Published
from vigil.rules.tuning import Tuning
from vigil.runner import Runner, utc_now
from vigil.store.database import migrate, open_engine
from vigil.store.reader import Reader

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    settings = settings or Settings()
    db = open_engine(settings.database_url)
    tuning = Tuning(stale_after_s=settings.stale_after_s, default_silence_s=settings.default_silence_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, db)
        loop = asyncio.get_running_loop()
        hub = Hub(settings.stream_queue)

        def publish(published: Published) -> None:
            loop.call_soon_threadsafe(hub.publish, published)

        # Alert ids must stay unique across restarts and servers: random, not counted.
        runner = Runner(Processor(db, tuning=tuning, new_id=lambda: str(uuid.uuid4())), publish, clock)
        await asyncio.to_thread(runner.start)
        app.state.hub = hub
        app.state.runner = runner
        try:
            yield
        finally:
            await asyncio.to_thread(runner.stop)
            db.dispose()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        summary="Electronic-monitoring control centre for victim protection",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.db = db
    app.state.reader = Reader(db)
    app.state.tokens = Tokens(db, settings.token_cache_s)
    for router in (ingest.router, registry.router, alerts.router, positions.router, streams.router):
        app.include_router(router)

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
