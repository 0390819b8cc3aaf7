"""The control centre in a real browser, its queue and alert detail: clusters, the incident queue and
its ages, the timeline, closing steps, a unit's link and QR code, an outage and pursuit mode. The
rest of the control centre is in test_control.py (a file each, so the suite's test processes share
them); the helpers are there."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select, update
from test_control import JONGNO, approach, english, rgb, sign_in, two_approaches, watch
from web_kit import (
    HOME_LAT,
    HOME_LON,
    SOON,
    Site,
    north,
    shoot,
)

from vigil.domain.model import Role
from vigil.store import tables

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


@pytest.mark.fresh_site  # every subject on the map is one of its 40
def test_many_quiet_subjects_cluster_and_one_in_trouble_stands_out(site: Site, desk: Any) -> None:
    pair = site.pair()
    for n in range(2, 41):
        site.call("PUT", f"/v1/subjects/S{n}", {"legal_basis": "parole", "name": f"Park {n}"})
        site.call("PUT", f"/v1/devices/AM-{n}", {"kind": "ankle_monitor", "person_id": f"S{n}"})
    spread = [(f"AM-{n}", north(3000 + 40 * n), HOME_LON + 0.0004 * (n % 7)) for n in range(2, 41)]
    site.fixes(
        (pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2500), HOME_LON), *spread, seconds_ago=110
    )
    page = desk.new_page()
    sign_in(page, site, "operator")
    expect(page.locator("#map [data-testid=cluster]").first).to_be_visible()
    # in the status colours, by the worst status inside (all quiet here: ok), not by their count; read
    # in one go, as the clusters are redrawn while positions arrive
    colours = page.wait_for_function(
        """() => {
          const found = [...document.querySelectorAll("#map [data-testid=cluster]")];
          return found.length > 0 && found.map((c) => [c.dataset.state, getComputedStyle(c).backgroundColor]);
        }"""
    ).json_value()
    ok = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--ok').trim()")
    assert {tuple(c) for c in colours} == {("ok", rgb(ok))}, (colours, ok)
    assert page.locator("#map [data-testid^=marker-S]").count() < 40
    site.fixes((pair.ankle, north(50), HOME_LON))  # he walks up to her door
    expect(page.get_by_test_id(f"marker-{pair.subject}")).to_have_attribute("data-state", "violation")
    expect(page.get_by_test_id(f"marker-{pair.victim}")).to_be_attached()


def test_language_switch_changes_visible_text(site: Site, desk: Any) -> None:
    page = desk.new_page()
    sign_in(page, site, "operator")
    queue_title = page.get_by_test_id("queue-panel").locator("h2")
    expect(queue_title).to_contain_text("경보 대기열")
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    expect(queue_title).to_contain_text("Alert queue")
    expect(page.get_by_test_id("role")).to_contain_text("Operator")
    expect(page.get_by_test_id("nav-registry")).to_have_text("Registry")
    page.reload()  # the choice is remembered
    expect(queue_title).to_contain_text("Alert queue")
    page.get_by_test_id("language").get_by_role("button", name="KO").click()
    expect(queue_title).to_contain_text("경보 대기열")


@pytest.mark.fresh_site  # every incident in the queue
def test_the_queue_shows_one_entry_per_incident_with_its_number_latest_escalation_first(
    site: Site, desk: Any
) -> None:
    """His approach and his strap cut are one incident: one queue entry with the number read over the
    radio, holding both alerts; another pair's danger is another entry. The entry escalated last is
    on top, however early its first warning; selecting one shows its alerts and timeline."""
    scene = two_approaches(site)
    gyeonggi, seoul = scene.in_gyeonggi, scene.in_seoul
    one, two = scene.gyeonggi, scene.seoul
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    entries = page.get_by_test_id("incident-item")
    expect(entries).to_have_count(2)
    incidents = site.call("GET", "/v1/incidents").json()
    by_subject = {i["subject"]: i for i in incidents}
    # both are violations: the later escalation (Seoul's, listed first by the API too) is on top
    expect(entries.first).to_have_attribute("data-incident-id", incidents[0]["id"])

    # The Gyeonggi subject cuts his strap: it joins his incident, which now escalated last and comes
    # to the top
    at = datetime.now(UTC).isoformat()
    site.call(
        "POST", "/v1/devices/messages", {"device": one.ankle, "at": at, "event": "strap_cut"}, who="gateway"
    )
    first = entries.first
    expect(first).to_have_attribute("data-incident-id", by_subject[one.subject]["id"])
    expect(entries).to_have_count(2)
    expect(first.get_by_test_id("alert-item")).to_have_count(len(gyeonggi) + 1)
    expect(first.get_by_test_id("incident-number")).to_have_text(by_subject[one.subject]["number"])
    expect(first.get_by_test_id("incident-kind")).to_have_text("Proximity violation")
    expect(first.get_by_test_id("incident-parties")).to_contain_text(one.subject)
    second = entries.nth(1)
    expect(second.get_by_test_id("alert-item")).to_have_count(len(seoul))
    expect(second.get_by_test_id("incident-number")).to_have_text(by_subject[two.subject]["number"])

    # selecting the incident shows its alerts and their timeline
    first.get_by_test_id("incident-head").click()
    detail = page.get_by_test_id("incident-detail")
    expect(detail.get_by_test_id("incident-detail-number")).to_have_text(by_subject[one.subject]["number"])
    expect(detail.get_by_test_id("incident-alert")).to_have_count(len(gyeonggi) + 1)
    expect(detail.get_by_test_id("incident-timeline").locator("li")).to_have_count(len(gyeonggi) + 1)
    expect(detail.get_by_test_id("incident-timeline")).to_contain_text("Tamper")
    # and one of its alerts opens that alert's own detail, with its steps
    detail.get_by_test_id("incident-alert").first.click()
    expect(page.get_by_test_id("detail-state")).to_be_visible()
    assert problems == []


def test_from_the_alert_detail_an_operator_asks_his_monitor_for_a_fix_and_sees_pursuit_mode(
    site: Site, desk: Any
) -> None:
    """His approach put his monitor in pursuit mode (shown on the detail); a click queues a `locate`
    command for it, which the device API then shows as the operator's."""
    pair = site.pair()
    alert = approach(site, pair)
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    # on the map too: his marker carries the pursuit ring (the fix that placed him was the monitor's)
    expect(page.get_by_test_id(f"marker-{pair.subject}")).to_have_attribute("data-pursuit", "true")
    devices = page.get_by_test_id("alert-detail").get_by_test_id("detail-devices")
    monitor = devices.locator(f"[data-testid=device][data-device='{pair.ankle}']")
    expect(monitor.get_by_test_id("pursuit")).to_be_visible()
    monitor.get_by_test_id("command-locate").click()
    expect(monitor.get_by_test_id("command-locate")).to_have_text("요청됨")
    commands = site.call("GET", f"/v1/devices/{pair.ankle}/commands").json()
    assert [(c["type"], c["requested_by"]) for c in commands if c["type"] == "locate"] == [
        ("locate", "u-operator")
    ]
    assert problems == []


