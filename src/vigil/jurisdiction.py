"""Jurisdiction: which municipality (si/gun/gu) a position lies in, from the packaged 2012 outlines.

`locate(lat, lon)` answers with an `Area`. A point inside a municipality costs a dictionary lookup
or two (a grid index over the outlines). A point in none of them (at sea, abroad, or in a sliver
between two simplified outlines) gets the nearest municipality instead, flagged `outside`, with the
distance to its boundary: found by a best-first search of a bounding-box tree over the boundary
edges, so only the few edges that can be nearest are measured.

Edges are measured in a local equirectangular projection centred on the point, a few
multiplications per edge; the distance reported is then the great-circle distance to the nearest
boundary point so found, a true distance to a real boundary point. Against a great-circle search of
every edge, the answer is the same within 50 km of the coast and within metres out to 250 km; from
other continents the projection may choose a boundary up to ~1% farther than the nearest.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from vigil.domain import geo

DATA_FILE = "kr-municipalities-2012.geojson"

GRID_DEG = 0.01  # land index cell: ~1 km; most cells hold no boundary and need no polygon test
CHUNK_EDGES = 8  # boundary edges per leaf of the nearest-boundary tree
FANOUT = 8  # children per inner node of that tree

_M_PER_DEG = geo.EARTH_RADIUS_M * math.pi / 180.0

Ring = tuple[tuple[float, ...], tuple[float, ...]]  # (lons, lats), the closing point repeated


@dataclass(frozen=True, slots=True)
class Area:
    """The municipality responsible for a position.

    `outside` is set when the point lies in no municipality (at sea, abroad, or in a gap of the
    outlines): the area is then the nearest one and `distance_m` how far its boundary is."""

    code: str
    name: str  # Korean, as in the source
    name_en: str
    outside: bool = False
    distance_m: float = 0.0


@dataclass(frozen=True, slots=True)
class Municipality:
    """One si/gun/gu: every ring of its MultiPolygon (outer rings and holes alike), so an even-odd
    ray cast over all of them is a point-in-MultiPolygon test."""

    code: str
    name: str
    name_eng: str
    rings: tuple[Ring, ...]
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat

    def contains(self, lat: float, lon: float) -> bool:
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            return False
        inside = False
        for xs, ys in self.rings:
            xj, yj = xs[-1], ys[-1]
            for xi, yi in zip(xs, ys, strict=True):
                if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                    inside = not inside
                xj, yj = xi, yi
        return inside

    def distance_m(self, lat: float, lon: float) -> float:
        """Distance from the point to the nearest edge of this municipality's boundary (any ring),
        measured the way `Atlas.locate` measures it; inside or out alike. Every edge is visited:
        this is the slow reference the index is checked against."""
        runs = _runs(self)
        q = _Query(
            lat,
            _turned(lon, (self.bbox[0] + self.bbox[2]) * 0.5),
            min(r.min_lat for r in runs),
            max(r.max_lat for r in runs),
        )
        for run in runs:
            q.scan(run)
        return q.distance_m()

    def area(self, *, outside: bool = False, distance_m: float = 0.0) -> Area:
        return Area(self.code, self.name, self.name_eng, outside, distance_m)


class Atlas:
    """The municipalities with a grid index, for "which municipality is this point in", and a
    bounding-box tree over their boundary edges, for "which is nearest" when none holds the point.

    A grid cell that no boundary edge touches lies wholly in one municipality (or wholly in the sea),
    so one polygon test of any point in it answers for the whole cell and is cached; only points in
    cells that an edge crosses pay for a test, and only against the municipalities with edges there
    (municipalities do not overlap, so the one holding the point usually has an edge there too; see
    `grid_at` for when it does not)."""

    def __init__(self, municipalities: tuple[Municipality, ...]) -> None:
        if not municipalities:
            raise ValueError("an atlas needs at least one municipality")
        self.municipalities = municipalities
        self.by_code = {m.code: m for m in municipalities}
        self._areas = {m.code: m.area() for m in municipalities}
        self._edges: dict[tuple[int, int], list[Municipality]] = {}
        self._whole: dict[tuple[int, int], Municipality | None] = {}
        for m in municipalities:
            for xs, ys in m.rings:
                xj, yj = xs[-1], ys[-1]
                for xi, yi in zip(xs, ys, strict=True):
                    for i in range(_cell(min(xi, xj)), _cell(max(xi, xj)) + 1):
                        for j in range(_cell(min(yi, yj)), _cell(max(yi, yj)) + 1):
                            here = self._edges.setdefault((i, j), [])
                            if not here or here[-1] is not m:
                                here.append(m)
                    xj, yj = xi, yi
        for found in self._edges.values():
            found[:] = list(dict.fromkeys(found))
        # Coarse cells (0.1 deg) listing the municipalities whose bounding box meets them, to find a
        # boundary-free cell's owner without testing all of them.
        self._boxes: dict[tuple[int, int], list[Municipality]] = {}
        for m in municipalities:
            min_lon, min_lat, max_lon, max_lat = m.bbox
            for i in range(_coarse(min_lon), _coarse(max_lon) + 1):
                for j in range(_coarse(min_lat), _coarse(max_lat) + 1):
                    self._boxes.setdefault((i, j), []).append(m)
        self._tree = _build_tree(municipalities)
        # Longitudes of a query are shifted by whole turns to lie within half a turn of the map's
        # middle, so every edge is measured the same way round (no edge straddles the cut).
        self._mid_lon = (self._tree.min_lon + self._tree.max_lon) * 0.5

    def municipality_at(self, lat: float, lon: float) -> Municipality | None:
        """The municipality holding the point, or None (at sea, abroad, in a gap of the outlines)."""
        found = self.grid_at(lat, lon)
        if found is None and (_cell(lon), _cell(lat)) in self._edges:
            # The grid's one blind spot (see `grid_at`): test every municipality whose box is near.
            boxed = self._boxes.get((_coarse(lon), _coarse(lat)), ())
            found = next((m for m in boxed if m.contains(lat, lon)), None)
        return found

    def grid_at(self, lat: float, lon: float) -> Municipality | None:
        """The grid index's answer alone. A cell is listed with the municipalities whose edges'
        bounding boxes meet it, which for a long slanted edge includes cells the edge never crosses:
        a point in such a cell that belongs to a municipality with no edge there comes back None
        (about 1 point in 50,000 drawn over Korea). `municipality_at` corrects that; the simulator
        draws with this one so that a seed keeps giving the caseload it always gave."""
        key = (_cell(lon), _cell(lat))
        candidates = self._edges.get(key)
        if candidates is not None:
            for m in candidates:
                if m.contains(lat, lon):
                    return m
            return None
        if key in self._whole:
            return self._whole[key]
        boxed = self._boxes.get((_coarse(lon), _coarse(lat)))
        if boxed is None:
            return None  # no municipality's box comes near: not worth a cache entry
        found = self._whole[key] = next((m for m in boxed if m.contains(lat, lon)), None)
        return found

    def on_land(self, lat: float, lon: float) -> bool:
        return self.municipality_at(lat, lon) is not None

    def locate(self, lat: float, lon: float) -> Area:
        """The municipality the point lies in (`outside` False, distance 0); failing that the one
        whose boundary is nearest, `outside` True, with the distance to that boundary in metres.
        A point on a boundary (within a millimetre) counts as inside. ValueError for a latitude or
        longitude that is not a finite number in range."""
        _check(lat, lon)
        found = self.municipality_at(lat, lon)
        if found is not None:
            return self._areas[found.code]
        owner, d = self._nearest(lat, lon)
        if d < geo.BOUNDARY_TOLERANCE_M:
            return self._areas[owner.code]
        return owner.area(outside=True, distance_m=d)

    def nearest(self, lat: float, lon: float) -> tuple[Municipality, float]:
        """The municipality with the boundary edge nearest the point, and that edge's distance in
        metres (whether or not the point lies inside any municipality)."""
        _check(lat, lon)
        return self._nearest(lat, lon)

    def _nearest(self, lat: float, lon: float) -> tuple[Municipality, float]:
        tree = self._tree
        q = _Query(lat, _turned(lon, self._mid_lon), tree.min_lat, tree.max_lat)
        # Best-first: always open the node with the smallest lower bound; once that bound is no
        # better than the nearest edge found, nothing left can be nearer.
        heap: list[tuple[float, int, _Node]] = [(0.0, 0, self._tree)]
        pushed = 0
        while heap:
            bound, _, node = heapq.heappop(heap)
            if bound >= q.best:
                break
            if node.children is None:
                q.scan(node)
                continue
            for child in node.children:
                b = q.bound(child)
                if b < q.best:
                    pushed += 1
                    heapq.heappush(heap, (b, pushed, child))
        assert q.owner is not None  # the tree holds at least one edge
        return q.owner, q.distance_m()


def _runs(m: Municipality) -> list[_Node]:
    """The municipality's boundary as leaves: runs of CHUNK_EDGES consecutive edges of a ring."""
    leaves: list[_Node] = []
    for xs, ys in _closed(m.rings):
        for start in range(0, len(xs) - 1, CHUNK_EDGES):
            cx = xs[start : start + CHUNK_EDGES + 1]
            cy = ys[start : start + CHUNK_EDGES + 1]
            leaves.append(_Node((min(cx), min(cy), max(cx), max(cy)), owner=m, xs=cx, ys=cy))
    return leaves


