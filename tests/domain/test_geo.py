import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vigil.domain import geo
from vigil.domain.geo import (
    EARTH_RADIUS_M,
    bearing_deg,
    compass_point,
    contains,
    destination,
    distance_m,
    signed_distance_m,
)
from vigil.domain.model import Circle, Polygon

SEOUL_CITY_HALL = (37.5663, 126.9779)
GANGNAM_STATION = (37.4979, 127.0276)

lats = st.floats(min_value=-89.0, max_value=89.0)
lons = st.floats(min_value=-180.0, max_value=180.0, exclude_max=True)
bearings = st.floats(min_value=0.0, max_value=360.0, exclude_max=True)


def square(lat: float, lon: float, half_m: float, *, closed: bool = False) -> Polygon:
    """An axis-aligned square of side 2 * half_m centred on (lat, lon), as a (lon, lat) ring."""
    d_lat = math.degrees(half_m / EARTH_RADIUS_M)
    d_lon = d_lat / math.cos(math.radians(lat))
    ring = [
        (lon - d_lon, lat - d_lat),
        (lon + d_lon, lat - d_lat),
        (lon + d_lon, lat + d_lat),
        (lon - d_lon, lat + d_lat),
    ]
    if closed:
        ring.append(ring[0])
    return Polygon(tuple(ring))


# --- distance and bearing -------------------------------------------------------------------------


def test_seoul_city_hall_to_gangnam_station_is_about_8_8_km() -> None:
    d = distance_m(*SEOUL_CITY_HALL, *GANGNAM_STATION)
    assert d == pytest.approx(8_800, abs=100)


def test_one_degree_of_latitude_is_about_111_2_km() -> None:
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, abs=5)
    assert distance_m(50.0, 10.0, 51.0, 10.0) == pytest.approx(111_195, abs=5)


def test_one_degree_of_longitude_shrinks_with_latitude() -> None:
    assert distance_m(60.0, 0.0, 60.0, 1.0) == pytest.approx(111_195 * 0.5, rel=1e-3)


def test_distance_to_itself_is_zero() -> None:
    assert distance_m(*SEOUL_CITY_HALL, *SEOUL_CITY_HALL) == 0.0


def test_antipodes_are_half_a_circumference_apart() -> None:
    # Haversine is ill-conditioned at the antipode; a metre in 20,000 km is plenty.
    assert distance_m(10.0, 20.0, -10.0, -160.0) == pytest.approx(math.pi * EARTH_RADIUS_M, abs=1.0)


def test_distance_across_the_antimeridian_goes_the_short_way() -> None:
    assert distance_m(0.0, 179.9, 0.0, -179.9) == pytest.approx(2 * 11_119.5, rel=1e-3)


@pytest.mark.parametrize(
    ("lat2", "lon2", "expected"),
    [(1.0, 0.0, 0.0), (0.0, 1.0, 90.0), (-1.0, 0.0, 180.0), (0.0, -1.0, 270.0)],
)
def test_bearings_due_north_east_south_west(lat2: float, lon2: float, expected: float) -> None:
    assert bearing_deg(0.0, 0.0, lat2, lon2) == pytest.approx(expected, abs=1e-9)


def test_bearing_seoul_city_hall_to_gangnam_is_south_south_east() -> None:
    b = bearing_deg(*SEOUL_CITY_HALL, *GANGNAM_STATION)
    assert 140.0 < b < 155.0
    assert compass_point(b) == "SSE"


@pytest.mark.parametrize(
    ("bearing", "name"),
    [
        (0.0, "N"),
        (11.24, "N"),
        (11.25, "NNE"),
        (45.0, "NE"),
        (67.5, "ENE"),
        (90.0, "E"),
        (112.5, "ESE"),
        (135.0, "SE"),
        (157.5, "SSE"),
        (180.0, "S"),
        (202.5, "SSW"),
        (225.0, "SW"),
        (247.5, "WSW"),
        (270.0, "W"),
        (292.5, "WNW"),
        (315.0, "NW"),
        (337.5, "NNW"),
        (348.74, "NNW"),
        (348.75, "N"),
        (359.99, "N"),
        (360.0, "N"),
        (-90.0, "W"),
        (450.0, "E"),
    ],
)
def test_compass_point(bearing: float, name: str) -> None:
    assert compass_point(bearing) == name


