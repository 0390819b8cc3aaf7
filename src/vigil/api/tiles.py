"""The street map's tiles, from a local PMTiles archive (VIGIL_PMTILES), served to HTTP Range requests
at /tiles/map.pmtiles: the browser's PMTiles reader asks for the header, the directories and each
tile as byte ranges of the one file, so an offline control room needs no tile server.

Served without a sign-in, like the apps' own files and the outline basemap: a street map is public
data (an OpenStreetMap extract), and an `<img>` or a reader's fetch would otherwise have to carry a
token. What guards the server is the edge's rate limit per address and the size of what one request
may take: one range, at most `pmtiles_max_range_bytes`; a request for the whole file is refused.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from vigil import pmtiles
from vigil.api.deps import Wired

router = APIRouter(tags=["web"])

PATH: Final = "/tiles/map.pmtiles"  # one name whatever the file is called on the server
NONE_CONFIGURED: Final = "no street map is configured on this server (VIGIL_PMTILES)"


def archive(path: Path | None) -> pmtiles.Archive | None:
    """The configured archive as it is now on disk (a replaced file is read again), or None."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return _opened(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _opened(path: Path, size: int, mtime_ns: int) -> pmtiles.Archive | None:
    del size, mtime_ns  # the cache key: the file as it was when read
    try:
        return pmtiles.open_archive(path)
    except pmtiles.NotPmtiles:
        return None


@router.get(PATH, include_in_schema=False)
async def tiles(request: Request, services: Wired) -> Response:
    """One byte range of the archive: 206 with Content-Range; 416 for a range it cannot serve
    (past the end, too long), 400 for no Range or a malformed one, 404 when none is configured."""
    found = archive(services.settings.pmtiles)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NONE_CONFIGURED)
    wanted = pmtiles.byte_range(
        request.headers.get("range"), found.size, services.settings.pmtiles_max_range_bytes
    )
    if isinstance(wanted, pmtiles.Unservable):
        code = status.HTTP_400_BAD_REQUEST if wanted.malformed else status.HTTP_416_RANGE_NOT_SATISFIABLE
        raise HTTPException(code, wanted.reason, headers={"Content-Range": f"bytes */{found.size}"})
    first, last = wanted
    data = await asyncio.to_thread(pmtiles.read_at, found.path, first, last - first + 1)
    return Response(
        data,
        status_code=status.HTTP_206_PARTIAL_CONTENT,
        media_type="application/octet-stream",
        headers={
            "Content-Range": f"bytes {first}-{first + len(data) - 1}/{found.size}",
            "Accept-Ranges": "bytes",
            "ETag": found.etag,
            # public map data: a browser may keep it, asking again only when the file changed
            "Cache-Control": "public, no-cache",
        },
    )
