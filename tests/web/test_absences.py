"""Approved absences in a real browser: his probation officer approves one for a zone in the registry
(a problem found in the browser, then one only the server can find, each shown next to its field),
sees it in force, in the registry and on his caseload card; a police dispatcher reads it without a form to change it; the officer revokes it
after a confirmation. The section meets WCAG 2.1 AA in Korean and English (axe-core)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_accessibility import violations
from test_control import approach, english, sign_in
from web_kit import SOON, Site, script_errors, shoot

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

GYM = {"kind": "exclusion", "label": "gym", "circle": {"lat": 37.70, "lon": 127.30, "radius_m": 300}}


def signed_in(people: Any, site: Site, role: str, subject: str, problems: list[str]) -> tuple[Page, Any]:
    """A fresh browser for `role`, in English, on the subject's absences section; its uncaught
    script errors are added to `problems`."""
    page = people()
    problems += script_errors(page)
    sign_in(page, site, role)
    english(page)
    return page, open_subject(page, subject)


def open_subject(page: Page, subject: str) -> Any:
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{subject}").click()
    section = page.get_by_test_id("reg-absences")
    expect(section.get_by_test_id("absences")).to_have_attribute("aria-busy", "false")
    return section


def local_in(page: Page, hours: float) -> str:
    """A datetime-local value `hours` from now, in the browser's own time zone."""
    return str(
        page.evaluate(
            """(h) => { const d = new Date(Date.now() + h * 3600e3); const p = (n) => String(n).padStart(2, "0");
               return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }""",
            hours,
        )
    )


