"""Police cases and the join to probation (issue 18), walked through the API as the agencies would:
a police investigator records a stalking case; the suspect is a subject already wearing a monitor, so
his probation officer gets `case_match` in the queue and probation's dispatch target a push (the
police's does not); the case shows the monitor and proposes measure 3-2; the court grants it, the
order exists from that minute, and his next approach to her is a violation. Near matches wait for
an operator; a name alone matches no one; each agency sees only its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_kit import HOME_LAT, HOME_LON, north
from sqlalchemy import select

from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # cases matched in SQL and in Python, on both

INV = Role.POLICE_INVESTIGATOR
PO = Role.PROBATION_OFFICER
RRN = "850314-1234567"
BORN = "1985-03-14"


def case_body(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "stalking",
        "area": "31130",
        "station": "남양주남부경찰서",
        "suspect": {"name": "김 민수", "birth_date": BORN, "national_id": RRN},
        "victim": {"name": "이서연", "phone": "010-2345-6789"},
        "offences": ["stalking (Stalking Act art. 18)", "threats by messages"],
        "reports": [
            {"at": "2026-11-20T21:10:00+09:00", "summary": "waited outside her flat at night"},
            {"at": "2026-12-02T08:05:00+09:00", "summary": "followed her to the station"},
        ],
        "measures_requested": ["2", "3-2"],
    }
    body.update(change)
    return body


def monitored(api: Any, sid: str = "S1", device: str = "AM-1", **identity: Any) -> None:
    """A subject in u-probation_officer's caseload, wearing `device`, with his identity."""
    api.subject(sid, device)
    body = {"legal_basis": "parole", "name": "김민수", **identity}
    r = api.put(f"/v1/subjects/{sid}", body)
    assert r.status_code == 200, r.text


def alerts_of(api: Any, sid: str, who: str = PO) -> list[dict[str, Any]]:
    r = api.get("/v1/alerts", who=who, params={"subject": sid})
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["kind"] == "case_match"]


def add_target(api: Any, receiver: Any, target: str, path: str, agency: str) -> None:
    body = {"name": target, "url": receiver.url + path, "secret": receiver.secrets[path], "agency": agency}
    r = api.put(f"/v1/dispatch/targets/{target}", body, who=Role.ADMIN)
    assert r.status_code in (200, 201), r.text


def test_a_case_reaches_probation_and_a_granted_measure_protects_her_at_once(dispatch_client, receiver):
    api = dispatch_client
    add_target(api, receiver, "probation-gg", "/probation", "probation")
    add_target(api, receiver, "police-gg", "/gyeonggi-police", "police")
    monitored(api, birth_date=BORN, national_id=RRN)
    subject = api.get("/v1/subjects/S1").json()
    assert subject["has_national_id"] is True and "national_id_hash" not in subject

    r = api.put("/v1/cases/C-2026-001", case_body(), who=INV)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["match"]["state"] == "matched" and case["match"]["subject_id"] == "S1"
    assert case["match"]["basis"] == "national_id"
    assert case["match"]["already_monitored"] is True and case["match"]["devices"] == ["AM-1"]
    assert case["match"]["probation_officer"]["id"] == "u-probation_officer"
    assert case["suspect"] == {
        "name": "김 민수",
        "birth_date": BORN,
        "has_national_id": True,
        "subject_id": None,
    }
    proposal = case["proposal"]
    assert proposal["measure"] == "3-2" and proposal["facts"]["reports"] == 2
    assert proposal["facts"]["monitoring"]["devices"] == ["AM-1"]
    assert RRN not in r.text and RRN.replace("-", "") not in r.text

    # probation's queue, and probation's push; not the police's
    [match] = alerts_of(api, "S1")
    assert match["severity"] == "high" and "C-2026-001" in match["facts"]["event"]
    [pushed] = receiver.wait("/probation", 1)
    assert pushed["data"]["alert"]["kind"] == "case_match"
    assert receiver.events("/gyeonggi-police") == []
    seen = api.get("/v1/cases", who=PO).json()
    assert [c["id"] for c in seen] == ["C-2026-001"]

    # recorded again (a new report): still one match, one alert
    body = case_body(
        reports=[*case_body()["reports"], {"at": "2026-12-05T19:00:00+09:00", "summary": "at her door"}]
    )
    assert api.put("/v1/cases/C-2026-001", body, who=INV).status_code == 200
    assert len(alerts_of(api, "S1")) == 1

    # the court grants 3-2: the order exists at once, for both agencies
    decision = {
        "measure": "3-2", "granted": True, "court": "의정부지방법원 남양주지원", "court_reference": "2026초기1234",
        "decided_on": "2026-12-06", "valid_until": "2027-03-06T00:00:00+09:00",
        "violation_distance_m": 100, "warning_distance_m": 1000,
    }  # fmt: skip
    r = api.post("/v1/cases/C-2026-001/decisions", decision, who=INV)
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    her = r.json()["case"]["victim"]["protected_person_id"]
    assert "proposal" not in r.json()["case"]
    order = api.get(f"/v1/orders/{order_id}", who=PO).json()
    assert (order["subject_id"], order["protected_person_id"]) == ("S1", her)
    assert order["reference"] == "2026초기1234" and order["legal_basis"] == "stalking_provisional_measure"

    # her phone, and his approach: a violation of the new order
    assert api.put("/v1/devices/PH-9", {"kind": "phone", "person_id": her}).status_code == 201
    r = api.send([api.fix("PH-9", HOME_LAT, HOME_LON), api.fix("AM-1", north(50), HOME_LON)])
    assert r.status_code == 200, r.text
    kinds = {(a["kind"], a["order"]) for a in api.get("/v1/alerts", params={"subject": "S1"}).json()}
    assert ("proximity_violation", order_id) in kinds

    with api.db.connect() as conn:
        log = t.audit_log.c
        actions = [
            r.action for r in conn.execute(select(log.action).where(log.actor == "u-police_investigator"))
        ]
    assert {"case.write", "case.decision"} <= set(actions)


