"""The registry's forms and the three apps' shared look, in a real browser (issue 17).

The registry checks a form before sending it and says what the server still refuses in the page's
language, next to the field (a subject without a name, a phone "abc", an id taken); its messages and
its confirmations follow a language switch; ending an order asks first; people are picked by
searching, within what the user may see, and an order shows its parties by name. Korean breaks
between words in all three apps, which share one palette. The victim app keeps SOS (and 112) on
screen in every state at 390x844 and 360x640, and says each thing once."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from web_kit import HOME_LAT, HOME_LON, M_PER_DEG_LAT, SOON, Pair, Site, north, state_purpose

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

SIZES = ({"width": 390, "height": 844}, {"width": 360, "height": 640})


def sign_in(page: Page, site: Site, who: str) -> None:
    page.goto(f"{site.url}/control/")
    page.get_by_test_id("token-input").fill(site.tokens[who])
    page.get_by_test_id("login-submit").click()
    state_purpose(page)
    expect(page.get_by_test_id("purpose-step")).to_be_hidden()


def errors_of(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def writes(page: Page) -> list[str]:
    """Every PUT and POST the page sends to the registry."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}") if r.method in ("PUT", "POST") else None)
    return sent


def registry(page: Page, tab: str) -> None:
    """A new record of one kind in the registry, its form shown."""
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-tab-{tab}").click()
    expect(page.get_by_test_id(f"reg-tab-{tab}")).to_have_attribute("aria-current", "page")
    page.get_by_test_id("reg-new").click()
    expect(page.get_by_test_id("field-id")).to_have_value("")


def english(page: Page) -> None:
    page.get_by_test_id("language").get_by_role("button", name="EN").click()


def absent(site: Site, path: str) -> bool:
    r = site.http.get(path, headers={"Authorization": f"Bearer {site.tokens['operator']}"})
    return r.status_code == 404


# --- the registry forms ------------------------------------------------------------------------------


def test_a_subject_without_a_name_and_a_phone_abc_are_refused_in_the_page_language(
    site: Site, desk: Any
) -> None:
    page = desk.new_page()
    problems = errors_of(page)
    sent = writes(page)
    sign_in(page, site, "operator")
    subject = f"S-noname-{site.number()}"
    registry(page, "subjects")
    page.get_by_test_id("field-id").fill(subject)
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("error-name")).to_have_text("이름을 입력하세요.")
    expect(page.get_by_test_id("field-name")).to_have_attribute("aria-invalid", "true")
    english(page)  # the problem is said again in English, and what was typed stays
    expect(page.get_by_test_id("error-name")).to_have_text("Enter a name.")
    expect(page.get_by_test_id("field-id")).to_have_value(subject)

    person = f"P-abc-{site.number()}"
    page.get_by_test_id("reg-tab-protected").click()
    expect(page.get_by_test_id("field-phone")).to_be_visible()  # the new form, not the last one
    page.get_by_test_id("field-id").fill(person)
    page.get_by_test_id("field-name").fill("Choi Sora")
    page.get_by_test_id("field-phone").fill("abc")
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("error-phone")).to_have_text(
        "Not a phone number: use 7 to 15 digits (e.g. 010-1234-5678)."
    )
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(page.get_by_test_id("error-phone")).to_contain_text("전화번호 형식이 아닙니다")
    # checked in the browser: nothing was sent, and nothing is stored
    assert not [w for w in sent if "/v1/subjects/" in w or "/v1/protected-persons/" in w], sent
    assert absent(site, f"/v1/subjects/{subject}") and absent(site, f"/v1/protected-persons/{person}")

    # a good number is taken, and the confirmation follows the language too
    page.get_by_test_id("field-phone").fill("010-1234-5678")
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("reg-message")).to_have_text("저장되었습니다.")
    english(page)
    expect(page.get_by_test_id("reg-message")).to_have_text("Saved.")
    assert site.call("GET", f"/v1/protected-persons/{person}").json()["phone"] == "010-1234-5678"
    assert problems == []


