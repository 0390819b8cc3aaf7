"""The control centre (/control/) in a real browser: each role signs in with its token, states the
purpose of the session where it will see people, and gets its screens (an operator who states none
gets no map; a dispatcher sees only the alerts of their jurisdiction; an administrator a note, not
a broken map); a simulated approach reaches the map and the alert queue over the WebSocket with no
reload; the alert is acknowledged and dispatched from the queue with notes the server stores; the
alert detail shows the distance and the timeline; a registry form shows a 422 reason next to its
field; and the KO/EN switch changes the visible text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from web_kit import (
    HOME_LAT,
    HOME_LON,
    PHONE,
    PURPOSE,
    REASON,
    SOCKETS,
    SOON,
    Pair,
    Site,
    north,
    shoot,
    state_purpose,
)

from vigil.domain.model import Role
from vigil.store import tables

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium

JONGNO = (37.5665, 126.978)  # central Seoul (11010): outside the dispatcher's Gyeonggi


def sign_in(page: Page, site: Site, who: str, *, purpose: bool = True, role: str | None = None) -> None:
    """Through the login screen: paste the token, as a user would, then state the session's purpose
    (asked of everyone who will see people; purpose=False leaves the step to the test). `who` names
    the token; `role` is its role where `who` is an account's id rather than a role."""
    page.goto(f"{site.url}/control/")
    page.get_by_test_id("token-input").fill(site.tokens[who])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("role")).to_have_attribute("data-role", role or who)
    if purpose:
        state_purpose(page)
        expect(page.get_by_test_id("purpose-step")).to_be_hidden()


def watch(page: Page, *, offline: bool = False) -> list[str]:
    """Collect the page's uncaught errors and console errors, so a broken script fails the test (no
    role is asked for what it may not see: a refused call is an error too). `offline`: the test cuts
    the server off, so failed connections are expected and not counted."""
    problems: list[str] = []

    def console(message: Any) -> None:
        cut_off = offline and ("ERR_" in message.text or "WebSocket" in message.text)
        if message.type == "error" and not cut_off:
            problems.append(f"{message.text} {message.location.get('url', '')}")

    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", console)
    return problems


def rgb(hex_colour: str) -> str:
    """#2e7d4f as the browser computes it: rgb(46, 125, 79)."""
    h = hex_colour.lstrip("#")
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"


def english(page: Page) -> None:
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(page.get_by_test_id("nav-monitor")).to_have_text("Monitor")


def approach(site: Site, pair: Pair) -> dict[str, Any]:
    """The victim at home, the subject 2 km away, then 50 m away walking towards her."""
    # 100 s before his fix at her door: 1,950 m at 20 m/s, a move a car makes (a faster one is put
    # aside as impossible and moves no one)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON), seconds_ago=100)
    site.fixes(
        (pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(50), HOME_LON), heading_deg=180, speed_mps=1.5
    )
    found = [
        a
        for a in site.call("GET", "/v1/alerts").json()
        if a["kind"] == "proximity_violation" and a["subject"] == pair.subject
    ]
    assert found
    return found[0]


