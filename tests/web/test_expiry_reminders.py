"""Reminders before an order ends, in the control centre's top bar (issue 18): a court's order made
through a police case ends in five days; the server's sweep (every second here) tells his probation
officer and the case's investigator; each sees the count in the top bar, reads the list (axe-core's
WCAG 2.1 AA rules, both languages) and is taken to where the order is worked on: the case for the
police, the caseload for probation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from test_accessibility import violations
from test_control import sign_in, watch
from web_kit import SOON, Site, shoot

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


def reminded(site: Site, who: str) -> list[Any]:
    """The reminders `who` has, once the server's sweep has run (it runs every second here)."""
    deadline = time.monotonic() + 20
    while True:
        found = site.call("GET", "/v1/me/reminders", who=who).json()
        if found or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.2)


@pytest.mark.site_settings(order_reminder_every_s=1)
def test_both_agencies_see_an_order_about_to_end_and_are_taken_to_it(site: Site, people: Any) -> None:
    pair = site.pair()
    investigator = site.account(Role.POLICE_INVESTIGATOR, areas=("31",))
    case = {
        "kind": "stalking", "area": "31130", "station": "남양주남부경찰서",
        "suspect": {"name": f"Kim {pair.n}", "subject_id": pair.subject},
        "victim": {"name": f"Lee {pair.n}", "phone": "010-0000-0000"}, "offences": ["stalking"], "measures_requested": ["3-2"],
    }  # fmt: skip
    site.call("PUT", "/v1/cases/C-R1", case, who=investigator)
    until = (datetime.now(UTC) + timedelta(days=5, hours=2)).isoformat()
    decision = {
        "measure": "3-2", "granted": True, "court_reference": "2026초기77", "decided_on": "2026-12-06",
        "valid_until": until,
    }  # fmt: skip
    order = site.call("POST", "/v1/cases/C-R1/decisions", decision, who=investigator).json()["order_id"]
    assert [r["order"] for r in reminded(site, "probation_officer")] == [order]
    assert [r["cases"] for r in reminded(site, investigator)] == [["C-R1"]]
    found: list[str] = []

    probation = people()
    problems = watch(probation)
    sign_in(probation, site, "probation_officer")
    button = probation.get_by_test_id("reminders")
    expect(button).to_have_text("만료 알림 1")
    expect(button).to_have_attribute("data-count", "1")
    button.click()
    panel = probation.get_by_test_id("reminders-panel")
    item = panel.locator(f"[data-testid=reminder][data-order='{order}']")
    expect(item).to_contain_text(f"명령 {order}: 5일 후 만료")
    expect(item).to_contain_text(f"대상자 {pair.subject}")
    found += violations(probation, "reminders (ko)")
    shoot(probation, "reminders-ko.png")
    probation.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(item).to_contain_text(f"Order {order} ends in 5 days")
    expect(button).to_have_text("Expiring 1")
    found += violations(probation, "reminders (en)")
    probation.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_be_focused()
    button.click()
    item.get_by_test_id("reminder-open").click()
    expect(probation.get_by_test_id("caseload-page")).to_be_visible()
    expect(probation.get_by_test_id("caseload-expiring")).to_contain_text(order)
    expect(probation.get_by_test_id("caseload-reminded")).to_contain_text("reminded")

    police = people()
    problems += watch(police)
    sign_in(police, site, investigator, purpose=False, role="police_investigator")
    expect(police.get_by_test_id("reminders")).to_have_text("만료 알림 1")
    police.get_by_test_id("reminders").click()
    police.get_by_test_id("reminder-open").click()
    expect(police.get_by_test_id("case-detail")).to_have_attribute("data-case-id", "C-R1")
    expect(police.get_by_test_id("case-order-reminded")).to_contain_text("만료 알림 보냄(14일 전)")

    # others have no reminders to be shown: the button stays hidden for an operator
    operator = people()
    problems += watch(operator)
    sign_in(operator, site, "operator")
    expect(operator.get_by_test_id("nav")).to_be_visible()
    expect(operator.get_by_test_id("reminders")).to_be_hidden()
    assert found == []
    assert problems == []