def test_what_only_the_server_can_refuse_is_said_in_korean_next_to_its_field(site: Site, desk: Any) -> None:
    pair = site.pair()
    page = desk.new_page()
    problems = errors_of(page)
    sign_in(page, site, "operator")
    # an order naming no one the registry knows: only the server can tell
    registry(page, "orders")
    page.get_by_test_id("field-id").fill(f"O-ghost-{site.number()}")
    page.get_by_test_id("field-subject_id").fill("ghost")
    page.get_by_test_id("field-protected_person_id").fill(pair.victim)
    page.get_by_test_id("field-violation_distance_m").fill("100")
    page.get_by_test_id("field-warning_distance_m").fill("1000")
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("error-subject_id")).to_have_text("등록된 대상자의 ID가 아닙니다.")
    expect(page.get_by_test_id("error-general")).to_be_hidden()
    # a subject's id already naming a protected person (409 from the server, naming the id)
    page.get_by_test_id("reg-tab-subjects").click()
    # the subjects' form is drawn (the orders' had fields of the same names: filling before the
    # redraw lost the id, seen under load)
    expect(page.get_by_test_id("field-subject_id")).to_have_count(0)
    expect(page.get_by_test_id("field-legal_basis")).to_be_visible()
    page.get_by_test_id("field-id").fill(pair.victim)
    page.get_by_test_id("field-name").fill("Kang Dohyun")
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("error-id")).to_have_text(
        "이미 다른 사람이 쓰는 ID입니다. 다른 ID를 정하세요."
    )
    english(page)
    expect(page.get_by_test_id("error-id")).to_have_text(
        "This ID already names someone else. Choose another."
    )

    # the mapping itself: a field's own words, the code's, and the server's as a readable fallback
    said = page.evaluate(
        """async () => {
          const { problem } = await import("/web/control/registry.js");
          const { t } = await import("/web/common/i18n.js");
          const say = (p) => t(p.key, p.vars);
          return [
            say(problem("phone", "phone", "must be a phone number")),
            say(problem("zones.0.circle.radius_m", "missing", "Field required")),
            say(problem("notes", "something_new", "Value error, cannot be that")),
          ];
        }"""
    )
    assert said == [
        "Not a phone number: use 7 to 15 digits (e.g. 010-1234-5678).",
        "Required.",
        "Could not save (the server says: cannot be that)",
    ]
    assert problems == []


def test_ending_an_order_asks_first_in_the_current_language(site: Site, desk: Any) -> None:
    pair = site.pair()
    page = desk.new_page()
    problems = errors_of(page)
    sign_in(page, site, "operator")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id("reg-tab-orders").click()
    row = page.get_by_test_id(f"reg-row-{pair.order}")
    expect(row).to_contain_text(f"Kim {pair.n} → Lee {pair.n}")  # the parties by name
    row.click()
    expect(page.get_by_test_id("reg-parties")).to_contain_text(
        f"Kim {pair.n} ({pair.subject}) → Lee {pair.n}"
    )
    page.get_by_test_id("reg-end-order").click()
    box = page.get_by_test_id("reg-end-confirm-box")
    expect(box).to_contain_text(f"Kim {pair.n} → Lee {pair.n} 명령을 지금 종료할까요?")
    english(page)
    expect(box).to_contain_text(f"End the order Kim {pair.n} → Lee {pair.n} now?")
    page.get_by_test_id("reg-end-cancel").click()
    expect(box).not_to_be_attached()
    assert site.call("GET", f"/v1/orders/{pair.order}").json()["ended_at"] is None  # one click ends nothing

    page.get_by_test_id("reg-end-order").click()
    page.get_by_test_id("reg-end-confirm").click()
    expect(page.get_by_test_id("reg-message")).to_have_text("The order has ended.")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(page.get_by_test_id("reg-message")).to_have_text("명령을 종료했습니다.")
    assert site.call("GET", f"/v1/orders/{pair.order}").json()["ended_at"] is not None
    expect(page.get_by_test_id("reg-end-order")).not_to_be_attached()
    assert problems == []