def audited(site: Site, actor: str, action: str) -> list[tuple[str, str]]:
    """(purpose, reason) of each access the audit trail holds for this actor and action."""
    engine = create_engine(site.database_url)
    try:
        with engine.connect() as conn:
            log = tables.audit_log.c
            rows = conn.execute(
                select(log.purpose, log.reason)
                .where(log.actor == actor, log.action == action)
                .order_by(log.seq)
            )
            return [(r.purpose, r.reason) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.fresh_site  # an empty queue and no one on the map
@pytest.mark.parametrize("who", ["operator", "police_dispatcher", "probation_officer"])
def test_watchers_see_the_map_queue_and_figures(site: Site, desk: Any, who: str) -> None:
    page = desk.new_page()
    problems = watch(page)
    figures: list[str] = []
    page.on("request", lambda r: figures.append(r.url) if "/v1/stats" in r.url else None)
    sign_in(page, site, who)
    expect(page.get_by_test_id("monitor")).to_be_visible()
    expect(page.locator("#map .leaflet-pane")).not_to_have_count(0)
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("not-allowed")).to_be_hidden()
    expect(page.get_by_test_id("purpose")).to_have_attribute("data-purpose", PURPOSE)
    if who == "operator":  # the live figures count everyone monitored: operators only
        expect(page.get_by_test_id("stat-online")).to_have_text("0/0")
        expect(page.get_by_test_id("nav-targets")).to_be_visible()
    else:
        # never asked for what the role may not see (the server would say 403): the panel shows the
        # open alerts of their own scope instead, and no figure over everyone
        expect(page.get_by_test_id("stat-kinds")).to_be_visible()
        expect(page.get_by_test_id("stat-online")).not_to_be_attached()
        expect(page.get_by_test_id("nav-targets")).to_be_hidden()
    expect(page.get_by_test_id("nav-registry")).to_be_visible()
    if who != "operator":
        page.wait_for_timeout(5500)  # past the operators' polling period: still never asked
        assert figures == []
    assert problems == []


@pytest.mark.fresh_site  # an empty queue
def test_an_operator_states_a_purpose_before_the_map(site: Site, desk: Any) -> None:
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON))
    page = desk.new_page()
    page.add_init_script(SOCKETS)
    problems = watch(page)
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/v1/positions" in r.url else None)
    sign_in(page, site, "operator", purpose=False)

    # Asked at once, with no purpose chosen for her; nothing of anyone's is fetched until she answers.
    step = page.get_by_test_id("purpose-step")
    expect(step).to_be_visible()
    expect(page.get_by_test_id("purpose-select")).to_have_value("")
    expect(page.get_by_test_id("logout")).to_be_visible()  # she may leave instead
    page.get_by_test_id("purpose-submit").click()
    expect(page.get_by_test_id("purpose-error")).to_have_text("목적을 고르세요.")
    expect(page.get_by_test_id("reason-error")).to_have_text("사유를 5자 이상 적으세요.")
    page.get_by_test_id("purpose-select").select_option(PURPOSE)
    page.get_by_test_id("purpose-reason").fill("  ok  ")  # a word is not a reason
    page.get_by_test_id("purpose-submit").click()
    expect(page.get_by_test_id("purpose-error")).to_be_hidden()
    expect(page.get_by_test_id("reason-error")).to_be_visible()
    expect(page.get_by_test_id("monitor")).to_be_hidden()
    expect(page.get_by_test_id("nav")).to_be_hidden()
    assert reads == []
    assert page.evaluate("window.__sockets.length") == 0

    # Stated: the map and queue as before, the purpose discreetly in the header.
    page.get_by_test_id("purpose-reason").fill(REASON)
    page.get_by_test_id("purpose-submit").click()
    expect(page.get_by_test_id("monitor")).to_be_visible()
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    expect(page.get_by_test_id(f"marker-{pair.subject}")).to_be_attached()
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("purpose-label")).to_have_text("목적: 관제 근무 (전체 관제)")
    expect(page.get_by_test_id("purpose-label")).to_have_attribute("title", REASON)
    assert "purpose=monitoring" in page.evaluate("window.__sockets.at(-1).url")
    # the Korean reason went in a header, percent-encoded, and reached the audit trail intact
    assert (PURPOSE, REASON) in audited(site, "u-operator", "positions.read")
    assert audited(site, "u-operator", "stream")[-1] == (PURPOSE, REASON)

    # Changed from the header: the stream reconnects with the new purpose.
    sockets = page.evaluate("window.__sockets.length")
    page.get_by_test_id("purpose-change").click()
    expect(page.get_by_test_id("purpose-select")).to_have_value(PURPOSE)
    page.get_by_test_id("purpose-select").select_option("alert_response")
    page.get_by_test_id("purpose-reason").fill("경보 대응 지원")
    page.get_by_test_id("purpose-submit").click()
    expect(page.get_by_test_id("monitor")).to_be_visible()
    expect(page.get_by_test_id("purpose-label")).to_have_text("목적: 경보 대응")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    assert page.evaluate("window.__sockets.length") == sockets + 1
    assert "purpose=alert_response" in page.evaluate("window.__sockets.at(-1).url")

    # Should the page lose it (taken from storage here), the server's refusal brings the question back.
    assert problems == []
    page.evaluate("sessionStorage.removeItem('vigil.purpose'); window.__sockets.at(-1).close()")
    expect(step).to_be_visible()
    expect(page.get_by_test_id("purpose-error")).to_have_text(
        "서버가 열람 목적을 요구합니다. 목적과 사유를 다시 적으세요."
    )
    state_purpose(page, "alert_response", "경보 대응 지원")
    expect(page.get_by_test_id("monitor")).to_be_visible()
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    # the stream refused at its handshake, and the call that said why: the server's answers
    assert problems and all("WebSocket handshake" in p or "status of 422" in p for p in problems)
    problems.clear()
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(page.get_by_test_id("purpose-label")).to_have_text("Purpose: Responding to alerts")

    # Signing out forgets it: the next session is asked again.
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('vigil.purpose')") is None
    sign_in(page, site, "operator", purpose=False)
    expect(step).to_be_visible()
    expect(page.get_by_test_id("purpose-select")).to_have_value("")
    assert problems == []


