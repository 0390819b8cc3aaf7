"""The victim app's discreet mode, quick exit and installability (issue 17), in a real browser.

Discreet mode dims the screen, keeps silent (no vibration) and gives the page a neutral title, and
the app stays usable: SOS and 112 within reach at 390x844 and 360x640, the SOS still sent by a
three-second hold. The quick exit, on every screen, lands on a plain notepad served by Vigil that
names nothing, forgets her sign-in in that tab, and Back does not return to the app. The manifest is
served as a manifest with what an install needs, and the service worker keeps the app shell so the
app opens offline, saying it is offline and showing nothing of him."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_kit import HOME_LAT, HOME_LON, SOON, Site, north, shoot

from vigil.domain.model import Role

pytestmark = pytest.mark.slow  # a real server and Chromium

SIZES = ({"width": 390, "height": 844}, {"width": 360, "height": 640})
PALETTE = Path(__file__).resolve().parents[2] / "src" / "vigil" / "web" / "common" / "palette.css"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """Her phone at home, with location allowed and vibrations recorded."""
    context = browser.new_context(
        viewport=SIZES[0],
        geolocation={"latitude": HOME_LAT, "longitude": HOME_LON, "accuracy": 12},
        permissions=["geolocation"],
    )
    context.set_default_timeout(SOON)
    context.add_init_script(
        "window.__vibrations = []; navigator.vibrate = (p) => { window.__vibrations.push(p); return true; };"
    )
    yield context
    context.close()


def her_app(site: Site, phone: Any, victim: str, before: str | None = None) -> Any:
    """Her app in English, opened with a token of her own (after `before`, if given, in the same tab)."""
    her = site.account(Role.PROTECTED_PERSON, person_id=victim)
    page = phone.new_page()
    page.add_init_script("localStorage.setItem('vigil.language', 'en')")
    if before:
        page.goto(before)
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    return page


def within_reach(page: Any, state: str) -> None:
    """SOS, 112 and the exit wholly on screen at both sizes, at the top and scrolled to the end."""
    for size in SIZES:
        page.set_viewport_size(size)
        for scroll in ("0", "document.body.scrollHeight"):
            page.evaluate(f"window.scrollTo(0, {scroll})")
            page.wait_for_timeout(50)
            for what in ("#sos", "#actions .call", "#exit"):
                box = page.locator(what).bounding_box()
                assert box is not None, (state, what)
                inside = (
                    box["x"] >= 0
                    and box["y"] >= 0
                    and box["x"] + box["width"] <= size["width"]
                    and box["y"] + box["height"] <= size["height"]
                )
                assert inside, (state, size, scroll, what, box)
    page.set_viewport_size(SIZES[0])
    page.evaluate("window.scrollTo(0, 0)")


def luminance(page: Any, selector: str, prop: str = "background-color") -> float:
    """The relative luminance (WCAG) of an element's computed colour."""
    rgb = page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def test_discreet_mode_is_dim_silent_and_still_usable(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    # him within her view, 40 s before he comes within 100 m (a move he could make)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(400), HOME_LON + 0.001), seconds_ago=40)
    page = her_app(site, phone, pair.victim)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    expect(page.locator("#status")).to_have_attribute("data-status", "nearby")
    expect(page).to_have_title(re.compile("My safety"))
    bright = luminance(page, "body")
    assert bright > 0.8

    toggle = page.locator("#discreet")
    expect(toggle).to_have_accessible_name("Dim the screen")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_class(re.compile("discreet"))
    # dark, and the title a lock screen or the task switcher shows says nothing
    assert luminance(page, "body") < 0.02
    assert luminance(page, "#sos") < 0.1
    expect(page).to_have_title("Notes")
    assert page.eval_on_selector('meta[name="theme-color"]', "m => m.content") == "#0e1114"
    # the text still reads: at least 4.5:1 against the dim background
    ink = luminance(page, "body", "color")
    assert (ink + 0.05) / (luminance(page, "body") + 0.05) >= 4.5
    within_reach(page, "discreet, nearby")

    # he comes within 100 m: danger, said on screen, but no vibration and no word of it in the title
    site.fixes((pair.ankle, north(60), HOME_LON + 0.0002))
    expect(page.locator("#status")).to_have_attribute("data-status", "danger")
    expect(page.locator("#status-title")).to_have_text("Danger")
    expect(page).to_have_title("Notes")
    animation = page.eval_on_selector("#status", "e => getComputedStyle(e).animationName")
    assert animation == "none"
    within_reach(page, "discreet, danger")
    shoot(page, "victim-discreet.png")

    # the SOS still works by a three-second hold, silently
    box = page.locator("#sos").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    expect(page.get_by_text("Help is being sent")).to_be_visible(timeout=6000)
    page.mouse.up()
    exit_box = page.locator("#exit").bounding_box()
    assert exit_box is not None  # the exit stays above the dialog, one tap away
    hit = page.evaluate(
        f"document.elementFromPoint({exit_box['x'] + exit_box['width'] / 2}, {exit_box['y'] + exit_box['height'] / 2})"
        ".closest('#exit') !== null"
    )
    assert hit
    page.locator("#sos-ok").click()
    assert page.evaluate("window.__vibrations") == []

    # remembered on this phone; a second tap turns it off
    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-status", "danger")
    expect(page.locator("html")).to_have_class(re.compile("discreet"))
    expect(page).to_have_title("Notes")
    page.locator("#discreet").click()
    expect(page).to_have_title(re.compile("My safety"))
    assert luminance(page, "body") > 0.8
    assert errors == []


def test_quick_exit_leaves_for_a_neutral_page_and_back_does_not_return(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    before = f"{site.url}/v1/web/config"  # where the tab was before her app
    page = her_app(site, phone, pair.victim, before=before)
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    assert page.evaluate("sessionStorage.length") > 0  # her sign-in, kept in this tab

    page.get_by_role("button", name="Exit").click()
    expect(page).to_have_url(f"{site.url}/notes/")
    expect(page).to_have_title("메모")
    expect(page.locator("#note")).to_be_visible()
    shoot(page, "victim-exit-notes.png")
    text = page.content().lower()
    for word in ("vigil", "victim", "안심", "sos", "112", "피해"):
        assert word not in text, word
    assert page.evaluate("sessionStorage.length") == 0  # her sign-in forgotten in this tab
    # the notepad works as one, on this phone only
    page.locator("#note").fill("우유, 계란")
    page.reload()
    expect(page.locator("#note")).to_have_value("우유, 계란")

    # Back goes to where she was before the app, not to the app
    page.go_back()
    expect(page).to_have_url(before)
    # and opening the app again in that tab asks for a sign-in
    page.goto(f"{site.url}/victim/")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    # the exit is one tap away on the sign-in screen too
    page.locator("#exit").click()
    expect(page).to_have_url(f"{site.url}/notes/")


def test_quick_exit_ends_a_password_session_on_the_server(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    issued = site.call(
        "POST", f"/v1/protected-persons/{pair.victim}/activation", {"reason": "new phone"}
    ).json()
    page = phone.new_page()
    page.add_init_script("localStorage.setItem('vigil.language', 'en')")
    page.goto(f"{site.url}/victim/")
    page.locator("#activate-code").fill(issued["code"])
    page.locator("#activate-password").fill("my own long password")
    page.locator("#activate-again").fill("my own long password")
    page.locator("#activate-submit").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    access = page.evaluate("sessionStorage.getItem('vigil.token')")

    def me() -> int:
        return site.http.get("/v1/me", headers={"Authorization": f"Bearer {access}"}).status_code

    assert access and me() == 200

    page.locator("#exit").click()
    expect(page).to_have_url(f"{site.url}/notes/")
    # the request that ends it outlives the page: her tokens stop working on the server too
    for _ in range(50):
        if me() == 401:
            break
        page.wait_for_timeout(100)
    assert me() == 401


def test_the_app_is_installable(site: Site) -> None:
    manifest_response = httpx.get(f"{site.url}/victim/manifest.webmanifest")
    assert manifest_response.status_code == 200
    assert manifest_response.headers["content-type"].startswith("application/manifest+json")
    assert "content-security-policy" in manifest_response.headers
    manifest = json.loads(manifest_response.text)
    for field in ("name", "short_name", "start_url", "scope", "display", "icons", "theme_color"):
        assert manifest.get(field), field
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/victim/") and manifest["scope"] == "/victim/"
    # the theme is the protected person's blue of the shared palette, the background the phone apps'
    palette = PALETTE.read_text()
    assert f"--protected: {manifest['theme_color']};" in palette
    assert "vigil" not in manifest["name"].lower()  # the home screen does not name it
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        got = httpx.get(f"{site.url}{icon['src']}")
        assert got.status_code == 200, icon
        assert got.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":
            width, height = (
                int.from_bytes(got.content[16:20], "big"),
                int.from_bytes(got.content[20:24], "big"),
            )
            assert f"{width}x{height}" == icon["sizes"], icon

    worker = httpx.get(f"{site.url}/victim/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in worker.headers["content-security-policy"]
    notes = httpx.get(f"{site.url}/notes/")
    assert notes.status_code == 200 and "content-security-policy" in notes.headers


def test_the_app_shell_opens_offline_and_says_so(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    page = her_app(site, phone, pair.victim)
    errors: list[str] = []
    console: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    # the worker is installed, scoped to the app, and controls the page
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{site.url}/victim/"
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    manifest = page.eval_on_selector('link[rel="manifest"]', "l => l.href")
    assert manifest == f"{site.url}/victim/manifest.webmanifest"

    phone.set_offline(True)
    page.reload()
    # the shell came from the worker: the app says it is offline, with 112 at hand, and nothing of him
    expect(page.locator("#no-network")).to_be_visible()
    expect(page.locator("#no-network")).to_contain_text("No internet connection")
    expect(page.locator("#no-network .call")).to_have_attribute("href", "tel:112")
    expect(page.locator("#main")).to_be_hidden()
    expect(page.locator("#exit")).to_be_visible()
    shoot(page, "victim-offline.png")

    # back online: her status again, without her doing anything
    phone.set_offline(False)
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    expect(page.locator("#main")).to_be_visible()
    assert errors == []
    assert not [c for c in console if "Content Security Policy" in c], console

    # leaving without a network: the notepad cannot load (it is not the app's to keep), so a blank page
    phone.set_offline(True)
    page.locator("#exit").click()
    expect(page).to_have_url("about:blank")
    assert page.evaluate("sessionStorage.length") == 0