def test_an_officer_approves_an_absence_both_agencies_read_it_and_he_revokes_it(
    site: Site, people: Any
) -> None:
    pair = site.pair()
    approach(site, pair)  # an open alert in Gyeonggi: the dispatcher may read him
    home = f"{pair.order}.z1"  # the order's zone at her home
    gym = f"{pair.subject}.gym"
    site.call("PUT", f"/v1/subjects/{pair.subject}/zones/{gym}", GYM)
    stored = f"/v1/subjects/{pair.subject}/absences"

    problems: list[str] = []
    found: list[str] = []
    page, section = signed_in(people, site, "probation_officer", pair.subject, problems)
    expect(section.get_by_test_id("absences")).to_contain_text("No approved absences.")
    form = section.get_by_test_id("absence-form")
    expect(form).to_be_hidden()  # folded until asked for
    section.get_by_test_id("absence-new-toggle").click()
    expect(form.get_by_test_id("absence-zone")).to_have_value("")  # every zone and curfew, unless told
    expect(form.get_by_test_id("absence-starts")).not_to_have_value("")  # from now

    # found in the browser: no end, a reason too short; nothing is sent
    form.get_by_test_id("absence-reason-input").fill("work")
    form.get_by_test_id("absence-approve").click()
    expect(form.get_by_test_id("absence-error-ends_at")).to_have_text("Enter the end.")
    expect(form.get_by_test_id("absence-error-reason")).to_have_text(
        "Give the reason in at least 5 characters."
    )
    expect(form.get_by_test_id("absence-ends")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_test_id("absence-ends")).to_be_focused()
    # a window longer than a month, said in the language switched to
    form.get_by_test_id("absence-ends").fill(local_in(page, 24 * 40))
    form.get_by_test_id("absence-approve").click()
    expect(form.get_by_test_id("absence-error-ends_at")).to_have_text(
        "At most 31 days: a longer absence is a change of his order."
    )
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(form.get_by_test_id("absence-error-ends_at")).to_have_text(
        "최대 31일입니다. 더 긴 외출은 명령 변경 사항입니다."
    )
    found += violations(page, "absences with problems (ko)")
    shoot(page, "control-absences-problems-ko.png")
    english(page)
    assert site.call("GET", stored).json() == []

    # found by the server alone: the gym zone was removed after the form was drawn
    site.call("DELETE", f"/v1/subjects/{pair.subject}/zones/{gym}")
    form.get_by_test_id("absence-zone").select_option(gym)
    form.get_by_test_id("absence-ends").fill(local_in(page, 8))
    form.get_by_test_id("absence-reason-input").fill("night shift at the Guri logistics centre")
    form.get_by_test_id("absence-approve").click()
    expect(form.get_by_test_id("absence-error-zone_id")).to_have_text(
        "Not one of his zones in force. Choose again from the list."
    )
    expect(form.get_by_test_id("absence-zone")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_test_id("absence-error-ends_at")).to_be_hidden()
    expect(form.get_by_test_id("absence-reason-input")).to_have_value(
        "night shift at the Guri logistics centre"
    )
    assert site.call("GET", stored).json() == []

    # her home's zone: approved, in force
    form.get_by_test_id("absence-zone").select_option(home)
    form.get_by_test_id("absence-approve").click()
    expect(section.get_by_test_id("absence-message")).to_have_text("Approved.")
    item = section.get_by_test_id("absence")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-state", "in_force")
    expect(item.get_by_test_id("absence-state")).to_have_text("In force")
    expect(item.get_by_test_id("absence-zone")).to_have_text(f"home ({home})")
    expect(item.get_by_test_id("absence-reason")).to_have_text("night shift at the Guri logistics centre")
    expect(item).to_contain_text("Approved by u-probation_officer")
    expect(form.get_by_test_id("absence-reason-input")).to_have_value("")  # a fresh form (still open)
    [absence] = site.call("GET", stored).json()
    assert (absence["zone"], absence["in_force"], absence["approved_by"]) == (
        home,
        True,
        "u-probation_officer",
    )
    found += violations(page, "absences (en)")
    shoot(page, "control-absences-en.png")
    # and on his card in the caseload
    page.get_by_test_id("nav-caseload").click()
    card = page.locator(f"[data-testid=caseload-subject][data-subject-id='{pair.subject}']")
    line = card.get_by_test_id("caseload-absence")
    expect(line).to_have_attribute("data-in-force", "true")
    expect(line).to_contain_text(f"Approved absence (home ({home})) until")
    found += violations(page, "caseload with an absence (en)")
    page.close()

    # a police dispatcher reads it: no form, no revoke
    page, section = signed_in(people, site, "police_dispatcher", pair.subject, problems)
    item = section.get_by_test_id("absence")
    expect(item).to_have_attribute("data-state", "in_force")
    expect(item.get_by_test_id("absence-reason")).to_have_text("night shift at the Guri logistics centre")
    expect(section.get_by_test_id("absence-new")).to_have_count(0)
    expect(item.get_by_test_id("absence-revoke")).to_have_count(0)
    found += violations(page, "absences read only (en)")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(item.get_by_test_id("absence-state")).to_have_text("적용 중")
    found += violations(page, "absences read only (ko)")
    page.close()

    # his officer revokes it, after a question (cancelled once)
    page, section = signed_in(people, site, "probation_officer", pair.subject, problems)
    item = section.get_by_test_id("absence")
    item.get_by_test_id("absence-revoke").click()
    expect(item.get_by_test_id("absence-revoke-confirm")).to_be_focused()
    found += violations(page, "absence revoke question (en)")
    item.get_by_test_id("absence-revoke-cancel").click()
    expect(item.get_by_test_id("absence-revoke")).to_be_focused()
    assert site.call("GET", stored).json()[0]["revoked_at"] is None
    item.get_by_test_id("absence-revoke").click()
    item.get_by_test_id("absence-revoke-confirm").click()
    expect(item).to_have_attribute("data-state", "revoked")
    expect(item.get_by_test_id("absence-revoked")).to_contain_text("Revoked by u-probation_officer")
    expect(item.get_by_test_id("absence-revoke")).to_have_count(0)
    [absence] = site.call("GET", stored).json()
    assert (absence["revoked_by"], absence["in_force"]) == ("u-probation_officer", False)
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(item.get_by_test_id("absence-state")).to_have_text("취소됨")
    found += violations(page, "absences (ko)")
    assert found == [], "\n".join(found)
    assert problems == []