def test_a_near_match_waits_for_an_operator_and_a_name_alone_is_nothing(app_client):
    api = app_client
    monitored(api, "S1", "AM-1", birth_date=BORN)  # no national id
    monitored(api, "S2", "AM-2", birth_date="1990-07-01")  # the same name, born years apart: nothing
    # a birth date one digit off: near, for review; probation is not told
    r = api.put("/v1/cases/C-2", case_body(suspect={"name": "김민수", "birth_date": "1985-03-15"}), who=INV)
    assert r.status_code == 201, r.text
    # the investigator learns nothing of who nearly matches: not even that someone does
    assert r.json()["match"] == {"state": "none"} and "review" not in r.json()
    assert api.get("/v1/cases/C-2").json()["match"] == {"state": "review"}  # an operator sees it
    assert alerts_of(api, "S1", who=Role.OPERATOR) == []
    review = api.get("/v1/cases/review").json()
    assert [(c["id"], [x["subject_id"] for x in c["review"]]) for c in review] == [("C-2", ["S1"])]
    # an operator confirms: now his officer is told
    r = api.post("/v1/cases/C-2/match", {"subject_id": "S1"})
    assert r.status_code == 200, r.text
    assert r.json()["match"]["basis"] == "reviewed"
    assert len(alerts_of(api, "S1")) == 1
    assert api.post("/v1/cases/C-2/match", {"subject_id": "S2"}).status_code == 409

    # the same name with no birth date and no id: never a match, a review at most
    r = api.put("/v1/cases/C-3", case_body(suspect={"name": "김민수"}), who=INV)
    assert api.get("/v1/cases/C-3").json()["match"]["state"] == "review"
    assert len(alerts_of(api, "S1")) == 1


def test_an_id_guessed_or_mistyped_tells_the_police_nothing_and_his_officer_nothing(app_client):
    api = app_client
    monitored(api, birth_date=BORN)  # S1, 김민수
    for case_id, named in (("C-G1", "S1"), ("C-G2", "S-does-not-exist")):
        body = case_body(suspect={"name": "박서준", "birth_date": "1990-01-01", "subject_id": named})
        r = api.put(f"/v1/cases/{case_id}", body, who=INV)
        assert r.status_code == 201, r.text  # an unknown id is not refused: that would say which exist
        assert r.json()["match"] == {"state": "none"}
    assert alerts_of(api, "S1", who=Role.OPERATOR) == []
    # the named subject whose identity disagrees waits for an operator
    review = {c["id"]: [x["subject_id"] for x in c["review"]] for c in api.get("/v1/cases/review").json()}
    assert review == {"C-G1": ["S1"]}
    # a court's 3-2 on the case that only named him makes no order against him
    decision = {"measure": "3-2", "granted": True, "court_reference": "2026초기7", "decided_on": "2026-12-06"}
    assert api.post("/v1/cases/C-G1/decisions", decision, who=INV).status_code == 409
    # named, and his identity agrees: a match
    body = case_body(suspect={"name": "김민수", "birth_date": BORN, "subject_id": "S1"})
    assert api.put("/v1/cases/C-G3", body, who=INV).json()["match"]["basis"] == "subject_id"


