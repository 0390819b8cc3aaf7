"""What the registry forms rely on: people must have a name and a phone must be a phone (a 422 naming
the field, with a code an app can say in its own words, and nothing stored); the people picker's
search, scoped and audited like the registry's lists; and an order's parties by name, where the
caller may see them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # search filters in SQL (LIKE, case, scope)

ORDER = {
    "subject_id": "S1",
    "protected_person_id": "P1",
    "violation_distance_m": 100,
    "warning_distance_m": 1000,
    "legal_basis": "stalking_provisional_measure",
}


def problems(response: Any) -> dict[str, str]:
    """{field: code} of a 422."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert all(e["reason"] for e in detail), detail
    return {e["field"]: e.get("code", "") for e in detail}


def count(api: Any, table: Any) -> int:
    with api.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- validation ------------------------------------------------------------------------------------


def test_a_subject_needs_a_name_and_a_refusal_changes_nothing(app_client):
    api = app_client
    assert problems(api.put("/v1/subjects/S1", {"legal_basis": "parole"})) == {"name": "missing"}
    for blank in ("", "   "):
        r = api.put("/v1/subjects/S1", {"legal_basis": "parole", "name": blank})
        assert problems(r) == {"name": "string_too_short"}
    assert count(api, t.subjects) == 0
    assert api.get("/v1/subjects/S1").status_code == 404
    # a name is kept trimmed
    assert api.put("/v1/subjects/S1", {"legal_basis": "parole", "name": "  김철수 "}).status_code == 201
    assert api.get("/v1/subjects/S1").json()["name"] == "김철수"
    # an update without a name changes nothing either
    r = api.put("/v1/subjects/S1", {"legal_basis": "bail", "name": ""})
    assert problems(r) == {"name": "string_too_short"}
    assert api.get("/v1/subjects/S1").json()["legal_basis"] == "parole"


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("phone", ["abc", "010-abcd-5678", "12", "+", "0101234567890123456", "010—1234—5678"])
def test_a_phone_that_is_no_phone_number_is_refused(app_client, phone):
    api = app_client
    r = api.put("/v1/protected-persons/P1", {"name": "이영희", "phone": phone})
    assert problems(r) == {"phone": "phone"}
    assert "phone number" in r.json()["detail"][0]["reason"]
    assert count(api, t.protected_persons) == 0


@pytest.mark.parametrize("phone", ["", "010-1234-5678", "+82 10 1234 5678", "(02) 123-4567", "02.123.4567"])
def test_phone_numbers_as_people_write_them_are_taken(app_client, phone):
    r = app_client.put("/v1/protected-persons/P1", {"name": "이영희", "phone": phone})
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == phone


def test_a_protected_person_needs_a_name_too(app_client):
    r = app_client.put("/v1/protected-persons/P1", {"phone": "010-1234-5678"})
    assert problems(r) == {"name": "missing"}
    r = app_client.put("/v1/protected-persons/P1", {"name": " ", "phone": "abc"})
    assert problems(r) == {"name": "string_too_short", "phone": "phone"}  # every problem at once
    assert count(app_client, t.protected_persons) == 0


# --- the people picker ------------------------------------------------------------------------------


def scene(api: Any) -> None:
    """S1 (Kim Minsu, the probation officer's) wears AM-1 and is ordered away from P1 (Lee Younghee);
    S2 (Kim Jisoo, someone else's) wears AM-2; AM-9 is in stock."""
    for sid, name, officer in (("S1", "Kim Minsu", "u-probation_officer"), ("S2", "Kim Jisoo", None)):
        body = {
            "legal_basis": "parole",
            "name": name,
            "case_reference": f"2026-{sid}",
            "probation_officer": officer,
        }
        assert api.put(f"/v1/subjects/{sid}", body).status_code == 201
    assert (
        api.put("/v1/protected-persons/P1", {"name": "Lee Younghee", "phone": "010-1111-2222"}).status_code
        == 201
    )
    for device, person in (("AM-1", "S1"), ("AM-2", "S2"), ("AM-9", None)):
        assert (
            api.put(f"/v1/devices/{device}", {"kind": "ankle_monitor", "person_id": person}).status_code
            == 201
        )
    assert api.put("/v1/orders/O1", ORDER).status_code == 201