def test_destination_one_degree_north() -> None:
    lat, lon = destination(0.0, 0.0, 0.0, math.radians(1.0) * EARTH_RADIUS_M)
    assert lat == pytest.approx(1.0, abs=1e-9)
    assert lon == pytest.approx(0.0, abs=1e-9)


def test_destination_wraps_longitude_across_the_antimeridian() -> None:
    lat, lon = destination(0.0, 179.99, 90.0, 5_000.0)
    assert lat == pytest.approx(0.0, abs=1e-9)
    assert -180.0 <= lon < -179.9


@given(lats, lons, lats, lons)
def test_distance_is_symmetric_and_non_negative(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    d = distance_m(lat1, lon1, lat2, lon2)
    assert d >= 0.0
    assert d <= math.pi * EARTH_RADIUS_M + 1e-6
    assert d == pytest.approx(distance_m(lat2, lon2, lat1, lon1), rel=1e-9, abs=1e-6)


@given(lats, lons, lats, lons)
def test_bearing_is_in_range(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    b = bearing_deg(lat1, lon1, lat2, lon2)
    assert 0.0 <= b < 360.0


@given(lats, lons, bearings, st.floats(min_value=1.0, max_value=2_000_000.0))
def test_destination_then_distance_round_trips(lat: float, lon: float, bearing: float, dist: float) -> None:
    lat2, lon2 = destination(lat, lon, bearing, dist)
    assert -90.0 <= lat2 <= 90.0
    assert -180.0 <= lon2 < 180.0
    assert distance_m(lat, lon, lat2, lon2) == pytest.approx(dist, rel=1e-3)


@given(lats, lons, bearings, st.floats(min_value=10.0, max_value=1_000_000.0))
def test_destination_then_bearing_round_trips(lat: float, lon: float, bearing: float, dist: float) -> None:
    assume(abs(lat) < 80.0)
    lat2, lon2 = destination(lat, lon, bearing, dist)
    diff = (bearing_deg(lat, lon, lat2, lon2) - bearing + 180.0) % 360.0 - 180.0
    assert abs(diff) < 1e-6


# --- circles --------------------------------------------------------------------------------------


def test_circle_signed_distance_is_distance_to_centre_minus_radius() -> None:
    zone = Circle(lat=SEOUL_CITY_HALL[0], lon=SEOUL_CITY_HALL[1], radius_m=500.0)
    assert signed_distance_m(zone, *SEOUL_CITY_HALL) == pytest.approx(-500.0)
    lat, lon = destination(*SEOUL_CITY_HALL, 45.0, 300.0)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(-200.0, abs=1e-6)
    lat, lon = destination(*SEOUL_CITY_HALL, 200.0, 750.0)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(250.0, abs=1e-6)
    assert signed_distance_m(zone, *GANGNAM_STATION) == pytest.approx(8_778 - 500, abs=5)


@pytest.mark.parametrize("bearing", [0.0, 33.3, 90.0, 180.0, 271.5])
def test_point_on_circle_edge_is_inside(bearing: float) -> None:
    zone = Circle(lat=37.5, lon=127.0, radius_m=1_000.0)
    lat, lon = destination(37.5, 127.0, bearing, 1_000.0)
    assert signed_distance_m(zone, lat, lon) == 0.0
    assert contains(zone, lat, lon)
    lat, lon = destination(37.5, 127.0, bearing, 1_000.5)
    assert not contains(zone, lat, lon)
    lat, lon = destination(37.5, 127.0, bearing, 999.5)
    assert contains(zone, lat, lon)


# --- polygons -------------------------------------------------------------------------------------


def test_square_signed_distance_inside_and_outside() -> None:
    lat0, lon0 = 37.5, 127.0
    zone = square(lat0, lon0, 1_000.0)
    assert signed_distance_m(zone, lat0, lon0) == pytest.approx(-1_000.0, rel=1e-3)
    lat, lon = destination(lat0, lon0, 90.0, 1_500.0)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(500.0, rel=1e-3)
    lat, lon = destination(lat0, lon0, 0.0, 800.0)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(-200.0, rel=1e-3)
    # Beyond a corner the nearest boundary point is the corner itself.
    lat, lon = destination(lat0, lon0, 45.0, 1_000.0 * math.sqrt(2) + 300.0)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(300.0, rel=1e-2)


def test_closed_and_open_rings_agree() -> None:
    open_ring = square(37.5, 127.0, 1_000.0)
    closed_ring = square(37.5, 127.0, 1_000.0, closed=True)
    assert len(closed_ring.ring) == len(open_ring.ring) + 1
    for bearing, dist in [(0.0, 0.0), (10.0, 500.0), (100.0, 1_200.0), (250.0, 5_000.0)]:
        lat, lon = destination(37.5, 127.0, bearing, dist)
        assert signed_distance_m(open_ring, lat, lon) == signed_distance_m(closed_ring, lat, lon)


def test_points_on_polygon_vertices_and_edges_are_inside() -> None:
    zone = Polygon(((126.97, 37.56), (126.99, 37.555), (127.00, 37.575), (126.975, 37.58)))
    ring = zone.ring
    for i, (lon, lat) in enumerate(ring):
        assert contains(zone, lat, lon), f"vertex {i}"
        assert signed_distance_m(zone, lat, lon) == 0.0
        nlon, nlat = ring[(i + 1) % len(ring)]
        for t in (0.25, 0.5, 0.9):
            plon = lon + (nlon - lon) * t
            plat = lat + (nlat - lat) * t
            assert contains(zone, plat, plon), f"edge {i} at {t}"
            assert signed_distance_m(zone, plat, plon) == 0.0


def test_point_just_outside_an_edge_is_outside() -> None:
    zone = square(37.5, 127.0, 1_000.0)
    lat, lon = destination(37.5, 127.0, 90.0, 1_000.5)
    assert not contains(zone, lat, lon)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(0.5, abs=0.01)
    lat, lon = destination(37.5, 127.0, 90.0, 999.5)
    assert contains(zone, lat, lon)
    assert signed_distance_m(zone, lat, lon) == pytest.approx(-0.5, abs=0.01)


def test_concave_polygon_notch_is_outside() -> None:
    # An L shape: the notch at the top right is outside even though it sits within the bounding box.
    zone = Polygon(((0.0, 0.0), (0.02, 0.0), (0.02, 0.01), (0.01, 0.01), (0.01, 0.02), (0.0, 0.02)))
    assert contains(zone, 0.005, 0.005)
    assert contains(zone, 0.015, 0.005)
    assert contains(zone, 0.005, 0.015)
    assert not contains(zone, 0.015, 0.015)
    # The notch point is 0.005 deg from both inner edges.
    assert signed_distance_m(zone, 0.015, 0.015) == pytest.approx(556.0, rel=1e-2)


def test_ray_through_a_vertex_counts_once() -> None:
    # A diamond: a horizontal ray from the centre passes exactly through the east vertex.
    zone = Polygon(((0.0, -0.01), (0.01, 0.0), (0.0, 0.01), (-0.01, 0.0)))
    assert contains(zone, 0.0, 0.0)
    assert not contains(zone, 0.0, -0.02)
    assert not contains(zone, 0.0, 0.02)


def test_polygon_straddling_the_antimeridian() -> None:
    zone = Polygon(((179.99, -0.01), (-179.99, -0.01), (-179.99, 0.01), (179.99, 0.01)))
    assert contains(zone, 0.0, 180.0 - 1e-9)
    assert contains(zone, 0.0, -179.995)
    assert contains(zone, 0.0, 179.995)
    assert not contains(zone, 0.0, 179.98)
    assert signed_distance_m(zone, 0.0, -180.0) == pytest.approx(-1_111.95, rel=1e-3)


@pytest.mark.parametrize(
    "ring",
    [
        (),
        ((127.0, 37.5),),
        ((127.0, 37.5), (127.01, 37.5)),
        ((127.0, 37.5), (127.01, 37.5), (127.0, 37.5)),
        ((127.0, 37.5), (127.01, 37.5), (127.01, 37.5), (127.0, 37.5)),
        ((127.0, 37.5), (127.0, 37.5), (127.0, 37.5), (127.0, 37.5)),
    ],
)
def test_degenerate_rings_raise(ring: tuple[tuple[float, float], ...]) -> None:
    zone = Polygon(ring)
    with pytest.raises(ValueError, match="3 distinct points"):
        signed_distance_m(zone, 37.5, 127.0)
    with pytest.raises(ValueError):
        contains(zone, 37.5, 127.0)


def test_ring_with_repeated_points_but_three_distinct_is_fine() -> None:
    zone = Polygon(((0.0, 0.0), (0.0, 0.0), (0.01, 0.0), (0.01, 0.0), (0.0, 0.01), (0.0, 0.0)))
    assert contains(zone, 0.002, 0.002)
    assert not contains(zone, 0.01, 0.01)


# --- properties of zones --------------------------------------------------------------------------

zone_lats = st.floats(min_value=-70.0, max_value=70.0)


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    """Star-shaped polygons of up to a few kilometres around a random centre, sometimes concave."""
    lat = draw(zone_lats)
    lon = draw(lons)
    n = draw(st.integers(min_value=3, max_value=12))
    radii = draw(st.lists(st.floats(min_value=100.0, max_value=5_000.0), min_size=n, max_size=n))
    ring = []
    for i, r in enumerate(radii):
        vlat, vlon = destination(lat, lon, 360.0 * i / n, r)
        ring.append((vlon, vlat))
    if draw(st.booleans()):
        ring.append(ring[0])
    return Polygon(tuple(ring))


circles = st.builds(Circle, lat=zone_lats, lon=lons, radius_m=st.floats(min_value=1.0, max_value=20_000.0))


@given(st.one_of(circles, polygons()), bearings, st.floats(min_value=0.0, max_value=30_000.0))
def test_signed_distance_sign_agrees_with_contains(
    zone: Circle | Polygon, bearing: float, dist: float
) -> None:
    if isinstance(zone, Circle):
        lat, lon = destination(zone.lat, zone.lon, bearing, dist)
    else:
        lon0, lat0 = zone.ring[0]
        lat, lon = destination(lat0, lon0, bearing, dist)
    d = signed_distance_m(zone, lat, lon)
    assert (d <= 0.0) == contains(zone, lat, lon)
    assert math.isfinite(d)


@given(circles, bearings, st.floats(min_value=0.0, max_value=1.0))
def test_circle_contains_points_within_radius(zone: Circle, bearing: float, frac: float) -> None:
    lat, lon = destination(zone.lat, zone.lon, bearing, zone.radius_m * frac)
    assert contains(zone, lat, lon)
    lat, lon = destination(zone.lat, zone.lon, bearing, zone.radius_m * (1.0 + frac) + 0.01)
    assert not contains(zone, lat, lon)


@given(zone_lats, lons, st.integers(min_value=3, max_value=16), bearings, st.floats(0.0, 1.0))
def test_regular_polygon_contains_inscribed_disc_and_excludes_beyond_circumcircle(
    lat: float, lon: float, n: int, bearing: float, frac: float
) -> None:
    r = 2_000.0
    ring = []
    for i in range(n):
        vlat, vlon = destination(lat, lon, 360.0 * i / n, r)
        ring.append((vlon, vlat))
    zone = Polygon(tuple(ring))
    inradius = r * math.cos(math.pi / n)
    inner_lat, inner_lon = destination(lat, lon, bearing, 0.98 * inradius * frac)
    assert contains(zone, inner_lat, inner_lon)
    outer_lat, outer_lon = destination(lat, lon, bearing, 1.02 * r + 1_000.0 * frac)
    assert not contains(zone, outer_lat, outer_lon)
    # The signed distance from the centre is close to minus the inradius.
    assert signed_distance_m(zone, lat, lon) == pytest.approx(-inradius, rel=2e-2)


# --- paths between two fixes ------------------------------------------------------------------------

_CENTRE = (37.5, 127.0)


@given(
    st.floats(-3000, 3000),
    st.floats(-3000, 3000),
    st.floats(-3000, 3000),
    st.floats(-3000, 3000),
    st.floats(10, 1000),
)
def test_path_depth_in_a_circle_is_the_deepest_of_the_points_along_it(
    ax: float, ay: float, bx: float, by: float, radius: float
) -> None:
    a = _offset(ax, ay)
    b = _offset(bx, by)
    circle = Circle(_CENTRE[0], _CENTRE[1], radius)
    depth, t = geo.path_depth(circle, a, b)
    sampled = max(
        -geo.signed_distance_m(circle, a[0] + (b[0] - a[0]) * i / 200, a[1] + (b[1] - a[1]) * i / 200)
        for i in range(201)
    )
    step = geo.distance_m(*a, *b) / 200
    assert sampled - 1.0 <= depth <= sampled + step / 2 + 1.0
    assert 0.0 <= t <= 1.0
    # the ends bound it from below
    assert depth >= -geo.signed_distance_m(circle, *a) - 1.0
    assert depth >= -geo.signed_distance_m(circle, *b) - 1.0


@settings(max_examples=60, deadline=None)
@given(st.floats(-2000, 2000), st.floats(-2000, 2000), st.floats(-2000, 2000), st.floats(-2000, 2000))
def test_path_depth_in_a_polygon_matches_dense_sampling(ax: float, ay: float, bx: float, by: float) -> None:
    """Inside, the depth found is the deepest point (to the sampling step); a path that stays out
    may be given a bound on its clearance instead (it never claims to reach inside when it does not)."""
    square = Polygon(tuple(_lonlat(x, y) for x, y in ((-300, -300), (300, -300), (300, 300), (-300, 300))))
    a, b = _offset(ax, ay), _offset(bx, by)
    depth, _ = geo.path_depth(square, a, b)
    sampled = max(
        -geo.signed_distance_m(square, a[0] + (b[0] - a[0]) * i / 800, a[1] + (b[1] - a[1]) * i / 800)
        for i in range(801)
    )
    assert depth >= sampled - 5.0
    if sampled > 0 or depth > 0:
        assert abs(depth - sampled) <= 5.0


def test_a_path_through_a_zone_is_found_though_both_ends_are_outside() -> None:
    circle = Circle(_CENTRE[0], _CENTRE[1], 200)
    depth, t = geo.path_depth(circle, _offset(0, -750), _offset(0, 750))
    assert abs(depth - 200) < 0.5 and abs(t - 0.5) < 1e-3
    depth, _ = geo.path_depth(circle, _offset(400, -750), _offset(400, 750))
    assert abs(depth + 200) < 0.5  # passes 200 m clear of it


def test_closest_approach_of_two_movers() -> None:
    # he goes south to north through the origin while she stands at 100 m east: 100 m at half time
    miss, t = geo.closest_approach(_offset(0, -500), _offset(0, 500), _offset(100, 0), _offset(100, 0))
    assert abs(miss - 100) < 0.5 and abs(t - 0.5) < 1e-3
    # both move north together, 100 m apart: never nearer
    miss, _ = geo.closest_approach(_offset(0, -500), _offset(0, 500), _offset(100, -500), _offset(100, 500))
    assert abs(miss - 100) < 0.5
    # head on: they meet
    miss, t = geo.closest_approach(_offset(0, -500), _offset(0, 500), _offset(0, 500), _offset(0, -500))
    assert miss < 0.5 and abs(t - 0.5) < 1e-3


def _offset(east: float, north: float) -> tuple[float, float]:
    lat, lon = geo.destination(_CENTRE[0], _CENTRE[1], 90.0, east)
    return geo.destination(lat, lon, 0.0, north)


def _lonlat(east: float, north: float) -> tuple[float, float]:
    lat, lon = _offset(east, north)
    return lon, lat