def test_a_subject_zone_says_its_problem_and_its_saving_in_the_current_language(
    site: Site, desk: Any
) -> None:
    pair = site.pair()
    page = desk.new_page()
    problems = errors_of(page)
    sign_in(page, site, "operator")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    expect(page.get_by_test_id("field-id")).to_have_value(pair.subject)
    page.get_by_test_id("zone-draw-circle").click()
    box = page.locator("#regmap").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)
    page.mouse.click(cx + 40, cy)
    card = page.locator("[data-testid^=zone-card-]").last
    card.locator("[data-k=id]").fill("")
    card.locator("[data-testid^=zone-save-]").click()
    error = page.locator("[data-testid^=zone-card-]").last.locator("[data-testid^=zone-error-]")
    expect(error).to_have_text("구역 ID: 반드시 입력해야 합니다.")
    english(page)
    expect(error).to_have_text("Zone ID: Required.")
    card = page.locator("[data-testid^=zone-card-]").last
    card.locator("[data-k=id]").fill(f"{pair.subject}.school")
    card.locator("[data-testid^=zone-save-]").click()
    message = page.locator("[data-testid^=zone-card-]").last.locator("[data-testid^=zone-message-]")
    expect(message).to_have_text("Saved.")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(
        page.locator("[data-testid^=zone-card-]").last.locator("[data-testid^=zone-message-]")
    ).to_have_text("저장되었습니다.")
    zones = site.call("GET", f"/v1/subjects/{pair.subject}").json()["zones"]
    assert f"{pair.subject}.school" in {z["id"] for z in zones}
    assert problems == []


def test_people_are_picked_by_searching_their_names(site: Site, desk: Any) -> None:
    n = site.number()
    him, her = f"S-pick-{n}", f"P-pick-{n}"
    site.call("PUT", f"/v1/subjects/{him}", {"legal_basis": "parole", "name": f"Hwang Jiwoo {n}",
                                             "probation_officer": "u-probation_officer"})  # fmt: skip
    site.call("PUT", f"/v1/protected-persons/{her}", {"name": f"Seo Yuna {n}"})
    page = desk.new_page()
    problems = errors_of(page)
    sign_in(page, site, "operator")
    registry(page, "orders")
    order = f"O-pick-{n}"
    page.get_by_test_id("field-id").fill(order)
    page.get_by_test_id("field-subject_id").press_sequentially(f"jiwoo {n}")
    option = page.get_by_test_id("picker-subject_id").get_by_test_id(f"pick-{him}")
    expect(option).to_contain_text(f"Hwang Jiwoo {n}")
    option.click()
    expect(page.get_by_test_id("field-subject_id")).to_have_value(him)
    expect(page.get_by_test_id("picked-subject_id")).to_have_text(f"Hwang Jiwoo {n}")
    expect(page.get_by_test_id("picker-subject_id")).to_be_hidden()
    # by keyboard: down into the list, Enter on the one found
    page.get_by_test_id("field-protected_person_id").press_sequentially(f"yuna {n}")
    expect(page.get_by_test_id("picker-protected_person_id").get_by_role("option")).to_have_count(1)
    page.get_by_test_id("field-protected_person_id").press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("field-protected_person_id")).to_have_value(her)
    page.get_by_test_id("field-violation_distance_m").fill("100")
    page.get_by_test_id("field-warning_distance_m").fill("1000")
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("reg-parties")).to_contain_text(
        f"Hwang Jiwoo {n} ({him}) → Seo Yuna {n} ({her})"
    )
    assert site.call("GET", f"/v1/orders/{order}").json()["protected_person_id"] == her

    # a device's wearer: either kind of person
    page.get_by_test_id("reg-tab-devices").click()
    expect(page.get_by_test_id("field-kind")).to_be_visible()
    page.get_by_test_id("field-person_id").press_sequentially(f"Yuna {n}")
    expect(page.get_by_test_id("picker-person_id").get_by_test_id(f"pick-{her}")).to_contain_text("피해자")
    page.get_by_test_id("field-person_id").fill(f"Jiwoo {n}")
    expect(page.get_by_test_id("picker-person_id").get_by_test_id(f"pick-{him}")).to_contain_text("대상자")
    assert problems == []