def search(api: Any, who: str = "operator", **params: Any) -> list[dict[str, Any]]:
    r = api.get("/v1/registry/search", who=who, params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_search_finds_people_by_part_of_a_name_or_id_in_any_case(app_client):
    api = app_client
    scene(api)
    found = search(api, q="kim", kind="subject")
    assert [(f["kind"], f["id"], f["name"]) for f in found] == [
        ("subject", "S1", "Kim Minsu"),
        ("subject", "S2", "Kim Jisoo"),
    ]
    assert found[0]["detail"] == "2026-S1"
    assert [f["id"] for f in search(api, q="younghee")] == ["P1"]
    assert [f["id"] for f in search(api, q="2026-s2")] == ["S2"]  # his case reference
    # a device by its id or its wearer's; the exact id first
    assert [f["id"] for f in search(api, q="am-", kind="device")] == ["AM-1", "AM-2", "AM-9"]
    assert search(api, q="S1", kind="device") == [
        {"kind": "device", "id": "AM-1", "name": "", "detail": "ankle_monitor", "person_id": "S1"}
    ]
    assert search(api, q="s1")[0]["id"] == "S1"
    # LIKE's wildcards are taken literally
    assert search(api, q="%") == [] and search(api, q="_") == []
    # bounded, and only known kinds
    assert len(search(api, limit=2)) == 2
    assert "kind" in problems(api.get("/v1/registry/search", params={"kind": "user"}))
    assert api.get("/v1/registry/search", params={"limit": 51}).status_code == 422
    # the victim's phone is not something to look her up by
    assert search(api, q="1111") == []


def test_search_shows_each_role_only_what_its_registry_lists_show(app_client):
    api = app_client
    scene(api)
    # the probation officer: his subject and his subject's monitor, and devices in stock; not the
    # victim (her record is not his to read) nor another caseload's subject
    assert {f["id"] for f in search(api, "probation_officer")} == {"S1", "AM-1", "AM-9"}
    assert search(api, "probation_officer", q="Younghee") == []
    assert search(api, "probation_officer", q="Jisoo") == []
    # a dispatcher with no open alert in his jurisdiction sees no one, only the stock
    assert {f["id"] for f in search(api, "police_dispatcher")} == {"AM-9"}
    # roles that read no registry may not search it; each refusal is in the trail
    for who in ("admin", "field_officer", "protected_person", "auditor"):
        r = api.get("/v1/registry/search", who=who, params={"q": "Kim"})
        assert r.status_code == 403, (who, r.text)
    trail = api.get("/v1/audit", who="auditor", params={"action": "registry.read"}).json()
    searched = [e for e in trail if e["target"].startswith("/v1/registry/search")]
    assert any(e["actor"] == "u-admin" and e["detail"]["allowed"] is False for e in searched)
    # an allowed search is recorded with what was asked
    assert any(
        e["target"] == "/v1/registry/search?q=Jisoo" and e["actor"] == "u-probation_officer" for e in searched
    )


def test_an_order_names_its_parties_where_the_caller_may_see_them(app_client):
    api = app_client
    scene(api)
    order = api.get("/v1/orders/O1").json()
    assert (order["subject_name"], order["protected_person_name"]) == ("Kim Minsu", "Lee Younghee")
    [listed] = api.get("/v1/orders").json()
    assert (listed["subject_name"], listed["protected_person_name"]) == ("Kim Minsu", "Lee Younghee")
    # his probation officer reads the order, and his name, but not hers
    order = api.get("/v1/orders/O1", who="probation_officer").json()
    assert (order["subject_name"], order["protected_person_name"]) == ("Kim Minsu", None)
    [listed] = api.get("/v1/orders", who="probation_officer").json()
    assert listed["protected_person_name"] is None