# --- issue 17: the monitor on a night shift -------------------------------------------------------


def backdate(site: Site, alert_ids: set[str], *, opened_s: float, raised_s: float | None = None) -> None:
    """Move stored alerts' first warning (and, when given, their latest raise and their incident's)
    back in time, as if they had been raised that long ago: the page loads what the store says."""
    now = datetime.now(UTC)
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as conn:
            alerts = tables.alerts
            values: dict[str, Any] = {"opened_at": now - timedelta(seconds=opened_s)}
            if raised_s is not None:
                values["escalated_at"] = now - timedelta(seconds=raised_s)
            conn.execute(update(alerts).where(alerts.c.id.in_(alert_ids)), values)
            if raised_s is not None:
                incidents = select(alerts.c.incident_id).where(alerts.c.id.in_(alert_ids))
                conn.execute(
                    update(tables.incidents)
                    .where(tables.incidents.c.id.in_(incidents))
                    .values(escalated_at=now - timedelta(seconds=raised_s))
                )
    finally:
        engine.dispose()


@pytest.mark.fresh_site  # every incident in the queue, and the figures over every acknowledgement
def test_the_queue_counts_from_the_latest_escalation_and_so_does_the_time_to_acknowledge(
    site: Site, desk: Any
) -> None:
    """His warning began eleven minutes ago and became a violation just now; another man's violation
    was raised five minutes ago. The fresh escalation is on top and reads seconds old, not eleven
    minutes; acknowledging it takes seconds in the figures, not eleven minutes."""
    late, early = site.pair(), site.pair()
    site.fixes((late.phone, HOME_LAT, HOME_LON), (late.ankle, north(500), HOME_LON), seconds_ago=60)
    warning = [a for a in site.call("GET", "/v1/alerts").json() if a["subject"] == late.subject]
    assert [a["kind"] for a in warning] == ["proximity_warning"]
    site.fixes((late.phone, HOME_LAT, HOME_LON), (late.ankle, north(50), HOME_LON))  # 7.5 m/s
    site.fixes((early.phone, *JONGNO), (early.ankle, north(50, JONGNO[0]), JONGNO[1]))
    alerts = site.call("GET", "/v1/alerts").json()
    escalated = next(a for a in alerts if a["id"] == warning[0]["id"])
    assert escalated["kind"] == "proximity_violation"
    backdate(site, {escalated["id"]}, opened_s=11 * 60)  # his first warning: eleven minutes ago
    backdate(site, {a["id"] for a in alerts if a["subject"] == early.subject}, opened_s=300, raised_s=300)

    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    entries = page.get_by_test_id("incident-item")
    expect(entries).to_have_count(2)
    expect(entries.first.get_by_test_id("incident-parties")).to_contain_text(late.subject)
    expect(entries.first).to_have_attribute("data-severity", "critical")
    item = page.locator(f"[data-testid=alert-item][data-alert-id='{escalated['id']}']")
    expect(item.get_by_test_id("alert-age")).to_have_text(re.compile(r"^\d+ s ago$"))
    expect(entries.first.get_by_test_id("incident-escalated")).to_contain_text(" s ago")
    other = entries.nth(1).get_by_test_id("alert-item").first
    expect(other.get_by_test_id("alert-age")).to_have_text("5 min ago")
    # the first warning is still told, on hovering the age
    assert "First raised" in (item.get_by_test_id("alert-age").get_attribute("title") or "")

    page.get_by_test_id(f"step-acknowledged-{escalated['id']}").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(page.get_by_test_id("stat-ack")).to_have_text(re.compile(r"^\d+ s$"))
    assert site.call("GET", "/v1/stats").json()["median_ack_s"] < 60
    assert problems == []


