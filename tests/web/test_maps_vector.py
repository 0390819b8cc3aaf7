"""A vector PMTiles archive (Mapbox Vector Tiles in the Protomaps basemap's layers, built in the test)
served by Vigil and drawn by the vendored protomaps-leaflet on canvas: the street map of a deployment
that loads a country extract of the Protomaps basemap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from web_kit import SOON, Site, state_purpose

from pmtiles_kit import build_vector

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

# The middle pixel of each drawn tile canvas, as [r, g, b, a].
MIDDLES = """() => [...document.querySelectorAll('.leaflet-tile-pane canvas.leaflet-tile')]
  .filter((c) => c.width > 0)
  .map((c) => [...c.getContext('2d').getImageData(c.width / 2, c.height / 4, 1, 1).data])"""


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"pmtiles": build_vector(Path(tmp_path_factory.mktemp("tiles")) / "seoul-vector.pmtiles")}


def test_a_vector_archive_is_drawn_from_vigil(module_site: Site, desk: Any) -> None:
    page = desk.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    ranges: list[str] = []
    page.on(
        "request",
        lambda r: ranges.append(r.headers.get("range", "")) if "/tiles/map.pmtiles" in r.url else None,
    )
    page.goto(f"{module_site.url}/control/")
    page.get_by_test_id("token-input").fill(module_site.tokens["operator"])
    page.get_by_test_id("login-submit").click()
    state_purpose(page)
    # the tiles' land drawn in the "light" flavour's earth colour (#e2dfda; a tile not drawn yet, or
    # beyond the archive, shows its background, #cccccc), not the outline map's fill
    page.wait_for_function(f"() => ({MIDDLES})().some((p) => p.join() === '226,223,218,255')")
    assert ranges and all(r.startswith("bytes=") for r in ranges), ranges
    drawn = [p[:3] for p in page.evaluate(MIDDLES) if p[3] == 255]
    assert [0xEE, 0xF1, 0xF5] not in drawn, drawn
    assert errors == []