def test_a_probation_officer_finds_only_whom_he_may_see(site: Site, desk: Any) -> None:
    n = site.number()
    mine, theirs, victim = f"S-mine-{n}", f"S-theirs-{n}", f"P-hers-{n}"
    site.call("PUT", f"/v1/subjects/{mine}", {"legal_basis": "parole", "name": f"Yoon Taeho {n}",
                                              "probation_officer": "u-probation_officer"})  # fmt: skip
    site.call("PUT", f"/v1/subjects/{theirs}", {"legal_basis": "parole", "name": f"Yoon Taemin {n}"})
    site.call("PUT", f"/v1/protected-persons/{victim}", {"name": f"Yoon Haeun {n}"})
    page = desk.new_page()
    problems = errors_of(page)
    sign_in(page, site, "probation_officer")
    registry(page, "orders")
    page.get_by_test_id("field-subject_id").press_sequentially("Yoon Tae")
    picker = page.get_by_test_id("picker-subject_id")
    expect(picker.get_by_test_id(f"pick-{mine}")).to_be_visible()
    expect(picker.get_by_test_id(f"pick-{theirs}")).not_to_be_attached()
    page.get_by_test_id("field-protected_person_id").press_sequentially(f"Haeun {n}")
    expect(page.get_by_test_id("picker-protected_person_id").get_by_test_id("picker-none")).to_be_visible()
    assert problems == []


# --- Korean words, and one palette, in all three apps ----------------------------------------------------

# Which words a Korean sentence in a narrow box has broken inside: each word's text should lie on one line.
BROKEN_WORDS = """() => {
  const box = document.createElement("div");
  box.style.cssText = "position:absolute;left:0;top:0;width:150px;font-size:16px;visibility:hidden";
  box.textContent = "가해자가 가까운 곳에 있습니다 상황실이 지켜보고 있습니다";
  const id = document.createElement("div");
  id.style.cssText = "position:absolute;left:0;top:200px;width:90px;font-size:16px;visibility:hidden";
  id.textContent = "AM-0123456789012345678901234567890123456789";
  document.body.append(box, id);
  const text = box.firstChild;
  const broken = [];
  let at = 0;
  for (const word of text.textContent.split(" ")) {
    const range = document.createRange();
    range.setStart(text, at);
    range.setEnd(text, at + word.length);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (lines.size > 1) broken.push(word);
    at += word.length + 1;
  }
  const style = getComputedStyle(box);
  const result = { broken, wordBreak: style.wordBreak, idOverflows: id.scrollWidth > id.clientWidth };
  box.remove();
  id.remove();
  return result;
}"""

PALETTE = """() => Object.fromEntries(["ok", "warning", "violation", "tamper", "silent", "subject", "protected"]
  .map((name) => [name, getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim()]))"""


@pytest.fixture
def small(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=SIZES[1], locale="ko-KR")
    context.set_default_timeout(SOON)
    yield context
    context.close()


def test_korean_breaks_between_words_and_the_palette_is_one_in_all_three_apps(site: Site, small: Any) -> None:
    palettes = {}
    for app in ("control", "field", "victim"):
        page = small.new_page()
        page.goto(f"{site.url}/{app}/")
        page.wait_for_load_state("networkidle")
        found = page.evaluate(BROKEN_WORDS)
        assert found == {"broken": [], "wordBreak": "keep-all", "idOverflows": False}, app
        palettes[app] = page.evaluate(PALETTE)
        if app == "field":  # the victim's pin and dot: her colour, not tampering's
            victim_dot = page.evaluate(
                "getComputedStyle(document.querySelector('.dot.victim')).backgroundColor"
            )
            assert victim_dot == "rgb(31, 111, 178)"  # --protected
        if app == "victim":
            her = page.evaluate("getComputedStyle(document.querySelector('#radar .me')).fill")
            assert her == "rgb(31, 111, 178)"
        page.close()
    assert palettes["control"] == palettes["field"] == palettes["victim"], palettes
    colours = palettes["control"]
    assert colours["protected"] != colours["tamper"] and all(colours.values())
    assert len({colours[k] for k in ("ok", "warning", "violation", "tamper", "silent", "protected")}) == 6


# --- the victim app: SOS within reach, each thing said once ------------------------------------------


def place(metres: float) -> tuple[float, float]:
    """A point `metres` north-east of her home."""
    lat = north(metres / math.sqrt(2))
    return lat, HOME_LON + metres / math.sqrt(2) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport=SIZES[0],
        geolocation={"latitude": HOME_LAT, "longitude": HOME_LON, "accuracy": 12},
        permissions=["geolocation"],
    )
    context.set_default_timeout(SOON)
    yield context
    context.close()


def her_app(site: Site, phone: Any, pair: Pair) -> Page:
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    page = phone.new_page()
    page.add_init_script("localStorage.setItem('vigil.language', 'en')")
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    return page