@dataclass(frozen=True)
class Approaches:
    """One pair's danger in Namyangju (Gyeonggi) and another's in central Seoul, with the ids of the
    alerts about each."""

    gyeonggi: Pair
    seoul: Pair
    in_gyeonggi: set[str]
    in_seoul: set[str]


def two_approaches(site: Site) -> Approaches:
    """A subject at his victim's door in Namyangju (Gyeonggi), another at his victim's in central
    Seoul."""
    one, two = site.pair(), site.pair()
    site.fixes(
        (one.phone, HOME_LAT, HOME_LON), (one.ankle, north(50), HOME_LON),
        (two.phone, *JONGNO), (two.ankle, north(50, JONGNO[0]), JONGNO[1]),
    )  # fmt: skip
    alerts = site.call("GET", "/v1/alerts").json()  # the operator's: everything
    gyeonggi = {a["id"] for a in alerts if a["subject"] == one.subject}
    seoul = {a["id"] for a in alerts if a["subject"] == two.subject}
    assert gyeonggi and seoul
    return Approaches(one, two, gyeonggi, seoul)


@pytest.mark.fresh_site  # every alert of the jurisdiction
def test_a_dispatcher_sees_only_the_alerts_of_their_jurisdiction(site: Site, desk: Any) -> None:
    scene = two_approaches(site)
    theirs = scene.in_gyeonggi  # Gyeonggi is theirs, Seoul is not
    s1, s2 = scene.gyeonggi.subject, scene.seoul.subject
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "police_dispatcher")
    items = page.get_by_test_id("alert-item")
    expect(items).to_have_count(len(theirs))
    assert {items.nth(i).get_attribute("data-alert-id") for i in range(len(theirs))} == theirs
    expect(page.get_by_test_id("queue")).not_to_contain_text(s2)
    expect(page.get_by_test_id(f"marker-{s1}")).to_be_attached()
    expect(page.get_by_test_id(f"marker-{s2}")).not_to_be_attached()

    # The registry: the parties of their alerts, to read, not to change.
    page.get_by_test_id("nav-registry").click()
    expect(page.get_by_test_id(f"reg-row-{s1}")).to_be_visible()
    expect(page.get_by_test_id(f"reg-row-{s2}")).not_to_be_attached()
    expect(page.get_by_test_id("reg-new")).to_be_hidden()
    page.get_by_test_id(f"reg-row-{s1}").click()
    expect(page.get_by_test_id("field-name")).to_be_disabled()
    expect(page.get_by_test_id("reg-save")).not_to_be_attached()
    expect(page.get_by_test_id("zone-draw-circle")).to_be_hidden()
    assert problems == []