def _turned(lon: float, mid: float) -> float:
    """The longitude shifted by whole turns to within half a turn of `mid`."""
    return lon + 360.0 * round((mid - lon) / 360.0)


def _closed(rings: tuple[Ring, ...]) -> list[Ring]:
    """The rings with their first vertex repeated at the end where the source left it off."""
    return [
        (xs, ys) if (xs[0], ys[0]) == (xs[-1], ys[-1]) else ((*xs, xs[0]), (*ys, ys[0])) for xs, ys in rings
    ]


def _check(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude must be a finite number of degrees in [-90, 90], got {lat!r}")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude must be a finite number of degrees in [-180, 180], got {lon!r}")


class _Node:
    """A box of the nearest-boundary tree: inner nodes hold children, leaves a run of consecutive
    boundary vertices (CHUNK_EDGES edges at most) of one municipality's ring."""

    __slots__ = ("children", "max_lat", "max_lon", "min_lat", "min_lon", "owner", "xs", "ys")

    def __init__(
        self,
        box: tuple[float, float, float, float],
        children: tuple[_Node, ...] | None = None,
        owner: Municipality | None = None,
        xs: tuple[float, ...] = (),
        ys: tuple[float, ...] = (),
    ) -> None:
        self.min_lon, self.min_lat, self.max_lon, self.max_lat = box
        self.children = children
        self.owner = owner
        self.xs = xs
        self.ys = ys


