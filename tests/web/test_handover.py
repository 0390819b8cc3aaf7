"""The shift handover and notes on a person, in a real browser: a probation officer's note written in
the registry beside the subject's record, then the operator's "Handover" view with the open incident
(its claim and latest escalation), what changed and the notes written, in both languages, and the
page as printed (print CSS: the handover alone, no buttons)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from test_control import approach, english, sign_in, watch
from web_kit import SOON, Site, shoot

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


def test_a_note_written_in_the_registry_reaches_the_handover_which_prints_alone(
    site: Site, desk: Any
) -> None:
    pair = site.pair()
    alert = approach(site, pair)
    incident = site.call("GET", f"/v1/alerts/{alert['id']}").json()["incident"]
    site.call("POST", f"/v1/incidents/{incident}/claim", {})

    # a probation officer writes a note on his subject, beside the record
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "probation_officer")
    english(page)
    page.get_by_test_id("nav-handover").wait_for(state="hidden")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    notes = page.get_by_test_id("reg-notes")
    expect(notes.get_by_test_id("person-notes")).to_contain_text("No notes.")
    notes.get_by_test_id("note-text").fill("Starts a new job in Suwon on Monday")
    notes.get_by_test_id("note-save").click()
    expect(notes.get_by_test_id("person-note")).to_have_count(1)
    expect(notes.get_by_test_id("person-note")).to_contain_text("Starts a new job in Suwon on Monday")
    stored = site.call("GET", f"/v1/subjects/{pair.subject}/notes").json()
    assert [n["author_role"] for n in stored] == ["probation_officer"]
    page.close()

    # the operator's handover
    page = desk.new_page()
    problems += watch(page)
    sign_in(page, site, "operator")
    english(page)
    page.get_by_test_id("nav-handover").click()
    view = page.get_by_test_id("handover-page")
    row = view.locator(f"[data-testid=handover-open-row][data-incident-id='{incident}']")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("handover-claim")).to_contain_text("claimed by")
    expect(row).to_contain_text("Proximity violation")
    expect(view.get_by_test_id("handover-counts")).to_contain_text("opened")
    expect(view.get_by_test_id("handover-opened")).to_contain_text(pair.subject)
    expect(view.get_by_test_id("handover-note")).to_contain_text("Starts a new job in Suwon on Monday")
    shoot(page, "control-handover-en.png")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(view.get_by_test_id("handover-open-title")).to_contain_text("진행 중인 사건")
    expect(page.get_by_test_id("nav-handover")).to_have_text("근무 인계")
    shoot(page, "control-handover-ko.png")

    # printed: the handover alone, without the buttons or the header
    page.emulate_media(media="print")
    expect(page.get_by_test_id("handover-print")).to_be_hidden()
    expect(page.get_by_test_id("nav")).to_be_hidden()
    expect(view.get_by_test_id("handover-open")).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.get_by_test_id("handover-print")).to_be_visible()
    assert problems == []
