"""A real PMTiles archive, built in the test with the `pmtiles` package's writer: raster PNG tiles
over central Seoul, each tile a plain colour (made here with zlib, no imaging library), so a test can
ask Vigil for it by Range and a browser can draw it."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

SEOUL = (126.90, 37.50, 127.06, 37.62)  # west, south, east, north
TILE_RGB = (0xC8, 0x7D, 0x2E)  # a street map's colour no other layer uses


def png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A square PNG (size by size) of one colour."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


# --- vector tiles (Mapbox Vector Tile 2.1, protobuf written by hand: a few fields suffice) ---------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 31)


def _geometry(kind: int, points: list[tuple[int, int]]) -> bytes:
    """MoveTo the first point, LineTo the rest; a polygon (kind 3) is closed."""
    commands = [1 | 1 << 3]
    x = y = 0
    for i, (px, py) in enumerate(points):
        if i == 1:
            commands.append(2 | (len(points) - 1) << 3)
        commands += [_zigzag(px - x), _zigzag(py - y)]
        x, y = px, py
    if kind == 3:
        commands.append(7 | 1 << 3)
    return b"".join(_varint(c) for c in commands)


def _layer(
    name: str, kind: int, points: list[tuple[int, int]], tags: dict[str, str], *more: list[tuple[int, int]]
) -> bytes:
    """A layer of features of one kind and tags: `points`, then each of `more`."""
    keys = list(tags)
    body = _field(15, 2) + _field(1, name.encode())
    for i, shape in enumerate((points, *more)):
        feature = _field(1, i + 1)
        feature += _field(2, b"".join(_varint(v) for i in range(len(keys)) for v in (i, i)))
        feature += _field(3, kind) + _field(4, _geometry(kind, shape))
        body += _field(2, feature)
    body += b"".join(_field(3, k.encode()) for k in keys)
    body += b"".join(_field(4, _field(1, tags[k].encode())) for k in keys)  # string values
    return _field(3, body + _field(5, 4096))


def mvt() -> bytes:
    """A tile in the Protomaps basemap's layers: land over all of it, a major road across it."""
    land = _layer("earth", 3, [(0, 0), (4096, 0), (4096, 4096), (0, 4096)], {"kind": "earth"})
    road = _layer("roads", 2, [(0, 2048), (4096, 2048)], {"kind": "major_road"})
    return land + road


GRID = (512, 1536, 2560, 3584)  # where mvt_grid's roads run, across and down each tile (of 4096)


def mvt_grid() -> bytes:
    """A tile of a street grid: major roads across it at GRID rows, minor roads down it at GRID
    columns, and a square of water in its top left corner."""
    across = [[(0, y), (4096, y)] for y in GRID]
    down = [[(x, 0), (x, 4096)] for x in GRID]
    water = _layer("water", 3, [(0, 0), (400, 0), (400, 400), (0, 400)], {"kind": "water"})
    major = _layer("roads", 2, across[0], {"kind": "major_road"}, *across[1:])
    minor = _layer("roads", 2, down[0], {"kind": "minor_road"}, *down[1:])
    return water + major + minor


def build_vector(
    path: Path, zooms: range = range(10, 13), tile: Callable[[], bytes] = mvt, *, gzipped: bool = False
) -> Path:
    """An archive of vector tiles (MVT, each `tile()`; gzipped as the Protomaps basemap's are, or
    not) covering SEOUL at `zooms`."""
    west, south, east, north = SEOUL
    tiles = []
    for z in zooms:
        x0, y0 = tile_xy(west, north, z)
        x1, y1 = tile_xy(east, south, z)
        tiles += [(zxy_to_tileid(z, x, y), tile()) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    if gzipped:
        tiles = [(tid, gzip.compress(data, mtime=0)) for tid, data in tiles]
    return _write(path, tiles, zooms, TileType.MVT, Compression.GZIP if gzipped else Compression.NONE)


def build_one(path: Path, data: bytes) -> Path:
    """An archive of one tile (0/0/0) holding `data`."""
    return _write(path, [(0, data)], range(0, 1))


def build_raster(
    path: Path,
    zooms: range = range(10, 15),
    rgb: tuple[int, int, int] = TILE_RGB,
    bounds: tuple[float, float, float, float] = SEOUL,
) -> Path:
    """An archive of PNG tiles covering `bounds` (west, south, east, north; SEOUL unless told) at
    `zooms`."""
    west, south, east, north = bounds
    tiles: list[tuple[int, bytes]] = []
    for z in zooms:
        x0, y0 = tile_xy(west, north, z)
        x1, y1 = tile_xy(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                # each tile a shade of its own, so the archive holds distinct tiles, not one
                shade = (rgb[0], rgb[1], (rgb[2] + x + y) % 256)
                tiles.append((zxy_to_tileid(z, x, y), png(shade)))
    return _write(path, tiles, zooms)


def _write(
    path: Path,
    tiles: list[tuple[int, bytes]],
    zooms: range,
    kind: TileType = TileType.PNG,
    compression: Compression = Compression.NONE,
) -> Path:
    west, south, east, north = SEOUL
    with path.open("wb") as f:
        writer = Writer(f)
        for tile_id, data in sorted(tiles):
            writer.write_tile(tile_id, data)
        writer.finalize(
            {
                "tile_type": kind,
                "tile_compression": compression,
                "min_zoom": zooms.start,
                "max_zoom": zooms.stop - 1,
                "min_lon_e7": int(west * 1e7),
                "min_lat_e7": int(south * 1e7),
                "max_lon_e7": int(east * 1e7),
                "max_lat_e7": int(north * 1e7),
                "center_zoom": zooms.start + 2,
                "center_lon_e7": int((west + east) / 2 * 1e7),
                "center_lat_e7": int((south + north) / 2 * 1e7),
            },
            {
                "attribution": "test tiles",
                "name": "seoul-test",
                "vector_layers": [
                    {"id": "earth", "fields": {}},
                    {"id": "roads", "fields": {"kind": "String"}},
                ],
            },
        )
    return path
