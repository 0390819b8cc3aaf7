"""The street map's tiles for the printed report: the edge's adapter that `evidence.pdf` is handed
(as an `evidence.streets.TileSource`), so the evidence package itself reads no file and opens no
connection.

Two sources, as the web maps have (config: `pmtiles` first, else `tile_url`):
- the local PMTiles archive, its tiles read from the file (`pmtiles.TileReader`): images, or
  vector tiles (MVT) whose roads and water the report draws as lines and areas;
- the configured XYZ tile server, asked over HTTP for exactly the tiles the map needs, and no other
  host: the template's own, a few at a time, within a total budget (`BUDGET_S`) so a slow or dead
  server delays a report by seconds, never more. Any error, any status but 200 or 404, or the
  budget spent: no streets from it this time.

The credit printed under the map: `tile_attribution` when configured, else the archive's own
(`attribution` in its metadata), else where the tiles came from.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Final
from urllib.parse import urlsplit

import httpx

from vigil import pmtiles
from vigil.config import Settings
from vigil.evidence.streets import Tile, TileSource

log = logging.getLogger(__name__)

BUDGET_S: Final = 4.0  # all of a report's tiles from a server, at most this long
TILE_TIMEOUT_S: Final = 2.0  # one tile
MAX_TILE_BYTES: Final = 2_000_000
PARALLEL: Final = 4  # requests at once to the deployment's own tile server
SERVER_ZOOMS: Final = (0, 19)  # as the web maps ask a tile server (map.js: maxZoom 19)
_TAG = re.compile(r"<[^>]*>")


def plain(text: str) -> str:
    """An attribution as printed text: archives often carry it as HTML links."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


class ArchiveTiles:
    """Tiles from the local PMTiles archive, raster or vector."""

    def __init__(self, archive: pmtiles.Archive, attribution: str | None = None) -> None:
        self._reader = pmtiles.TileReader(archive)
        own = self._reader.metadata().get("attribution")
        self._attribution = attribution or (plain(own) if isinstance(own, str) and own.strip() else "")
        self._attribution = self._attribution or f"street map {archive.path.name}"
        self._zooms = (archive.min_zoom, archive.max_zoom)
        self._vector = archive.tile_type == "mvt"

    @property
    def attribution(self) -> str:
        return self._attribution

    @property
    def zooms(self) -> tuple[int, int]:
        return self._zooms

    @property
    def vector(self) -> bool:
        return self._vector

    def fetch(self, tiles: Sequence[Tile]) -> Mapping[Tile, bytes] | None:
        found: dict[Tile, bytes] = {}
        try:
            for tile in tiles:
                data = self._reader.tile(*tile)
                if data is not None:
                    found[tile] = data
        except (pmtiles.Unreadable, OSError) as exc:
            log.warning("report map: the street archive cannot be read (%s)", exc)
            return None
        return found


class ServerTiles:
    """Tiles from the configured XYZ server (`{z}/{x}/{y}` in its template), over HTTP."""

    def __init__(
        self,
        template: str,
        attribution: str | None = None,
        *,
        budget_s: float = BUDGET_S,
        timeout_s: float = TILE_TIMEOUT_S,
    ) -> None:
        # Leaflet's {s} (a subdomain of the same server) and {r} (retina suffix): the plain tile
        self._template = template.replace("{s}", "a").replace("{r}", "")
        self._host = urlsplit(self._template).hostname or ""
        self._attribution = attribution or f"tiles from {self._host}"
        self._budget_s, self._timeout_s = budget_s, timeout_s

    @property
    def attribution(self) -> str:
        return self._attribution

    @property
    def zooms(self) -> tuple[int, int]:
        return SERVER_ZOOMS

    @property
    def vector(self) -> bool:
        return False  # an XYZ template is images, as the web maps take it

    def url(self, tile: Tile) -> str:
        z, x, y = tile
        return self._template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))

    def fetch(self, tiles: Sequence[Tile]) -> Mapping[Tile, bytes] | None:
        deadline = time.monotonic() + self._budget_s
        found: dict[Tile, bytes] = {}
        client = httpx.Client(follow_redirects=False, trust_env=False)

        def one(tile: Tile) -> None:
            url = self.url(tile)
            if urlsplit(url).hostname != self._host:  # the template's own server, no other
                raise ValueError(f"a tile URL outside {self._host}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the tile budget is spent")
            with client.stream("GET", url, timeout=min(self._timeout_s, left)) as answer:
                if answer.status_code == 404:
                    return  # no tile there
                if answer.status_code != 200:
                    raise ValueError(f"HTTP {answer.status_code}")
                body = bytearray()
                for chunk in answer.iter_bytes():  # a server that dribbles is cut off at the deadline
                    body += chunk
                    if len(body) > MAX_TILE_BYTES:
                        raise ValueError("a tile larger than any map tile")
                    if time.monotonic() > deadline:
                        raise TimeoutError("the tile budget is spent")
            found[tile] = bytes(body)

        pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="report-tiles")
        try:
            futures = [pool.submit(one, tile) for tile in tiles]
            done, pending = wait(
                futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_EXCEPTION
            )
            failed = next((f.exception() for f in done if f.exception() is not None), None)
        finally:
            # The report does not wait for stragglers: closing the client ends their requests.
            pool.shutdown(wait=False, cancel_futures=True)
            client.close()
        if pending or failed is not None:
            log.warning(
                "report map: no streets from %s (%s)", self._host, failed or "out of time for its tiles"
            )
            return None
        return dict(found)


def tile_source(settings: Settings) -> TileSource | None:
    """The deployment's street map as the report reads it, or None (none configured, or an archive
    that cannot be read now: the report's map is then the outline map)."""
    if settings.pmtiles is not None:
        try:
            archive = pmtiles.open_archive(settings.pmtiles)
        except pmtiles.NotPmtiles as exc:
            log.warning("report map: %s", exc)
            return None
        try:
            return ArchiveTiles(archive, settings.tile_attribution)
        except OSError as exc:
            log.warning("report map: the street archive cannot be read (%s)", exc)
            return None
    if settings.tile_url is not None:
        return ServerTiles(settings.tile_url, settings.tile_attribution)
    return None
