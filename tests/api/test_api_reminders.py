"""Reminders before an order ends (issue 18: "an order that expires soon reminds both"): the sweep
tells the subject's probation officer and the case's investigators, once per lead time and end,
in their own reminders (`GET /v1/me/reminders`), with an audit entry; an extension starts a new
series and settles the old one; an order made in the registry reminds probation alone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from vigil.domain.model import Role
from vigil.order_reminders import remind_now
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # the sweep's time comparisons and its key run in SQL

INV = Role.POLICE_INVESTIGATOR
PO = Role.PROBATION_OFFICER
OFFICER = "u-probation_officer"
INVESTIGATOR = "u-police_investigator"
DAY = 86400


def sweep(api: Any) -> list[Any]:
    sent = remind_now(api.client.app.state.services)
    assert sent is not None
    return sent


def court_order(api: Any, days: float) -> str:
    """A case naming S1 (his officer: u-probation_officer) and a granted 3-2 ending in `days`."""
    api.subject("S1", "AM-1")
    body = {
        "kind": "stalking", "area": "31130", "station": "남양주남부경찰서",
        "suspect": {"name": "subject S1", "subject_id": "S1"}, "victim": {"name": "이서연", "phone": "010-2345-6789"},
        "offences": ["stalking"], "measures_requested": ["3-2"],
    }  # fmt: skip
    assert api.put("/v1/cases/C-1", body, who=INV).status_code == 201
    decision = {
        "measure": "3-2", "granted": True, "court_reference": "2026초기1234", "decided_on": "2026-12-06",
        "valid_until": api.at(days * DAY),
    }  # fmt: skip
    r = api.post("/v1/cases/C-1/decisions", decision, who=INV)
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


def mine(api: Any, who: str, **params: str) -> list[dict[str, Any]]:
    r = api.get("/v1/me/reminders", who=who, params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_both_agencies_are_reminded_once_per_lead_time_and_an_extension_starts_again(app_client):
    api = app_client
    made = court_order(api, 20)
    assert sweep(api) == []  # 20 days left: no lead time reached
    assert mine(api, PO) == [] and mine(api, INV) == []

    api.clock.advance(6.5 * DAY)  # 13.5 days left: the 14-day reminder
    [sent] = sweep(api)
    assert (sent.order_id, sent.lead_days, sent.days_left) == (made, 14, 13)
    assert set(sent.recipients) == {OFFICER, INVESTIGATOR}
    for who in (PO, INV):
        [r] = mine(api, who)
        assert (r["order"], r["subject"], r["cases"], r["lead_days"]) == (made, "S1", ["C-1"], 14)
        assert r["open"] is True and r["days_left"] == 13 and r["settled"] is None
    # her details are the case's, never a reminder's
    assert "이서연" not in api.get("/v1/me/reminders", who=PO).text

    assert sweep(api) == []  # swept again: nothing new
    # beside the order, both agencies' views say it was reminded of, and when
    [shown] = api.get("/v1/caseload", who=PO).json()["expiring"]
    assert shown["reminded"] == {
        "sent_at": api.clock().isoformat(),
        "lead_days": 14,
        "days_left": 13,
        "told": 2,
    }
    [on_case] = api.get("/v1/cases/C-1", who=INV).json()["orders"]
    assert on_case["reminded"] == shown["reminded"]
    api.clock.advance(5 * DAY)  # 8.5 days left: between lead times
    assert sweep(api) == []
    api.clock.advance(6 * DAY)  # 2.5 days left: the last call
    [sent] = sweep(api)
    assert (sent.lead_days, sent.days_left) == (3, 2)
    assert [r["lead_days"] for r in mine(api, PO)] == [3, 14]
    assert sweep(api) == []

    # audited: the system's own step, naming both agencies
    with api.db.connect() as conn:
        entries = conn.execute(
            select(t.audit_log.c.detail).where(t.audit_log.c.action == "order.expiry_reminder")
        ).all()
    assert len(entries) == 2
    assert all(e.detail["probation"] == [OFFICER] and e.detail["police"] == [INVESTIGATOR] for e in entries)

    # extended by a new decision: the old reminders are settled, and the new end is reminded in turn
    her = api.get("/v1/cases/C-1", who=INV).json()["victim"]["protected_person_id"]
    assert api.order(made, "S1", her, valid_until=api.at(10 * DAY)).status_code == 200
    assert mine(api, PO) == []
    settled = mine(api, PO, state="all")
    assert [r["settled"] for r in settled] == ["changed", "changed"]
    [sent] = sweep(api)
    assert (sent.lead_days, sent.days_left) == (14, 10)
    assert [r["days_left"] for r in mine(api, INV)] == [10]


def test_a_late_sweep_sends_one_reminder_for_the_nearest_lead_time(app_client):
    api = app_client
    made = court_order(api, 2)  # made with two days left: both lead times reached at once
    [sent] = sweep(api)
    assert (sent.order_id, sent.lead_days) == (made, 3)
    assert sweep(api) == []
    assert [r["lead_days"] for r in mine(api, PO)] == [3]
    with api.db.connect() as conn:
        leads = sorted(r.lead_days for r in conn.execute(select(t.order_reminders.c.lead_days)))
    assert leads == [3, 14]  # the 14-day one is covered, never sent late


def test_ended_orders_and_lapsed_ones_remind_no_one(app_client):
    api = app_client
    made = court_order(api, 10)
    assert api.post(f"/v1/orders/{made}/end").status_code == 200
    assert sweep(api) == []
    api.subject("S2", "AM-2")
    api.protected("P2", None)
    assert api.order("O2", "S2", "P2", valid_until=api.at(3600)).status_code == 201
    api.clock.advance(7200)  # lapsed before anyone swept
    assert sweep(api) == []


def test_a_registry_order_reminds_probation_alone_and_the_station_stands_in_for_a_gone_investigator(
    app_client,
):
    api = app_client
    api.subject("S2", "AM-2")
    api.protected("P2", None)
    assert api.order("O2", "S2", "P2", valid_until=api.at(5 * DAY)).status_code == 201
    [sent] = sweep(api)
    assert sent.recipients == (OFFICER,)
    assert mine(api, INV) == []
    with api.db.connect() as conn:
        [entry] = conn.execute(
            select(t.audit_log.c.detail).where(t.audit_log.c.action == "order.expiry_reminder")
        ).all()
    assert entry.detail["no_police"] is True

    # The investigator who recorded the case has left (account disabled): the station's other
    # investigators are told instead of no one.
    with api.db.begin() as conn:
        create_user(conn, user_id="inv-2", name="최수사", role=INV, now=api.clock(), areas=["31"])
        api.tokens["inv-2"] = issue_token(conn, role=INV, now=api.clock(), user_id="inv-2")
    court_order(api, 6)
    with api.db.begin() as conn:
        conn.execute(update(t.users).where(t.users.c.id == INVESTIGATOR).values(disabled=True))
    [sent] = sweep(api)
    assert set(sent.recipients) == {OFFICER, "inv-2"}
    assert [r["cases"] for r in mine(api, "inv-2")] == [["C-1"]]


def test_reminders_are_read_by_their_own_account_only(app_client):
    api = app_client
    court_order(api, 5)
    sweep(api)
    for role in (Role.OPERATOR, Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.AUDITOR, Role.ADMIN):
        assert api.get("/v1/me/reminders", who=role).status_code == 403, role
    assert api.client.get("/v1/me/reminders").status_code == 401
    for bad in ({"state": "closed"}, {"limit": "0"}, {"limit": "501"}):
        r = api.get("/v1/me/reminders", who=PO, params=bad)
        assert r.status_code == 422 and next(iter(bad)) in r.text, bad