@pytest.mark.fresh_site  # a scene of its own timing
def test_the_systems_updates_fold_into_one_line_of_the_timeline(site: Site, desk: Any) -> None:
    """He paces at her door: every few metres the system updates the alert. Those rows fold into one
    line ("Updated xN · vigil, last …", with a multiplication sign); the operator's acknowledgement stands on its own line."""
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON), seconds_ago=220)
    pacing = [50, 80, 45, 15, 45, 80, 45]  # metres from her door, 20 s apart
    for n, metres in enumerate(pacing):
        site.fixes(
            (pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(metres), HOME_LON), seconds_ago=140 - 20 * n
        )
    alert = next(a for a in site.call("GET", "/v1/alerts").json() if a["kind"] == "proximity_violation")
    site.call("POST", f"/v1/alerts/{alert['id']}/steps", {"state": "acknowledged", "note": "calling her"})
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(15), HOME_LON))
    timeline = site.call("GET", f"/v1/alerts/{alert['id']}").json()["timeline"]
    runs: list[int] = []  # the lengths of the runs of the system's updates, in order
    previous = None
    for change in timeline:
        routine = change["change"] == "updated" and change["actor"] == "vigil"
        if routine and previous == "routine":
            runs[-1] += 1
        elif routine:
            runs.append(1)
        previous = "routine" if routine else change["change"]
    assert max(runs) >= 3, timeline  # the scene made a run worth folding

    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    rows = page.get_by_test_id("detail-timeline").locator(":scope > li")
    expect(rows).to_have_count(len(timeline) - sum(runs) + len(runs))
    folded = page.get_by_test_id("detail-timeline").get_by_test_id("timeline-folded")
    expect(folded).to_have_count(sum(1 for r in runs if r > 1))
    longest = folded.locator(f"xpath=self::*[@data-folded='{max(runs)}']")
    expect(longest).to_contain_text(f"Updated \u00d7{max(runs)}")
    expect(longest).to_contain_text("vigil, last ")
    expect(rows.locator("xpath=self::*[@data-change='acknowledged']")).to_contain_text("calling her")
    shoot(page, "control-timeline.png")
    # the incident's merged timeline folds them too
    page.get_by_test_id("alert-detail").locator(".back").click()
    page.get_by_test_id("incident-head").first.click()
    expect(page.get_by_test_id("incident-timeline").get_by_test_id("timeline-folded").first).to_be_visible()
    assert problems == []


