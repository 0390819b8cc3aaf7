"""The victim app tells her, in Korean and English, when an operator re-activated her account or
replaced her device's credential: her open session keeps working, learns of it at the next status
poll, and keeps the notice until she says she has read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from web_kit import HOME_LAT, HOME_LON, PHONE, SOON, Site, north, shoot

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    context.set_default_timeout(SOON)
    yield context
    context.close()


def test_her_open_app_shows_that_her_account_was_reactivated(site: Site, phone: Any) -> None:
    pair = site.pair()
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(3000), HOME_LON))
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    expect(page.locator("#account-notices")).to_be_hidden()

    # her account speaks for her: a new code for her is a re-activation, by an operator, with a reason
    site.call("POST", f"/v1/protected-persons/{pair.victim}/activation", {"reason": "새 휴대폰 등록 요청"})
    notice = page.locator(".account-notice")
    expect(notice).to_be_visible()  # at the next poll, in the session she already had
    expect(notice).to_contain_text("상황실 운영자가")
    expect(notice).to_contain_text("사유: 새 휴대폰 등록 요청")
    expect(notice).to_contain_text("112")
    expect(notice.locator("a[href='tel:112']")).to_be_visible()
    page.get_by_role("button", name="EN").click()
    expect(notice).to_contain_text("an operator re-activated your account")
    expect(notice).to_contain_text("If you did not ask for this, call 112")
    shoot(page, "victim-account-notice.png")

    # her device's credential replaced: a second notice; read ones stay dismissed across polls
    site.call("POST", f"/v1/devices/{pair.phone}/credentials", {"reason": "phone replaced"})
    expect(page.locator(".account-notice")).to_have_count(2)
    expect(page.locator(".account-notice").first).to_contain_text(
        f"replaced the credential of your device ({pair.phone})"
    )
    for _ in range(2):
        page.locator(".account-notice-ok").first.click()
    expect(page.locator("#account-notices")).to_be_hidden()
    page.wait_for_timeout(3500)  # a poll later: still dismissed
    expect(page.locator("#account-notices")).to_be_hidden()
    assert errors == []
