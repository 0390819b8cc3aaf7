"""The victim app (/victim/) in a real browser: safe, nearby and danger at a glance; what she sees of
him is exactly what the server sends (his place only within the order's view, a band beyond it,
nothing further away), checked in the page and in every response it receives; the SOS button sends
only when held for three seconds."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from web_kit import HOME_LAT, HOME_LON, M_PER_DEG_LAT, PHONE, Pair, Site, north, shoot

from vigil.domain.model import Role

pytestmark = pytest.mark.slow  # a real server and Chromium


def place(north_m: float, east_m: float) -> tuple[float, float]:
    """A point north_m north and east_m east of her home (east_m > 0 so his longitude is not hers)."""
    lat = north(north_m)
    return lat, HOME_LON + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


def diagonal(metres: float) -> tuple[float, float]:
    """A point `metres` north-east of her home."""
    return place(metres / math.sqrt(2), metres / math.sqrt(2))


class Traffic:
    """Every /v1/ response the page receives, with its body, captured on the way through."""

    def __init__(self, page: Any) -> None:
        self.bodies: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str]] = []
        page.route("**/v1/**", self._through)

    def _through(self, route: Any) -> None:
        request = route.request
        self.requests.append((request.method, request.url))
        response = route.fetch()
        self.bodies.append((request.url, response.text()))
        route.fulfill(response=response)

    def posted(self, path: str) -> int:
        return sum(1 for method, url in self.requests if method == "POST" and path in url)


def until(page: Any, condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for a condition on the captured traffic (waiting through the page, so its routes run)."""
    for _ in range(int(seconds * 20)):
        if condition():
            return
        page.wait_for_timeout(50)
    assert condition()


def prefixes(value: float) -> list[str]:
    """How a coordinate would show in JSON or text: its decimal digits cut at 3 and 4 places (cut,
    not rounded, so they are prefixes of the full number the server stores)."""
    whole, decimals = repr(value).split(".")
    return [f"{whole}.{decimals[:3]}", f"{whole}.{decimals[:4]}"]


def assert_hidden(page: Any, traffic: Traffic, lat: float, lon: float) -> None:
    """His coordinates appear nowhere: not in the page, not in any response it was sent."""
    secrets = [*prefixes(lat), *prefixes(lon)]
    html = page.content()
    for secret in secrets:
        assert secret not in html, secret
        for url, body in traffic.bodies:
            assert secret not in body, (secret, url, body[:300])
    assert traffic.bodies, "no traffic captured"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """Her phone at home, with location allowed and vibrations recorded."""
    context = browser.new_context(
        viewport=PHONE,
        geolocation={"latitude": HOME_LAT, "longitude": HOME_LON, "accuracy": 12},
        permissions=["geolocation"],
        has_touch=False,
    )
    context.add_init_script(
        "window.__vibrations = []; navigator.vibrate = (p) => { window.__vibrations.push(p); return true; };"
    )
    yield context
    for page in context.pages:  # a capture still fetching when the page goes must not fail the test
        page.unroute_all(behavior="ignoreErrors")
    context.close()


def open_app(site: Site, phone: Any, her: str, english: bool = True) -> tuple[Any, Traffic, list[str]]:
    """Her app, opened with her account's token."""
    page = phone.new_page()
    if english:
        page.add_init_script("localStorage.setItem('vigil.language', 'en')")
    traffic = Traffic(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    return page, traffic, errors


def herself(site: Site, pair: Pair) -> str:
    """An account of her own, speaking for the pair's victim."""
    return site.account(Role.PROTECTED_PERSON, person_id=pair.victim)


def sos_of(site: Site, pair: Pair) -> list[dict[str, Any]]:
    """The SOS alerts she raised."""
    alerts = site.call("GET", "/v1/alerts").json()
    return [a for a in alerts if a["kind"] == "sos" and a["protected_person"] == pair.victim]


def test_far_away_she_is_safe_and_sees_nothing_of_him(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    him = diagonal(2000)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, *him), heading_deg=200, speed_mps=1.2)
    page, traffic, errors = open_app(site, phone, herself(site, pair), english=False)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "safe")
    expect(page.locator("#status-title")).to_have_text("안전합니다")  # Korean first
    expect(page).not_to_have_url(re.compile("token="))
    expect(page.locator("#near")).to_be_hidden()
    expect(page.locator("#band")).to_be_hidden()
    page.get_by_role("button", name="EN").click()
    expect(page.locator("#status-title")).to_have_text("You are safe")
    # her phone's own position goes to the server while the app is open
    expect(page.locator("#position-state")).to_contain_text("Sharing my position")
    until(page, lambda: traffic.posted("/v1/me/position") == 1)
    page.wait_for_timeout(3500)  # one more status poll, still no second position within 10 s
    assert traffic.posted("/v1/me/position") == 1
    assert sum(1 for _, url in traffic.requests if url.endswith("/v1/me/status")) >= 2
    assert_hidden(page, traffic, *him)
    assert page.evaluate("window.__vibrations") == []
    shoot(page, "victim-safe.png")
    assert errors == []


