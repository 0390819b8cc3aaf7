"""A subject's profile for the police (issue 17) in a real browser: the control centre's alert detail
shows his photo, description, vehicle, addresses, order conditions and one-tap tel: links; the
registry form takes the profile's fields and a photo; the field terminal shows the photo and the
description of the incident's subject through its link."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_control import approach, english, sign_in, watch
from web_kit import PHONE, Site, shoot

from vigil.domain.model import Role

pytestmark = pytest.mark.slow  # a real server and Chromium

PROFILE = {
    "description": "180 cm, 마른 체격, 왼쪽 눈썹 위 흉터",
    "vehicle_plate": "12가 3456",
    "vehicle": "쏘나타, 회색",
    "home_address": "경기도 남양주시 화도읍 1-2",
    "work_address": "서울특별시 종로구 3",
}


def png() -> bytes:
    """A grey PNG of 2 by 2 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def with_profile(site: Site, subject: str) -> None:
    body = {"legal_basis": "stalking_provisional_measure", "name": f"Kim {subject}", **PROFILE}
    site.call("PUT", f"/v1/subjects/{subject}", body)
    r = site.http.put(
        f"/v1/subjects/{subject}/photo",
        content=png(),
        headers={"Authorization": f"Bearer {site.tokens['operator']}", "Content-Type": "image/png"},
    )
    assert r.status_code == 201, r.text


def test_the_alert_detail_shows_his_profile_with_call_links(site: Site, desk: Any) -> None:
    pair = site.pair()
    with_profile(site, pair.subject)
    alert = approach(site, pair)
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "police_dispatcher")
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    profile = page.get_by_test_id("alert-detail").get_by_test_id("profile")
    expect(profile.get_by_test_id("profile-description")).to_have_text(PROFILE["description"])
    expect(profile.get_by_test_id("profile-vehicle")).to_contain_text("12가 3456")
    expect(profile.get_by_test_id("profile-home")).to_have_text(PROFILE["home_address"])
    expect(profile.get_by_test_id("profile-order")).to_contain_text("100 m")
    photo = profile.get_by_test_id("profile-photo")
    expect(photo).to_be_visible()
    expect(photo).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    assert photo.evaluate("img => img.naturalWidth") == 2
    calls = profile.get_by_test_id("profile-call")
    victim = profile.locator("[data-testid=profile-contact][data-role=protected_person] a")
    expect(victim).to_have_attribute("href", "tel:01000000000")
    desk_call = profile.locator("[data-testid=profile-contact][data-role=desk] a")
    expect(desk_call).to_have_attribute("href", "tel:112")
    expect(calls).to_have_count(2)  # the probation officer has no phone on record: no link
    expect(profile).to_contain_text("보호관찰관")
    english(page)
    expect(page.get_by_test_id("alert-detail").get_by_test_id("profile")).to_contain_text("Probation officer")
    shoot(page, "control-profile.png")
    assert problems == []


def test_the_registry_takes_his_profile_and_photo(site: Site, desk: Any, tmp_path: Path) -> None:
    pair = site.pair()
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    form = page.get_by_test_id("reg-form")
    expect(form.get_by_test_id("field-id")).to_have_value(pair.subject)  # his record, not a new one
    expect(page.get_by_test_id("reg-photo")).to_be_visible()
    form.get_by_test_id("field-vehicle_plate").fill("가나다")  # no digit: not a plate
    form.get_by_test_id("reg-save").click()
    expect(form.get_by_test_id("error-vehicle_plate")).to_be_visible()
    for name, value in PROFILE.items():
        form.get_by_test_id(f"field-{name}").fill(value)
    form.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("reg-message")).not_to_be_empty()
    stored = site.call("GET", f"/v1/subjects/{pair.subject}").json()
    assert {k: stored[k] for k in PROFILE} == PROFILE

    photo = page.get_by_test_id("reg-photo")
    wrong = tmp_path / "not-a-photo.gif"
    wrong.write_bytes(b"GIF89a....")
    photo.get_by_test_id("reg-photo-file").set_input_files(str(wrong))
    photo.get_by_test_id("reg-photo-upload").click()
    expect(photo.get_by_test_id("reg-photo-error")).to_be_visible()
    good = tmp_path / "him.png"
    good.write_bytes(png())
    photo.get_by_test_id("reg-photo-file").set_input_files(str(good))
    photo.get_by_test_id("reg-photo-upload").click()
    expect(photo.get_by_test_id("reg-photo-img")).to_be_visible()
    expect(photo.get_by_test_id("reg-photo-img")).to_have_attribute("src", re.compile(r"^data:image/png"))
    assert problems == []


def test_the_field_terminal_shows_his_photo_and_description(site: Site, browser: Any) -> None:
    pair = site.pair()
    with_profile(site, pair.subject)
    alert = approach(site, pair)
    unit = site.account(Role.FIELD_OFFICER)
    link = site.call("PUT", f"/v1/alerts/{alert['id']}/assignments/{unit}").json()["link"]
    token = str(link["url"]).split("token=")[1]
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{site.url}/field/?incident={alert['id']}&token={token}")
        expect(page.get_by_test_id("field-description")).to_have_text(PROFILE["description"])
        photo = page.get_by_test_id("field-photo")
        expect(photo).to_be_visible()
        expect(photo).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        expect(photo).to_have_attribute("alt", "대상자 사진")
        # nothing else of his record on the terminal
        expect(page.locator("body")).not_to_contain_text(PROFILE["home_address"])
        expect(page.locator("body")).not_to_contain_text(PROFILE["vehicle_plate"])
        page.get_by_role("button", name="EN").click()
        expect(photo).to_have_attribute("alt", "Photo of the subject")
        shoot(page, "field-profile.png")
        assert errors == []
    finally:
        context.close()
