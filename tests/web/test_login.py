"""Password sign-in in a real browser: an operator signs in to the control centre with a user id and
password, states the purpose of her session, and gets the map; a wrong password says so, and five lock the account for 15 minutes; an
expired access token is renewed with the refresh token without her noticing (calls and the live
stream alike), and a session the server ended brings back the login; signing out ends the session on
the server. A protected person activates her account with the code an operator gave her, sees her
status, and later signs in with her user id and password."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from web_kit import HOME_LAT, HOME_LON, PHONE, SOCKETS, SOON, Site, north, state_purpose

from vigil.domain.model import Role

PASSWORD = "correct horse battery"
expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport=PHONE,
        geolocation={"latitude": HOME_LAT, "longitude": HOME_LON, "accuracy": 12},
        permissions=["geolocation"],
    )
    context.set_default_timeout(SOON)
    yield context
    context.close()


def errors_of(page: Page) -> list[str]:
    """Uncaught script errors (a refused login's 401 in the console is expected, so not those)."""
    found: list[str] = []
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


def operator(site: Site) -> str:
    """A new operator with a password (kim<n>: her own, so no other test locks or revokes it)."""
    user = f"kim{site.number()}"
    body = {"name": "Kim", "role": "operator", "password": PASSWORD}
    site.call("PUT", f"/v1/users/{user}", body, who="admin")
    return user


def sign_in(page: Page, site: Site, user: str, password: str) -> None:
    """Fill in the control centre's form and send it; back when the server has answered."""
    page.get_by_test_id("user-input").fill(user)
    page.get_by_test_id("password-input").fill(password)
    with page.expect_response("**/v1/auth/login"):
        page.get_by_test_id("password-submit").click()


def stored(page: Page, key: str) -> str | None:
    value = page.evaluate(f"sessionStorage.getItem('{key}')")
    assert value is None or isinstance(value, str)
    return value


def bearer(site: Site, token: str | None) -> int:
    """The status of GET /v1/me with this token."""
    return httpx.get(f"{site.url}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_an_operator_signs_in_with_a_password_and_out_again(site: Site, desk: Any) -> None:
    kim = operator(site)
    page = desk.new_page()
    errors = errors_of(page)
    page.goto(f"{site.url}/control/")
    expect(page.get_by_test_id("password-form")).to_be_visible()
    expect(page.get_by_test_id("token-input")).to_be_visible()  # the pasted token: still there
    sign_in(page, site, kim, PASSWORD)
    expect(page.get_by_test_id("role")).to_have_attribute("data-role", "operator")
    expect(page.get_by_test_id("role")).to_contain_text(kim)
    state_purpose(page)
    expect(page.locator("#map .leaflet-pane")).not_to_have_count(0)
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    access, refresh = stored(page, "vigil.token"), stored(page, "vigil.refresh")
    assert access and refresh
    assert bearer(site, access) == 200

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    expect(page.get_by_test_id("login-error")).to_be_hidden()
    assert stored(page, "vigil.token") is None and stored(page, "vigil.refresh") is None
    assert stored(page, "vigil.purpose") is None
    assert bearer(site, access) == 401  # the session ended on the server, not only in the page
    r = httpx.post(f"{site.url}/v1/auth/refresh", json={"refresh_token": refresh})
    assert r.status_code == 401
    assert errors == []


def test_a_wrong_password_says_so_and_five_lock_the_account(site: Site, desk: Any) -> None:
    kim = operator(site)
    page = desk.new_page()
    errors = errors_of(page)
    page.goto(f"{site.url}/control/")
    sign_in(page, site, kim, "not the password")
    error = page.get_by_test_id("login-error")
    expect(error).to_have_text("사용자 ID 또는 비밀번호가 올바르지 않습니다.")  # Korean first
    expect(page.get_by_test_id("password-input")).to_have_value("")
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(error).to_have_text("Wrong user id or password.")
    sign_in(page, site, "nobody", PASSWORD)  # an unknown user gets the same answer
    expect(error).to_have_text("Wrong user id or password.")
    for attempt in range(2, 5):
        sign_in(page, site, kim, f"wrong {attempt}")
        expect(error).to_have_text("Wrong user id or password.")
        expect(page.get_by_test_id("password-submit")).to_be_enabled()
    sign_in(page, site, kim, "wrong 5")
    expect(error).to_have_text(
        "The account is locked after too many wrong passwords. Try again in 15 minutes."
    )
    sign_in(page, site, kim, PASSWORD)  # locked: the right password does not open it either
    expect(error).to_contain_text("Try again in 15 minutes.")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(error).to_contain_text("15분 후에 다시 시도하세요")
    expect(page.get_by_test_id("monitor")).to_be_hidden()
    assert errors == []


@pytest.mark.site_settings(access_token_s=2)
def test_an_expired_access_token_is_renewed_unnoticed(site: Site, desk: Any) -> None:
    kim = operator(site)
    page = desk.new_page()
    page.add_init_script(SOCKETS)
    errors = errors_of(page)
    page.goto(f"{site.url}/control/")
    sign_in(page, site, kim, PASSWORD)
    state_purpose(page)
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    first = stored(page, "vigil.token")
    page.wait_for_timeout(2500)
    assert bearer(site, first) == 401  # expired

    # the live stream drops: it comes back with a renewed token (waited for as a new socket: the
    # state reads "live" until the page has handled the close)
    sockets = page.evaluate("window.__sockets.length")
    page.evaluate("window.__sockets.at(-1).close()")
    page.wait_for_function("n => window.__sockets.length > n", arg=sockets)
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    second = stored(page, "vigil.token")
    assert second and second != first
    assert page.evaluate("window.__sockets.at(-1).url").endswith(f"token={second}")

    # a call made with an expired token: refreshed and retried, the screen simply works
    page.wait_for_timeout(2500)
    page.get_by_test_id("nav-registry").click()
    expect(page.get_by_test_id("registry")).to_be_visible()
    expect(page.get_by_test_id("reg-form")).to_be_visible()
    third = stored(page, "vigil.token")
    assert third not in (first, second)
    expect(page.get_by_test_id("login")).to_be_hidden()

    # the server ends the session (an admin revokes her tokens): the next call brings the login back
    site.call("POST", f"/v1/users/{kim}/revoke", who="admin")
    page.get_by_test_id("nav-registry").click()  # the registry lists afresh
    expect(page.get_by_test_id("login")).to_be_visible()
    expect(page.get_by_test_id("login-error")).to_have_text("로그인 시간이 끝났습니다. 다시 로그인하세요.")
    assert stored(page, "vigil.token") is None and stored(page, "vigil.refresh") is None
    assert stored(page, "vigil.purpose") is None  # the purpose went with the session
    sign_in(page, site, kim, PASSWORD)  # and she signs in again
    expect(page.get_by_test_id("role")).to_have_attribute("data-role", "operator")
    expect(page.get_by_test_id("purpose-step")).to_be_visible()
    assert errors == []


def test_a_protected_person_activates_her_account_and_signs_in(site: Site, phone: Any) -> None:
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON))
    # she has an account already: a new code is an operator's, with a reason
    site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    issued = site.call(
        "POST", f"/v1/protected-persons/{pair.victim}/activation", {"reason": "new phone"}
    ).json()
    user = f"pp-{pair.victim}"
    assert issued["user"] == user
    page = phone.new_page()
    errors = errors_of(page)
    page.goto(f"{site.url}/victim/")
    expect(page.locator("#activate-card h2")).to_have_text("처음 사용하시나요?")  # Korean first
    expect(page.locator("#signin-hint")).to_contain_text("pp-")
    expect(page.locator("#login-token")).to_be_visible()  # the pasted code: still there
    page.get_by_role("button", name="EN").click()
    expect(page.locator("#activate-card h2")).to_have_text("First time here?")

    # checked before anything is sent: a short password, then two that differ
    page.locator("#activate-code").fill(issued["code"].lower())
    page.locator("#activate-password").fill("too short")
    page.locator("#activate-again").fill("too short")
    page.locator("#activate-submit").click()
    expect(page.locator("#activate-error")).to_have_text("The password needs at least 12 characters.")
    expect(page.locator("#activate-password")).to_have_attribute("aria-invalid", "true")
    page.locator("#activate-password").fill("my own long password")
    page.locator("#activate-submit").click()
    expect(page.locator("#activate-error")).to_have_text("The two passwords differ. Please type them again.")
    # a wrong code: the server says no
    page.locator("#activate-code").fill("AAAAAA-BBBBBB-CCCCCC")
    page.locator("#activate-again").fill("my own long password")
    page.locator("#activate-submit").click()
    expect(page.locator("#activate-error")).to_have_text(
        "The code is wrong or has expired. Ask the agency for a new one."
    )
    # the code she was given (typed in lower case): her status, and her user id for next time
    page.locator("#activate-code").fill(issued["code"].lower())
    page.locator("#activate-password").fill("my own long password")
    page.locator("#activate-again").fill("my own long password")
    page.locator("#activate-submit").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    expect(page.locator("#status-title")).to_have_text("You are safe")
    expect(page.locator("#welcome")).to_contain_text(user)
    assert stored(page, "vigil.refresh")

    # signing out ends the session; she signs in with her user id and password
    access = stored(page, "vigil.token")
    # the screen changes at once; the session ends on the server when the logout is answered (after
    # her alerts are stopped on this phone): wait for that answer, not for the screen
    with page.expect_response(lambda r: r.url.endswith("/v1/auth/logout"), timeout=20_000):
        page.locator("#main").get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-form")).to_be_visible()
    assert bearer(site, access) == 401
    page.locator("#signin-user").fill(user)
    page.locator("#signin-password").fill("not my password")
    page.locator("#signin-submit").click()
    expect(page.locator("#signin-error")).to_have_text("Wrong user id or password.")
    page.locator("#signin-user").fill(user)
    page.locator("#signin-password").fill("my own long password")
    page.locator("#signin-submit").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    expect(page.locator("#welcome")).to_be_hidden()
    # the code was for once only
    r = httpx.post(
        f"{site.url}/v1/auth/activate", json={"code": issued["code"], "password": "another long password"}
    )
    assert r.status_code == 401
    assert errors == []


@pytest.mark.site_settings(access_token_s=2)
def test_her_status_keeps_coming_when_her_access_token_expires(site: Site, phone: Any) -> None:
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON))
    site.account(Role.PROTECTED_PERSON, person_id=pair.victim)  # a new code for her is a re-activation
    code = site.call(
        "POST", f"/v1/protected-persons/{pair.victim}/activation", {"reason": "new phone"}
    ).json()["code"]
    page = phone.new_page()
    errors = errors_of(page)
    page.goto(f"{site.url}/victim/")
    page.locator("#activate-code").fill(code)
    page.locator("#activate-password").fill("my own long password")
    page.locator("#activate-again").fill("my own long password")
    page.locator("#activate-submit").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    first = stored(page, "vigil.token")
    with page.expect_response("**/v1/auth/refresh", timeout=6000):
        pass  # the status poll (every 3 s) meets the expired token and renews it
    expect(page.locator("#offline")).to_be_hidden()
    page.wait_for_timeout(500)
    assert stored(page, "vigil.token") not in (None, first)
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    expect(page.locator("#login")).to_be_hidden()
    assert errors == []