def test_a_field_officer_sees_the_incident_assigned_to_him_read_only(site: Site, desk: Any) -> None:
    scene = two_approaches(site)
    incident = sorted(scene.in_seoul)[0]
    officer = site.account(Role.FIELD_OFFICER)  # his own: no other test's incidents are his
    site.call("PUT", f"/v1/alerts/{incident}/assignments/{officer}")
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, officer, role="field_officer")
    items = page.get_by_test_id("alert-item")
    expect(items).to_have_count(1)
    expect(items).to_have_attribute("data-alert-id", incident)
    expect(page.get_by_test_id(f"marker-{scene.seoul.subject}")).to_be_attached()
    expect(page.get_by_test_id(f"marker-{scene.gyeonggi.subject}")).not_to_be_attached()
    # he reports from his terminal, not by steps here; and he has no registry or targets
    expect(items.locator("button")).to_have_count(0)
    expect(page.get_by_test_id("nav-registry")).to_be_hidden()
    expect(page.get_by_test_id("nav-targets")).to_be_hidden()
    assert problems == []


def test_admin_gets_a_note_not_errors_and_the_targets(site: Site, desk: Any) -> None:
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "admin", purpose=False)  # an admin sees no one: no purpose to state
    note = page.get_by_test_id("not-allowed-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("관제 요원")
    expect(page.get_by_test_id("purpose-step")).to_be_hidden()
    expect(page.get_by_test_id("monitor")).to_be_hidden()
    expect(page.get_by_test_id("nav-registry")).to_be_hidden()  # no one's records for admins
    expect(page.get_by_test_id("nav-monitor")).to_be_hidden()
    page.get_by_test_id("nav-targets").click()
    expect(page.get_by_test_id("targets")).to_contain_text("출동 연계 대상")
    assert problems == []


def test_a_bad_token_goes_back_to_login_and_logout_forgets(site: Site, desk: Any) -> None:
    page = desk.new_page()
    page.goto(f"{site.url}/control/?token=not-a-token")
    expect(page.get_by_test_id("login-error")).to_be_visible()
    assert "token=" not in page.url
    sign_in(page, site, "operator")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login")).to_be_visible()


@pytest.mark.fresh_site  # an empty queue, and every open alert
def test_an_approach_reaches_map_and_queue_live_and_is_handled(site: Site, desk: Any) -> None:
    pair = site.pair()
    page = desk.new_page()
    problems = watch(page)
    page.goto(f"{site.url}/control/?token={site.tokens['operator']}")
    state_purpose(page)  # a link with a token still asks why
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()

    alert = approach(site, pair)  # no reload from here on
    marker = page.get_by_test_id(f"marker-{pair.subject}")
    expect(marker).to_have_attribute("data-state", "violation")
    expect(page.get_by_test_id(f"marker-{pair.victim}")).to_be_attached()
    item = page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}']")
    expect(item).to_have_attribute("data-kind", "proximity_violation")
    expect(item.get_by_test_id("alert-distance")).to_have_text(re.compile(r"^\d+ m$"))
    expect(page.locator("body")).to_have_attribute("data-flashing", "true")
    assert int(page.locator("body").get_attribute("data-beeps") or 0) >= 1
    expect(page.get_by_test_id("stat-kinds")).to_contain_text("접근금지 위반")

    marker.click()  # the subject's track and zones, and a view on both
    expect(page.get_by_test_id("selected")).to_contain_text(pair.subject)
    page.get_by_test_id(f"note-{alert['id']}").fill("victim called, she is inside")
    page.get_by_test_id(f"step-acknowledged-{alert['id']}").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    # He is inside her home zone too: the title flashes until that violation is acknowledged as well
    # (here by a colleague, over the API; the change arrives over the stream).
    others = [a for a in site.call("GET", "/v1/alerts").json() if a["state"] == "open"]
    assert [a["kind"] for a in others] == ["zone_violation"]
    expect(page.locator("body")).to_have_attribute("data-flashing", "true")
    site.call(
        "POST", f"/v1/alerts/{others[0]['id']}/steps", {"state": "acknowledged"}, who="police_dispatcher"
    )
    expect(page.locator("body")).not_to_have_attribute("data-flashing", "true")
    english(page)  # the screenshots are in English: legible where no Korean font is installed
    expect(item.get_by_test_id("alert-state")).to_have_text("Acknowledged")
    shoot(page, "control-centre.png")

    page.get_by_test_id(f"note-{alert['id']}").fill("patrol 12 sent")
    page.get_by_test_id(f"step-dispatched-{alert['id']}").click()
    expect(item).to_have_attribute("data-state", "dispatched")

    stored = site.call("GET", f"/v1/alerts/{alert['id']}").json()
    assert stored["state"] == "dispatched"
    notes = [(c["change"], c["note"], c["actor"]) for c in stored["timeline"]][1:]
    assert notes == [
        ("acknowledged", "victim called, she is inside", "u-operator"),
        ("dispatched", "patrol 12 sent", "u-operator"),
    ]
    assert problems == []


