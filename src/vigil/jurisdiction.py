"""Jurisdiction: which municipality (si/gun/gu) a position lies in, from the packaged 2012 outlines.

(Being written: the grid index moves here from sim/caseload.py, with the nearest-municipality
fallback for points at sea or abroad.)
"""

from __future__ import annotations

from dataclasses import dataclass


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
