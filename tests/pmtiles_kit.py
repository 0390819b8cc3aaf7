"""A real PMTiles archive, built in the test with the `pmtiles` package's writer: raster PNG tiles
over central Seoul, each tile a plain colour (made here with zlib, no imaging library), so a test can
ask Vigil for it by Range and a browser can draw it."""

from __future__ import annotations

import math
import struct
import zlib
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


def build_one(path: Path, data: bytes) -> Path:
    """An archive of one tile (0/0/0) holding `data`."""
    return _write(path, [(0, data)], range(0, 1))


def build_raster(path: Path, zooms: range = range(10, 15), rgb: tuple[int, int, int] = TILE_RGB) -> Path:
    """An archive of PNG tiles covering SEOUL at `zooms`."""
    west, south, east, north = SEOUL
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


def _write(path: Path, tiles: list[tuple[int, bytes]], zooms: range) -> Path:
    west, south, east, north = SEOUL
    with path.open("wb") as f:
        writer = Writer(f)
        for tile_id, data in sorted(tiles):
            writer.write_tile(tile_id, data)
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
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
            {"attribution": "test tiles", "name": "seoul-test"},
        )
    return path
