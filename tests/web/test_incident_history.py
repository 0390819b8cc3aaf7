"""The control centre's queue and history (issue 17) in a real browser, in one scene to keep the suite
fast: two dangers (an approach in Namyangju, a subject at his victim's door in central Seoul); the
queue searched by radio number and filtered by area and state on the server; the keyboard (shortcut
help, "/" to search without firing shortcuts while typing, "n" to the critical entry, "a" to
acknowledge it, "o" to open it); the incident's track playback (the slider moves both parties and the
distance between them follows; play runs the clock); its printable report, in both languages,
printed without buttons or header; a person's playback from his marker; and the probation officer's
playback, without the victim's track."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from test_control import JONGNO, approach, english, sign_in, watch
from web_kit import HOME_LAT, HOME_LON, SOON, Site, north, shoot

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_the_queue_is_searched_and_worked_by_keyboard_and_an_incident_played_back_and_printed(
    site: Site, desk: Any
) -> None:
    near = site.pair()
    violation = approach(site, near)  # 2 km away 100 s ago, now 50 m from her door
    seoul = site.pair()
    site.fixes((seoul.phone, *JONGNO), (seoul.ankle, north(50, JONGNO[0]), JONGNO[1]))
    incidents = {i["subject"]: i for i in site.call("GET", "/v1/incidents").json()}
    mine, other = incidents[near.subject], incidents[seoul.subject]
    site.call("POST", f"/v1/incidents/{mine['id']}/claim", {})

    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    queue = page.get_by_test_id("queue")
    entry = queue.locator(f"[data-testid=incident-item][data-incident-id='{mine['id']}']")
    elsewhere = queue.locator(f"[data-testid=incident-item][data-incident-id='{other['id']}']")
    expect(entry).to_be_visible()
    expect(elsewhere).to_be_visible()

    # the shortcut help, and "/" to the search, where keys are typed, not obeyed
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcut-help")).to_be_visible()
    expect(page.get_by_test_id("shortcut-help")).to_contain_text("Next critical incident")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcut-help")).to_be_hidden()
    page.keyboard.press("/")
    search = page.get_by_test_id("queue-search")
    expect(search).to_be_focused()
    page.keyboard.type("on a?")  # typed into the search: no entry opened, nothing acknowledged
    expect(search).to_have_value("on a?")
    expect(page.get_by_test_id("shortcut-help")).to_be_hidden()
    expect(page.get_by_test_id("queue-empty")).to_have_text("No incidents match.")
    search.fill(mine["number"])
    expect(page.get_by_test_id("incident-item")).to_have_count(1)
    expect(entry).to_be_visible()

    # by area on the server: Seoul's Jongno-gu holds the other danger, not this one
    search.fill("")
    page.get_by_test_id("queue-area").select_option("11010")
    expect(elsewhere).to_be_visible()
    expect(entry).not_to_be_attached()
    page.get_by_test_id("queue-state").select_option("closed")
    expect(elsewhere).not_to_be_attached()
    page.get_by_test_id("queue-filter-clear").click()
    expect(page.get_by_test_id("queue-area")).to_have_value("")
    expect(entry).to_be_visible()
    expect(elsewhere).to_be_visible()

    # the keyboard: narrowed to this incident, "n" goes to it, "a" acknowledges it, "o" opens it
    search.fill(mine["number"])
    expect(page.get_by_test_id("incident-item")).to_have_count(1)
    search.press("Escape")
    expect(search).not_to_be_focused()
    page.keyboard.press("n")
    expect(entry).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("a")
    expect(entry.locator(f"[data-alert-id='{violation['id']}']")).to_have_attribute(
        "data-state", "acknowledged"
    )
    assert site.call("GET", f"/v1/alerts/{violation['id']}").json()["state"] == "acknowledged"
    page.keyboard.press("o")
    detail = page.get_by_test_id("incident-detail")
    expect(detail.get_by_test_id("incident-detail-number")).to_have_text(mine["number"])

    # playback: both parties, the slider moves them and the distance follows
    detail.get_by_test_id("incident-playback").click()
    playback = page.get_by_test_id("playback")
    him = playback.get_by_test_id(f"playback-pos-{near.subject}")
    her = playback.get_by_test_id(f"playback-pos-{near.victim}")
    expect(him).to_be_visible()
    expect(her).to_be_visible()
    # it starts at the first position in the range (his, 2 km away), not at the range's empty start
    distance = playback.get_by_test_id("playback-distance")
    expect(distance).not_to_have_attribute("data-metres", "")
    alerts = site.call("GET", f"/v1/incidents/{mine['id']}").json()["alerts"]
    since = min(when(a["opened_at"]) for a in alerts) - timedelta(minutes=5)
    far = when(violation["opened_at"]) - timedelta(seconds=100)  # his fix 2 km away
    slider = playback.get_by_test_id("playback-slider")
    slider.fill(str(int((far - since).total_seconds()) + 5))
    expect(distance).not_to_have_attribute("data-metres", "")
    assert int(distance.get_attribute("data-metres") or 0) > 1500
    expect(page.get_by_test_id(f"playback-marker-{near.subject}")).to_be_visible()
    start = float(him.get_attribute("data-lat") or 0)
    assert start > north(1500)
    shoot(page, "control-playback-en.png")
    slider.fill(slider.get_attribute("max") or "0")
    expect(distance).to_have_attribute("data-metres", re.compile(r"^[4-5]\d$"))
    assert float(him.get_attribute("data-lat") or 0) == pytest.approx(north(50), abs=1e-4)
    assert float(her.get_attribute("data-lat") or 0) == pytest.approx(HOME_LAT, abs=1e-4)
    assert float(her.get_attribute("data-lon") or 0) == pytest.approx(HOME_LON, abs=1e-4)
    slider.fill("0")  # five minutes before the first alert: before his first fix, he is nowhere
    expect(him).to_have_attribute("data-lat", "")
    expect(distance).to_have_attribute("data-metres", "")
    before = playback.get_by_test_id("playback-time").get_attribute("data-at")
    playback.get_by_test_id("playback-play").click()
    expect(playback.get_by_test_id("playback-time")).not_to_have_attribute("data-at", before or "")
    playback.get_by_test_id("playback-play").click()  # pause
    expect(playback.get_by_test_id("playback-play")).to_have_attribute("aria-pressed", "false")
    playback.get_by_test_id("playback-close").click()
    expect(playback).to_be_hidden()

    # the report: the incident, its key moments with both positions, printed alone
    detail.get_by_test_id("incident-report").click()
    report = page.get_by_test_id("report")
    expect(report.get_by_test_id("report-number")).to_have_text(mine["number"])
    moments = report.get_by_test_id("report-moment")
    expect(moments.first).to_have_attribute("data-change", "opened")
    acknowledged = report.locator("[data-testid=report-moment][data-change=acknowledged]")
    expect(acknowledged.first).to_contain_text("u-operator")  # by "a": each of its waiting alerts
    expect(report.get_by_test_id("report-generated")).to_contain_text("Asia/Seoul")
    expect(report.get_by_test_id("report-claim-step")).to_contain_text("claimed")
    shoot(page, "control-report-en.png")
    page.emulate_media(media="print")
    expect(report.get_by_test_id("report-print")).to_be_hidden()
    expect(page.get_by_test_id("nav")).to_be_hidden()
    expect(page.get_by_test_id("map")).to_be_hidden()
    expect(report.get_by_test_id("report-moments")).to_be_visible()
    page.emulate_media(media="screen")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(report).to_contain_text("사건 보고서")
    expect(report.get_by_test_id("report-print")).to_have_text("인쇄")
    shoot(page, "control-report-ko.png")
    report.get_by_test_id("report-back").click()
    expect(page.get_by_test_id("monitor")).to_be_visible()

    # a person's playback, from his marker: his track with the victim his order protects
    page.get_by_test_id(f"marker-{near.subject}").click()
    page.get_by_test_id("selection-playback").click()
    expect(playback.get_by_test_id("playback-title")).to_contain_text(near.subject)
    expect(playback.get_by_test_id(f"playback-pos-{near.subject}")).to_be_visible()
    expect(playback.get_by_test_id(f"playback-pos-{near.victim}")).to_be_visible()
    expect(playback.get_by_test_id("playback-range")).to_have_value("h1")
    assert problems == []

    # his probation officer plays the incident back: his subject's track, the victim's named as not
    # shown and never asked for (no refused call)
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "probation_officer")
    english(page)
    page.get_by_test_id("queue-search").fill(mine["number"])
    expect(page.get_by_test_id("incident-item")).to_have_count(1)
    page.get_by_test_id("incident-head").click()
    page.get_by_test_id("incident-playback").click()
    playback = page.get_by_test_id("playback")
    expect(playback.get_by_test_id(f"playback-pos-{near.subject}")).to_be_visible()
    expect(playback.get_by_test_id("playback-missing")).to_contain_text(near.victim)
    assert problems == []
