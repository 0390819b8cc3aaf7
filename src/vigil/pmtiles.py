"""A PMTiles archive (version 3) as Vigil serves it: its fixed 127-byte header read once, so the apps
know whether the street map is vector or raster, its zooms and bounds, and byte ranges checked
against its size. The browser's PMTiles reader does the rest (directories, tiles) by HTTP Range;
the printed report's map reads its tiles here (`TileReader`), on the server.

Spec: https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md (little-endian throughout).
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
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


def read_at(path: Path, offset: int, length: int) -> bytes:
    """`length` bytes of the archive from `offset` (fewer at its end): what a Range request is
    served (api/tiles.py) and what the server's own reader reads (`TileReader`)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


# --- reading tiles on the server (the report map's streets) --------------------------------------
# The browser reads tiles itself; the PDF report is drawn on the server, so it reads them here: the
# directories (root, then leaves) and the tile's bytes, by offset in the local file.

_COMPRESSIONS: Final = {1: "none", 2: "gzip"}  # what Vigil can undo; brotli and zstd are not read
_MAX_DEPTH: Final = 4  # root and at most three levels of leaves (the spec's writers use one or two)


class Unreadable(ValueError):
    """A tile or directory the archive holds in a form Vigil cannot read (why, in a sentence)."""


def tile_id(z: int, x: int, y: int) -> int:
    """The tile's id in the archive: the tiles of every lower zoom, then its place on zoom z's
    Hilbert curve (spec: "Tile IDs")."""
    base = ((1 << 2 * z) - 1) // 3
    n = 1 << z
    d = 0
    s = n >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant so the curve's next level runs the same way
            if rx == 1:
                x, y = n - 1 - x, n - 1 - y
            x, y = y, x
        s >>= 1
    return base + d


def _varints(data: bytes) -> list[int]:
    out: list[int] = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise Unreadable("a directory varint is longer than 64 bits")
        else:
            out.append(value)
            value = shift = 0
    if shift:
        raise Unreadable("a directory ends inside a varint")
    return out


def _entries(data: bytes) -> list[tuple[int, int, int, int]]:
    """A directory's entries (tile id, offset, length, run length), in tile id order."""
    numbers = _varints(data)
    if not numbers:
        raise Unreadable("an empty directory")
    n = numbers[0]
    if len(numbers) != 1 + 4 * n:
        raise Unreadable("a directory's entry count does not match its contents")
    ids, runs, lengths, offsets = (numbers[1 + i * n : 1 + (i + 1) * n] for i in range(4))
    out: list[tuple[int, int, int, int]] = []
    tid = 0
    for i in range(n):
        tid += ids[i]
        # an offset of 0 after the first entry: right after the previous entry's bytes
        offset = out[-1][1] + out[-1][2] if offsets[i] == 0 and i > 0 else offsets[i] - 1
        out.append((tid, offset, lengths[i], runs[i]))
    return out


class TileReader:
    """Tiles from an open archive's file; `tile` answers None where the archive holds no tile."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        with archive.path.open("rb") as f:
            head = f.read(HEADER_BYTES)
        (self._root_offset, self._root_length, self._meta_offset, self._meta_length,
         self._leaf_offset, _leaf_length, self._data_offset) = struct.unpack_from("<7Q", head, 8)  # fmt: skip
        self._internal = _COMPRESSIONS.get(head[97])
        self._tile_compression = _COMPRESSIONS.get(head[98])
        # A report asks for up to 25 tiles: the root directory (and a leaf) read and decoded once
        self._directories: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}

    def _read(self, offset: int, length: int, compression: str | None) -> bytes:
        if compression is None:
            raise Unreadable("compressed in a way Vigil does not read (only none and gzip)")
        data = read_at(self.archive.path, offset, length)
        if len(data) != length:
            raise Unreadable("the archive ends before what its directory points to")
        if compression == "gzip":
            try:
                return zlib.decompress(data, wbits=47)  # gzip or zlib header, either
            except zlib.error as exc:
                raise Unreadable(f"a gzip block does not decompress ({exc})") from exc
        return data

    def metadata(self) -> dict[str, object]:
        """The archive's JSON metadata (its `attribution` among others); {} when unreadable."""
        try:
            found = json.loads(self._read(self._meta_offset, self._meta_length, self._internal))
        except (Unreadable, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _directory(self, offset: int, length: int) -> list[tuple[int, int, int, int]]:
        key = (offset, length)
        if key not in self._directories:
            self._directories[key] = _entries(self._read(offset, length, self._internal))
        return self._directories[key]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        wanted = tile_id(z, x, y)
        offset, length = self._root_offset, self._root_length
        for _ in range(_MAX_DEPTH):
            entries = self._directory(offset, length)
            found = None
            for entry in entries:  # the last entry at or before the wanted id
                if entry[0] > wanted:
                    break
                found = entry
            if found is None:
                return None
            tid, entry_offset, entry_length, run = found
            if run == 0:  # a leaf directory covering ids from tid on
                offset, length = self._leaf_offset + entry_offset, entry_length
                continue
            if wanted >= tid + run:
                return None
            return self._read(self._data_offset + entry_offset, entry_length, self._tile_compression)
        raise Unreadable("the archive's directories nest deeper than the spec's writers make them")