def within_reach(page: Page, state: str) -> None:
    """SOS and 112 wholly on screen at both sizes, at the top of the page and scrolled to its end."""
    for size in SIZES:
        page.set_viewport_size(size)
        for scroll in ("0", "document.body.scrollHeight"):
            page.evaluate(f"window.scrollTo(0, {scroll})")
            page.wait_for_timeout(50)
            for what in ("#sos", "#actions .call"):
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


def said_once(page: Page, state: str) -> None:
    """No sentence on her screen twice; the SOS hold told once; 112 advised at most once beside its button."""
    text = page.locator("#main").inner_text()
    sentences = [s.strip() for s in re.split(r"[.\n]", text) if len(s.strip()) > 3]
    repeated = {s for s in sentences if sentences.count(s) > 1}
    assert not repeated, (state, repeated, text)
    assert text.count("3 seconds") == 1, (state, text)
    assert text.lower().count("call 112") <= 2, (state, text)
    guidance = page.locator("#guidance li").all_inner_texts()
    status = page.locator("#status-text").inner_text()
    assert guidance and not any(g in status or status in g for g in guidance), (state, status, guidance)


def test_sos_is_within_reach_and_each_thing_said_once_in_every_state(site: Site, phone: Any) -> None:
    # safe: him far away
    pair = site.pair()
    # (his fixes spaced in time as a car could drive them: an impossible move would move no one)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, *place(2500)), seconds_ago=200)
    page = her_app(site, phone, pair)
    problems = errors_of(page)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "safe")
    within_reach(page, "safe")
    said_once(page, "safe")

    # nearby, beyond her view: the band
    site.fixes((pair.ankle, *place(800)), heading_deg=225, speed_mps=15.0, seconds_ago=100)
    expect(page.locator("#band")).to_be_visible()
    expect(page.locator("#status-text")).to_have_text("The control centre is watching.")
    within_reach(page, "band")
    said_once(page, "band")

    # nearby, within her view: the radar
    site.fixes((pair.ankle, *place(400)), heading_deg=225, speed_mps=15.0, seconds_ago=80)
    expect(page.locator("#near")).to_be_visible()
    within_reach(page, "near")
    said_once(page, "near")

    # danger
    site.fixes((pair.ankle, *place(60)), heading_deg=225, speed_mps=1.4)
    expect(status).to_have_attribute("data-status", "danger")
    within_reach(page, "danger")
    said_once(page, "danger")

    # discreet mode (a dim screen, no vibration): the same reach, each thing still said once
    page.locator("#discreet").click()
    expect(page.locator("html")).to_have_class(re.compile("discreet"))
    within_reach(page, "danger, discreet")
    said_once(page, "danger, discreet")
    page.locator("#discreet").click()
    expect(page.locator("html")).not_to_have_class(re.compile("discreet"))

    # and two account notices on top (the longest page there is)
    site.call("POST", f"/v1/protected-persons/{pair.victim}/activation", {"reason": "새 휴대폰 등록 요청"})
    site.call("POST", f"/v1/devices/{pair.phone}/credentials", {"reason": "phone replaced"})
    expect(page.locator(".account-notice")).to_have_count(2)
    within_reach(page, "danger with notices")

    # the server out of reach: the last status stays, with the notice
    page.route("**/v1/me/status", lambda route: route.abort())
    expect(page.locator("#offline")).to_be_visible()
    within_reach(page, "offline")
    page.unroute("**/v1/me/status")

    # her own SOS open, him far away: danger without a radar
    other = site.pair()
    site.fixes((other.phone, HOME_LAT, HOME_LON), (other.ankle, *place(5000)))
    page2 = her_app(site, phone, other)
    expect(page2.locator("#status")).to_have_attribute("data-status", "safe")
    sos = page2.locator("#sos").bounding_box()
    assert sos is not None
    page2.mouse.move(sos["x"] + sos["width"] / 2, sos["y"] + sos["height"] / 2)
    page2.mouse.down()
    expect(page2.locator("#sos-done")).to_be_visible(timeout=6000)
    page2.mouse.up()
    page2.locator("#sos-ok").click()
    expect(page2.locator("#status")).to_have_attribute("data-status", "danger")
    expect(page2.locator("#status-text")).to_have_text(
        "An emergency is open and the control centre is dealing with it."
    )
    within_reach(page2, "sos")
    said_once(page2, "sos")
    assert problems == []
