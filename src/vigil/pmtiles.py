"""A PMTiles archive (version 3) as Vigil serves it: its fixed 127-byte header read once, so the apps
know whether the street map is vector or raster, its zooms and bounds, and byte ranges checked
against its size. The browser's PMTiles reader does the rest (directories, tiles) by HTTP Range.

Spec: https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md (little-endian throughout).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAGIC: Final = b"PMTiles"
HEADER_BYTES: Final = 127
# Tile types by their header code; the apps draw "mvt" with protomaps-leaflet, the rest as images.
TILE_TYPES: Final = {1: "mvt", 2: "png", 3: "jpg", 4: "webp", 5: "avif"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class NotPmtiles(ValueError):
    """The file is not a PMTiles archive Vigil can serve (what is wrong, in a sentence)."""


@dataclass(frozen=True, slots=True)
class Archive:
    path: Path
    size: int
    etag: str  # changes when the file is replaced: the browser's reader then starts over
    tile_type: str
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float]  # west, south, east, north
    center: tuple[float, float, int]  # lon, lat, zoom

    def config(self, url: str) -> dict[str, object]:
        """What the apps are told (GET /v1/web/config): where, and what kind of tiles."""
        return {
            "url": url,
            "tile_type": self.tile_type,
            "vector": self.tile_type == "mvt",
            "min_zoom": self.min_zoom,
            "max_zoom": self.max_zoom,
            "bounds": list(self.bounds),
        }


def open_archive(path: Path) -> Archive:
    """Read and check the header; NotPmtiles says what is wrong."""
    try:
        with path.open("rb") as f:
            head = f.read(HEADER_BYTES)
            stat = os.fstat(f.fileno())
    except OSError as exc:
        raise NotPmtiles(f"{path}: cannot be read ({exc.strerror})") from exc
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        raise NotPmtiles(f"{path}: not a PMTiles archive (no PMTiles header)")
    if head[7] != 3:
        raise NotPmtiles(f"{path}: PMTiles version {head[7]}; only version 3 is served")
    tile_type = TILE_TYPES.get(head[99])
    if tile_type is None:
        raise NotPmtiles(f"{path}: unknown tile type {head[99]}")
    min_zoom, max_zoom = head[100], head[101]
    west, south, east, north = (v / 1e7 for v in struct.unpack_from("<4i", head, 102))
    center_zoom = head[118]
    center_lon, center_lat = (v / 1e7 for v in struct.unpack_from("<2i", head, 119))
    return Archive(
        path=path,
        size=stat.st_size,
        etag=f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
        tile_type=tile_type,
        min_zoom=min_zoom,
        max_zoom=max_zoom,
        bounds=(west, south, east, north),
        center=(center_lon, center_lat, center_zoom),
    )


@dataclass(frozen=True, slots=True)
class Unservable:
    """Why a request's Range cannot be served: `malformed` (400: no Range, not one byte range) or
    not satisfiable in this file (416: past its end, longer than one request may take)."""

    reason: str
    malformed: bool


def byte_range(header: str | None, size: int, most: int) -> tuple[int, int] | Unservable:
    """The one range `bytes=a-b` (or `a-`, or the suffix `-n`) asks for, as (first, last) within the
    file, at most `most` bytes; or why it cannot be served. Several ranges in one request are not
    served: the PMTiles reader never asks for them."""
    if header is None:
        return Unservable("a Range header is required (one byte range of the archive)", malformed=True)
    found = _RANGE.match(header.strip())
    if found is None or found.groups() == ("", ""):
        return Unservable("Range must be one byte range: bytes=first-last", malformed=True)
    first_text, last_text = found.groups()
    if not first_text:  # the last n bytes
        first, last = max(0, size - int(last_text)), size - 1
    else:
        first = int(first_text)
        if last_text and int(last_text) < first:
            return Unservable("Range ends before it starts", malformed=True)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        return Unservable(f"Range lies past the end of the archive ({size} bytes)", malformed=False)
    if last - first + 1 > most:
        return Unservable(f"Range is too long: at most {most} bytes per request", malformed=False)
    return first, last
