"""The control centre's alarm (control/alarm.js) in a real browser, read through its state rather than
heard: a critical alert rings, again and again, until it is acknowledged; a warning chimes once and
never again; a mute silences the alarm for its timeout and then it rings by itself (the module's
clock is moved forward, nobody waits minutes); a critical alert raised while muted ends the mute;
and a page that has had no gesture asks for a click before it can make a sound."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from web_kit import HOME_LAT, HOME_LON, PURPOSE, REASON, SOON, Pair, Site, north, state_purpose

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = [pytest.mark.slow, pytest.mark.fresh_site]  # a real server and Chromium; an empty queue


def alarm(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("window.vigilAlarm.state()")
    return state


def until(
    page: Page, check: Callable[[dict[str, Any]], bool], timeout_s: float = SOON / 1000
) -> dict[str, Any]:
    """The alarm's state once `check` holds of it (or the test fails with the last state seen)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = alarm(page)
        if check(state):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


def operator_page(site: Site, desk: Any) -> Page:
    page = desk.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{site.url}/control/?token={site.tokens['operator']}")
    state_purpose(page)
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("alarm")).to_be_visible()
    page.problems = problems  # type: ignore[attr-defined]
    return page


def sos(site: Site, pair: Pair) -> dict[str, Any]:
    """Her SOS from home, him 3 km away: one critical alert and nothing else."""
    site.fixes((pair.ankle, north(3000), HOME_LON))
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    site.call("POST", "/v1/me/sos", {"position": {"lat": HOME_LAT, "lon": HOME_LON, "accuracy_m": 10}}, her)
    found = [a for a in site.call("GET", "/v1/alerts").json() if a["kind"] == "sos" and a["protected_person"] == pair.victim]  # fmt: skip
    assert len(found) == 1, found
    return found[0]


def test_a_critical_alert_rings_until_it_is_acknowledged(site: Site, desk: Any) -> None:
    page = operator_page(site, desk)
    assert alarm(page)["pending"] == [] and alarm(page)["plays"]["critical"] == 0
    alert = sos(site, site.pair())
    # it keeps ringing: the urgent pattern again every 1.5 s while nobody acknowledges it
    until(page, lambda s: s["ringing"] == ["critical"] and s["plays"]["critical"] >= 3)
    expect(page.locator("body")).to_have_attribute("data-alarm", "critical")
    expect(page.get_by_test_id("alarm-state")).to_have_text("긴급 경보 미확인")

    page.get_by_test_id(f"step-acknowledged-{alert['id']}").click()
    stopped = until(page, lambda s: s["pending"] == [] and s["ringing"] == [])
    time.sleep(2)  # longer than the pattern's repeat: no further play
    assert alarm(page)["plays"]["critical"] == stopped["plays"]["critical"]
    expect(page.locator("body")).to_have_attribute("data-alarm", "")
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_warning_chimes_once_and_does_not_repeat(site: Site, desk: Any) -> None:
    page = operator_page(site, desk)
    pair = site.pair()
    # him 500 m north of her home: inside the warning distance (1 km), outside the violation's and
    # her home zone's
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(500), HOME_LON))
    kinds = [a["kind"] for a in site.call("GET", "/v1/alerts").json() if a["subject"] == pair.subject]
    assert kinds == ["proximity_warning"]
    chimed = until(page, lambda s: s["plays"]["medium"] == 1)
    time.sleep(3)
    after = alarm(page)
    assert after["plays"] == chimed["plays"] and after["plays"]["medium"] == 1
    assert after["pending"] == [] and after["ringing"] == []


def test_a_mute_silences_for_its_timeout_and_a_new_critical_alert_still_rings(site: Site, desk: Any) -> None:
    page = operator_page(site, desk)
    sos(site, site.pair())
    until(page, lambda s: s["ringing"] == ["critical"])

    page.get_by_test_id("mute").click()
    page.get_by_test_id("mute-5").click()
    muted = until(page, lambda s: s["mutedUntil"] is not None)
    assert muted["ringing"] == [] and muted["pending"] == ["critical"] and 295 <= muted["mutedLeftS"] <= 300
    expect(page.get_by_test_id("alarm")).to_have_attribute("data-muted", "true")
    expect(page.get_by_test_id("alarm-state")).to_have_text(re.compile(r"^경보음 꺼짐 · [45]:\d\d 남음$"))
    expect(page.get_by_test_id("unmute")).to_be_visible()
    time.sleep(2)
    assert alarm(page)["plays"] == muted["plays"]  # silent while muted

    page.evaluate("window.vigilAlarm.advance(4 * 60_000)")  # four of its five minutes pass
    assert alarm(page)["mutedUntil"] is not None
    expect(page.get_by_test_id("alarm-state")).to_have_text(re.compile(r"^경보음 꺼짐 · 0:\d\d 남음$"))
    page.evaluate("window.vigilAlarm.advance(60_000)")  # and the fifth: it rings again by itself
    resumed = until(
        page, lambda s: s["mutedUntil"] is None and s["plays"]["critical"] > muted["plays"]["critical"]
    )
    assert resumed["lastMuteEnd"] == "timeout" and resumed["ringing"] == ["critical"]
    expect(page.get_by_test_id("alarm")).to_have_attribute("data-muted", "false")

    # muted again, for 15 minutes; another victim's SOS ends the mute and rings at once
    page.get_by_test_id("mute").click()
    page.get_by_test_id("mute-15").click()
    again = until(page, lambda s: s["mutedUntil"] is not None)
    sos(site, site.pair())
    rung = until(
        page, lambda s: s["mutedUntil"] is None and s["plays"]["critical"] > again["plays"]["critical"]
    )
    assert rung["lastMuteEnd"] == "critical" and rung["ringing"] == ["critical"]
    assert page.problems == []  # type: ignore[attr-defined]


def test_until_the_page_has_had_a_gesture_it_asks_for_a_click(site: Site, desk: Any) -> None:
    page = desk.new_page()
    # signed in with a purpose already stated in this tab, so the page opens on the map with no
    # click or key pressed (either would count as the gesture)
    held = json.dumps({"code": PURPOSE, "reason": REASON})
    page.add_init_script(
        f"sessionStorage.setItem('vigil.token', {json.dumps(site.tokens['operator'])});"
        f"sessionStorage.setItem('vigil.purpose', {json.dumps(held)});"
    )
    # Wait on the network only: Playwright's queries into the page count as a user's activation,
    # and one made before the alarm's audio exists would let it start unprompted.
    with page.expect_response(lambda r: "/v1/positions" in r.url):
        page.goto(f"{site.url}/control/")
    expect(page.get_by_test_id("alarm")).to_be_visible()
    expect(page.get_by_test_id("alarm")).to_have_attribute("data-sound", "off")
    prompt = page.get_by_test_id("sound-enable")
    expect(prompt).to_have_text("🔈 눌러서 경보음 켜기")
    prompt.click()
    until(page, lambda s: s["unlocked"])
    expect(prompt).to_be_hidden()
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(page.get_by_test_id("mute")).to_have_text("🔇 Mute")
