"""A subject's profile for the police (issue 17): its fields in the registry, the photo upload (type by
the bytes, size, someone else's subject, path tricks), the profile read with its purpose and audit,
and what a live-track link shows of him (photo and description, nothing else)."""

from __future__ import annotations

import struct
import zlib

import pytest
from sqlalchemy import select, update

from conftest import CASELOAD_OF
from vigil.domain.model import Role
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends

WHY = {"purpose": "alert_response", "reason": "sent to find him"}
PROFILE = {
    "description": "180 cm, heavy build, scar over the left eyebrow",
    "vehicle_plate": "12가 3456",
    "vehicle": "Hyundai Sonata, grey",
    "home_address": "경기도 남양주시 화도읍 1-2",
    "work_address": "서울특별시 종로구 3",
}


def png(pixels: int = 1, padding: int = 0) -> bytes:
    """A real PNG (one grey row of `pixels`), with `padding` bytes of an ancillary chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", pixels, 1, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" + b"\x80" * pixels)
    extra = chunk(b"tEXt", b"c\x00" + b"x" * padding) if padding else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", body) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def upload(api, sid: str, data: bytes, kind: str = "image/png", who: str = Role.OPERATOR):
    return api.client.put(
        f"/v1/subjects/{sid}/photo", content=data, headers={**api.auth(who), "Content-Type": kind}
    )


def photo(api, sid: str, who: str = Role.OPERATOR, params=WHY):
    return api.client.get(f"/v1/subjects/{sid}/photo", params=params, headers=api.auth(who))


def body(**extra):
    return {"legal_basis": "parole", "name": "subject S1", "probation_officer": CASELOAD_OF, **extra}


# --- the registry's fields ------------------------------------------------------------------------


def test_profile_fields_are_stored_and_kept_when_a_client_leaves_them_out(app_client):
    api = app_client
    r = api.put("/v1/subjects/S1", body(**PROFILE))
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in PROFILE} == PROFILE
    r = api.put("/v1/subjects/S1", body(notes="moved"))  # an older form: knows none of them
    assert r.status_code == 200 and {k: r.json()[k] for k in PROFILE} == PROFILE
    r = api.put("/v1/subjects/S1", body(vehicle_plate="", vehicle=""))  # cleared when given
    assert r.json()["vehicle_plate"] == "" and r.json()["description"] == PROFILE["description"]


@pytest.mark.parametrize("plate", ["12가 3456", "123가4567", "서울 12 가 3456", "B-MW 1234", "AB12 CDE"])
def test_plates_of_korea_and_elsewhere_are_taken(app_client, plate):
    assert app_client.put("/v1/subjects/S1", body(vehicle_plate=plate)).status_code == 201


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vehicle_plate", "가나다"),  # no digit
        ("vehicle_plate", "12가<script>"),
        ("vehicle_plate", "1" * 21),
        ("description", "x" * 2001),
        ("vehicle", "x" * 201),
        ("home_address", "x" * 301),
        ("work_address", "x" * 301),
    ],
)
def test_profile_fields_out_of_shape_are_refused_naming_the_field(app_client, field, value):
    r = app_client.put("/v1/subjects/S1", body(**{field: value}))
    assert r.status_code == 422, r.text
    assert any(item["field"].endswith(field) for item in r.json()["detail"]), r.text


# --- the photo ------------------------------------------------------------------------------------


def test_a_photo_is_stored_and_served_back_unsniffed_and_uncached(app_client):
    api = app_client
    api.subject("S1")
    image = png(4)
    r = upload(api, "S1", image)
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "image/png" and r.json()["size"] == len(image)
    got = photo(api, "S1")
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    r = upload(api, "S1", JPEG, "image/jpeg")  # replaced
    assert r.status_code == 200 and photo(api, "S1").headers["content-type"] == "image/jpeg"
    assert api.client.delete("/v1/subjects/S1/photo", headers=api.auth()).status_code == 200
    assert photo(api, "S1").status_code == 404


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("data", "kind", "status"),
    [
        (png(), "image/gif", 415),  # a type it does not take
        (png(), "text/html", 415),
        (png(), "", 415),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/png", 422),
        (b"<html><script>alert(1)</script></html>", "image/jpeg", 422),
        (JPEG, "image/png", 422),  # the bytes say JPEG: the declared type must agree
        (png(), "image/jpeg", 422),
        (b"", "image/png", 422),
        (b"\x89PN", "image/png", 422),
    ],
)
def test_a_photo_that_is_not_what_it_says_is_refused_and_nothing_is_stored(app_client, data, kind, status):
    api = app_client
    api.subject("S1")
    r = upload(api, "S1", data, kind)
    assert r.status_code == status, r.text
    assert api.count(t.subject_photos) == 0


@pytest.mark.app_settings(photo_max_bytes=4096)
def test_a_photo_over_the_limit_is_refused(app_client):
    api = app_client
    api.subject("S1")
    assert upload(api, "S1", png(padding=5000)).status_code == 413
    assert upload(api, "S1", png(padding=2000)).status_code == 201


def test_a_body_over_the_edge_limit_is_refused_before_it_is_read(app_client):
    api = app_client
    api.subject("S1")
    r = upload(api, "S1", png(padding=2_000_000))
    assert r.status_code == 413
    assert api.count(t.subject_photos) == 0


def test_a_photo_for_no_subject_or_a_path_trick_is_not_stored(app_client):
    api = app_client
    assert upload(api, "nobody", png()).status_code == 404
    for path in ("/v1/subjects/../photo", "/v1/subjects/S1%2F..%2Fx/photo", "/v1/subjects/.hidden/photo"):
        r = api.client.put(path, content=png(), headers={**api.auth(), "Content-Type": "image/png"})
        assert r.status_code in (400, 404, 405, 422), (path, r.status_code)
    assert api.count(t.subject_photos) == 0


def test_someone_elses_subject_is_refused_both_ways(app_client):
    api = app_client
    api.subject("S1")
    r = api.put("/v1/subjects/S2", {"legal_basis": "parole", "name": "S2"})  # no caseload
    assert r.status_code == 201
    assert upload(api, "S2", png()).status_code == 201
    po = Role.PROBATION_OFFICER
    assert upload(api, "S2", png(2), who=po).status_code == 403
    assert photo(api, "S2", who=po).status_code == 403
    assert upload(api, "S1", png(), who=po).status_code == 201  # his own caseload
    assert photo(api, "S1", who=po).status_code == 200
    for who in (Role.ADMIN, Role.AUDITOR, Role.FIELD_OFFICER, Role.PROTECTED_PERSON):
        assert photo(api, "S1", who=who).status_code == 403, who
        assert upload(api, "S1", png(), who=who).status_code == 403, who


def test_the_photo_and_profile_need_a_purpose(app_client):
    api = app_client
    api.subject("S1")
    upload(api, "S1", png())
    assert photo(api, "S1", params=None).status_code == 422
    r = api.client.get("/v1/subjects/S1/profile", headers=api.auth())
    assert r.status_code == 422 and {p["field"] for p in r.json()["detail"]} == {"purpose", "reason"}


# --- the profile ------------------------------------------------------------------------------------


def test_the_profile_carries_what_the_police_need_and_its_read_is_audited_with_its_purpose(app_client):
    api = app_client
    alert = api.violation()
    api.put("/v1/subjects/S1", body(**PROFILE))
    api.put("/v1/protected-persons/P1", {"name": "person P1", "phone": "010-1234-5678"})
    with api.db.begin() as conn:
        conn.execute(update(t.users).where(t.users.c.id == CASELOAD_OF).values(phone="031-555-0100"))
    upload(api, "S1", png())
    for who in (Role.OPERATOR, Role.POLICE_DISPATCHER, Role.PROBATION_OFFICER):
        r = api.get("/v1/subjects/S1/profile", who, params=WHY)
        assert r.status_code == 200, (who, r.text)
        got = r.json()
        assert {k: got[k] for k in PROFILE} == PROFILE and got["has_photo"] is True
        assert [(o["id"], o["violation_distance_m"], o["warning_distance_m"]) for o in got["orders"]] == [
            ("O1", 100, 1000)
        ]
        phones = {c["role"]: c["phone"] for c in got["contacts"]}
        assert phones["probation_officer"] == "031-555-0100" and phones["desk"] == "112"
        # the victim's number to those who may see her record: not to probation (as her name)
        assert phones.get("protected_person") == (None if who is Role.PROBATION_OFFICER else "010-1234-5678")
    with api.db.connect() as conn:
        rows = conn.execute(
            select(t.audit_log.c.actor, t.audit_log.c.purpose, t.audit_log.c.reason).where(
                t.audit_log.c.target.like("/v1/subjects/S1/profile%")
            )
        ).all()
    assert {(r.purpose, r.reason) for r in rows} == {("alert_response", "sent to find him")}
    assert len(rows) == 3
    assert alert


@pytest.mark.app_settings(desk_phone="02-112-0000")
def test_the_desk_number_is_the_deployments(app_client):
    api = app_client
    api.subject("S1")
    r = api.get("/v1/subjects/S1/profile", params=WHY)
    assert {c["role"]: c["phone"] for c in r.json()["contacts"]}["desk"] == "02-112-0000"


def test_a_dispatcher_sees_the_profile_only_while_he_is_party_to_an_open_alert(app_client):
    api = app_client
    alert = api.violation()
    d = Role.POLICE_DISPATCHER
    assert api.get("/v1/subjects/S1/profile", d, params=WHY).status_code == 200
    r = api.post(f"/v1/alerts/{alert}/steps", {"state": "resolved", "note": "done"})
    assert r.status_code == 200, r.text
    assert api.get("/v1/subjects/S1/profile", d, params=WHY).status_code == 403


# --- through a live-track link ------------------------------------------------------------------------


def test_a_link_shows_its_subjects_photo_and_description_and_nothing_else(app_client):
    api = app_client
    alert = api.violation()
    api.put("/v1/subjects/S1", body(**PROFILE))
    image = png(3)
    upload(api, "S1", image)
    token = api.link(alert)
    r = api.client.get(f"/v1/incidents/{alert}/subject", params={"token": token})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "S1", "description": PROFILE["description"], "has_photo": True}
    got = api.client.get(f"/v1/incidents/{alert}/subject/photo", params={"token": token})
    assert got.status_code == 200 and got.content == image and got.headers["cache-control"] == "no-store"
    # nothing else of his record through the link, and no other incident's subject
    for path in ("/v1/subjects/S1/profile", "/v1/subjects/S1/photo", "/v1/subjects/S1"):
        assert api.client.get(path, params={"token": token, **WHY}).status_code == 401, path
    assert api.client.get("/v1/incidents/nope/subject", params={"token": token}).status_code == 401
    assert api.client.get(f"/v1/incidents/{alert}/subject", params={"token": token + "x"}).status_code == 401
    # the field officer's own account does not read the registry
    assert api.get("/v1/subjects/S1/profile", Role.FIELD_OFFICER, params=WHY).status_code == 403
    with api.db.connect() as conn:
        reads = conn.execute(
            select(t.audit_log.c.actor, t.audit_log.c.detail).where(t.audit_log.c.action == "incident")
        ).all()
    assert {(r.detail.get("read"), r.detail["allowed"]) for r in reads} >= {
        ("subject", True),
        ("subject_photo", True),
    }


def test_a_revoked_link_shows_nothing_of_him(app_client):
    api = app_client
    alert = api.violation()
    upload(api, "S1", png())
    token = api.link(alert)
    link_id = token.split("_")[1]
    assert api.client.delete(f"/v1/alerts/{alert}/links/{link_id}", headers=api.auth()).status_code == 200
    assert api.client.get(f"/v1/incidents/{alert}/subject/photo", params={"token": token}).status_code == 401


def test_a_staff_member_can_set_his_work_phone(app_client):
    api = app_client
    r = api.put(
        "/v1/users/u-po9", {"name": "officer", "role": "probation_officer", "phone": "031-555-0199"}, "admin"
    )
    assert r.status_code == 201, r.text
    r = api.put("/v1/users/u-po9", {"name": "officer", "role": "probation_officer", "phone": "abc"}, "admin")
    assert r.status_code == 422
