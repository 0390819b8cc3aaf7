"""Accessibility, checked in the browser: axe-core (vendored in tests/web/vendor, with its licence)
runs its WCAG 2.1 A and AA rules over each app in the states people use, in both languages, and
keyboard reach is walked with the Tab key: a night-shift operator without a mouse, an officer with
a screen reader, a victim who enlarges her text. A rule axe cannot decide (it reports those as
"incomplete") is left to people; a violation fails the test with the rule, the element and why."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_control import approach, english, sign_in, watch
from web_kit import DESK, PHONE, SOON, Site, shoot

from services import service_unavailable
from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Any, where: str) -> list[str]:
    """axe-core's WCAG 2.1 AA violations on the page as it stands, one line per element."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async (tags) => {
             const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
             return result.violations.map((v) => ({ id: v.id, help: v.help,
               nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`) }));
           }""",
        WCAG_21_AA,
    )
    return [f"{where} · {v['id']} ({v['help']}) · {node}" for v in found for node in v["nodes"]]


def tab_reaches(page: Any, selector: str, presses: int = 60) -> bool:
    """Whether pressing Tab from the top of the page puts the focus on the element, within `presses`."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => Boolean(document.activeElement?.matches(s))", selector):
            return True
    return False


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """A control-centre screen in a Korean browser that lets the test add axe-core to the page (the
    apps' Content-Security-Policy refuses inline scripts, rightly; it is not what is tested here)."""
    context = browser.new_context(viewport=DESK, locale="ko-KR", bypass_csp=True)
    context.set_default_timeout(SOON)
    yield context
    context.close()


def test_the_control_centre_meets_wcag_aa_and_works_from_the_keyboard(site: Site, desk: Any) -> None:
    pair = site.pair()
    alert = approach(site, pair)
    page = desk.new_page()
    problems = watch(page)
    found: list[str] = []

    page.goto(f"{site.url}/control/")
    expect(page.get_by_test_id("token-input")).to_be_visible()
    found += violations(page, "login (ko)")
    assert tab_reaches(page, "[data-testid=token-input]") and tab_reaches(page, "[data-testid=login-submit]")

    sign_in(page, site, "operator")
    row = page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind")
    expect(row).to_be_visible()
    found += violations(page, "monitor (ko)")
    row.click()
    expect(page.get_by_test_id("alert-detail")).to_be_visible()
    expect(page.get_by_test_id("detail-distance")).to_have_text(re.compile(r"^\d+ m$"))
    shoot(page, "control-alert-ko.png")  # the screenshots in the README, in both languages
    english(page)
    found += violations(page, "monitor (en)")
    found += violations(page, "alert detail (en)")
    shoot(page, "control-alert-en.png")
    # the operator's first step on an alert is in reach of the keyboard
    assert tab_reaches(page, f"[data-testid='step-acknowledged-{alert['id']}']", presses=150)

    page.keyboard.press("Escape")
    page.keyboard.press("?")  # the keyboard's own help
    expect(page.get_by_test_id("shortcut-help")).to_be_visible()
    found += violations(page, "shortcut help (en)")
    page.keyboard.press("Escape")
    # the incident's history: playback over the map, then the printable report
    incident = page.locator(f"[data-testid=incident-item]:has([data-alert-id='{alert['id']}'])")
    incident.get_by_test_id("incident-head").click()
    detail = page.get_by_test_id("incident-detail")
    expect(detail).to_be_visible()
    found += violations(page, "incident detail (en)")
    detail.get_by_test_id("incident-playback").click()
    expect(page.get_by_test_id("playback-slider")).to_be_visible()
    found += violations(page, "playback (en)")
    page.get_by_test_id("playback-close").click()
    detail.get_by_test_id("incident-report").click()
    expect(page.get_by_test_id("report-print")).to_be_visible()
    found += violations(page, "incident report (en)")
    page.get_by_test_id("report-back").click()
    # the map's layer switcher, opened
    page.get_by_test_id("layers").hover()
    found += violations(page, "layer switcher (en)")

    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    expect(page.get_by_test_id("reg-notes")).to_be_visible()
    found += violations(page, "registry (en)")
    page.get_by_test_id("nav-handover").click()
    expect(page.get_by_test_id("handover-page")).to_be_visible()
    found += violations(page, "handover (en)")
    assert found == [], "\n".join(found)
    assert problems == []


def test_the_victim_app_and_the_field_terminal_meet_wcag_aa(site: Site, browser: Any) -> None:
    pair = site.pair()
    alert = approach(site, pair)
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    phone = browser.new_context(
        viewport=PHONE,
        geolocation={"latitude": 37.6360, "longitude": 127.2165, "accuracy": 12},
        permissions=["geolocation"],
        bypass_csp=True,
        locale="ko-KR",
    )
    try:
        found: list[str] = []
        page = phone.new_page()
        page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
        expect(page.locator("#sos")).to_be_visible()
        found += violations(page, "victim app, danger (ko)")
        shoot(page, "victim-danger-ko.png")
        # her SOS is reachable without a pointer
        assert tab_reaches(page, "#sos")

        unit = site.account(Role.FIELD_OFFICER)
        token = site.call("PUT", f"/v1/alerts/{alert['id']}/assignments/{unit}").json()["link"]["url"]
        field = phone.new_page()
        field.goto(f"{site.url}/field/?incident={alert['id']}&token={str(token).split('token=')[1]}")
        expect(field.locator("#kind")).not_to_be_empty()
        found += violations(field, "field terminal (ko)")
        shoot(field, "field-terminal-ko.png")
        assert found == [], "\n".join(found)
    finally:
        phone.close()


def test_korean_text_renders_in_a_korean_font(site: Site, desk: Any) -> None:
    """The Korean screens (and their screenshots in docs/) need a font with Hangul: without one,
    Chromium draws every syllable as the same empty box. `fonts-nanum` (apt) is the smallest."""
    if shutil.which("fc-list") is None:
        service_unavailable("fontconfig", "fc-list", "not installed")
    fonts = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():
        service_unavailable(
            "A Korean font", "fc-list :lang=ko", "none installed (apt-get install fonts-nanum)"
        )
    page = desk.new_page()
    page.goto(f"{site.url}/control/")
    # two different syllables drawn as the same box would measure the same; real glyphs differ
    widths = page.evaluate(
        """() => ['관제', '경고', 'ㅡㅡ'].map((text) => {
             const c = document.createElement('canvas').getContext('2d');
             c.font = '20px sans-serif';
             const m = c.measureText(text);
             return [m.width, m.actualBoundingBoxAscent, m.actualBoundingBoxDescent].join(',');
           })"""
    )
    assert len(set(widths)) > 1, widths
