"""Street maps and addresses: Vigil's own PMTiles archive served to Range requests (a real archive built
in the test, read back through its directories as the browser's reader does), and /v1/geocode
through a Nominatim-compatible geocoder on loopback: configured or not, slow, down, asked badly, asked
by a role that may not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pmtiles.reader import Reader
from pydantic import ValidationError

from conftest import Api, _api
from geocoder_kit import PLACES, REVERSE_NAME, Geocoder
from pmtiles_kit import build_one, build_raster, png, tile_xy
from vigil.config import Settings
from vigil.domain.model import Role

TILES = "/tiles/map.pmtiles"
REFUSED_ROLES = (Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.PROTECTED_PERSON, Role.ADMIN, Role.AUDITOR)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return build_raster(tmp_path / "seoul.pmtiles")


@pytest.fixture
def mapped(request: pytest.FixtureRequest, provisioned, archive: Path) -> Iterator[Api]:
    api = _api(request, provisioned, pmtiles=archive)
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def geocoder() -> Iterator[Geocoder]:
    with Geocoder() as found:
        yield found


@pytest.fixture
def geocoded(request: pytest.FixtureRequest, provisioned, geocoder: Geocoder) -> Iterator[Api]:
    api = _api(request, provisioned, geocoder_url=geocoder.url, geocoder_timeout_s=0.5)
    api.start()
    try:
        yield api
    finally:
        api.stop()


# --- tiles -------------------------------------------------------------------------------------------


@pytest.mark.app_settings(tile_attribution="© test streets")
def test_the_archive_is_served_by_range_and_read_back_through_its_directories(mapped: Api, archive: Path):
    config = mapped.client.get("/v1/web/config").json()
    assert config["pmtiles"]["url"] == TILES and config["pmtiles"]["tile_type"] == "png"
    assert config["tile_attribution"] == "© test streets"  # credited under the map (map.js, the report)
    assert config["pmtiles"]["vector"] is False and (
        config["pmtiles"]["min_zoom"],
        config["pmtiles"]["max_zoom"],
    ) == (10, 14)
    whole = archive.read_bytes()

    r = mapped.client.get(TILES, headers={"Range": "bytes=0-126"})
    assert r.status_code == 206 and r.content == whole[:127] and r.content.startswith(b"PMTiles\x03")
    assert r.headers["content-range"] == f"bytes 0-126/{len(whole)}" and r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] and "no-store" not in r.headers["cache-control"]
    # an open end and a suffix
    assert mapped.client.get(TILES, headers={"Range": "bytes=100-"}).content == whole[100:]
    assert mapped.client.get(TILES, headers={"Range": "bytes=-10"}).content == whole[-10:]

    # The reader asks for the header, the root directory and the tile, each a range: as a browser would.
    asked: list[str] = []

    def get_bytes(offset: int, length: int) -> bytes:
        wanted = f"bytes={offset}-{offset + length - 1}"
        asked.append(wanted)
        answer = mapped.client.get(TILES, headers={"Range": wanted})
        assert answer.status_code == 206, answer.text
        return answer.content

    reader = Reader(get_bytes)
    x, y = tile_xy(126.978, 37.566, 13)
    tile = reader.get(13, x, y)
    assert (
        tile is not None and tile.startswith(b"\x89PNG") and tile == png((0xC8, 0x7D, (0x2E + x + y) % 256))
    )
    assert reader.get(13, 0, 0) is None  # outside Seoul: no tile
    assert len(asked) >= 2


def test_what_cannot_be_served_is_refused(mapped: Api, archive: Path):
    size = archive.stat().st_size
    assert mapped.client.get(TILES).status_code == 400  # never the whole file without asking
    for bad in ("bytes=0-1,5-9", "lines=0-4", "bytes=-", "bytes=9-2"):
        r = mapped.client.get(TILES, headers={"Range": bad})
        assert r.status_code == 400, (bad, r.status_code)
    for beyond in (f"bytes={size}-", "bytes=-0"):
        r = mapped.client.get(TILES, headers={"Range": beyond})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}", beyond


@pytest.mark.app_settings(pmtiles_max_range_bytes=65_536)
def test_a_range_longer_than_one_request_may_take_is_refused(request, provisioned, tmp_path: Path):
    big = build_one(tmp_path / "big.pmtiles", os.urandom(100_000))  # a tile that does not compress
    api = _api(request, provisioned, pmtiles=big)
    api.start()
    try:
        r = api.client.get(TILES, headers={"Range": "bytes=0-"})
        assert big.stat().st_size > 65_536 and r.status_code == 416 and "too long" in r.text
        assert api.client.get(TILES, headers={"Range": "bytes=0-65535"}).status_code == 206
        # raster tiles reach their <img> as blobs made in the page: the policy allows them
        assert "blob:" in api.client.get("/control/").headers["content-security-policy"]
    finally:
        api.stop()


def test_without_an_archive_there_are_no_tiles(app_client: Api):
    assert app_client.client.get(TILES, headers={"Range": "bytes=0-99"}).status_code == 404
    config = app_client.client.get("/v1/web/config").json()
    assert config["pmtiles"] is None and config["geocoder"] is False
    assert config["tile_attribution"] is None  # nothing to credit
    assert "blob:" not in app_client.client.get("/control/").headers["content-security-policy"]


def test_a_file_that_is_not_an_archive_is_refused_at_start(tmp_path: Path):
    wrong = tmp_path / "map.pmtiles"
    wrong.write_bytes(b"<html>not a map</html>" * 10)
    with pytest.raises(ValidationError, match="not a PMTiles archive"):
        Settings(pmtiles=wrong)
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(pmtiles=tmp_path / "missing.pmtiles")


# --- the geocoder ------------------------------------------------------------------------------------


def test_an_address_is_found_through_the_geocoder_and_the_search_is_in_the_trail(
    geocoded: Api, geocoder: Geocoder
):
    assert geocoded.client.get("/v1/web/config").json()["geocoder"] is True
    r = geocoded.get("/v1/geocode", params={"q": "  세종대로   110 ", "lang": "ko"})
    assert r.status_code == 200, r.text
    name, lat, lon = PLACES["세종대로 110"]
    assert r.json() == {"places": [{"name": name, "lat": lat, "lon": lon}]}
    assert geocoder.asked[-1]["q"] == "세종대로 110" and geocoder.asked[-1]["accept-language"] == "ko"
    assert geocoded.get("/v1/geocode", params={"q": "nowhere street"}).json() == {"places": []}
    r = geocoded.get(
        "/v1/geocode", who=Role.PROBATION_OFFICER, params={"q": "Sejong-daero 110", "lang": "en"}
    )
    assert r.status_code == 200 and r.json()["places"][0]["name"].startswith("Seoul City Hall")

    r = geocoded.get("/v1/geocode/reverse", params={"lat": 37.5665, "lon": 126.978})
    assert r.status_code == 200 and r.json()["place"]["name"] == REVERSE_NAME
    # asked again for the same spot (10 m), the answer is kept: the geocoder is not asked twice
    asked = len(geocoder.asked)
    again = geocoded.get("/v1/geocode/reverse", params={"lat": 37.56652, "lon": 126.97802})
    assert again.json() == r.json() and len(geocoder.asked) == asked
    assert geocoded.get("/v1/geocode/reverse", params={"lat": 33.0, "lon": 150.0}).json() == {"place": None}

    trail = geocoded.get("/v1/audit", who=Role.AUDITOR, params={"actor": "u-operator"}).json()
    searches = [e for e in trail if e["action"] == "geocode"]
    assert any("q=" in e["target"] and "110" in e["target"] for e in searches), searches


def test_a_geocoder_that_is_down_or_slow_is_said_so(geocoded: Api, geocoder: Geocoder):
    geocoder.status = 500
    r = geocoded.get("/v1/geocode", params={"q": "세종대로 110"})
    assert r.status_code == 502 and "500" in r.json()["detail"]
    geocoder.status, geocoder.delay_s = 200, 2.0
    r = geocoded.get("/v1/geocode", params={"q": "세종대로 110"})
    assert r.status_code == 504 and "0.5 s" in r.json()["detail"]


@pytest.mark.app_settings(geocoder_url="http://127.0.0.1:9/", geocoder_timeout_s=0.5)
def test_a_geocoder_that_cannot_be_reached_is_said_so(app_client: Api):
    r = app_client.get("/v1/geocode", params={"q": "세종대로 110"})
    assert r.status_code == 502 and "cannot be reached" in r.json()["detail"]


def test_without_a_geocoder_nothing_leaves_the_server(app_client: Api):
    for path, params in (
        ("/v1/geocode", {"q": "세종대로 110"}),
        ("/v1/geocode/reverse", {"lat": 37.5, "lon": 127.0}),
    ):
        r = app_client.get(path, params=params)
        assert r.status_code == 404 and "VIGIL_GEOCODER_URL" in r.json()["detail"]


def test_a_bad_query_is_refused_naming_it(geocoded: Api, geocoder: Geocoder):
    for q in ("", "   ", "가" * 201):
        r = geocoded.get("/v1/geocode", params={"q": q})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "q", (q, r.text)
    assert geocoded.get("/v1/geocode", params={"q": "x", "lang": "fr"}).status_code == 422
    assert geocoded.get("/v1/geocode/reverse", params={"lat": 91, "lon": 0}).status_code == 422
    assert geocoder.asked == []


def test_only_registry_writers_may_geocode(geocoded: Api, geocoder: Geocoder):
    for who in REFUSED_ROLES:
        assert geocoded.get("/v1/geocode", who=who, params={"q": "세종대로 110"}).status_code == 403, who
        assert (
            geocoded.get("/v1/geocode/reverse", who=who, params={"lat": 37.5, "lon": 127}).status_code == 403
        )
    assert geocoded.client.get("/v1/geocode", params={"q": "세종대로 110"}).status_code == 401
    assert geocoder.asked == []


def test_a_units_link_reads_the_address_of_the_man_it_is_sent_to_find(geocoded: Api, geocoder: Geocoder):
    alert = geocoded.violation()
    token = geocoded.link(alert)
    incident = geocoded.get(f"/v1/alerts/{alert}").json()["incident"]
    r = geocoded.client.get(f"/v1/incidents/{incident}/address", params={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    # his newest position, asked of the geocoder by the server (the link names no coordinates)
    assert body["place"]["name"] == REVERSE_NAME and body["at"]["lat"] == pytest.approx(geocoded.north(50))
    assert geocoder.asked[-1]["path"] == "/reverse" and float(geocoder.asked[-1]["lat"]) == pytest.approx(
        geocoded.north(50)
    )
    assert (
        geocoded.client.get(f"/v1/incidents/{incident}/address", params={"token": "inc_nope"}).status_code
        == 401
    )
    # a role's own token opens nothing through the link's path
    assert geocoded.get(f"/v1/incidents/{incident}/address").status_code == 401
    trail = geocoded.get("/v1/audit", who=Role.AUDITOR).json()
    assert any(e["detail"].get("read") == "address" for e in trail)


def test_a_plain_http_geocoder_is_refused_in_production_unless_on_loopback():
    assert any(
        "VIGIL_GEOCODER_URL" in p for p in Settings(geocoder_url="http://geo.example/").production_problems()
    )
    assert not any(
        "GEOCODER" in p for p in Settings(geocoder_url="http://127.0.0.1:8080/").production_problems()
    )
    assert not any(
        "GEOCODER" in p for p in Settings(geocoder_url="https://geo.example/").production_problems()
    )
