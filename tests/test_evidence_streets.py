"""Streets under the report's map: from a real PMTiles archive built in the test (raster tiles, or
vector tiles whose roads and water are decoded and drawn as lines) and from a real tile server on
loopback, laid exactly where the tracks are; and a street map that is missing, down, slow or broken
costs nothing but the streets: the report is still made, in bounded time, with the outline map, and
says nothing of streets."""

from __future__ import annotations

import io
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from PIL import Image
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from pypdf import PdfReader

from pmtiles_kit import GRID, SEOUL, TILE_RGB, build_raster, build_vector, mvt_grid, png, tile_xy
from test_evidence_pack import scene
from tile_server_kit import SERVER_RGB, TileServer
from vigil import pmtiles
from vigil.config import Settings
from vigil.domain.geo import EARTH_RADIUS_M
from vigil.evidence import figures, streets
from vigil.evidence.pdf import render
from vigil.evidence.report import Sealed, seal
from vigil.streetmap import ServerTiles, plain, tile_source

# His walk and hers through central Seoul, inside the test archive's extract.
HIM = [(37.560 + i * 0.002, 126.975 + i * 0.003) for i in range(6)]
HER = [(37.550 + i * 0.001, 126.985 - i * 0.002) for i in range(6)]
SUBJECT_STROKE = b".752941 .223529 .168627 RG"  # pdf.SUBJECT_COLOUR as the PDF sets it


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal(scene(HIM, HER, 600.0))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_raster(tmp_path_factory.mktemp("tiles") / "seoul.pmtiles")


@pytest.fixture
def server() -> Iterator[TileServer]:
    with TileServer() as running:
        yield running


def map_page(data: bytes) -> tuple[str, list[Image.Image], bytes]:
    """The map's page: its text, its pictures and its drawing operators."""
    for page in PdfReader(io.BytesIO(data)).pages:
        text = page.extract_text()
        if "지도 / Map" in text:
            return text, [found.image for found in page.images], page.get_contents().get_data()
    raise AssertionError("no map page")


# --- reading the archive ------------------------------------------------------------------------