@pytest.mark.fresh_site  # a dispatch target every later alert would be pushed to
def test_alert_detail_shows_distance_bearing_timeline_and_plan(site: Site, desk: Any) -> None:
    # A 112 system that does not answer (nothing listens there): its deliveries wait and retry.
    target = {"name": "Gyeonggi 112", "url": "http://127.0.0.1:9/push", "agency": "any"}
    site.call("PUT", "/v1/dispatch/targets/gg-112", target, who="admin")
    pair = site.pair()
    alert = approach(site, pair)
    site.call("POST", f"/v1/alerts/{alert['id']}/steps", {"state": "acknowledged", "note": "on it"})
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "police_dispatcher")
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_test_id("detail-distance")).to_have_text(re.compile(r"^\d+ m$"))
    expect(detail.get_by_test_id("detail-order")).to_have_text(pair.order)
    expect(detail.get_by_test_id("detail-bearing")).to_contain_text("°")
    timeline = detail.get_by_test_id("detail-timeline")
    expect(timeline.locator("li[data-change=opened]")).to_have_count(1)
    expect(timeline.locator("li[data-change=acknowledged]")).to_contain_text("on it")
    expect(detail.get_by_test_id("detail-plan")).to_contain_text("보호관찰소")
    expect(detail.get_by_test_id("detail-plan")).to_contain_text(f"{HOME_LAT:.5f}")

    # A step taken elsewhere reaches the open detail live.
    site.call(
        "POST", f"/v1/alerts/{alert['id']}/steps", {"state": "dispatched", "note": "unit 7"}, who="operator"
    )
    expect(timeline.locator("li[data-change=dispatched]")).to_contain_text("unit 7")
    expect(detail.get_by_test_id("detail-state")).to_have_text("출동 중")
    expect(detail.get_by_test_id("delivery").first).to_contain_text("gg-112")
    english(page)
    expect(detail.get_by_test_id("detail-state")).to_have_text("Dispatched")
    shoot(page, "control-alert.png")
    assert problems == []


