"""Claiming an incident in the control centre, in a real browser: the first operator claims it and
the queue says so to everyone ("claimed by you" / "claimed by X · N s ago"); a second operator who
opens it sees the claim, and takes it over only after confirming; the first then sees it taken."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from test_control import approach, english, sign_in, watch
from web_kit import SOON, Site

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


def test_an_operator_claims_an_incident_and_a_second_takes_it_over_after_confirming(
    site: Site, desk: Any
) -> None:
    pair = site.pair()
    alert = approach(site, pair)
    incident = site.call("GET", f"/v1/alerts/{alert['id']}").json()["incident"]
    second = site.account(Role.OPERATOR)

    first_page = desk.new_page()
    problems = watch(first_page)
    sign_in(first_page, site, "operator")
    english(first_page)
    entry = first_page.locator(f"[data-testid=incident-item][data-incident-id='{incident}']")
    entry.get_by_test_id("incident-head").click()
    panel = first_page.get_by_test_id("claim-panel")
    expect(panel.get_by_test_id("incident-detail-claim")).to_have_text("not claimed")
    panel.get_by_test_id("claim").click()
    expect(panel.get_by_test_id("incident-detail-claim")).to_contain_text("claimed by you")
    expect(panel.get_by_test_id("claim-release")).to_be_visible()
    me = site.call("GET", f"/v1/incidents/{incident}").json()["claim"]["user"]

    other_page = desk.new_page()
    problems += watch(other_page)
    sign_in(other_page, site, second, role="operator")
    english(other_page)
    other_entry = other_page.locator(f"[data-testid=incident-item][data-incident-id='{incident}']")
    # the queue tells everyone who is working it, and since when
    expect(other_entry.get_by_test_id("incident-claim")).to_contain_text(f"claimed by {me} · ")
    expect(other_entry.get_by_test_id("incident-claim")).to_contain_text("ago")
    other_entry.get_by_test_id("incident-head").click()
    other_panel = other_page.get_by_test_id("claim-panel")
    expect(other_panel.get_by_test_id("incident-detail-claim")).to_contain_text(f"claimed by {me}")
    # one click takes nothing: it asks, and a cancel leaves the claim where it was
    other_panel.get_by_test_id("take-over").click()
    ask = other_panel.get_by_test_id("take-over-confirm")
    expect(ask).to_contain_text(f"{me} is working this incident. Take it over?")
    ask.get_by_test_id("take-over-cancel").click()
    expect(ask).not_to_be_attached()
    assert site.call("GET", f"/v1/incidents/{incident}").json()["claim"]["user"] == me

    other_panel.get_by_test_id("take-over").click()
    expect(other_panel.get_by_test_id("take-over-confirm-yes")).to_be_focused()
    other_page.keyboard.press("Enter")
    expect(other_panel.get_by_test_id("incident-detail-claim")).to_contain_text("claimed by you")
    assert site.call("GET", f"/v1/incidents/{incident}").json()["claim"]["user"] == second
    trail = site.call("GET", "/v1/audit?action=incident.claim", who=site.account(Role.AUDITOR)).json()
    assert any(e["actor"] == second and e["detail"].get("taken_from") == me for e in trail)

    # the first operator's page shows it taken over (claims are re-read, not pushed)
    first_page.reload()
    english(first_page)
    first_page.locator(f"[data-testid=incident-item][data-incident-id='{incident}']").get_by_test_id(
        "incident-head"
    ).click()
    expect(first_page.get_by_test_id("incident-detail-claim")).to_contain_text(f"claimed by {second}")
    expect(first_page.get_by_test_id("take-over")).to_be_visible()
    assert problems == []
