"""What the API tests share beyond fixtures: the scene's coordinates and the dispatch receiver's
paths. A module of its own, not the conftest, so test files import it by a name no other test
folder uses."""

from __future__ import annotations

# Two places in Seoul; offsets in metres north of HOME are converted with ~111.2 km per degree.
HOME_LAT, HOME_LON = 37.60, 127.20
M_PER_DEG_LAT = 111_195.0


def north(metres: float) -> float:
    """The latitude `metres` north of HOME."""
    return HOME_LAT + metres / M_PER_DEG_LAT


ENV_PATH = "/112"  # the VIGIL_DISPATCH_URL target
TARGET_PATHS = ("/112", "/seoul-police", "/national-police", "/probation", "/gyeonggi-police")

# What the control centre states at sign-in for its shift: the whole map is a view beyond live
# alerts, so the operator's calls for it carry a purpose.
WATCH = {"purpose": "monitoring", "reason": "control-centre watch"}