def test_a_subject_registered_after_the_case_is_matched_then(app_client):
    api = app_client
    r = api.put("/v1/cases/C-4", case_body(), who=INV)
    assert r.json()["match"] == {"state": "none"}
    monitored(api, birth_date=BORN, national_id=RRN)
    assert len(alerts_of(api, "S1")) == 1
    assert api.get("/v1/cases/C-4", who=INV).json()["match"]["subject_id"] == "S1"


def test_each_agency_sees_only_its_own_cases(app_client):
    api = app_client
    monitored(api, birth_date=BORN, national_id=RRN)
    assert api.put("/v1/cases/C-5", case_body(), who=INV).status_code == 201
    # another station's investigator (Seoul), another caseload's officer, other roles
    with api.db.begin() as conn:
        now = datetime.now(UTC)
        create_user(conn, user_id="inv-seoul", name="inv", role=INV, now=now, areas=["11"])
        create_user(conn, user_id="po-2", name="po", role=PO, now=now)
        api.tokens["inv-seoul"] = issue_token(conn, role=INV, now=now, user_id="inv-seoul")
        api.tokens["po-2"] = issue_token(conn, role=PO, now=now, user_id="po-2")
    assert api.get("/v1/cases/C-5", who="inv-seoul").status_code == 403
    assert api.get("/v1/cases", who="inv-seoul").json() == []
    assert api.put("/v1/cases/C-5", case_body(area="11010"), who="inv-seoul").status_code == 403
    assert api.put("/v1/cases/C-6", case_body(area="11010"), who=INV).status_code == 403
    assert api.get("/v1/cases/C-5", who="po-2").status_code == 403
    for role in (Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.PROTECTED_PERSON, Role.ADMIN):
        assert api.get("/v1/cases/C-5", who=role).status_code == 403, role
        assert api.put("/v1/cases/C-7", case_body(), who=role).status_code == 403, role
    # an investigator sees cases, never positions or alerts
    assert api.get("/v1/alerts", who=INV).status_code == 403
    assert api.get("/v1/positions", who=INV).status_code == 403
    assert api.get("/v1/cases/nope", who=INV).status_code == 404


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "burglary"}, "kind"),
        ({"area": "Seoul"}, "area"),
        ({"offences": []}, "offences"),
        ({"suspect": {"name": " "}}, "suspect.name"),
        ({"suspect": {"name": "Kim", "national_id": "85031412345"}}, "suspect.national_id"),
        ({"suspect": {"name": "Kim", "birth_date": "2990-01-01"}}, "suspect.birth_date"),
        ({"victim": {}}, "victim"),
        ({"measures_requested": ["5"]}, "measures_requested.0"),
        ({"reports": [{"at": "2026-12-01T10:00:00", "summary": "no time zone"}]}, "reports.0.at"),
    ],
)
def test_a_bad_case_is_refused_naming_the_field(app_client, change, field):
    r = app_client.put("/v1/cases/C-9", case_body(**change), who=INV)
    assert r.status_code == 422, r.text
    assert any(d["field"].startswith(field) for d in r.json()["detail"]), r.json()
    assert app_client.get("/v1/cases/C-9", who=INV).status_code == 404


def test_a_decision_needs_a_matched_subject_for_3_2(app_client):
    api = app_client
    assert api.put("/v1/cases/C-8", case_body(), who=INV).status_code == 201
    decision = {"measure": "3-2", "granted": True, "court_reference": "2026초기9", "decided_on": "2026-12-06"}
    r = api.post("/v1/cases/C-8/decisions", decision, who=INV)
    assert r.status_code == 409 and "matches no monitored subject" in r.text
    bad = {**decision, "violation_distance_m": 2000, "warning_distance_m": 1000}
    assert api.post("/v1/cases/C-8/decisions", bad, who=INV).status_code == 422
    refused = {**decision, "granted": False}
    r = api.post("/v1/cases/C-8/decisions", refused, who=INV)
    assert r.status_code == 201 and r.json()["order_id"] is None