def _build_tree(municipalities: tuple[Municipality, ...]) -> _Node:
    level = [leaf for m in municipalities for leaf in _runs(m)]
    if not level:
        raise ValueError("an atlas needs boundary edges")
    while len(level) > 1:
        level = _pack(level)
    return level[0]


def _pack(nodes: list[_Node]) -> list[_Node]:
    """One level up, by sort-tile-recursive packing: vertical slices by box centre longitude, each
    cut by centre latitude into groups of FANOUT, so sibling boxes are compact and overlap little."""
    groups = math.ceil(len(nodes) / FANOUT)
    per_slice = math.ceil(math.sqrt(groups)) * FANOUT
    by_lon = sorted(nodes, key=lambda n: n.min_lon + n.max_lon)
    parents: list[_Node] = []
    for s in range(0, len(by_lon), per_slice):
        column = sorted(by_lon[s : s + per_slice], key=lambda n: n.min_lat + n.max_lat)
        for g in range(0, len(column), FANOUT):
            kids = tuple(column[g : g + FANOUT])
            box = (
                min(k.min_lon for k in kids),
                min(k.min_lat for k in kids),
                max(k.max_lon for k in kids),
                max(k.max_lat for k in kids),
            )
            parents.append(_Node(box, children=kids))
    return parents


class _Query:
    """The nearest boundary point found so far for one query point. Each leaf is measured in an
    equirectangular projection centred on the query point, metres east and north of it, with the
    east-west scale taken at the latitude halfway between the point and the leaf (so a coast two
    degrees of latitude away is not stretched by the difference); squared distances throughout.
    Boxes are bounded with the smallest east-west scale any leaf can have, so no bound overstates."""

    __slots__ = ("best", "kx_low", "lat", "lon", "owner", "plat", "plon")

    def __init__(self, lat: float, lon: float, min_lat: float, max_lat: float) -> None:
        self.lat = lat
        self.lon = lon
        # cos falls with |latitude|, so the smallest scale is at the mean latitude farthest from the equator.
        self.kx_low = _east_scale(max(abs(lat + min_lat), abs(lat + max_lat)) * 0.5)
        self.best = math.inf
        self.owner: Municipality | None = None
        self.plat = lat
        self.plon = lon

    def bound(self, node: _Node) -> float:
        """Squared distance to the node's box: no edge inside it can be nearer."""
        lon, lat = self.lon, self.lat
        gx = node.min_lon - lon if lon < node.min_lon else (lon - node.max_lon if lon > node.max_lon else 0.0)
        gy = node.min_lat - lat if lat < node.min_lat else (lat - node.max_lat if lat > node.max_lat else 0.0)
        gx *= self.kx_low
        gy *= _M_PER_DEG
        return gx * gx + gy * gy

    def scan(self, leaf: _Node) -> None:
        """Measure the edges of a leaf's vertex run (consecutive vertices pairwise)."""
        xs, ys = leaf.xs, leaf.ys
        lon, lat, ky = self.lon, self.lat, _M_PER_DEG
        kx = _east_scale((lat + (leaf.min_lat + leaf.max_lat) * 0.5) * 0.5)
        ax = (xs[0] - lon) * kx
        ay = (ys[0] - lat) * ky
        for i in range(1, len(xs)):
            bx = (xs[i] - lon) * kx
            by = (ys[i] - lat) * ky
            dx = bx - ax
            dy = by - ay
            len2 = dx * dx + dy * dy
            t = 0.0
            if len2 > 0.0:
                t = -(ax * dx + ay * dy) / len2
                t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
            ex = ax + t * dx
            ey = ay + t * dy
            d2 = ex * ex + ey * ey
            if d2 < self.best:
                self.best = d2
                self.owner = leaf.owner
                self.plon = xs[i - 1] + t * (xs[i] - xs[i - 1])
                self.plat = ys[i - 1] + t * (ys[i] - ys[i - 1])
            ax = bx
            ay = by

    def distance_m(self) -> float:
        """Great-circle distance to the nearest point found; 0 on (within a millimetre of) an edge."""
        if self.best < geo.BOUNDARY_TOLERANCE_M * geo.BOUNDARY_TOLERANCE_M:
            return 0.0
        return geo.distance_m(self.lat, self.lon, self.plat, self.plon)