@pytest.mark.fresh_site  # every open alert
def test_closing_a_critical_alert_asks_for_a_note_and_a_confirmation(site: Site, desk: Any) -> None:
    pair = site.pair()
    alert = approach(site, pair)  # a proximity violation: critical
    zone = next(a for a in site.call("GET", "/v1/alerts").json() if a["kind"] == "zone_violation")
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    item = page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}']")
    note = page.get_by_test_id(f"note-{alert['id']}")
    expect(note).to_have_attribute("placeholder", re.compile("required"))

    # One click closes nothing: a note first.
    item.get_by_test_id(f"step-resolved-{alert['id']}").click()
    expect(item.get_by_test_id("step-error")).to_have_text("Write a note to close a critical alert.")
    expect(note).to_have_attribute("aria-invalid", "true")
    expect(note).to_be_focused()
    assert site.call("GET", f"/v1/alerts/{alert['id']}").json()["state"] == "open"

    # With a note, a confirmation; cancelled, nothing happens.
    note.fill("police on scene: he had left before they came")
    item.get_by_test_id(f"step-false_alarm-{alert['id']}").click()
    ask = item.get_by_test_id("confirm-close")
    expect(ask).to_contain_text("False alarm")
    ask.get_by_test_id("confirm-no").click()
    expect(ask).not_to_be_attached()
    assert site.call("GET", f"/v1/alerts/{alert['id']}").json()["state"] == "open"
    expect(note).to_have_value("police on scene: he had left before they came")  # kept

    item.get_by_test_id(f"step-resolved-{alert['id']}").click()
    expect(ask).to_contain_text("Resolve")
    shoot(page, "control-confirm-close.png")
    expect(ask.get_by_test_id("confirm-yes")).to_be_focused()  # the keyboard is where the question is
    page.keyboard.press("Enter")
    expect(item).not_to_be_attached()
    stored = site.call("GET", f"/v1/alerts/{alert['id']}").json()
    assert (stored["state"], stored["timeline"][-1]["note"]) == (
        "resolved",
        "police on scene: he had left before they came",
    )

    # A zone violation (high, not critical) still closes with one click and no note.
    page.get_by_test_id(f"step-false_alarm-{zone['id']}").click()
    expect(page.locator(f"[data-testid=alert-item][data-alert-id='{zone['id']}']")).not_to_be_attached()
    assert site.call("GET", f"/v1/alerts/{zone['id']}").json()["state"] == "false_alarm"
    assert problems == []


