"""Streets under the report map, where the deployment has a street map: tiles (web mercator, XYZ)
chosen for the map's box, stitched, and laid into the map's own projection; or, from vector tiles
(MVT, the Protomaps basemap's layers), the roads and water as lines and areas in the map's metres.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from PIL import Image, UnidentifiedImageError

from vigil.evidence import mvt
from vigil.evidence.figures import XY, MapModel

Tile = tuple[int, int, int]  # z, x, y
MAX_TILES: Final = 25  # a bounded fetch: about 5 by 5 tiles, whatever the map's size
MAX_TILE_SIDE: Final = 1024  # a tile claiming more pixels is not a map tile (nor decoded)
BAND_ROWS: Final = 8  # rows resampled together from their own mercator latitudes
WORLD_M: Final = 2 * math.pi * 6_378_137.0  # web mercator's circumference at the equator
# Vector tiles: the roads by the Protomaps basemap's `kind`, most important first; what is drawn
# stops at MAX_POINTS (a dense city's paths would otherwise swell the PDF), the least important
# roads left out first.
ROAD_KINDS: Final = ("highway", "major_road", "medium_road", "minor_road", "path", "other")
MAX_POINTS: Final = 60_000
_LAYERS: Final = frozenset({"roads", "water"})


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

    @property
    def vector(self) -> bool:
        """Vector tiles (MVT), not images."""
        ...

    def fetch(self, tiles: Sequence[Tile]) -> Mapping[Tile, bytes] | None:
        """The tiles found (a tile the source does not have is absent), within the source's own
        time budget; None when the source failed (down, too slow, an error): no streets then."""
        ...


@dataclass(frozen=True, slots=True)
class Streets:
    """What to draw under the map, and whose it is: a picture exactly covering its box (raster
    tiles), or roads and water in the map's metres (vector tiles)."""

    attribution: str
    zoom: int
    tiles: int  # how many tiles it was made of
    image: Image.Image | None = None
    roads: tuple[tuple[str, tuple[XY, ...]], ...] = ()  # (kind, line), most important kind last
    water: tuple[tuple[tuple[XY, ...], ...], ...] = ()  # areas: rings (outer, then holes)
    waterways: tuple[tuple[XY, ...], ...] = ()  # rivers and streams as lines


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
    if source.vector:
        return _vector(model, wanted, found, source.attribution)
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
    return Streets(source.attribution, z, len(images), image=picture)


def _vector(
    model: MapModel, wanted: Sequence[Tile], found: Mapping[Tile, bytes], attribution: str
) -> Streets | None:
    """Roads and water from vector tiles, each point placed by its own latitude and longitude."""
    reach_x, reach_y = model.half_w_m * 1.05, model.half_h_m * 1.05
    roads: dict[str, list[tuple[XY, ...]]] = {}
    water: list[tuple[tuple[XY, ...], ...]] = []
    waterways: list[tuple[XY, ...]] = []
    used = 0
    for tile in wanted:
        data = found.get(tile)
        if data is None:
            continue
        try:
            decoded = mvt.layers(data, _LAYERS)
        except mvt.NotMvt:
            return None  # not a vector tile: the source is broken, and nothing of it is drawn
        used += 1
        for layer in decoded.values():
            place = _placer(model, tile, layer.extent)
            for feature in layer.features:
                parts = tuple(tuple(place(p) for p in part) for part in feature.parts)
                if not _overlaps(parts, reach_x, reach_y):
                    continue  # nowhere near the map (a tile's edges reach beyond it)
                if layer.name == "water" and feature.kind == mvt.POLYGON:
                    water.append(parts)
                elif layer.name == "water":
                    waterways.extend(parts)
                elif feature.kind == mvt.LINE:
                    kind = str(feature.tags.get("kind", "other"))
                    roads.setdefault(kind if kind in ROAD_KINDS else "other", []).extend(parts)
    if not (roads or water or waterways):
        return None  # nothing of streets on this map: none to credit either
    budget = MAX_POINTS - sum(len(r) for area in water for r in area) - sum(len(w) for w in waterways)
    kept: list[tuple[str, tuple[XY, ...]]] = []
    for kind in ROAD_KINDS:  # the most important first, while the budget lasts
        lines = roads.get(kind, [])
        points = sum(len(line) for line in lines)
        if points > budget:
            break
        budget -= points
        kept += [(kind, line) for line in lines]
    kept.reverse()  # drawn last: the most important, on top
    return Streets(attribution, wanted[0][0], used, None, tuple(kept), tuple(water), tuple(waterways))


def _placer(model: MapModel, tile: Tile, extent: int) -> Callable[[mvt.Point], XY]:
    """Tile coordinates (0..extent across the tile) to the map's metres."""
    z, tx, ty = tile
    n = 2**z

    def place(p: mvt.Point) -> XY:
        lon = (tx + p[0] / extent) / n * 360.0 - 180.0
        lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (ty + p[1] / extent) / n))))
        return model.xy(lat, lon)

    return place


def _overlaps(parts: tuple[tuple[XY, ...], ...], reach_x: float, reach_y: float) -> bool:
    """Whether a feature's bounding box meets the map's (a lake around the whole map does)."""
    xs = [x for part in parts for x, _ in part]
    ys = [y for part in parts for _, y in part]
    return bool(xs) and min(xs) < reach_x and max(xs) > -reach_x and min(ys) < reach_y and max(ys) > -reach_y


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