def _east_scale(lat: float) -> float:
    """Metres per degree of longitude at a latitude."""
    return math.cos(math.radians(lat)) * _M_PER_DEG


def _cell(deg: float) -> int:
    return math.floor(deg / GRID_DEG)


def _coarse(deg: float) -> int:
    return math.floor(deg * 10.0)


def _rings(geometry: dict[str, Any]) -> tuple[Ring, ...]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return tuple(
        (tuple(p[0] for p in ring), tuple(p[1] for p in ring)) for polygon in polygons for ring in polygon
    )


def load(text: str) -> Atlas:
    """An atlas from GeoJSON text: a FeatureCollection of (Multi)Polygons with properties code, name
    and name_eng. Municipalities are kept in code order, so file order does not matter."""
    found: list[Municipality] = []
    for feature in json.loads(text)["features"]:
        props = feature["properties"]
        rings = _rings(feature["geometry"])
        lons = [x for xs, _ in rings for x in xs]
        lats = [y for _, ys in rings for y in ys]
        found.append(
            Municipality(
                code=str(props["code"]),
                name=str(props["name"]),
                name_eng=str(props["name_eng"]),
                rings=rings,
                bbox=(min(lons), min(lats), max(lons), max(lats)),
            )
        )
    found.sort(key=lambda m: m.code)
    return Atlas(tuple(found))


@cache
def municipalities() -> Atlas:
    """The packaged 2012 municipalities, loaded once per process."""
    return load(resources.files("vigil").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))


def locate(lat: float, lon: float) -> Area:
    """The municipality responsible for a position, from the packaged outlines: see `Atlas.locate`."""
    return municipalities().locate(lat, lon)


# The provinces and metropolitan cities: the first two digits of a municipality's code in the 2012
# outlines (Statistics Korea's codes of that year), with their names of that year. A dispatcher's
# jurisdiction is usually one of these ("31" is all of Gyeonggi-do).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("서울특별시", "Seoul"),
    "21": ("부산광역시", "Busan"),
    "22": ("대구광역시", "Daegu"),
    "23": ("인천광역시", "Incheon"),
    "24": ("광주광역시", "Gwangju"),
    "25": ("대전광역시", "Daejeon"),
    "26": ("울산광역시", "Ulsan"),
    "29": ("세종특별자치시", "Sejong"),
    "31": ("경기도", "Gyeonggi-do"),
    "32": ("강원도", "Gangwon-do"),
    "33": ("충청북도", "Chungcheongbuk-do"),
    "34": ("충청남도", "Chungcheongnam-do"),
    "35": ("전라북도", "Jeollabuk-do"),
    "36": ("전라남도", "Jeollanam-do"),
    "37": ("경상북도", "Gyeongsangbuk-do"),
    "38": ("경상남도", "Gyeongsangnam-do"),
    "39": ("제주특별자치도", "Jeju-do"),
}


def area_names(prefix: str) -> tuple[str, str] | None:
    """The Korean and English names of a code prefix as jurisdictions are given (a province's two
    digits or a municipality's five, its province named first), or None for a prefix that names
    neither."""
    if len(prefix) == 2:
        return PROVINCES.get(prefix)
    found = municipalities().by_code.get(prefix)
    province = PROVINCES.get(prefix[:2])
    if found is None or province is None:
        return None
    return f"{province[0]} {found.name}", f"{found.name_eng}, {province[1]}"
