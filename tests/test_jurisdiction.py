"""Jurisdiction: the municipality a position lies in, and the nearest one for points at sea or abroad."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.domain import geo
from vigil.domain.model import Polygon
from vigil.jurisdiction import Area, Atlas, Municipality, load, locate, municipalities

ATLAS = municipalities()
CODES = sorted(ATLAS.by_code)

# A box around Korea with some sea and some of China, Japan and North Korea in it.
lats = st.floats(min_value=32.5, max_value=39.5)
lons = st.floats(min_value=124.0, max_value=131.5)


def brute_nearest(lat: float, lon: float) -> float:
    """The distance to the nearest boundary, every edge of every municipality measured."""
    return min(m.distance_m(lat, lon) for m in ATLAS.municipalities)


def domain_nearest(lat: float, lon: float) -> float:
    """An independent reference: the domain's polygon geometry (its own projection) over every ring."""
    return min(
        abs(geo.signed_distance_m(Polygon(tuple(zip(xs, ys, strict=True))), lat, lon))
        for m in ATLAS.municipalities
        for xs, ys in m.rings
    )


def _extreme_vertex(key: int) -> tuple[float, float, str]:
    """(lat, lon, code) of the southernmost (key=1) or northernmost (key=-1) vertex of the map."""
    return min(
        (
            (y, x, m.code)
            for m in ATLAS.municipalities
            for xs, ys in m.rings
            for x, y in zip(xs, ys, strict=True)
        ),
        key=lambda v: key * v[0],
    )


# --- known places ---------------------------------------------------------------------------------


def test_the_packaged_map_has_every_municipality() -> None:
    assert len(ATLAS.municipalities) == 251
    assert municipalities() is ATLAS  # loaded once


@pytest.mark.parametrize(
    ("lat", "lon", "code", "name"),
    [
        (37.5600, 126.9950, "11020", "중구"),  # Chungmuro, Seoul: well inside Jung-gu
        (33.4996, 126.5312, "39010", "제주시"),  # Jeju City Hall
        (35.1798, 129.0750, "21130", "연제구"),  # Busan City Hall
    ],
)
def test_known_places_lie_in_their_municipality(lat: float, lon: float, code: str, name: str) -> None:
    area = locate(lat, lon)
    assert area == Area(code, name, ATLAS.by_code[code].name_eng)
    assert not area.outside
    assert area.distance_m == 0.0


def test_seoul_city_hall_sits_on_the_jongno_side_of_the_simplified_line() -> None:
    # City Hall is in Jung-gu, but the 2012 outlines are simplified (about 60 vertices per
    # municipality) and put it 165 m north of the Jongno-gu/Jung-gu line. The lookup follows the map.
    area = locate(37.5663, 126.9779)
    assert (area.code, area.name, area.outside) == ("11010", "종로구", False)
    assert ATLAS.by_code["11020"].distance_m(37.5663, 126.9779) == pytest.approx(165, abs=5)


def test_at_sea_between_busan_and_tsushima_the_nearest_coast_answers() -> None:
    area = locate(34.9, 129.2)
    assert area.outside
    assert area.code[:2] in {"21", "26"}  # Busan or Ulsan
    assert 5_000 < area.distance_m < 40_000
    assert area.distance_m == pytest.approx(brute_nearest(34.9, 129.2))


def test_tokyo_is_outside_and_far() -> None:
    area = locate(35.68, 139.69)
    assert area.outside
    assert area.code == "37430"  # Ulleung-gun, the easternmost land
    assert 700_000 < area.distance_m < 900_000


@pytest.mark.parametrize(
    ("lat", "lon"), [(90.0, 0.0), (-90.0, 0.0), (0.0, 180.0), (0.0, -180.0), (-37.5, -52.0)]
)
def test_anywhere_on_earth_gets_an_answer(lat: float, lon: float) -> None:
    area = locate(lat, lon)
    assert area.outside
    assert 0 < area.distance_m <= math.pi * geo.EARTH_RADIUS_M


