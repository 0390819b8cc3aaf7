"""Street addresses from a Nominatim-compatible geocoder the deployment runs (VIGIL_GEOCODER_URL, e.g.
a self-hosted Nominatim): an address to places (`search`), a position to its address (`reverse`).

Asked over the server's own HTTP client, with a timeout, never from the browser: the geocoder may sit
on the control room's network only, and what is asked (a victim's home address) stays in this
server's audit trail. Nominatim's API: https://nominatim.org/release-docs/latest/api/Search/ and
/Reverse/ (format=jsonv2).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import httpx

USER_AGENT: Final = "Vigil (control centre geocoding)"  # Nominatim's policy asks callers to say who
MAX_RESULTS: Final = 5
# Reverse answers are kept a while per ~10 m cell: field terminals ask again as he moves, and many
# units on one incident ask about the same spot; the geocoder is the deployment's own, and small.
REVERSE_KEEP_S: Final = 300.0
REVERSE_KEPT: Final = 2000
_reversed: OrderedDict[tuple[str, float, float, str], tuple[float, Place | None]] = OrderedDict()


class GeocoderFailed(Exception):
    """The geocoder did not answer usefully: `timed_out` (no answer in time) or anything else
    (refused, down, an answer that is not Nominatim's)."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


@dataclass(frozen=True, slots=True)
class Place:
    name: str  # the geocoder's one-line address
    lat: float
    lon: float


class Geocoder:
    def __init__(self, base_url: str, client: httpx.AsyncClient, timeout_s: float) -> None:
        self.base = base_url.rstrip("/")
        self.client = client
        self.timeout = timeout_s

    async def search(self, query: str, language: str) -> list[Place]:
        """Up to MAX_RESULTS places for an address or place name, best first."""
        found = await self._get(
            "/search", {"q": query, "format": "jsonv2", "limit": str(MAX_RESULTS)}, language
        )
        if not isinstance(found, list):
            raise GeocoderFailed("the geocoder's answer is not a list of places")
        return [p for p in (_place(item) for item in found[:MAX_RESULTS]) if p is not None]

    async def reverse(self, lat: float, lon: float, language: str) -> Place | None:
        """The address at a position, or None where the geocoder knows none (at sea)."""
        key = (self.base, round(lat, 4), round(lon, 4), language)
        kept = _reversed.get(key)
        now = time.monotonic()
        if kept is not None and now - kept[0] < REVERSE_KEEP_S:
            return kept[1]
        found = await self._get(
            "/reverse", {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "format": "jsonv2", "zoom": "18"}, language
        )
        # Nominatim's {"error": "Unable to geocode"}: no address there
        place = None if isinstance(found, dict) and "error" in found else _place(found)
        _reversed[key] = (now, place)
        _reversed.move_to_end(key)
        while len(_reversed) > REVERSE_KEPT:
            _reversed.popitem(last=False)
        return place

    async def _get(self, path: str, params: dict[str, str], language: str) -> Any:
        try:
            response = await self.client.get(
                self.base + path,
                params=params,
                headers={"Accept-Language": language, "User-Agent": USER_AGENT},
                timeout=self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise GeocoderFailed(
                f"the geocoder did not answer within {self.timeout:g} s", timed_out=True
            ) from exc
        except httpx.HTTPError as exc:
            raise GeocoderFailed(f"the geocoder cannot be reached ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise GeocoderFailed(f"the geocoder answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise GeocoderFailed("the geocoder's answer is not JSON") from exc


def _place(item: Any) -> Place | None:
    """A Nominatim result as a Place; None for one without a usable position."""
    if not isinstance(item, dict):
        return None
    try:
        lat, lon = float(item["lat"]), float(item["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    name = item.get("display_name")
    return Place(name=str(name)[:300] if name else f"{lat:.5f}, {lon:.5f}", lat=lat, lon=lon)
