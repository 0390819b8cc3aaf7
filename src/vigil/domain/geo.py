"""Geometry on the WGS-84 sphere: distance, bearing, and where a point stands against a zone."""

from __future__ import annotations

import math

from vigil.domain.model import Circle, Polygon, Shape

EARTH_RADIUS_M = 6_371_008.8

# Points closer than this to a boundary count as on it. Float rounding alone moves a point placed
# exactly on an edge by far less; GNSS error is metres, so a millimetre changes no real decision.
BOUNDARY_TOLERANCE_M = 1e-3

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
M_PER_DEG = _M_PER_DEG  # metres in a degree of latitude: |dlat| * M_PER_DEG never exceeds the distance
_COMPASS = (
    "N",
    "NNE",
    "NE",
    "ENE",
    "E",
    "ESE",
    "SE",
    "SSE",
    "S",
    "SSW",
    "SW",
    "WSW",
    "W",
    "WNW",
    "NW",
    "NNW",
)

_sin = math.sin
_cos = math.cos
_radians = math.radians


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1 = _radians(lat1)
    p2 = _radians(lat2)
    s_lat = _sin((p2 - p1) * 0.5)
    s_lon = _sin(_radians(lon2 - lon1) * 0.5)
    a = s_lat * s_lat + _cos(p1) * _cos(p2) * s_lon * s_lon
    # atan2 rather than asin(sqrt(a)): asin loses precision as `a` nears 1 (near-antipodal points),
    # and rounding can push `a` a hair past 1, which must not reach sqrt as a negative.
    rest = 1.0 - a
    return 2.0 * EARTH_RADIUS_M * math.atan2(math.sqrt(a), math.sqrt(rest) if rest > 0.0 else 0.0)


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial compass bearing from point 1 to point 2, in [0, 360)."""
    p1 = _radians(lat1)
    p2 = _radians(lat2)
    d_lon = _radians(lon2 - lon1)
    cos_p2 = _cos(p2)
    y = _sin(d_lon) * cos_p2
    x = _cos(p1) * _sin(p2) - _sin(p1) * cos_p2 * _cos(d_lon)
    b = math.degrees(math.atan2(y, x)) % 360.0
    # A tiny negative angle modulo 360 rounds to exactly 360.0, outside the promised range.
    return 0.0 if b >= 360.0 else b


def compass_point(bearing: float) -> str:
    """16-point compass name for a bearing: N, NNE, NE, ENE, E, ... NNW."""
    return _COMPASS[int((bearing % 360.0) / 22.5 + 0.5) % 16]


def destination(lat: float, lon: float, bearing: float, distance: float) -> tuple[float, float]:
    """The point `distance` metres from (lat, lon) along `bearing`: (lat, lon)."""
    p1 = _radians(lat)
    theta = _radians(bearing)
    delta = distance / EARTH_RADIUS_M
    sin_p1 = _sin(p1)
    cos_p1 = _cos(p1)
    sin_d = _sin(delta)
    cos_d = _cos(delta)
    sin_p2 = sin_p1 * cos_d + cos_p1 * sin_d * _cos(theta)
    sin_p2 = max(-1.0, min(1.0, sin_p2))
    p2 = math.asin(sin_p2)
    lon2 = lon + math.degrees(math.atan2(_sin(theta) * sin_d * cos_p1, cos_d - sin_p1 * sin_p2))
    return math.degrees(p2), (lon2 + 540.0) % 360.0 - 180.0


def signed_distance_m(shape: Shape, lat: float, lon: float) -> float:
    """Distance from the point to the shape's boundary: negative inside, positive outside."""
    if isinstance(shape, Circle):
        d = distance_m(shape.lat, shape.lon, lat, lon) - shape.radius_m
        return 0.0 if -BOUNDARY_TOLERANCE_M < d < BOUNDARY_TOLERANCE_M else d
    return _polygon_signed_distance(shape, lat, lon)


def contains(shape: Shape, lat: float, lon: float) -> bool:
    """True when the point lies inside the shape (on the boundary counts as inside)."""
    return signed_distance_m(shape, lat, lon) <= 0.0


def _vertex_count(ring: tuple[tuple[float, float], ...]) -> int:
    """How many vertices to walk (a repeated closing point dropped); ValueError if degenerate."""
    n = len(ring)
    if n > 1 and ring[0] == ring[n - 1]:
        n -= 1
    if n >= 3:
        # Usually settles within the first three vertices, so a valid ring costs next to nothing.
        first = ring[0]
        second: tuple[float, float] | None = None
        for i in range(1, n):
            p = ring[i]
            if second is None:
                if p != first:
                    second = p
            elif p not in (first, second):
                return n
    raise ValueError(f"polygon ring needs at least 3 distinct points, got {ring!r}")


