"""Maps with streets and addresses in a real browser (issue 17): a server with a PMTiles archive of
Seoul built in the test (raster tiles) and a Nominatim-compatible geocoder on loopback (the stand-in
for a deployment's self-hosted one). The control centre's street layer reads its tiles from Vigil by
Range; the layer switcher turns overlays off and on; place names never overlap; a zone is entered by
address; the field terminal says where the man is in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from web_kit import HOME_LAT, HOME_LON, PHONE, SOON, Site, north, state_purpose

from geocoder_kit import PLACES, REVERSE_NAME, Geocoder
from pmtiles_kit import build_raster
from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

# Boxes of the place names shown, and whether any two of them touch (page coordinates).
LABEL_BOXES = """() => [...document.querySelectorAll('.place-label')]
  .filter((e) => !e.hidden && e.offsetParent !== null)
  .map((e) => { const r = e.getBoundingClientRect();
                return {code: e.dataset.code, text: e.textContent, x1: r.left, y1: r.top, x2: r.right, y2: r.bottom}; })"""


@pytest.fixture(scope="module")
def geocoder() -> Iterator[Geocoder]:
    with Geocoder() as found:
        yield found


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, geocoder: Geocoder) -> dict[str, Any]:
    archive = build_raster(Path(tmp_path_factory.mktemp("tiles")) / "seoul.pmtiles")
    return {"pmtiles": archive, "geocoder_url": geocoder.url, "geocoder_timeout_s": 2.0}


@pytest.fixture
def site(module_site: Site) -> Site:
    return module_site


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/control/")
    page.get_by_test_id("token-input").fill(site.tokens["operator"])
    page.get_by_test_id("login-submit").click()
    state_purpose(page)
    expect(page.get_by_test_id("purpose-step")).to_be_hidden()


def settled(page: Page) -> None:
    """The zoom's animation over and the place names placed for the new zoom."""
    page.wait_for_timeout(100)  # the click's zoom started
    page.wait_for_function(
        "() => !document.querySelector('.leaflet-zoom-anim')"
        " && document.querySelector('[data-testid=place-labels]').style.visibility === ''"
    )


def overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["text"], b["text"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["x1"] < b["x2"] and b["x1"] < a["x2"] and a["y1"] < b["y2"] and b["y1"] < a["y2"]
    ]


def test_streets_from_vigil_a_layer_switcher_and_place_names_that_do_not_overlap(
    site: Site, desk: Any
) -> None:
    page = desk.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    ranges: list[str] = []
    page.on(
        "request",
        lambda r: ranges.append(r.headers.get("range", "")) if "/tiles/map.pmtiles" in r.url else None,
    )
    sign_in(page, site)

    # the street layer: tiles read from Vigil's archive by Range, drawn as images
    tiles = page.locator(".street-tiles img[src^='blob:']")
    expect(tiles.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.street-tiles img')].some((i) => i.naturalWidth === 256)"
    )
    assert ranges and all(r.startswith("bytes=") for r in ranges), ranges

    # place names over Seoul at the city's zoom: several, none touching another
    page.wait_for_function("() => document.querySelectorAll('.place-label:not([hidden])').length > 3")
    boxes = page.evaluate(LABEL_BOXES)
    seoul = [b for b in boxes if b["code"].startswith("11")]
    assert len(seoul) >= 3 and overlapping(boxes) == [], boxes
    # zoomed out, the districts' names would pile up: some wait for a closer zoom, none overlap
    for _ in range(2):
        page.locator(".leaflet-control-zoom-out").click()
        settled(page)
    farther = page.evaluate(LABEL_BOXES)
    assert overlapping(farther) == [], farther
    assert 0 < len([b for b in farther if b["code"].startswith("11")]) < len(seoul)

    # the layer switcher: place names and jurisdictions are overlays, the outline map a base
    layers = page.get_by_test_id("layers")
    layers.hover()
    names = layers.get_by_role("checkbox", name="지명")
    expect(names).to_be_checked()
    names.uncheck()
    expect(page.get_by_test_id("place-labels")).to_have_count(0)
    names.check()
    expect(page.locator(".place-label:not([hidden])").first).to_be_visible()
    expect(layers.get_by_role("checkbox", name="구역")).to_be_visible()  # the zones overlay
    layers.get_by_role("radio", name="행정구역 지도 (오프라인)").check()
    expect(page.locator(".street-tiles")).to_have_count(0)
    layers.get_by_role("radio", name="도로 지도").check()
    page.locator(".leaflet-control-zoom-in").click()  # back within the archive's zooms (10 to 14)
    expect(tiles.first).to_be_visible()
    assert errors == []


def test_a_zone_entered_by_address(site: Site, desk: Any, geocoder: Geocoder) -> None:
    pair = site.pair()
    page = desk.new_page()
    sign_in(page, site)
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id("reg-tab-subjects").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()

    address = page.get_by_test_id("zone-address")
    address.fill("없는 주소 1")
    page.get_by_test_id("zone-address-search").click()
    expect(page.get_by_test_id("zone-address-error")).to_contain_text("찾은 주소가 없습니다")

    page.get_by_test_id("zone-address").fill("세종대로 110")
    page.get_by_test_id("zone-address-search").click()
    name, lat, lon = PLACES["세종대로 110"]
    page.get_by_test_id("zone-address-results").get_by_role("button", name=name).click()
    card = page.locator(".zone-card").last
    expect(card.locator("[data-c=lat]")).to_have_value(str(lat))
    expect(card.locator("[data-c=lon]")).to_have_value(str(lon))
    card.locator("[data-c=radius_m]").fill("150")
    card.locator("[data-c=radius_m]").dispatch_event("change")
    card.get_by_role("button", name="저장").click()
    expect(card.locator("[role=status]")).not_to_be_empty()
    zones = site.call("GET", f"/v1/subjects/{pair.subject}").json()["zones"]
    saved = [z for z in zones if z["label"] == name]
    assert saved and saved[0]["shape"]["circle"] == {"lat": lat, "lon": lon, "radius_m": 150}, zones
    assert [a["q"] for a in geocoder.asked if a["path"] == "/search"][-2:] == ["없는 주소 1", "세종대로 110"]


def test_the_field_terminal_says_where_he_is_in_words(site: Site, browser: Any) -> None:
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(50), HOME_LON))
    alert = next(a for a in site.call("GET", "/v1/alerts").json() if a["subject"] == pair.subject)
    unit = site.account(Role.FIELD_OFFICER)
    link = site.call("PUT", f"/v1/alerts/{alert['id']}/assignments/{unit}").json()["link"]
    token = str(link["url"]).split("token=")[1]
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    try:
        page = context.new_page()
        page.goto(f"{site.url}/field/?incident={alert['id']}&token={token}")
        expect(page.get_by_test_id("field-address")).to_have_text(REVERSE_NAME)
    finally:
        context.close()
