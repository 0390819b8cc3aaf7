"""Street addresses through the deployment's geocoder (vigil/geocoder.py), for the registry's zone form
(an address to a centre) and the field terminal (where the man is, as an address).

- `GET /v1/geocode?q=` and `GET /v1/geocode/reverse?lat=&lon=`: registry writers (`geocode`), recorded
  in the trail with what was asked, like every call.
- `GET /v1/incidents/{id}/address?token=`: the unit holding the incident's live-track link, the address
  of the subject's newest position, the one its live view already shows (the link names no
  coordinates of its own choosing: it learns nothing it could not see).

No geocoder configured: 404 saying so, and nothing leaves the server. The geocoder slow or down: 504
or 502 saying so, after at most `geocoder_timeout_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, Final, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from vigil.api import incidents
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.api.registry import refused
from vigil.domain.model import PersonKind, PersonRef
from vigil.geocoder import Geocoder, GeocoderFailed, Place
from vigil.services import Services

router = APIRouter(prefix="/v1", tags=["maps"])

NOT_CONFIGURED: Final = "no geocoder is configured on this server (VIGIL_GEOCODER_URL): enter coordinates"
MAX_QUERY: Final = 200
Language = Literal["ko", "en"]
T = TypeVar("T")


def _geocoder(services: Services) -> Geocoder:
    settings = services.settings
    if settings.geocoder_url is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_CONFIGURED)
    return Geocoder(settings.geocoder_url, services.client, settings.geocoder_timeout_s)


async def _asked(call: Awaitable[T]) -> T:
    """The geocoder's answer, or its failure as 504 (no answer in time) or 502 (anything else)."""
    try:
        found = await call
    except GeocoderFailed as failed:
        code = status.HTTP_504_GATEWAY_TIMEOUT if failed.timed_out else status.HTTP_502_BAD_GATEWAY
        raise HTTPException(code, failed.reason) from failed
    return found


def place_json(place: Place | None) -> dict[str, Any] | None:
    return None if place is None else {"name": place.name, "lat": place.lat, "lon": place.lon}


@router.get("/geocode")
async def search(
    services: Wired,
    _: Annotated[Any, Depends(require(Action.GEOCODE))],
    q: Annotated[str, Query(description=f"an address or place name, 1 to {MAX_QUERY} characters")] = "",
    lang: Language = "ko",
) -> dict[str, Any]:
    """Places for an address, best first (at most 5): `{"places": [{name, lat, lon}]}`; an empty list
    when the geocoder knows none."""
    text = " ".join(q.split())
    if not text:
        raise refused("q", "type an address or a place name")
    if len(text) > MAX_QUERY:
        raise refused("q", f"at most {MAX_QUERY} characters")
    geocoder = _geocoder(services)
    places = await _asked(geocoder.search(text, lang))
    return {"places": [place_json(p) for p in places]}


@router.get("/geocode/reverse")
async def reverse(
    services: Wired,
    _: Annotated[Any, Depends(require(Action.GEOCODE))],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lang: Language = "ko",
) -> dict[str, Any]:
    """The address at a position: `{"place": {name, lat, lon}}`, or `{"place": null}` where the
    geocoder knows none."""
    geocoder = _geocoder(services)
    place = await _asked(geocoder.reverse(lat, lon, lang))
    return {"place": place_json(place)}


@router.get("/incidents/{incident_id}/address")
async def subject_address(
    request: Request, services: Wired, incident_id: str, token: str = "", lang: Language = "ko"
) -> dict[str, Any]:
    """For the unit holding the incident's live-track link (`?token=`): the address of the subject's
    newest position, `{"place": …|null, "at": {lat, lon}|null}`. Refused like the live view (401,
    410); audited under the link's holder with `read: address`."""
    link = await asyncio.to_thread(incidents.link_holder, request, incident_id, token, "address")
    geocoder = _geocoder(services)
    subject = await asyncio.to_thread(incidents.field_subject, request, link)
    if subject is None:
        return {"place": None, "at": None}
    rows = await asyncio.to_thread(services.reader.latest_positions, [PersonRef(PersonKind.SUBJECT, subject)])
    rows = [r for r in rows if r["lat"] is not None and r["lon"] is not None]
    if not rows:
        return {"place": None, "at": None}
    newest = max(rows, key=lambda r: r["time"])
    lat, lon = float(newest["lat"]), float(newest["lon"])
    place = await _asked(geocoder.reverse(lat, lon, lang))
    return {"place": place_json(place), "at": {"lat": lat, "lon": lon}}
