"""How fast jurisdiction lookups are: `python -m vigil_sim.geobench` prints the figures as JSON.

Points are drawn uniformly (fixed seed) over a box around South Korea (33-38.7 N, 124.5-131 E) and
split by whether a municipality holds them: "land" points take the grid index, "sea" points (open
sea, and the parts of China, North Korea and Japan in the box) take the nearest-boundary search.
Each point is located once before the clock starts, so the grid's per-cell cache is warm, as it is
in a server that has been running a while; the timed rounds then locate every point again.
"""

from __future__ import annotations

import json
import random
import time

from vigil import jurisdiction

BOX = (33.0, 124.5, 38.7, 131.0)  # min_lat, min_lon, max_lat, max_lon


def figures(points: int = 20_000, rounds: int = 3, seed: int = 0) -> dict[str, float]:
    """{"land_lookups_per_s", "sea_lookups_per_s", "load_s"}: `points` of each kind, located
    `rounds` times over; load_s is reading and indexing the packaged map from scratch."""
    started = time.perf_counter()
    atlas = jurisdiction.municipalities.__wrapped__()  # a fresh load, not the process's cached one
    load_s = time.perf_counter() - started

    rng = random.Random(f"geobench/{seed}")
    min_lat, min_lon, max_lat, max_lon = BOX
    land: list[tuple[float, float]] = []
    sea: list[tuple[float, float]] = []
    while len(land) < points or len(sea) < points:
        p = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
        kind = sea if atlas.locate(*p).outside else land
        if len(kind) < points:
            kind.append(p)
    return {
        "land_lookups_per_s": _rate(atlas, land, rounds),
        "sea_lookups_per_s": _rate(atlas, sea, rounds),
        "load_s": load_s,
    }


def _rate(atlas: jurisdiction.Atlas, points: list[tuple[float, float]], rounds: int) -> float:
    locate = atlas.locate
    started = time.perf_counter()
    for _ in range(rounds):
        for lat, lon in points:
            locate(lat, lon)
    return rounds * len(points) / (time.perf_counter() - started)


if __name__ == "__main__":
    print(json.dumps(figures(), indent=2))
