"""The server: the FastAPI application over the services `bootstrap.build` wires (the data flow is
drawn there), started and stopped with the application's lifespan."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from vigil import __version__, bootstrap
from vigil import metrics as measured
from vigil.api import (
    absences,
    accounts,
    admin,
    alerts,
    audit,
    caseload,
    cases,
    device_commands,
    dispatch,
    evidence,
    geocode,
    handover,
    hardening,
    incident_report,
    incidents,
    ingest,
    me,
    metrics,
    notes,
    notices,
    positions,
    profiles,
    push,
    registry,
    reminders,
    streams,
    tiles,
    web,
    writer,
)
from vigil.cluster import edge
from vigil.config import Settings
from vigil.gateway.courier import Courier
from vigil.gateway.intake import Admission
from vigil.gateway.listeners import SESSIONS, Gateway
from vigil.notify import vapid as vapid_key
from vigil.order_reminders import remind_periodically
from vigil.retention import purge_periodically
from vigil.runner import utc_now
from vigil.store.database import migrate, open_engine
from vigil.store.reader import Reader

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    settings = settings or Settings()
    db = open_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, db)
        for shared in await asyncio.to_thread(Reader(db).shared_ids):  # made before one namespace
            log.warning("the id %r names both a subject and a protected person: rename one", shared)
        await asyncio.to_thread(bootstrap.prepare, db, settings, clock())
        trail_key = await asyncio.to_thread(bootstrap.load_trail_key, db, settings)
        # Alert ids must stay unique across restarts and servers: random, not counted.
        vapid = await asyncio.to_thread(vapid_key.load, settings, create=True)
        services = bootstrap.build(
            db, settings, clock, lambda: str(uuid.uuid4()), trail_key=trail_key, vapid=vapid
        )
        app.state.services = services
        cluster_log = None
        if settings.cluster:
            # An edge: reports go to the log, what the workers commit comes back for the viewers.
            cluster_log = await edge.connect(services, settings)
        else:
            await services.start()
        courier = Courier(db, services.runner, clock)
        admission = Admission(services.reader, services.runner, courier)
        services.gateway = Gateway(settings, admission, clock, SESSIONS, courier)
        await services.gateway.start()
        services.handoff.gateway = services.gateway
        services.metrics = measured.registry(services)  # the app's own, read at each scrape
        purge = asyncio.create_task(purge_periodically(services, settings.retention_purge_every_s))
        reminding = asyncio.create_task(remind_periodically(services, settings.order_reminder_every_s))
        assert services.anchorer is not None
        # The start anchor is taken before the first request is served: taken by the task alone, it
        # could land after the first audited reads, and a restart would write two anchors where one
        # belongs. The task's first step then finds nothing new to write and makes the push.
        await services.anchorer.step(None)
        anchoring = asyncio.create_task(services.anchorer.run(settings.audit_anchor_every_s, services.client))
        try:
            yield
        finally:
            purge.cancel()
            reminding.cancel()
            anchoring.cancel()
            await asyncio.gather(purge, reminding, anchoring, return_exceptions=True)
            services.handoff.gateway = None
            await services.gateway.stop()
            await services.stop()
            if cluster_log is not None:
                if services.cluster is not None:
                    await services.cluster.stop()
                await cluster_log.close()
            db.dispose()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        summary="Electronic-monitoring control centre for victim protection",
        lifespan=lifespan,
    )
    for router in (
        ingest.router, registry.router, alerts.router, positions.router, streams.router, dispatch.router,
        incidents.router, me.router, push.router, notices.router, web.router, evidence.router, audit.router, accounts.router,
        admin.router, device_commands.router, metrics.router, notes.router, handover.router,
        profiles.router, incident_report.router, cases.router, caseload.router, tiles.router,
        geocode.router, absences.router, reminders.router,
    ):  # fmt: skip
        app.include_router(router)
    web.mount(app)
    hardening.install(app, settings)  # rate limits, body checks, security headers, CORS, log redaction
    writer.install(app)  # what the single writer refuses answers 4xx, naming the field

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with the field (as a dotted path), the reason for each problem in English, and its
        kind as a code (pydantic's error type: `missing`, `string_too_short`, `phone`...), so that
        an app can say it in its user's language."""
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body"),
                "reason": e["msg"],
                "code": e["type"],
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def store_away(request: Request, exc: Exception) -> JSONResponse:
        """The database could not be reached (restarting, failing over) where a route or its
        authentication reads it: 503, so a device or an app tries again, rather than a bare 500.
        (Writes through the single writer already answer 503 when their commit fails.)"""
        log.warning(
            "%s %s: the database is unreachable (%s)", request.method, request.url.path, type(exc).__name__
        )
        return JSONResponse(
            {"detail": "the database is unreachable for the moment: retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.get("/health", tags=["system"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness, without authentication and without any personal data: the version, and each
        device listener's port and state (a listener whose port was taken says so here)."""
        services = getattr(request.app.state, "services", None)
        gateway = None if services is None else services.gateway
        return {
            "status": "ok",
            "version": __version__,
            "listeners": {} if gateway is None else gateway.status(),
        }

    return app