def test_tile_ids_are_the_specs() -> None:
    for z in range(0, 21):
        for x, y in ((0, 0), (2**z - 1, 0), (0, 2**z - 1), (2**z - 1, 2**z - 1), (2**z // 3, 2**z // 5)):
            assert pmtiles.tile_id(z, x, y) == zxy_to_tileid(z, x, y), (z, x, y)


def test_every_tile_reads_back_as_the_pmtiles_package_wrote_it(archive: Path) -> None:
    reader = pmtiles.TileReader(pmtiles.open_archive(archive))
    west, south, east, north = SEOUL
    for z in range(10, 15):
        x0, y0 = tile_xy(west, north, z)
        x1, y1 = tile_xy(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                assert reader.tile(z, x, y) == png((TILE_RGB[0], TILE_RGB[1], (TILE_RGB[2] + x + y) % 256))
    assert reader.tile(12, 0, 0) is None and reader.tile(3, 6, 3) is None  # outside: no tile
    assert reader.metadata()["attribution"] == "test tiles"


def test_a_big_archive_is_read_through_its_leaf_directories(tmp_path: Path) -> None:
    """Past a few thousand tiles the root directory no longer fits and the writer makes leaves."""
    path = tmp_path / "big.pmtiles"
    z = 8
    chance = random.Random(8)  # gaps and lengths that do not compress away
    every = [(x, y) for x in range(2**z) for y in range(2**z) if chance.random() < 0.7]

    def data(x: int, y: int) -> bytes:
        return f"{x}/{y}".encode() * (1 + (x * 7 + y * 13) % 5)

    with path.open("wb") as f:
        writer = Writer(f)
        for tid, (x, y) in sorted((zxy_to_tileid(z, x, y), (x, y)) for x, y in every):
            writer.write_tile(tid, data(x, y))
        writer.finalize(
            {"tile_type": TileType.PNG, "tile_compression": Compression.NONE, "min_zoom": z, "max_zoom": z,
             "min_lon_e7": -1_800_000_000, "min_lat_e7": -850_000_000, "max_lon_e7": 1_800_000_000,
             "max_lat_e7": 850_000_000, "center_zoom": z, "center_lon_e7": 0, "center_lat_e7": 0},
            {},
        )  # fmt: skip
    header = path.read_bytes()[:127]
    assert int.from_bytes(header[48:56], "little") > 0  # it has leaf directories
    reader = pmtiles.TileReader(pmtiles.open_archive(path))
    for x, y in [*every[::997], every[0], every[-1]]:
        assert reader.tile(z, x, y) == data(x, y)
    kept = set(every)
    gaps = [(x, y) for x in range(2**z) for y in range(2**z) if (x, y) not in kept]
    assert all(reader.tile(z, x, y) is None for x, y in gaps[::331])  # a gap between entries: no tile
    assert reader.tile(z + 1, 0, 0) is None


# --- streets from the archive -------------------------------------------------------------------


def test_the_report_map_shows_the_archives_streets_beneath_the_tracks(sealed: Sealed, archive: Path) -> None:
    source = tile_source(Settings(pmtiles=archive))
    assert source is not None
    data = render(sealed, source)
    text, pictures, ops = map_page(data)
    assert len(pictures) == 1  # the streets, one picture exactly covering the map's frame
    colours = pictures[0].convert("RGB").getcolors(1_000_000)
    assert colours is not None
    assert all((r, g) == TILE_RGB[:2] for _, (r, g, _) in colours)  # nothing but the tiles' own colour
    assert "Streets: test tiles" in text  # credited
    assert ops.index(b" Do") < ops.index(SUBJECT_STROKE)  # drawn first: beneath his track
    assert render(sealed, tile_source(Settings(pmtiles=archive))) == data  # same evidence, tiles: same PDF


def test_without_a_street_map_the_report_says_nothing_of_streets(sealed: Sealed) -> None:
    assert tile_source(Settings()) is None
    text, pictures, _ = map_page(render(sealed))
    assert pictures == [] and "Streets" not in text and "도로 지도" not in text


def test_the_map_picture_is_made_of_few_tiles_at_about_the_print_resolution(
    sealed: Sealed, archive: Path
) -> None:
    model = figures.map_model(figures.case_of(sealed.evidence))
    assert model is not None
    z, tiles = streets.zoom_for(model, 1063, (0, 19)) or (0, [])
    assert 4 <= len(tiles) <= streets.MAX_TILES
    ground = 2 * math.pi * 6_378_137 * math.cos(math.radians(model.origin[0])) / (256 * 2**z)
    assert ground <= 2 * model.half_w_m / 1063 < 2 * ground  # as detailed as printed, not more
    # a map far too big for 25 tiles at the highest zoom steps down; within the source's zooms only
    z_low, few = streets.zoom_for(model, 20_000, (0, 19)) or (0, [])
    assert z_low < 19 and len(few) <= streets.MAX_TILES
    assert streets.zoom_for(model, 1063, (17, 19)) is None


class Checkered:
    """Tiles coloured by the parity of x (red) and y (green): where one tile meets the next, the
    colour steps, so a test can find every tile edge in the map's picture."""

    attribution = "checkered"
    zooms = (0, 19)
    vector = False

    def fetch(self, tiles: Sequence[streets.Tile]) -> Mapping[streets.Tile, bytes]:
        return {(z, x, y): png((255 * (x % 2), 255 * (y % 2), 128), 256) for z, x, y in tiles}


def _crossing(values: list[int], start: int) -> float:
    """Where a row or column of values steps through 127.5, by linear interpolation."""
    for i in range(len(values) - 1):
        a, b = values[i], values[i + 1]
        if (a - 127.5) * (b - 127.5) < 0:
            return start + i + (127.5 - a) / (b - a) + 0.5  # pixel centres lie at i + 0.5
    raise AssertionError(f"no step in {values}")


def test_the_streets_lie_exactly_where_the_tracks_are(sealed: Sealed) -> None:
    """Every tile edge in the picture is where its longitude or latitude falls in the map's own
    projection, to a quarter of a printed pixel: a track drawn at a place lies on that place's street."""
    model = figures.map_model(figures.case_of(sealed.evidence))
    assert model is not None
    width = 1063
    drawn = streets.streets(model, Checkered(), width)
    assert drawn is not None
    picture = drawn.image.convert("RGB")
    height = picture.size[1]
    lat0, lon0 = model.origin
    per_lat = EARTH_RADIUS_M * math.pi / 180  # metres per degree, as map_model projects
    per_lon = math.cos(math.radians(lat0)) * per_lat
    n = 2**drawn.zoom
    edges = 0
    for tx in range(n):
        col = ((tx / n * 360 - 180 - lon0) * per_lon + model.half_w_m) / (2 * model.half_w_m) * width
        if 6 < col < width - 6:
            row = [picture.getpixel((c, height // 2))[0] for c in range(int(col) - 5, int(col) + 6)]
            assert abs(_crossing(row, int(col) - 5) - col) < 0.25, tx
            edges += 1
    for ty in range(n):
        lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))
        row_at = (model.half_h_m - (lat - lat0) * per_lat) / (2 * model.half_h_m) * height
        if 6 < row_at < height - 6:
            column = [picture.getpixel((width // 2, r))[1] for r in range(int(row_at) - 5, int(row_at) + 6)]
            assert abs(_crossing(column, int(row_at) - 5) - row_at) < 0.25, ty
            edges += 1
    assert edges >= 4


def test_an_archive_with_no_tile_here_gives_the_outline_map(sealed: Sealed, tmp_path: Path) -> None:
    elsewhere = build_raster(tmp_path / "busan.pmtiles", bounds=(129.0, 35.1, 129.1, 35.2))
    source = tile_source(Settings(pmtiles=elsewhere))
    assert source is not None
    text, pictures, _ = map_page(render(sealed, source))
    assert pictures == [] and "Streets" not in text  # no tile here: nothing to credit


# --- streets from a vector archive --------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_vector_archives_roads_and_water_lie_where_they_are(
    sealed: Sealed, tmp_path: Path, gzipped: bool
) -> None:
    """The vector tiles' roads, read from a real archive and decoded, placed by their own latitude
    and longitude: every major road (across its tile at a GRID row) lies at that row's latitude,
    every minor road (down it) at that column's longitude, to a millimetre."""
    archive = build_vector(tmp_path / "grid.pmtiles", range(10, 16), mvt_grid, gzipped=gzipped)
    source = tile_source(Settings(pmtiles=archive))
    assert source is not None and source.vector
    model = figures.map_model(figures.case_of(sealed.evidence))
    assert model is not None
    drawn = streets.streets(model, source, 1063)
    assert drawn is not None and drawn.image is None
    n = 2**drawn.zoom

    def in_tile(x: float, y: float) -> tuple[float, float]:
        """Where a point of the map lies within its tile, in tile units (0 to 4096 across)."""
        lat, lon = model.lat_lon(x, y)
        across = (lon + 180) / 360 * n
        down = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return across % 1 * 4096, down % 1 * 4096

    def on_grid(value: float) -> bool:  # a hundredth of a tile unit: millimetres on the ground
        return any(abs(value - g) < 0.01 for g in GRID)

    majors = [line for kind, line in drawn.roads if kind == "major_road"]
    minors = [line for kind, line in drawn.roads if kind == "minor_road"]
    assert majors and minors and drawn.water
    assert all(on_grid(in_tile(*p)[1]) for line in majors for p in line)
    assert all(on_grid(in_tile(*p)[0]) for line in minors for p in line)
    text, pictures, ops = map_page(render(sealed, source))
    assert pictures == [] and "Streets: test tiles" in text  # drawn as lines, credited
    assert ops.count(b"1 1 1 RG") >= 2  # the white minor roads
    assert ops.index(b".662745 .803922 .878431 rg") < ops.index(SUBJECT_STROKE)  # water, under his track


@pytest.mark.parametrize(("tile", "why"), [(lambda: b"", "no layer"), (lambda: b"\xff\xff\xff", "not MVT")])
def test_vector_tiles_with_nothing_to_draw_give_the_outline_map(
    sealed: Sealed, tmp_path: Path, tile: Callable[[], bytes], why: str
) -> None:
    source = tile_source(Settings(pmtiles=build_vector(tmp_path / "v.pmtiles", range(10, 16), tile)))
    assert source is not None
    text, pictures, _ = map_page(render(sealed, source))
    assert pictures == [] and "Streets" not in text, why


# --- streets from a tile server -----------------------------------------------------------------


def test_the_report_map_shows_the_tile_servers_streets(sealed: Sealed, server: TileServer) -> None:
    source = tile_source(Settings(tile_url=server.url, tile_attribution="© test streets"))
    assert source is not None
    text, pictures, ops = map_page(render(sealed, source))
    assert len(pictures) == 1 and pictures[0].convert("RGB").getpixel((10, 10)) == SERVER_RGB
    assert "Streets: © test streets" in text
    assert ops.index(b" Do") < ops.index(SUBJECT_STROKE)
    # only the tiles the map needs, from the configured server's tile paths
    assert 1 <= len(server.asked) <= streets.MAX_TILES
    assert all(re.fullmatch(r"/1[0-9]/\d+/\d+\.png", path) for path in server.asked), server.asked
    assert len(set(server.asked)) == len(server.asked)


def test_a_server_without_attribution_is_credited_by_its_host(server: TileServer) -> None:
    source = tile_source(Settings(tile_url=server.url))
    assert source is not None and source.attribution == "tiles from 127.0.0.1"
    assert plain('<a href="https://osm.org">&copy; OpenStreetMap</a> contributors') == (
        "© OpenStreetMap contributors"
    )


@pytest.mark.parametrize("trouble", ["down", "error", "garbage", "slow"])
def test_a_tile_server_in_trouble_leaves_the_outline_map(
    sealed: Sealed, server: TileServer, trouble: str
) -> None:
    url = server.url
    if trouble == "down":
        server.__exit__()  # nothing listens there any more
    elif trouble == "error":
        server.status = 500
    elif trouble == "garbage":
        server.garbage = True
    else:
        server.delay_s = 2.0
    source = ServerTiles(url, budget_s=0.6, timeout_s=0.4)
    data = render(sealed, source)
    text, pictures, _ = map_page(data)
    # The outline map, and no word of streets. For the slow server this is the budget at work: its
    # tiles would arrive after 2 s and be drawn, were the report to wait for them.
    assert pictures == [] and "Streets" not in text
    assert data.startswith(b"%PDF-") and sealed.sha256 in text
