"""Police cases and the caseload view in the control centre (issue 18), in one scene across the
agencies: a police investigator records a case whose suspect is a monitored man and sees at once
that he is monitored, by whom, and the 3-2 proposal; his probation officer finds the case and his
caseload with its load; an operator confirms a near match; the investigator records the court's
granted 3-2 and the order shows with its expiry reminder. The investigator sees nothing else (no
map, no alerts). Each new view passes axe-core's WCAG 2.1 AA rules; messages come in both languages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_accessibility import violations
from test_control import sign_in, watch
from web_kit import SOON, Site, shoot

from vigil.domain.model import Role

expect.set_options(timeout=SOON)
pytestmark = pytest.mark.slow  # a real server and Chromium


def language(page: Page, lang: str) -> None:
    page.get_by_test_id("language").get_by_role("button", name=lang.upper()).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


@pytest.mark.fresh_site  # the probation officer's whole caseload, and the review list, are this scene's
def test_a_case_across_the_agencies_from_report_to_a_live_order(site: Site, people: Any) -> None:
    known = site.pair()  # S1 wears AM-1, in u-probation_officer's caseload
    near = site.pair()  # S2 "Kim 2": a case naming "Kim 2" with no birth date nearly matches him
    investigator = site.account(Role.POLICE_INVESTIGATOR, areas=("31",))
    near_case = {
        "kind": "stalking", "area": "31130", "suspect": {"name": "Kim 2"},
        "victim": {"name": "Choi"}, "offences": ["stalking"],
    }  # fmt: skip
    site.call("PUT", "/v1/cases/C-NEAR", near_case, who=investigator)
    found: list[str] = []

    # --- the investigator: cases only, and the case form ---------------------------------------
    police = people()
    problems = watch(police)
    sign_in(police, site, investigator, purpose=False, role="police_investigator")
    expect(police.get_by_test_id("role")).to_have_attribute("data-scope", "station")
    expect(police.get_by_test_id("role")).to_contain_text("경찰서 구역 경기도")
    expect(police.get_by_test_id("case-form")).to_be_visible()
    expect(police.get_by_test_id("nav-cases")).to_be_visible()
    for hidden in ("nav-monitor", "nav-registry", "nav-handover", "nav-caseload", "nav-targets"):
        expect(police.get_by_test_id(hidden)).to_be_hidden()
    expect(police.get_by_test_id("monitor")).to_be_hidden()

    # checked before it is sent, in her language: Korean, then English (what was typed is kept)
    police.get_by_label("주민등록번호").fill("85031412")
    police.get_by_test_id("case-save").click()
    expect(police.get_by_test_id("case-error-id")).to_have_text("반드시 입력해야 합니다.")
    expect(police.get_by_test_id("case-error-suspect.national_id")).to_contain_text("숫자 13자리")
    found += violations(police, "case form with errors (ko)")
    shoot(police, "cases-form.png")
    language(police, "en")
    expect(police.get_by_test_id("nav-cases")).to_have_text("Cases")
    expect(police.get_by_test_id("case-error-suspect.national_id")).to_have_text(
        "A national id has 13 digits (e.g. 850314-1234567)."
    )
    expect(police.get_by_label("National id (resident registration number)")).to_have_value("85031412")

    police.get_by_label("Case number").fill("C-100")
    police.get_by_label("Police station").fill("Namyangju South")
    police.get_by_label("National id (resident registration number)").fill("")
    police.locator("fieldset", has_text="Suspect").get_by_label("Name").fill("Kim 1")
    police.get_by_label("Monitored subject's id (if known)").fill(known.subject)
    police.locator("fieldset", has_text="Victim").get_by_label("Name").fill("Lee 1")
    police.get_by_label("Offences (one per line)").fill("stalking\nthreats by messages")
    police.get_by_label("Reported at").fill("2026-11-20T21:10")
    police.get_by_label("What happened").fill("waited outside her flat")
    police.get_by_label("3-2: electronic monitoring").check()
    police.get_by_test_id("case-save").click()

    detail = police.get_by_test_id("case-detail")
    expect(detail).to_have_attribute("data-case-id", "C-100")
    monitored = police.get_by_test_id("case-monitored")
    expect(monitored).to_contain_text("Already monitored")
    expect(police.get_by_test_id("case-devices")).to_have_text(known.ankle)
    expect(police.get_by_test_id("case-officer")).to_contain_text("u-probation_officer")
    expect(police.get_by_test_id("case-proposal")).to_contain_text("3-2")
    expect(police.get_by_test_id("case-proposal")).to_contain_text("1 in all")
    found += violations(police, "case matched, with its proposal (en)")
    shoot(police, "cases-matched.png")

    # --- his probation officer: the case, and the caseload with its load ------------------------
    probation = people()
    problems += watch(probation)
    sign_in(probation, site, "probation_officer")
    probation.get_by_test_id("nav-cases").click()
    expect(probation.locator("[data-testid=case-item][data-case-id='C-100']")).to_be_visible()
    expect(probation.locator("[data-testid=case-item][data-case-id='C-NEAR']")).to_have_count(0)
    probation.get_by_test_id("nav-caseload").click()
    figure = probation.get_by_test_id("caseload-load-figure")
    expect(figure).to_have_text("대상자 2명 · 기준 10명 · 현장 평균 21.6명")
    card = probation.locator(f"[data-testid=caseload-subject][data-subject-id='{known.subject}']")
    expect(card.locator("[data-testid=caseload-case]")).to_contain_text("C-100")
    expect(card.get_by_test_id("caseload-alert-kinds")).to_contain_text("수사 사건 일치 1")
    found += violations(probation, "caseload (ko)")
    shoot(probation, "caseload.png")

    # --- an operator confirms the near match ---------------------------------------------------
    operator = people()
    problems += watch(operator)
    sign_in(operator, site, "operator")
    operator.get_by_test_id("nav-cases").click()
    operator.locator("[data-testid=review-list] [data-case-id='C-NEAR']").click()
    candidate = operator.locator(f"[data-testid=review-candidate][data-subject-id='{near.subject}']")
    expect(candidate).to_contain_text("Kim 2")  # his record beside the suspect's, to compare
    expect(candidate).to_contain_text("이름이 같고 생년월일을 모름")
    found += violations(operator, "review of a near match (ko)")
    shoot(operator, "cases-review.png")
    operator.get_by_test_id("review-confirm").click()
    expect(operator.get_by_test_id("case-detail-state")).to_have_text("전자감독 대상자")
    expect(operator.get_by_test_id("review-list-empty")).to_be_visible()
    # and every officer's load, then one officer's caseload
    operator.get_by_test_id("nav-caseload").click()
    officer = operator.locator("[data-testid=caseload-load][data-officer='u-probation_officer']")
    expect(officer.get_by_test_id("caseload-load-figure")).to_contain_text("대상자 2명")
    found += violations(operator, "every officer's load (ko)")
    officer.get_by_test_id("caseload-officer").click()
    expect(operator.locator("[data-testid=caseload-subject]")).to_have_count(2)

    # --- the court grants 3-2: the order, with its end ten days away ---------------------------
    until = (datetime.now() + timedelta(days=10, hours=2)).strftime("%Y-%m-%dT%H:%M")
    decision = police.get_by_test_id("decision-form")
    decision.get_by_label("Court case number").fill("2026초기1234")
    decision.get_by_label("Decided on").fill(datetime.now().strftime("%Y-%m-%d"))
    decision.get_by_label("Valid until").fill(until)
    police.get_by_test_id("decision-save").click()
    expect(police.get_by_test_id("case-message")).to_contain_text("is in force from now")
    order = police.get_by_test_id("case-order")
    expect(order).to_contain_text("ends in 10 days")
    expect(police.get_by_test_id("case-expiring")).to_be_visible()
    expect(police.get_by_test_id("case-proposal")).to_have_count(0)
    found += violations(police, "case with its order (en)")
    shoot(police, "cases-order.png")

    probation.get_by_test_id("caseload-refresh").click()
    expect(probation.get_by_test_id("caseload-expiring")).to_contain_text("10일 후 만료")
    assert found == []
    assert problems == []


def test_a_case_edited_decided_with_a_start_and_a_zone_then_closed_and_reopened(
    site: Site, people: Any
) -> None:
    """The investigator edits a recorded case (the form filled in from it, the national id never
    shown back and kept when left empty), records the court's 3-2 with its start and a zone typed in,
    then closes the case with its outcome (the order stays in force) and reopens it."""
    pair = site.pair()
    investigator = site.account(Role.POLICE_INVESTIGATOR, areas=("31",))
    name = site.call("GET", f"/v1/subjects/{pair.subject}").json()["name"]
    case_id = f"C-CLOSE-{pair.n}"
    body = {
        "kind": "stalking", "area": "31", "station": "Namyangju South",
        "suspect": {"name": name, "subject_id": pair.subject, "national_id": "850314-1234567"},
        "victim": {"name": "Choi"}, "offences": ["stalking", "threats"],
        "reports": [{"at": "2026-11-20T21:10:00+09:00", "summary": "waited outside her flat"}],
        "measures_requested": ["3-2"],
    }  # fmt: skip
    site.call("PUT", f"/v1/cases/{case_id}", body, who=investigator)
    found: list[str] = []
    police = people()
    problems = watch(police)
    sign_in(police, site, investigator, purpose=False, role="police_investigator")
    language(police, "en")
    police.locator(f"[data-testid=case-item][data-case-id='{case_id}']").click()
    expect(police.get_by_test_id("case-detail")).to_have_attribute("data-case-id", case_id)

    # --- edit: the form holds the case as recorded, but not its national id ----------------------
    police.get_by_test_id("case-edit").click()
    form = police.get_by_test_id("case-form")
    expect(form).to_have_attribute("data-editing", case_id)
    expect(form.get_by_label("Case number")).to_have_value(case_id)
    expect(form.get_by_label("Police station")).to_have_value("Namyangju South")
    expect(form.get_by_label("Offences (one per line)")).to_have_value("stalking\nthreats")
    expect(form.get_by_label("What happened")).to_have_value("waited outside her flat")
    expect(form.get_by_label("3-2: electronic monitoring")).to_be_checked()
    expect(form.get_by_label("National id (resident registration number)")).to_have_value("")
    expect(police.get_by_test_id("case-nid-kept")).to_be_visible()
    found += violations(police, "editing a case (en)")
    form.get_by_label("Police station").fill("Namyangju South, team 2")
    police.get_by_test_id("case-save").click()
    expect(police.get_by_test_id("case-message")).to_have_text("The case is updated.")
    stored = site.call("GET", f"/v1/cases/{case_id}").json()
    assert stored["station"] == "Namyangju South, team 2" and stored["suspect"]["has_national_id"] is True
    # the number was wrong: removed on request (not with a new one at once), and gone
    police.get_by_test_id("case-edit").click()
    form.get_by_label("Remove the stored national id (it was wrong)").check()
    form.get_by_label("National id (resident registration number)").fill("850314-1234568")
    police.get_by_test_id("case-save").click()
    expect(police.get_by_test_id("case-error-suspect.national_id")).to_have_text(
        "Give a new number or remove the stored one, not both."
    )
    form.get_by_label("National id (resident registration number)").fill("")
    police.get_by_test_id("case-save").click()
    expect(police.get_by_test_id("case-message")).to_have_text("The case is updated.")
    assert site.call("GET", f"/v1/cases/{case_id}").json()["suspect"]["has_national_id"] is False

    # --- the court's 3-2, valid from an hour ago, with a zone typed in ---------------------------
    start = (datetime.now() - timedelta(hours=1)).replace(second=0, microsecond=0)
    until = (datetime.now() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    decision = police.get_by_test_id("decision-form")
    expect(decision.get_by_label("Valid from")).not_to_have_value("")  # now, unless changed
    decision.get_by_label("Court case number").fill("2026초기77")
    decision.get_by_label("Decided on").fill(datetime.now().strftime("%Y-%m-%d"))
    decision.get_by_label("Valid from").fill(start.strftime("%Y-%m-%dT%H:%M"))
    decision.get_by_label("Valid until").fill(start.strftime("%Y-%m-%dT%H:%M"))  # not after the start
    zones = police.get_by_test_id("decision-zones")
    zones.get_by_test_id("zone-add-numeric").click()
    card = zones.get_by_test_id("zone-card-0")
    expect(card).to_be_visible()
    card.get_by_label("Label").fill("her workplace")
    police.get_by_test_id("decision-save").click()
    expect(police.get_by_test_id("case-error-d.valid_until")).to_have_text(
        "The end must come after the start."
    )
    expect(card.get_by_label("Label")).to_have_value("her workplace")  # the zone is kept
    found += violations(police, "decision with a zone and an error (en)")
    shoot(police, "cases-decision-zones.png")
    decision.get_by_label("Valid until").fill(until)
    police.get_by_test_id("decision-save").click()
    expect(police.get_by_test_id("case-message")).to_contain_text("is in force from now")
    order_id = police.get_by_test_id("case-order").get_attribute("data-order-id")
    order = site.call("GET", f"/v1/orders/{order_id}").json()
    assert datetime.fromisoformat(order["valid_from"]) == start.astimezone()
    [zone] = order["zones"]
    assert zone["label"] == "her workplace" and zone["shape"]["circle"]["radius_m"] == 200

    # --- closed: the outcome is asked for; the order stays in force ----------------------------
    police.get_by_test_id("case-close").click()
    close = police.get_by_test_id("close-form")
    close.get_by_label("Why it is closed").fill("sent to the prosecutor")
    police.get_by_test_id("close-confirm").click()
    expect(police.get_by_test_id("case-error-close.outcome")).to_have_text("Required.")
    found += violations(police, "closing a case, with an error (en)")
    close.get_by_label("Outcome").select_option("charged")
    police.get_by_test_id("close-confirm").click()
    closed = police.get_by_test_id("case-closed")
    expect(closed).to_contain_text("Closed: Charged")
    expect(closed).to_contain_text("sent to the prosecutor")
    expect(closed).to_contain_text("leaves them in force")
    expect(police.get_by_test_id("case-detail")).to_have_attribute("data-status", "closed")
    for gone in ("decision-form", "case-edit", "case-close"):
        expect(police.get_by_test_id(gone)).to_have_count(0)
    expect(police.get_by_test_id("case-order")).to_contain_text("in force")
    assert site.call("GET", f"/v1/orders/{order_id}").json()["ended_at"] is None
    language(police, "ko")
    expect(closed).to_contain_text("종결된 사건: 송치")
    found += violations(police, "a closed case (ko)")
    shoot(police, "cases-closed.png")

    # --- reopened, saying why -----------------------------------------------------------------
    police.get_by_test_id("case-reopen").click()
    police.get_by_test_id("close-form").get_by_label("재개 사유").fill("새 신고 접수")
    police.get_by_test_id("close-confirm").click()
    expect(police.get_by_test_id("case-message")).to_have_text("사건을 재개했습니다.")
    expect(police.get_by_test_id("case-reopened")).to_contain_text("새 신고 접수")
    expect(police.get_by_test_id("decision-form")).to_be_visible()
    assert found == []
    assert problems == []
