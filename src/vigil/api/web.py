"""The web apps (control centre, field terminal, victim app) as plain files, their settings, the
offline basemap, and the live figures of the control centre's panel."""

from __future__ import annotations

import mimetypes
import statistics
import time
from collections import deque
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select

from vigil.api import tiles
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.domain.alerts import TERMINAL, Change
from vigil.domain.model import PersonKind
from vigil.store import tables as t

router = APIRouter(tags=["web"])

WEB = Path(str(resources.files("vigil").joinpath("web")))
BASEMAP = Path(str(resources.files("vigil").joinpath("data", "kr-municipalities-2012.geojson")))
ONLINE = timedelta(minutes=10)  # a subject heard from within this is online
RAISES = (Change.OPENED.value, Change.ESCALATED.value)  # the changes an operator acknowledges

# The victim app's manifest, whatever the host's mime.types says (a browser wants this type).
mimetypes.add_type("application/manifest+json", ".webmanifest")


def mount(app: FastAPI) -> None:
    """Serve the apps: /control/, /field/, /victim/, and their shared files under /web/; and
    /notes/, the plain notepad the victim app's quick exit leaves for (nothing in it names Vigil).
    The victim app's service worker (/victim/sw.js) is scoped to /victim/ by where it lies."""
    app.mount("/web", StaticFiles(directory=WEB), name="web")
    for name in ("control", "field", "victim", "notes"):
        app.mount(f"/{name}", StaticFiles(directory=WEB / name, html=True), name=name)


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/control/")


@router.get("/v1/web/config")
def web_config(services: Wired) -> dict[str, Any]:
    """What the apps need before login: the street map if the deployment has one (a tile server's
    URL template, or Vigil's own PMTiles archive: its URL and whether its tiles are vector or
    images; whose map it is, when configured, to credit it), whether a geocoder answers address
    searches, the default language, and the control centre's time zone (a printed report gives its
    times there, wherever it is printed)."""
    settings = services.settings
    archive = tiles.archive(settings.pmtiles)
    return {
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "pmtiles": None if archive is None else archive.config(tiles.PATH),
        "geocoder": settings.geocoder_url is not None,
        "language": settings.language,
        "timezone": settings.timezone,
    }


@router.get("/v1/web/basemap")
def basemap() -> FileResponse:
    """The offline basemap: the 2012 municipality outlines (public data) as GeoJSON."""
    return FileResponse(BASEMAP, media_type="application/geo+json")


@router.get("/v1/stats")
def stats(services: Wired, _: Annotated[Any, Depends(require(Action.STATS))]) -> dict[str, Any]:
    """The control centre's live figures: subjects online, fixes per second, open alerts by kind,
    and the median time to acknowledge over the last 24 hours, each counted from the raise it
    answered (the alert's latest opening or escalation before it)."""
    now = services.clock()
    processor = services.runner.processor
    engine = processor.engine
    subjects = {d.person_id for d in list(engine.devices.values()) if d.person_kind is PersonKind.SUBJECT}
    online = sum(
        1
        for person, track in list(engine.tracks.items())
        if person in subjects and track.latest is not None and now - track.latest.time <= ONLINE
    )
    # Fixes per second from the writer's running count, sampled at each call (no table scan).
    stamp, total = time.monotonic(), processor.stored_total
    samples: deque[tuple[float, int]] = services.rate_samples
    samples.append((stamp, total))
    while len(samples) > 1 and stamp - samples[0][0] > 60:
        samples.popleft()
    first_stamp, first_total = samples[0]
    rate = (total - first_total) / (stamp - first_stamp) if stamp - first_stamp >= 1 else None
    with services.db.connect() as conn:
        by_kind: dict[str, int] = dict(
            conn.execute(
                select(t.alerts.c.kind, func.count())
                .where(t.alerts.c.state.not_in([s.value for s in TERMINAL]))
                .group_by(t.alerts.c.kind)
            ).all()
        )
        # Each acknowledgement against the raise it answered: the alert's latest opening or
        # escalation before it (a warning acknowledged only once it became a violation counts from
        # the violation), never the first warning.
        ack, raise_ = t.alert_changes.alias("ack"), t.alert_changes.alias("raised")
        acks = conn.execute(
            select(ack.c.at, func.max(raise_.c.at))
            .join(
                raise_,
                (raise_.c.alert_id == ack.c.alert_id)
                & raise_.c.change.in_(RAISES)
                & (raise_.c.at <= ack.c.at),
            )
            .where(ack.c.change == Change.ACKNOWLEDGED.value, ack.c.at >= now - timedelta(days=1))
            .group_by(ack.c.id, ack.c.at)
        ).all()
    waits = [(at - raised).total_seconds() for at, raised in acks if at is not None and raised is not None]
    return {
        "subjects": len(subjects),
        "subjects_online": online,
        "fixes_per_s": None if rate is None else round(rate, 1),
        "open_alerts_by_kind": by_kind,
        "median_ack_s": round(statistics.median(waits), 1) if waits else None,
    }
