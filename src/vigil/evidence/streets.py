"""Streets under the report map, where the deployment has a street map: tiles (web mercator, XYZ)
chosen for the map's box, stitched, and laid into the map's own projection.

The map (`figures.map_model`) is drawn in metres east and north of its centre, an equirectangular
projection; tiles are web mercator. Across a map of a few kilometres the two differ by well under
a metre, but "well under" is not "exactly", so the tiles are not merely cropped: every column of
the picture is a longitude (linear in both projections), and every band of 8 rows is resampled
from the mercator rows of its own top and bottom latitude. A track point drawn at (x, y) then lies
on the tile pixel of its own latitude and longitude, to a fraction of a pixel.

Where the tiles come from is not this module's business: a `TileSource` (the configured PMTiles
archive or tile server, `vigil.streetmap`) is handed in. This module fetches nothing itself, and
anything wrong (no tiles, a source that fails, a tile that is not an image) gives None: the map is
then drawn from the outlines alone, as without a street map.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from PIL import Image, UnidentifiedImageError

from vigil.evidence.figures import MapModel

Tile = tuple[int, int, int]  # z, x, y
MAX_TILES: Final = 25  # a bounded fetch: about 5 by 5 tiles, whatever the map's size
MAX_TILE_SIDE: Final = 1024  # a tile claiming more pixels is not a map tile (nor decoded)
BAND_ROWS: Final = 8  # rows resampled together from their own mercator latitudes
WORLD_M: Final = 2 * math.pi * 6_378_137.0  # web mercator's circumference at the equator


class TileSource(Protocol):
    """Street tiles by XYZ address (the edge's adapter: a local archive or a tile server)."""

    @property
    def attribution(self) -> str:
        """Whose map it is, as it must be credited under the map."""
        ...

    @property
    def zooms(self) -> tuple[int, int]:
        """The lowest and highest zoom the source has tiles for."""
        ...

    def fetch(self, tiles: Sequence[Tile]) -> Mapping[Tile, bytes] | None:
        """The tiles found (a tile the source does not have is absent), within the source's own
        time budget; None when the source failed (down, too slow, an error): no streets then."""
        ...


@dataclass(frozen=True, slots=True)
class Streets:
    """The picture to draw under the map, exactly covering its box, and whose it is."""

    image: Image.Image
    attribution: str
    zoom: int
    tiles: int  # how many tiles it was made of


def zoom_for(model: MapModel, width_px: int, zooms: tuple[int, int]) -> tuple[int, list[Tile]] | None:
    """The zoom whose tiles show the map's box at about `width_px` across (the figure's own
    resolution; more detail would not be printed), within the source's zooms, stepping down while
    more than MAX_TILES would be needed; and those tiles. None: no zoom fits."""
    lat0, _ = model.origin
    ground_px = 2 * model.half_w_m / width_px  # metres a printed pixel covers
    cos0 = math.cos(math.radians(lat0))
    low, high = zooms
    wanted = math.ceil(math.log2(WORLD_M * cos0 / (256 * ground_px)))
    z = max(low, min(high, wanted))
    while z >= low:
        tiles = _covering(model, z)
        if len(tiles) <= MAX_TILES:
            return z, tiles
        z -= 1
    return None


def _pixel(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Web mercator pixel coordinates (256-pixel tiles) at zoom z."""
    size = 256 * 2**z
    lat = max(-85.05112878, min(85.05112878, lat))
    x = (lon + 180.0) / 360.0 * size
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * size
    return x, y


def _corners(model: MapModel, z: int) -> tuple[float, float, float, float]:
    """The map's box in pixels at zoom z: left, top, right, bottom."""
    north, west = model.lat_lon(-model.half_w_m, model.half_h_m)
    south, east = model.lat_lon(model.half_w_m, -model.half_h_m)
    left, top = _pixel(north, west, z)
    right, bottom = _pixel(south, east, z)
    return left, top, right, bottom


def _covering(model: MapModel, z: int) -> list[Tile]:
    left, top, right, bottom = _corners(model, z)
    last = 2**z - 1
    xs = range(max(0, int(left // 256)), min(last, math.ceil(right / 256) - 1) + 1)
    ys = range(max(0, int(top // 256)), min(last, math.ceil(bottom / 256) - 1) + 1)
    return [(z, x, y) for y in ys for x in xs]


def _decoded(data: bytes) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if max(opened.size) > MAX_TILE_SIDE or opened.size[0] != opened.size[1]:
                return None
            return opened.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def streets(model: MapModel, source: TileSource, width_px: int) -> Streets | None:
    """The streets under `model`, `width_px` pixels across (its height in proportion), or None."""
    chosen = zoom_for(model, width_px, source.zooms)
    if chosen is None:
        return None
    z, wanted = chosen
    found = source.fetch(wanted)
    if not found:
        return None
    side = 0
    images: dict[Tile, Image.Image] = {}
    for tile in wanted:
        data = found.get(tile)
        if data is None:
            continue  # the source has no tile there (the sea, beyond its extract): left clear
        image = _decoded(data)
        if image is None:
            return None  # not an image: the source is broken, and nothing of it is drawn
        side = side or image.size[0]
        images[tile] = image if image.size[0] == side else image.resize((side, side))
    if not images:
        return None
    x0, y0 = min(x for _, x, _ in wanted), min(y for _, _, y in wanted)
    columns = max(x for _, x, _ in wanted) - x0 + 1
    rows = max(y for _, _, y in wanted) - y0 + 1
    mosaic = Image.new("RGBA", (columns * side, rows * side), (0, 0, 0, 0))
    for (_, x, y), image in images.items():
        mosaic.paste(image, ((x - x0) * side, (y - y0) * side))
    picture = _laid(model, mosaic, z, (x0, y0), side, width_px)
    if len(images) == len(wanted):
        picture = picture.convert("RGB")  # opaque: no mask to carry into the PDF
    return Streets(picture, source.attribution, z, len(images))


def _laid(
    model: MapModel, mosaic: Image.Image, z: int, first: tuple[int, int], side: int, width_px: int
) -> Image.Image:
    """The mosaic resampled into the map's box: columns linearly (longitude is linear in both
    projections), rows band by band from each band's own mercator latitudes."""
    height_px = max(1, round(width_px * model.half_h_m / model.half_w_m))
    scale = side / 256  # mosaic pixels per 256-pixel-tile pixel
    left, _, right, _ = _corners(model, z)
    ox, oy = first[0] * 256, first[1] * 256
    src_left, src_right = (left - ox) * scale, (right - ox) * scale

    def src_row(row: int) -> float:
        """The mosaic row at the top edge of output row `row` (row height_px: the bottom edge)."""
        y_m = model.half_h_m - 2 * model.half_h_m * row / height_px
        lat, lon = model.lat_lon(0.0, y_m)
        return (_pixel(lat, lon, z)[1] - oy) * scale

    # premultiplied once (not by each band's resize): a missing tile's clear edge stays clear
    source = mosaic.convert("RGBa")
    out = Image.new("RGBa", (width_px, height_px))
    for top in range(0, height_px, BAND_ROWS):
        bottom = min(height_px, top + BAND_ROWS)
        box = (src_left, src_row(top), src_right, src_row(bottom))
        out.paste(source.resize((width_px, bottom - top), Image.Resampling.BICUBIC, box=box), (0, top))
    return out.convert("RGBA")