def qr_matrix(path: str, quiet: int = 4) -> list[list[bool]]:
    """The dark modules of the page's QR path ("M<x> <y>h1v1h-1z" per module) as a matrix."""
    cells = [(int(x) - quiet, int(y) - quiet) for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", path)]
    n = max(max(x, y) for x, y in cells) + 1
    matrix = [[False] * n for _ in range(n)]
    for x, y in cells:
        matrix[y][x] = True
    return matrix


def test_the_units_link_is_in_the_detail_to_copy_or_scan(site: Site, desk: Any) -> None:
    """Sent from the alert detail, the unit's live-track link is shown there with a copy button and a
    QR code a phone can scan: the code holds exactly the link (checked module by module against an
    independent encoder)."""
    import qrcode  # type: ignore[import-untyped,unused-ignore]

    pair = site.pair()
    alert = approach(site, pair)
    officer = site.account(Role.FIELD_OFFICER)
    desk.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = desk.new_page()
    problems = watch(page)
    sign_in(page, site, "operator")
    english(page)
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    units = page.get_by_test_id("alert-detail").get_by_test_id("detail-units")
    units.get_by_test_id("assign-user").fill(officer)
    units.get_by_test_id("assign-submit").click()
    url = units.get_by_test_id("issued-url")
    expect(url).to_have_value(re.compile(r"/field/\?incident=.+&token=inc_"))
    link = url.input_value()

    units.get_by_test_id("issued-copy").click()
    expect(units.get_by_test_id("issued-copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link

    svg = units.get_by_test_id("issued-qr")
    expect(svg).to_be_visible()
    shown = qr_matrix(svg.locator("path").get_attribute("d") or "")
    size = len(shown)
    assert size == int(svg.get_attribute("data-modules") or 0)
    version = (size - 17) // 4
    candidates = []
    for mask in range(8):  # whichever mask pattern the encoder chose: one of the eight is it
        code = qrcode.QRCode(
            version=version, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=mask
        )
        code.add_data(link.encode(), optimize=0)
        code.make(fit=False)
        candidates.append(code.get_matrix())
    assert shown in candidates
    # who is sent, and whether he has opened it: not yet, then once his terminal has fetched it
    sent = units.locator(f"[data-testid=unit][data-user='{officer}']")
    expect(sent.get_by_test_id("unit-opened")).not_to_have_attribute("data-at", re.compile("."))
    token = link.split("token=")[1]
    incident = link.split("incident=")[1].split("&")[0]
    assert site.http.get(f"/v1/incidents/{incident}", params={"token": token}).status_code == 200
    page.get_by_test_id("alert-detail").locator(
        "button.back"
    ).first.click()  # back to the queue, and in again
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    expect(sent.get_by_test_id("unit-opened")).to_have_attribute("data-at", re.compile("."))
    shoot(page, "control-unit-link.png")
    assert problems == []


# While window.__down, the page's WebSockets go to a path no server answers (the page's security
# policy allows no other host), and fail as they would with the server gone.
DOWNABLE = """
window.__down = false;
window.__sockets = [];
const Original = window.WebSocket;
window.WebSocket = class extends Original {
  constructor(url, ...rest) {
    super(window.__down ? url.replace("/v1/stream", "/v1/gone") : url, ...rest);
    window.__sockets.push(this);
  }
};
"""


def test_an_outage_cannot_be_missed(site: Site, desk: Any) -> None:
    """The server goes away (the stream drops, nothing answers): a banner over a greyed map says so
    with the time since the last update, and so does the header; back, all of it goes."""
    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON))
    page = desk.new_page()
    page.add_init_script(DOWNABLE)
    problems = watch(page, offline=True)
    sign_in(page, site, "operator")
    english(page)
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live")
    banner = page.get_by_test_id("outage")
    expect(banner).to_be_hidden()

    page.route("**/v1/**", lambda route: route.abort())
    page.evaluate("window.__down = true; window.__sockets.at(-1).close()")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connection to the server lost")
    expect(page.get_by_test_id("map")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "offline")
    since = page.get_by_test_id("outage-since")
    expect(since).to_have_text(re.compile(r"^last update \d+ s ago$"))
    expect(since).to_have_text(re.compile(r"^last update ([2-9]|\d\d) s ago$"))  # it counts on
    expect(page.get_by_test_id("live")).to_contain_text("last update")
    shoot(page, "control-outage.png")

    page.unroute("**/v1/**")
    page.evaluate("window.__down = false")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(banner).to_be_hidden()
    expect(page.get_by_test_id("map")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(page.get_by_test_id("live")).to_have_text("Live")
    assert problems == []


def test_a_cluster_wears_the_worst_status_inside_it(site: Site, desk: Any) -> None:
    """The cluster icon's colour is the worst status among its markers (here computed for a made-up
    cluster of three: ok, warning and tamper), in the status colours, never a colour for its count."""
    page = desk.new_page()
    sign_in(page, site, "operator")
    expect(page.get_by_test_id("monitor")).to_be_visible()
    html = page.evaluate(
        """async () => {
          const { clusterIcon } = await import("/control/monitor.js");
          const markers = ["ok", "warning", "tamper"].map((status) => ({ options: { status } }));
          return clusterIcon({ getAllChildMarkers: () => markers, getChildCount: () => 3 }).options.html;
        }"""
    )
    assert 'data-state="tamper"' in html and ">3<" in html