@pytest.mark.parametrize(("pole", "key"), [(90.0, -1), (-90.0, 1)])
def test_from_the_poles_the_distance_is_roughly_to_the_extreme_coast(pole: float, key: int) -> None:
    # The true nearest is the northernmost (southernmost) vertex; a flat projection centred on a pole
    # cannot rank boundaries thousands of km away exactly, and is documented as within ~1-2% there.
    lat, lon, _ = _extreme_vertex(key)
    assert locate(pole, 0.0).distance_m == pytest.approx(geo.distance_m(pole, 0.0, lat, lon), rel=0.02)


def test_the_longitude_wraps() -> None:
    assert locate(37.5, 180.0) == locate(37.5, -180.0)


# --- boundaries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "bearing"), [(1, 180.0), (-1, 0.0)])
def test_off_the_extreme_coast_the_distance_is_to_the_last_vertex(key: int, bearing: float) -> None:
    lat, lon, code = _extreme_vertex(key)
    on = locate(lat, lon)
    assert (on.code, on.outside, on.distance_m) == (code, False, 0.0)  # on the boundary counts as in
    away = locate(*geo.destination(lat, lon, bearing, 100.0))
    assert (away.code, away.outside) == (code, True)
    assert away.distance_m == pytest.approx(100.0, abs=0.01)


def test_a_point_on_a_shared_boundary_belongs_to_one_of_its_sides() -> None:
    jongno, jung = ATLAS.by_code["11010"], ATLAS.by_code["11020"]
    shared = sorted(
        {(x, y) for xs, ys in jongno.rings for x, y in zip(xs, ys, strict=True)}
        & {(x, y) for xs, ys in jung.rings for x, y in zip(xs, ys, strict=True)}
    )
    assert len(shared) >= 2
    (x1, y1), (x2, y2) = shared[:2]
    for x, y in [*shared, ((x1 + x2) / 2, (y1 + y2) / 2)]:  # the vertices, and halfway along an edge
        area = locate(y, x)
        assert not area.outside
        # One of the municipalities meeting there (a vertex may be a junction with a third).
        assert ATLAS.by_code[area.code].distance_m(y, x) == 0.0