def test_in_the_warning_band_she_gets_a_band_and_no_place(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    him = diagonal(800)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, *him), heading_deg=225, speed_mps=1.2)
    page, traffic, errors = open_app(site, phone, herself(site, pair))
    expect(page.locator("#status")).to_have_attribute("data-status", "nearby")
    expect(page.locator("#band")).to_be_visible()
    expect(page.locator("#band-text")).to_have_text("The offender is 600\u20131000 m from you")
    expect(page.locator("#near")).to_be_hidden()
    expect(page.locator("#offender-marks > *")).to_have_count(0)
    assert_hidden(page, traffic, *him)
    assert errors == []


def test_within_her_view_she_sees_where_he_is_and_where_he_goes(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    him = diagonal(400)
    # 40 s before he comes within 100 m: a move he could make (an impossible one moves no one)
    site.fixes(
        (pair.phone, HOME_LAT, HOME_LON), (pair.ankle, *him), heading_deg=225, speed_mps=1.4, seconds_ago=40
    )
    page, traffic, errors = open_app(site, phone, herself(site, pair))
    expect(page.locator("#status")).to_have_attribute("data-status", "nearby")
    expect(page.locator("#near")).to_be_visible()
    # the control for the checks above: within her view the server does send his place
    assert any(all(p in body for p in prefixes(him[0]) + prefixes(him[1])) for _, body in traffic.bodies)
    expect(page.locator("#offender-marks circle.offender")).to_have_count(1)
    expect(page.locator("#offender-marks .offender-heading")).to_have_count(1)
    expect(page.locator("#near-distance")).to_have_text("About 400 m · to the northeast")
    expect(page.locator("#near-detail")).to_have_text("He is moving towards you")
    expect(page.locator("#guidance")).to_contain_text("Move away from the direction shown")
    expect(page.locator("#band")).to_be_hidden()

    # he comes within 100 m: danger, in red, with a vibration
    site.fixes((pair.ankle, *diagonal(60)), heading_deg=225, speed_mps=1.4)
    expect(page.locator("#status")).to_have_attribute("data-status", "danger")
    expect(page.locator("#status-title")).to_have_text("Danger")
    expect(page.locator("#near-distance")).to_have_text("About 60 m · to the northeast")
    expect(page.locator("#guidance")).to_contain_text("Move away from the direction shown and call 112.")
    page.wait_for_function("() => window.__vibrations.length === 1")
    page.wait_for_timeout(300)  # the pulse settles for the screenshot
    shoot(page, "victim-danger.png")
    assert errors == []


def test_sos_needs_a_three_second_hold(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    page, traffic, errors = open_app(site, phone, herself(site, pair))
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    button = page.locator("#sos")
    box = button.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    # a short press sends nothing
    page.mouse.down()
    page.wait_for_timeout(800)
    page.mouse.up()
    expect(page.locator("#sos-hint")).to_have_text("Cancelled. Hold for 3 seconds to send.")
    page.wait_for_timeout(300)
    assert traffic.posted("/v1/me/sos") == 0
    assert not sos_of(site, pair)

    # held for three seconds: sent, with her position, and confirmed
    page.mouse.down()
    expect(page.get_by_text("Help is being sent")).to_be_visible(timeout=6000)
    page.mouse.up()
    assert traffic.posted("/v1/me/sos") == 1
    sos = sos_of(site, pair)
    assert len(sos) == 1 and sos[0]["protected_person"] == pair.victim, sos
    expect(page.locator("#status")).to_have_attribute("data-status", "danger")
    page.get_by_role("button", name="OK").click()
    expect(page.locator("#sos-done")).to_be_hidden()
    assert errors == []


def test_sign_in_with_a_pasted_code_and_only_for_protected_persons(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    page = phone.new_page()
    page.add_init_script("localStorage.setItem('vigil.language', 'en')")
    page.goto(f"{site.url}/victim/?token={site.tokens['operator']}")
    expect(page.get_by_text("This app is for protected persons")).to_be_visible()
    page.locator("#wrong-role").get_by_role("button", name="Sign out").click()
    expect(page.locator("#login-token")).to_be_visible()
    page.locator("#login-token").fill("not-a-token")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#login-error")).to_have_text("That access code is not valid. Please check it.")
    her = site.account(Role.PROTECTED_PERSON, person_id=f"P{site.number()}")  # no one to fear yet
    page.locator("#login-token").fill(site.tokens[her])
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")


def test_she_downloads_her_record_for_a_court(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    him = diagonal(2000)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, *him))
    page, traffic, errors = open_app(site, phone, herself(site, pair))
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    page.locator("#record summary").click()
    expect(page.locator("#record-submit")).to_have_text("Download")
    with page.expect_download() as info:
        page.locator("#record-submit").click()
    saved = info.value.path()
    with open(saved, "rb") as f:
        assert f.read(5) == b"%PDF-"
    expect(page.locator("#record-done")).to_contain_text("SHA-256")
    assert_hidden(page, traffic, *him)
    assert errors == []
