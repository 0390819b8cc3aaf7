"""Each role's scope in the control centre's header, in a real browser: the probation officer's
caseload, the dispatcher's jurisdiction by name (Korean, then English after the switch), the field
officer's incidents, everything for an operator, no one's records for an administrator."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from web_kit import SOON, Site, state_purpose

expect.set_options(timeout=SOON)
pytestmark = [pytest.mark.slow, pytest.mark.fresh_site]  # a real server and Chromium; counts from zero


def _signed_in(desk: Any, site: Site, who: str, *, purpose: bool = True) -> Any:
    page = desk.new_page()
    page.goto(f"{site.url}/control/?token={site.tokens[who]}")
    header = page.get_by_test_id("role")
    expect(header).to_have_attribute("data-role", who)
    if purpose:
        state_purpose(page)
    return header


def test_the_header_says_what_each_role_may_see(desk: Any, site: Site) -> None:
    site.pair()  # S1, in the probation officer's caseload
    site.pair()
    header = _signed_in(desk, site, "probation_officer")
    expect(header).to_have_attribute("data-scope", "caseload")
    expect(header).to_contain_text("담당 대상자 2명")

    header = _signed_in(desk, site, "police_dispatcher")
    expect(header).to_have_attribute("data-scope", "jurisdiction")
    expect(header).to_contain_text("관할 경기도")
    header.page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(header).to_contain_text("jurisdiction: Gyeonggi-do")
    header.page.get_by_test_id("language").get_by_role("button", name="KO").click()

    expect(_signed_in(desk, site, "field_officer")).to_contain_text("배정된 사건 0건")
    expect(_signed_in(desk, site, "operator")).to_contain_text("전체 관제 대상")
    expect(_signed_in(desk, site, "admin", purpose=False)).to_contain_text("위치·경보 열람 없음")