def test_the_grid_blind_spot_is_covered() -> None:
    # In this 1 km cell only a long slanted Bucheon edge's bounding box is listed, yet the point
    # lies in Bupyeong-gu, Incheon: the grid alone misses it, `municipality_at` does not.
    lat, lon = 37.476557482707854, 126.74344997455337
    assert ATLAS.grid_at(lat, lon) is None
    found = ATLAS.municipality_at(lat, lon)
    assert found is not None
    assert found.code == "23060"
    assert found.contains(lat, lon)
    assert locate(lat, lon).code == "23060"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (math.nan, 127.0, "latitude"),
        (37.0, math.nan, "longitude"),
        (math.inf, 127.0, "latitude"),
        (37.0, -math.inf, "longitude"),
        (90.5, 127.0, "latitude"),
        (-91.0, 127.0, "latitude"),
        (37.0, 180.01, "longitude"),
        (37.0, -200.0, "longitude"),
    ],
)
def test_bad_coordinates_raise(lat: float, lon: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        locate(lat, lon)
    with pytest.raises(ValueError, match=message):
        ATLAS.nearest(lat, lon)


def test_an_atlas_from_text_keeps_code_order_and_closes_open_rings() -> None:
    square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]  # the closing point left off

    def feature(code: str, name: str, geometry: dict[str, object]) -> dict[str, object]:
        return {
            "type": "Feature",
            "properties": {"code": code, "name": name, "name_eng": name},
            "geometry": geometry,
        }

    text = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                feature("2", "B-gun", {"type": "Polygon", "coordinates": [[[x + 2, y] for x, y in square]]}),
                feature("1", "A-gu", {"type": "MultiPolygon", "coordinates": [[square]]}),
            ],
        }
    )
    atlas = load(text)
    assert isinstance(atlas, Atlas)
    assert [m.code for m in atlas.municipalities] == ["1", "2"]
    assert atlas.locate(0.5, 0.5) == Area("1", "A-gu", "A-gu")
    # Between the squares, nearer A's right edge (x = 1) than B's left (x = 2).
    gap = atlas.locate(0.5, 1.3)
    assert (gap.code, gap.outside) == ("1", True)
    assert gap.distance_m == pytest.approx(0.3 * geo.distance_m(0.5, 0.0, 0.5, 1.0), rel=1e-3)
    west = atlas.locate(0.5, -0.2)  # nearest A's closing edge (0,1)-(0,0), which the source left off
    assert (west.code, west.outside) == ("1", True)
    assert west.distance_m == pytest.approx(geo.distance_m(0.5, -0.2, 0.5, 0.0), rel=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        Atlas(())


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(lats, lons)
def test_every_point_gets_a_consistent_answer(lat: float, lon: float) -> None:
    area = locate(lat, lon)
    assert isinstance(area, Area)
    m = ATLAS.by_code[area.code]
    assert (area.name, area.name_en) == (m.name, m.name_eng)
    if area.outside:
        assert not any(other.contains(lat, lon) for other in ATLAS.municipalities)
        assert area.distance_m > 0.0
    else:
        assert area.distance_m == 0.0
        assert m.contains(lat, lon) or m.distance_m(lat, lon) == 0.0


@st.composite
def points_inside(draw: st.DrawFn) -> tuple[Municipality, float, float]:
    """A municipality and a point it contains, drawn uniformly in its bounding box."""
    m = ATLAS.by_code[draw(st.sampled_from(CODES))]
    rng = random.Random(draw(st.integers(0, 2**32)))
    min_lon, min_lat, max_lon, max_lat = m.bbox
    while True:  # the sparsest, Ongjin-gun (islands), fills ~1% of its box: ~100 tries
        lat, lon = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
        if m.contains(lat, lon):
            return m, lat, lon


@settings(max_examples=300, deadline=None)
@given(points_inside())
def test_a_point_a_municipality_contains_is_located_there(case: tuple[Municipality, float, float]) -> None:
    m, lat, lon = case
    assert locate(lat, lon) == m.area()
    assert ATLAS.municipality_at(lat, lon) is m


@settings(max_examples=60, deadline=None)
@given(lats, lons)
def test_the_nearest_is_really_the_nearest(lat: float, lon: float) -> None:
    found, d = ATLAS.nearest(lat, lon)
    best = brute_nearest(lat, lon)
    # The municipality named really is that far, and none is nearer (the tree measures each leaf at
    # its own mean latitude, the reference each municipality at once: metres apart hundreds of km out).
    assert found.distance_m(lat, lon) == pytest.approx(d, rel=1e-9, abs=1e-6)
    assert best - 1e-6 <= d <= best + max(1.0, 1e-4 * best)
    area = locate(lat, lon)
    if area.outside:
        assert (area.code, area.distance_m) == (found.code, d)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=33.0, max_value=38.6), st.floats(min_value=124.5, max_value=130.0))
def test_near_the_coast_the_distance_agrees_with_the_domain_geometry(lat: float, lon: float) -> None:
    area = locate(lat, lon)
    if area.outside:
        reference = domain_nearest(lat, lon)
        assert area.distance_m == pytest.approx(reference, rel=5e-3, abs=1.0)


def test_the_benchmark_reports_its_figures() -> None:
    from vigil_sim import geobench

    figures = geobench.figures(points=50, rounds=1)
    assert set(figures) == {"land_lookups_per_s", "sea_lookups_per_s", "load_s"}
    assert all(v > 0 for v in figures.values())