def _polygon_signed_distance(polygon: Polygon, lat: float, lon: float) -> float:
    # Work in a flat equirectangular projection centred on the point, in metres, so the point is the
    # origin: ray casting and point-to-segment distance become a few multiplications per edge. The
    # scale is exact at the point and drifts with latitude away from it, which is well under a
    # percent for zones tens of kilometres across. Longitudes are taken the short way round from the
    # point, so zones straddling the antimeridian work too.
    ring = polygon.ring
    n = _vertex_count(ring)
    kx = _cos(_radians(lat)) * _M_PER_DEG
    ky = _M_PER_DEG

    vlon, vlat = ring[n - 1]
    d_lon = vlon - lon
    if d_lon > 180.0:
        d_lon -= 360.0
    elif d_lon < -180.0:
        d_lon += 360.0
    ax = d_lon * kx
    ay = (vlat - lat) * ky

    inside = False
    best = math.inf
    for i in range(n):
        vlon, vlat = ring[i]
        d_lon = vlon - lon
        if d_lon > 180.0:
            d_lon -= 360.0
        elif d_lon < -180.0:
            d_lon += 360.0
        bx = d_lon * kx
        by = (vlat - lat) * ky
        dx = bx - ax
        dy = by - ay

        # Cast the ray along +x; the half-open test on y counts a vertex lying on the ray once.
        if (ay > 0.0) != (by > 0.0) and ax - ay * dx / dy > 0.0:
            inside = not inside

        len2 = dx * dx + dy * dy
        if len2 > 0.0:
            t = -(ax * dx + ay * dy) / len2
            if t <= 0.0:
                ex, ey = ax, ay
            elif t >= 1.0:
                ex, ey = bx, by
            else:
                ex = ax + t * dx
                ey = ay + t * dy
        else:
            ex, ey = ax, ay
        d2 = ex * ex + ey * ey
        best = min(best, d2)
        ax, ay = bx, by

    d = math.sqrt(best)
    if d < BOUNDARY_TOLERANCE_M:
        return 0.0
    return -d if inside else d


# --- paths between two fixes ------------------------------------------------------------------------
# Over a straight path of a few kilometres a flat equirectangular projection centred near the path is
# exact to well under a metre per kilometre, far below GNSS error.

# Points sampled along a path per metre against a polygon (at least every this many metres).
_PATH_STEP_M = 5.0
_PATH_MAX_SAMPLES = 400


def flat_bound_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """A distance never shorter than the great-circle one, without trigonometry: the straight line in
    (lat, lon) degrees, a degree of longitude counted as long as one of latitude (never shorter)."""
    d_lon = abs(lon2 - lon1)
    if d_lon > 180.0:
        d_lon = 360.0 - d_lon
    return math.hypot(lat2 - lat1, d_lon) * _M_PER_DEG


def local_xy(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """(east, north) metres of (lat, lon) from (lat0, lon0), flat around the origin."""
    d_lon = (lon - lon0 + 540.0) % 360.0 - 180.0
    return d_lon * _cos(_radians(lat0)) * _M_PER_DEG, (lat - lat0) * _M_PER_DEG


def closest_to_origin(ax: float, ay: float, bx: float, by: float) -> tuple[float, float]:
    """The segment a->b's closest approach to the origin: (distance, t in [0, 1] along a->b)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    t = 0.0 if len2 == 0.0 else min(1.0, max(0.0, -(ax * dx + ay * dy) / len2))
    return math.hypot(ax + t * dx, ay + t * dy), t


def closest_approach(
    a: tuple[float, float], b: tuple[float, float], p: tuple[float, float], q: tuple[float, float]
) -> tuple[float, float]:
    """Two points moving in straight lines over the same interval, one a->b and the other p->q (each
    (lat, lon)): their least separation in metres and when, as a fraction t of the interval."""
    ax, ay = local_xy(p[0], p[1], a[0], a[1])
    bx, by = local_xy(p[0], p[1], b[0], b[1])
    qx, qy = local_xy(p[0], p[1], q[0], q[1])
    # relative to the second mover: it starts at the origin and ends at q, so a->b becomes a->(b-q)
    return closest_to_origin(ax, ay, bx - qx, by - qy)


def path_depth(shape: Shape, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """How deep the straight path a->b ((lat, lon) each) reaches into the shape: (depth in metres,
    positive inside; negative: it stays outside, by at least that much; t in [0, 1] of the deepest
    point). Against a polygon the path is sampled every few metres."""
    if isinstance(shape, Circle):
        ax, ay = local_xy(shape.lat, shape.lon, a[0], a[1])
        bx, by = local_xy(shape.lat, shape.lon, b[0], b[1])
        nearest, t = closest_to_origin(ax, ay, bx, by)
        return shape.radius_m - nearest, t
    length = distance_m(a[0], a[1], b[0], b[1])
    sa = signed_distance_m(shape, a[0], a[1])
    sb = signed_distance_m(shape, b[0], b[1])
    # The signed distance changes by at most a metre per metre walked, so a path whose ends are far
    # enough out cannot reach inside: the common case costs two distances.
    floor = (sa + sb - length) / 2
    if floor > 0:
        return -floor, 0.0 if sa <= sb else 1.0
    samples = max(2, min(_PATH_MAX_SAMPLES, math.ceil(length / _PATH_STEP_M)))
    best, best_t = -sa, 0.0
    for i in range(1, samples + 1):
        t = i / samples
        depth = -signed_distance_m(shape, a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        if depth > best:
            best, best_t = depth, t
    return best, best_t