def test_a_dispatcher_sends_a_unit_with_a_link_that_ends_when_he_is_taken_off(
    site: Site, desk: Any, browser: Any
) -> None:
    pair = site.pair()
    alert = approach(site, pair)
    officer = site.account(Role.FIELD_OFFICER)
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "police_dispatcher")
    english(page)
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    units = page.get_by_test_id("alert-detail").get_by_test_id("detail-units")
    expect(units.get_by_test_id("link-count")).to_have_text("Live-track links out: 0")
    units.get_by_test_id("assign-user").fill(officer)
    units.get_by_test_id("assign-submit").click()
    shown = units.get_by_test_id("issued-url")
    incident = site.call("GET", f"/v1/alerts/{alert['id']}").json()["incident"]  # the link opens it
    expect(shown).to_have_value(re.compile(rf"^{re.escape(site.url)}/field/\?incident={incident}&token=inc_"))
    url = shown.input_value()
    unit = units.locator(f"[data-testid=unit][data-user={officer}]")
    expect(unit.get_by_test_id("unit-has-link")).to_have_text("has a link")
    expect(units.get_by_test_id("link-count")).to_have_text("Live-track links out: 1")
    expect(units.get_by_test_id("link-record")).to_have_attribute("data-state", "live")
    shoot(page, "control-units.png")

    # The unit opens it on a phone and follows the incident.
    phone = browser.new_context(viewport=PHONE)
    try:
        field = phone.new_page()
        field.add_init_script("localStorage.setItem('vigil.language', 'en')")
        field.goto(url)
        expect(field.locator("#kind")).to_have_text("Proximity violation")

        # The probation officer sees that a unit holds a link, but not the link.
        other = desk.new_page()
        sign_in(other, site, "probation_officer")
        other.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
        theirs = other.get_by_test_id("alert-detail").get_by_test_id("detail-units")
        expect(theirs.get_by_test_id("unit-has-link")).to_be_visible()
        expect(theirs.get_by_test_id("assign-form")).not_to_be_attached()
        expect(theirs.get_by_test_id("issued-link")).not_to_be_attached()
        assert "inc_" not in other.content()

        # Taken off: the terminal in his hand loses the incident at once.
        unit.get_by_test_id("unit-take-off").click()
        expect(units.locator("[data-testid=unit]")).to_have_count(0)
        expect(units.get_by_test_id("link-record")).to_have_attribute("data-state", "revoked")
        expect(field.get_by_text("This link is not valid")).to_be_visible()
    finally:
        phone.close()
    assert problems == []


def test_registry_shows_a_422_reason_next_to_its_field(site: Site, desk: Any) -> None:
    pair = site.pair()
    new_order = f"O{site.number()}"
    page = desk.new_page()
    sign_in(page, site, "probation_officer")
    page.get_by_test_id("nav-registry").click()
    expect(page.get_by_test_id(f"reg-row-{pair.subject}")).to_be_visible()  # her caseload
    expect(page.get_by_test_id("field-probation_officer")).not_to_be_attached()  # operators assign it
    page.get_by_test_id("reg-tab-orders").click()
    expect(page.get_by_test_id(f"reg-row-{pair.order}")).to_be_visible()
    page.get_by_test_id("reg-new").click()
    page.get_by_test_id("field-id").fill(new_order)
    page.get_by_test_id("field-subject_id").fill(pair.subject)
    page.get_by_test_id("field-protected_person_id").fill(pair.victim)
    page.get_by_test_id("field-violation_distance_m").fill("500")
    page.get_by_test_id("field-warning_distance_m").fill("100")
    page.get_by_test_id("reg-save").click()
    # checked in the browser before it is sent, and said in the page's language
    expect(page.get_by_test_id("error-warning_distance_m")).to_have_text(
        "경고 거리는 위반 거리 이상이어야 합니다."
    )
    expect(page.get_by_test_id("field-warning_distance_m")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("error-violation_distance_m")).to_be_hidden()

    # Fixed, with a circle drawn on the map by two clicks, it is stored with its zone.
    page.get_by_test_id("field-warning_distance_m").fill("1500")
    page.get_by_test_id("zone-draw-circle").click()
    box = page.locator("#regmap").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2)
    expect(page.get_by_test_id("zone-card-0")).to_be_visible()
    page.get_by_test_id("zone-add-window").click()
    page.get_by_test_id("reg-save").click()
    expect(page.get_by_test_id("reg-message")).not_to_be_empty()
    order = site.call("GET", f"/v1/orders/{new_order}").json()
    assert (order["violation_distance_m"], order["warning_distance_m"]) == (500, 1500)
    assert len(order["zones"]) == 1
    assert order["zones"][0]["shape"]["circle"]["radius_m"] > 0
    assert order["zones"][0]["schedule"]["windows"][0]["start"] == "22:00"


def test_subject_zone_drawn_as_polygon_with_a_schedule(site: Site, desk: Any) -> None:
    pair = site.pair()
    page = desk.new_page()
    sign_in(page, site, "operator")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    expect(page.get_by_test_id("field-id")).to_have_value(pair.subject)
    expect(page.get_by_test_id("field-probation_officer")).to_have_value("u-probation_officer")
    page.get_by_test_id("zone-draw-polygon").click()
    box = page.locator("#regmap").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-60, -40), (60, -40), (0, 50)):
        page.mouse.click(cx + dx, cy + dy)
    page.get_by_test_id("zone-finish").click()
    card = page.locator("[data-testid^=zone-card-]").last
    card.locator("[data-k=label]").fill("school")
    card.get_by_test_id("zone-add-window").click()
    card = page.locator("[data-testid^=zone-card-]").last
    card.locator("input[value=sat]").uncheck()
    card.locator("input[value=sun]").uncheck()
    card.locator("[data-testid^=zone-save-]").click()
    expect(card.locator("[data-testid^=zone-message-]")).not_to_be_empty()
    zones = site.call("GET", f"/v1/subjects/{pair.subject}").json()["zones"]
    school = [z for z in zones if z["label"] == "school"]
    assert len(school) == 1 and len(school[0]["shape"]["polygon"]) >= 3
    assert school[0]["schedule"]["windows"][0]["days"] == ["mon", "tue", "wed", "thu", "fri"]


def test_a_zone_typed_in_by_coordinates_and_a_numeric_radius(site: Site, desk: Any) -> None:
    """Issue 17: zones are not drawn blind only; a circle's centre and radius can be typed in, and a
    radius out of range is refused in the form, not sent."""
    pair = site.pair()
    page = desk.new_page()
    sign_in(page, site, "operator")
    page.get_by_test_id("nav-registry").click()
    page.get_by_test_id(f"reg-row-{pair.subject}").click()
    expect(page.get_by_test_id("field-id")).to_have_value(pair.subject)
    page.get_by_test_id("zone-add-numeric").click()
    card = page.locator("[data-testid^=zone-card-]").last
    card.locator("[data-k=label]").fill("her office")
    card.locator("[data-c=lat]").fill("37.498095")
    card.locator("[data-c=lat]").dispatch_event("change")
    card.locator("[data-c=lon]").fill("127.02761")
    card.locator("[data-c=lon]").dispatch_event("change")
    card.locator("[data-c=radius_m]").fill("0")  # out of range: kept out of the zone
    card.locator("[data-c=radius_m]").dispatch_event("change")
    assert not card.locator("[data-c=radius_m]").evaluate("(e) => e.checkValidity()")
    card.locator("[data-c=radius_m]").fill("350")
    card.locator("[data-c=radius_m]").dispatch_event("change")
    card.locator("[data-testid^=zone-save-]").click()
    expect(card.locator("[data-testid^=zone-message-]")).not_to_be_empty()
    zones = site.call("GET", f"/v1/subjects/{pair.subject}").json()["zones"]
    office = [z for z in zones if z["label"] == "her office"]
    assert len(office) == 1
    assert office[0]["shape"]["circle"] == {"lat": 37.498095, "lon": 127.02761, "radius_m": 350}
