"""The access matrix: every endpoint and the stream, against every role, in and out of scope.

The scene: two proximity violations. A1 in Namyangju (Gyeonggi, codes "31..."): subject S1, in the
caseload of `u-probation_officer`, approaching P1, whose own account is `u-protected_person`. A2 in
Seoul's Jongno-gu ("11010"): S2, in another officer's caseload, approaching P2. The dispatcher's
jurisdiction is Gyeonggi ("31"); the field officer is assigned to A1 only. So for every scoped role
"in" is the A1 side and "out" the A2 side.

Each row names a request on the A1 side and the same request on the A2 side, and what each role
gets: ALL (both pass), IN (the A1 side passes, the A2 side is refused as out of scope) or NONE (both
refused). "Passes" means the policy let it through: 2xx for reads; for writes anything but 401/403
(a repeated step is a 409, which is the alert's state speaking, not the policy). Refused is a 403.
A last test checks that the rows cover every endpoint of the OpenAPI schema.
"""

from __future__ import annotations

import base64
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from api_kit import HOME_LAT, HOME_LON, WATCH, north
from api_kit import features as shown_in
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select, update
from starlette.websockets import WebSocketDisconnect

from vigil.domain.model import Role, protected_ref, subject_ref
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # scope is filtered in SQL

SEOUL_LAT, SEOUL_LON = 37.5730, 126.9794  # Jongno-gu, 11010: outside the dispatcher's Gyeonggi
M_PER_DEG_LAT = 111_195.0

ROLES = (
    "operator",
    "probation_officer",
    "police_dispatcher",
    "field_officer",
    "protected_person",
    "admin",
    "auditor",
    "police_investigator",
    "court",
    "gateway",
)
ALL, IN, NONE = "all", "in", "none"
WHY = {"purpose": "investigation", "reason": "matrix test"}
PERIOD = {"from": "2026-01-01T00:00:00+00:00", "until": "2026-02-01T00:00:00+00:00"}
BECAUSE = {"reason": "matrix test: she lost her phone"}
PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass(frozen=True)
class Row:
    method: str
    inside: str  # the A1 side
    outside: str  # the A2 side (the same path when the endpoint names no record)
    expect: dict[str, str]  # role -> ALL | IN | NONE; roles not named: NONE
    body_in: Any = None
    body_out: Any = None
    params: dict[str, str] | None = None
    # Fronts a service the scene does not configure (the geocoder): those allowed get its 404 "not
    # configured", never 401/403 (tests/api/test_api_maps.py asks a configured one).
    unconfigured: bool = False


def roles(**expect: str) -> dict[str, str]:
    return expect


WATCHERS = roles(operator=ALL, probation_officer=IN, police_dispatcher=IN)
ALERT_READERS = roles(operator=ALL, probation_officer=IN, police_dispatcher=IN, field_officer=IN)
WRITERS = roles(operator=ALL, probation_officer=IN)
ZONE_ENTRY = roles(operator=ALL, probation_officer=ALL, police_investigator=ALL)
SUBJECT = {"legal_basis": "parole", "name": "subject"}
NOTE = {"text": "matrix test: a note on the person"}
ZONE = {"kind": "exclusion", "circle": {"lat": 37.7, "lon": 127.3, "radius_m": 200}}


# A Web Push subscription as her browser makes one (a real P-256 public key, a 16-byte secret).
SUBSCRIPTION = {
    "endpoint": "https://push.example.com/send/matrix",
    "keys": {
        "p256dh": base64.urlsafe_b64encode(
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        .decode()
        .rstrip("="),
        "auth": base64.urlsafe_b64encode(b"0123456789abcdef").decode().rstrip("="),
    },
}

# A target switched off: it may be written and read, and no push goes anywhere.
TARGET = {"name": "112", "url": "http://127.0.0.1:9/112", "agency": "police", "enabled": False}


def hold(person: str) -> dict[str, Any]:
    return {"person_id": person, "held_from": "2026-01-01T00:00:00+00:00", "reason": "court request 2026-17"}


def order_body(
    subject: str, person: str, violation_m: float = 100, warning_m: float = 1000
) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "protected_person_id": person,
        "violation_distance_m": violation_m,
        "warning_distance_m": warning_m,
        "legal_basis": "stalking_provisional_measure",
    }


def matrix(a1: str, a2: str) -> list[Row]:
    """Every endpoint that reads or changes monitored data, on each side of the scene."""
    step = {"state": "acknowledged"}
    return [
        # --- alerts ---
        Row("GET", f"/v1/alerts/{a1}", f"/v1/alerts/{a2}", ALERT_READERS),
        Row("GET", f"/v1/alerts/{a1}/deliveries", f"/v1/alerts/{a2}/deliveries", ALERT_READERS),
        # what was sent to her about it (pushes, texts): read like the alert
        Row("GET", f"/v1/alerts/{a1}/notifications", f"/v1/alerts/{a2}/notifications", ALERT_READERS),
        Row("POST", f"/v1/alerts/{a1}/steps", f"/v1/alerts/{a2}/steps", WATCHERS, step, step),
        Row(
            "GET",
            f"/v1/alerts/{a1}/evidence",
            f"/v1/alerts/{a2}/evidence",
            roles(operator=ALL, probation_officer=IN, auditor=ALL, court=ALL),
            params=WHY,
        ),
        Row(
            "PUT",
            f"/v1/alerts/{a1}/assignments/u-fo2",
            f"/v1/alerts/{a2}/assignments/u-fo2",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        Row(
            "DELETE",
            f"/v1/alerts/{a1}/assignments/u-fo3",
            f"/v1/alerts/{a2}/assignments/u-fo3",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        Row(
            "POST",
            f"/v1/alerts/{a1}/assignments/u-fo2/link",
            f"/v1/alerts/{a2}/assignments/u-fo2/link",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        Row(
            "DELETE",
            f"/v1/alerts/{a1}/links/none",
            f"/v1/alerts/{a2}/links/none",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        # --- incidents (scoped like their alerts; an alert's id names its incident) ---
        Row("GET", f"/v1/incidents/{a1}", f"/v1/incidents/{a2}", ALERT_READERS),
        # the printable report: read like the incident, with a purpose (it is history)
        Row("GET", f"/v1/incidents/{a1}/report", f"/v1/incidents/{a2}/report", ALERT_READERS, params=WHY),
        # claims: those who work incidents, on the incidents they may see (claimed like read)
        Row(
            "POST",
            f"/v1/incidents/{a1}/claim",
            f"/v1/incidents/{a2}/claim",
            roles(operator=ALL, police_dispatcher=IN),
            {"take_over": True},
            {"take_over": True},
        ),
        Row(
            "DELETE",
            f"/v1/incidents/{a1}/claim",
            f"/v1/incidents/{a2}/claim",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        # --- positions ---
        Row("GET", "/v1/people/S1/track", "/v1/people/S2/track", ALERT_READERS, params=WATCH),
        Row(
            "GET",
            "/v1/people/P1/track",
            "/v1/people/P2/track",
            roles(operator=ALL, police_dispatcher=IN, field_officer=IN),
            params=WATCH,
        ),
        # --- the registry: reads ---
        Row("GET", "/v1/subjects/S1", "/v1/subjects/S2", WATCHERS),
        Row(
            "GET",
            "/v1/protected-persons/P1",
            "/v1/protected-persons/P2",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        # notes on a person outside any alert: read like the person's record, written by those who
        # follow people (operators, and probation officers for their caseload)
        Row("GET", "/v1/subjects/S1/notes", "/v1/subjects/S2/notes", WATCHERS),
        Row(
            "GET",
            "/v1/protected-persons/P1/notes",
            "/v1/protected-persons/P2/notes",
            roles(operator=ALL, police_dispatcher=IN),
        ),
        Row("POST", "/v1/subjects/S1/notes", "/v1/subjects/S2/notes", WRITERS, NOTE, NOTE),
        Row(
            "POST",
            "/v1/protected-persons/P1/notes",
            "/v1/protected-persons/P2/notes",
            roles(operator=ALL),
            NOTE,
            NOTE,
        ),
        # the shift handover: everything monitored, operators only
        Row("GET", "/v1/handover", "/v1/handover", roles(operator=ALL)),
        Row("GET", "/v1/devices/AM-1", "/v1/devices/AM-2", WATCHERS),
        Row("GET", "/v1/devices/AM-1/commands", "/v1/devices/AM-2/commands", WATCHERS),
        Row("GET", "/v1/orders/O1", "/v1/orders/O2", WATCHERS),
        # his profile and photo: read like his record, with a purpose (a field unit: through its link)
        Row("GET", "/v1/subjects/S1/profile", "/v1/subjects/S2/profile", WATCHERS, params=WHY),
        Row("GET", "/v1/subjects/S1/photo", "/v1/subjects/S2/photo", WATCHERS, params=WHY),
        # --- the registry: writes (bodies restate what is there, so the scene does not change) ---
        Row(
            "PUT",
            "/v1/subjects/S1",
            "/v1/subjects/S2",
            WRITERS,
            {**SUBJECT, "probation_officer": "u-probation_officer"},
            {**SUBJECT, "probation_officer": "u-po2"},
        ),
        Row(
            "PUT",
            "/v1/protected-persons/P1",
            "/v1/protected-persons/P2",
            roles(operator=ALL),
            {"name": "person P1"},
            {"name": "person P2"},
        ),
        Row(
            "PUT",
            "/v1/devices/AM-3",
            "/v1/devices/AM-4",
            WRITERS,
            {"kind": "ankle_monitor", "person_id": "S1"},
            {"kind": "ankle_monitor", "person_id": "S2"},
        ),
        Row("PUT", "/v1/orders/O1", "/v1/orders/O2", WRITERS, order_body("S1", "P1"), order_body("S2", "P2")),
        Row("POST", "/v1/orders/O1b/end", "/v1/orders/O2b/end", WRITERS),
        Row("PUT", "/v1/subjects/S1/zones/Z1", "/v1/subjects/S2/zones/Z2", WRITERS, ZONE, ZONE),
        Row("DELETE", "/v1/subjects/S1/zones/Z1b", "/v1/subjects/S2/zones/Z2b", WRITERS),
        # approved absences: read like his record (both agencies), approved by his officer or operators
        Row("GET", "/v1/subjects/S1/absences", "/v1/subjects/S2/absences", WATCHERS),
        Row("POST", "/v1/subjects/S1/absences", "/v1/subjects/S2/absences", WRITERS, ABSENCE, ABSENCE),
        # an unknown absence is a 404: the policy let it through
        Row("DELETE", "/v1/subjects/S1/absences/abs-x", "/v1/subjects/S2/absences/abs-x", WRITERS),
        # a JSON body is no photo (415): the policy has let it through by then
        Row("PUT", "/v1/subjects/S1/photo", "/v1/subjects/S2/photo", WRITERS, {}, {}),
        Row("DELETE", "/v1/subjects/S1/photo", "/v1/subjects/S2/photo", WRITERS),
        # P1 and P2 have accounts (below): a new code, like a new device credential, is an operator's
        Row(
            "POST",
            "/v1/protected-persons/P1/activation",
            "/v1/protected-persons/P2/activation",
            roles(operator=ALL),
            BECAUSE,
            BECAUSE,
        ),
        Row(
            "POST",
            "/v1/devices/AM-3/credentials",
            "/v1/devices/AM-4/credentials",
            roles(operator=ALL),
            BECAUSE,
            BECAUSE,
        ),
        # commands to his monitor: those who follow the case (a probation officer: her caseload)
        Row(
            "POST",
            "/v1/devices/AM-1/commands",
            "/v1/devices/AM-2/commands",
            WRITERS,
            {"type": "locate"},
            {"type": "locate"},
        ),
        # --- no records to scope: the role decides ---
        Row("GET", "/v1/stats", "/v1/stats", roles(operator=ALL)),
        Row("GET", "/v1/dispatch/targets", "/v1/dispatch/targets", roles(operator=ALL, admin=ALL)),
        Row("GET", "/v1/dispatch/status", "/v1/dispatch/status", roles(operator=ALL, admin=ALL)),
        Row("PUT", "/v1/dispatch/targets/t1", "/v1/dispatch/targets/t1", roles(admin=ALL), TARGET, TARGET),
        Row("GET", "/v1/legal-holds", "/v1/legal-holds", roles(operator=ALL, admin=ALL, auditor=ALL)),
        Row(
            "POST",
            "/v1/legal-holds",
            "/v1/legal-holds",
            roles(operator=ALL, admin=ALL, auditor=ALL),
            hold("S1"),
            hold("S2"),
        ),
        Row(
            "POST",
            "/v1/legal-holds/none/release",
            "/v1/legal-holds/none/release",
            roles(operator=ALL, admin=ALL, auditor=ALL),
        ),
        Row("GET", "/v1/audit", "/v1/audit", roles(auditor=ALL)),
        Row("GET", "/v1/audit/verify", "/v1/audit/verify", roles(auditor=ALL)),
        Row("GET", "/v1/audit/export", "/v1/audit/export", roles(auditor=ALL), params=WHY),
        Row(
            "PUT",
            "/v1/users/u-new",
            "/v1/users/u-new",
            roles(admin=ALL),
            {"name": "new", "role": "auditor"},
            {"name": "new", "role": "auditor"},
        ),
        Row("POST", "/v1/users/u-new/revoke", "/v1/users/u-new/revoke", roles(admin=ALL)),
        Row("GET", "/v1/users", "/v1/users", roles(admin=ALL)),
        Row("GET", "/v1/settings", "/v1/settings", roles(admin=ALL)),
        # how the system runs: admins (and the scrape token, tests/api/test_api_metrics.py)
        Row("GET", "/metrics", "/metrics", roles(admin=ALL)),
        # addresses through the deployment's geocoder: those who enter zones (a court's 3-2 on a case
        # too: the investigator records its zones)
        Row("GET", "/v1/geocode", "/v1/geocode", ZONE_ENTRY, params={"q": "세종대로 110"}, unconfigured=True),
        Row(
            "GET",
            "/v1/geocode/reverse",
            "/v1/geocode/reverse",
            ZONE_ENTRY,
            params={"lat": "37.5665", "lon": "126.978"},
            unconfigured=True,
        ),
        Row("GET", "/v1/me/status", "/v1/me/status", roles(protected_person=ALL)),
        # her evidence pack: her own only (the path names no one: it is always hers)
        Row("GET", "/v1/me/evidence", "/v1/me/evidence", roles(protected_person=ALL), params=PERIOD),
        # a court's full version of her period (both tracks): courts, and those who read evidence and
        # see her
        Row(
            "GET",
            "/v1/protected-persons/P1/evidence",
            "/v1/protected-persons/P2/evidence",
            roles(operator=ALL, auditor=ALL, court=ALL),
            params={**WHY, **PERIOD},
        ),
        # whether Vigil issued a file: says only when and for whom, to those who read evidence and
        # the investigators who take a victim's pack with her petition
        Row(
            "POST",
            "/v1/evidence/verify",
            "/v1/evidence/verify",
            roles(operator=ALL, probation_officer=ALL, auditor=ALL, police_investigator=ALL, court=ALL),
            params={"sha256": "0" * 64},
        ),
        Row("GET", "/v1/me/notices", "/v1/me/notices", roles(protected_person=ALL)),
        # reminders before an order ends: one's own, to those reminded (the path names no one)
        Row(
            "GET",
            "/v1/me/reminders",
            "/v1/me/reminders",
            roles(probation_officer=ALL, police_investigator=ALL),
        ),
        Row(
            "POST",
            "/v1/me/position",
            "/v1/me/position",
            roles(protected_person=ALL),
            {"lat": HOME_LAT, "lon": HOME_LON},
            {"lat": HOME_LAT, "lon": HOME_LON},
        ),
        # her browsers' Web Push subscriptions: her own account, for herself only
        Row("GET", "/v1/me/push-key", "/v1/me/push-key", roles(protected_person=ALL)),
        Row("GET", "/v1/me/push-subscriptions", "/v1/me/push-subscriptions", roles(protected_person=ALL)),
        Row(
            "PUT",
            "/v1/me/push-subscription",
            "/v1/me/push-subscription",
            roles(protected_person=ALL),
            SUBSCRIPTION,
            SUBSCRIPTION,
        ),
        Row(
            "DELETE",
            "/v1/me/push-subscription",
            "/v1/me/push-subscription",
            roles(protected_person=ALL),
            params={"endpoint": SUBSCRIPTION["endpoint"]},
        ),
        # last, as it raises an alert: her SOS
        Row("POST", "/v1/me/sos", "/v1/me/sos", roles(protected_person=ALL), {}, {}),
        # --- police cases: the station's investigators (C1 is in Gyeonggi, theirs; C2 in Seoul), the
        # matched subject's probation officer (C1 names S1, his caseload), operators and auditors ---
        Row("GET", "/v1/cases/C1", "/v1/cases/C2", CASE_READERS),
        Row(
            "PUT",
            "/v1/cases/C1",
            "/v1/cases/C2",
            roles(police_investigator=IN),
            case_body("S1", "31130"),
            case_body("S2", "11010"),
        ),
        Row(
            "POST",
            "/v1/cases/C1/decisions",
            "/v1/cases/C2/decisions",
            roles(operator=ALL, probation_officer=IN, police_investigator=IN),
            REFUSED,
            REFUSED,
        ),
        # a matched case answers 409 to a second match: the policy let it through
        Row("POST", "/v1/cases/C1/match", "/v1/cases/C2/match", roles(operator=ALL), NO_MATCH, NO_MATCH),
        Row("GET", "/v1/cases/review", "/v1/cases/review", roles(operator=ALL)),
        # closing (and reopening) the police's case: its station's investigators and operators, not
        # probation; the first close passes, the others are 409 (the case's state, past the policy)
        Row("POST", "/v1/cases/C1/close", "/v1/cases/C2/close", CASE_CLOSERS, CLOSE, CLOSE),
        Row("POST", "/v1/cases/C1/reopen", "/v1/cases/C2/reopen", CASE_CLOSERS, REOPEN, REOPEN),
        # a probation officer's caseload view: his own; an operator's, any officer's
        Row(
            "GET",
            "/v1/caseload?officer=u-probation_officer",
            "/v1/caseload?officer=u-po2",
            roles(operator=ALL, probation_officer=IN),
        ),
    ]


ABSENCE = {
    "starts_at": "2026-01-01T00:00:00+00:00",
    "ends_at": "2099-01-01T00:00:00+00:00",  # refused as too long (422), after the policy let it in
    "reason": "matrix test: a night shift",
}
CASE_READERS = roles(operator=ALL, probation_officer=IN, police_investigator=IN, auditor=ALL)
REFUSED = {"measure": "4", "granted": False, "court_reference": "matrix 1", "decided_on": "2026-12-01"}
NO_MATCH = {"subject_id": None}
CASE_CLOSERS = roles(operator=ALL, police_investigator=IN)
CLOSE = {"outcome": "other", "reason": "matrix test"}
REOPEN = {"reason": "matrix test"}


def case_body(subject: str, area: str) -> dict[str, Any]:
    return {
        "kind": "stalking", "area": area, "suspect": {"name": SUBJECT["name"], "subject_id": subject},
        "victim": {"name": "her"}, "offences": ["stalking"],
    }  # fmt: skip


# Lists are not refused: they hold what the caller may see. Role -> (ids that must be there, ids
# that must not); None: the role is refused (403). Path -> (the id's key, the list's key in the
# answer: "" the answer itself, "features" a GeoJSON collection's properties, else a plain list).
LISTS: dict[str, tuple[str, str, dict[str, tuple[set[str], set[str]] | None]]] = {
    "/v1/alerts": ("id", "", {
        "operator": ({"A1", "A2"}, set()),
        "probation_officer": ({"A1"}, {"A2"}),
        "police_dispatcher": ({"A1"}, {"A2"}),
        "field_officer": ({"A1"}, {"A2"}),
    }),
    "/v1/incidents": ("id", "", {
        "operator": ({"I1", "I2"}, set()),
        "probation_officer": ({"I1"}, {"I2"}),
        "police_dispatcher": ({"I1"}, {"I2"}),
        "field_officer": ({"I1"}, {"I2"}),
    }),
    "/v1/subjects": ("id", "", {
        "operator": ({"S1", "S2"}, set()),
        "probation_officer": ({"S1"}, {"S2"}),
        "police_dispatcher": ({"S1"}, {"S2"}),
    }),
    "/v1/protected-persons": ("id", "", {
        "operator": ({"P1", "P2"}, set()),
        "probation_officer": (set(), {"P1", "P2"}),
        "police_dispatcher": ({"P1"}, {"P2"}),
    }),
    "/v1/devices": ("id", "", {
        "operator": ({"AM-1", "AM-2", "W-1", "W-2"}, set()),
        "probation_officer": ({"AM-1", "AM-3"}, {"AM-2", "AM-4", "W-1", "W-2"}),
        "police_dispatcher": ({"AM-1", "W-1"}, {"AM-2", "W-2"}),
    }),
    "/v1/orders": ("id", "", {
        "operator": ({"O1", "O2"}, set()),
        "probation_officer": ({"O1"}, {"O2"}),
        "police_dispatcher": ({"O1"}, {"O2"}),
    }),
    # the registry forms' picker: what the lists above show, in one
    "/v1/registry/search": ("id", "", {
        "operator": ({"S1", "S2", "P1", "P2", "AM-1", "AM-2", "W-1", "W-2"}, set()),
        "probation_officer": ({"S1", "AM-1", "AM-3"}, {"S2", "P1", "P2", "AM-2", "AM-4", "W-1", "W-2"}),
        "police_dispatcher": ({"S1", "P1", "AM-1", "W-1"}, {"S2", "P2", "AM-2", "W-2"}),
    }),
    "/v1/cases": ("id", "", {
        "operator": ({"C1", "C2"}, set()),
        "probation_officer": ({"C1"}, {"C2"}),
        "police_investigator": ({"C1"}, {"C2"}),
        "auditor": ({"C1", "C2"}, set()),
    }),
    # the load per officer: every officer's for operators, his own for a probation officer
    "/v1/caseload": ("officer", "load", {
        "operator": ({"u-probation_officer", "u-po2"}, set()),
        "probation_officer": ({"u-probation_officer"}, {"u-po2"}),
    }),
    "/v1/positions": ("person", "features", {
        "operator": ({"S1", "P1", "S2", "P2"}, set()),
        "probation_officer": ({"S1"}, {"P1", "S2", "P2"}),
        "police_dispatcher": ({"S1", "P1"}, {"S2", "P2"}),
        "field_officer": ({"S1", "P1"}, {"S2", "P2"}),
    }),
}  # fmt: skip

# Reached by other credentials than a role's token: a login, an incident's link, a target's
# signature, a device. Each has its own tests; here every role's bearer token must be refused or
# unused by them.
OTHER_CREDENTIALS = {
    ("POST", "/v1/auth/login"), ("POST", "/v1/auth/refresh"), ("POST", "/v1/auth/activate"),
    ("POST", "/v1/auth/logout"), ("GET", "/v1/me"),
    ("POST", "/v1/incidents/{incident_id}/status"),
    ("GET", "/v1/incidents/{incident_id}/subject"), ("GET", "/v1/incidents/{incident_id}/subject/photo"),
    ("GET", "/v1/incidents/{incident_id}/address"),
    ("POST", "/v1/dispatch/callbacks/{target_id}"),
    ("POST", "/v1/devices/messages"), ("GET", "/osmand"), ("POST", "/osmand"),
    ("GET", "/osmand/t/{token}"), ("POST", "/osmand/t/{token}"),
    # a device's answer to a command: its own token (tests/api/test_api_device_commands.py)
    ("POST", "/v1/devices/{device_id}/commands/{command_id}/reply"),
    ("GET", "/health"), ("GET", "/v1/web/config"), ("GET", "/v1/web/basemap"),
}  # fmt: skip


# --- the scene -------------------------------------------------------------------------------------


def seoul_north(metres: float) -> float:
    return SEOUL_LAT + metres / M_PER_DEG_LAT


def build(api) -> dict[str, str]:
    """The two violations and everything around them; returns {"A1": id, "A2": id}."""
    with api.db.begin() as conn:
        now = api.clock()
        create_user(conn, user_id="u-po2", name="another officer", role=Role.PROBATION_OFFICER, now=now)
        for fo in ("u-fo2", "u-fo3"):
            create_user(conn, user_id=fo, name=fo, role=Role.FIELD_OFFICER, now=now)
    for sid, officer in (("S1", "u-probation_officer"), ("S2", "u-po2")):
        assert api.put(f"/v1/subjects/{sid}", {**SUBJECT, "probation_officer": officer}).status_code == 201
    for pid in ("P1", "P2"):
        assert api.put(f"/v1/protected-persons/{pid}", {"name": f"person {pid}"}).status_code == 201
    devices = {"AM-1": "S1", "W-1": "P1", "AM-2": "S2", "W-2": "P2", "AM-3": "S1", "AM-4": "S2"}
    for device, person in devices.items():
        kind = "smartwatch" if device.startswith("W") else "ankle_monitor"
        assert api.put(f"/v1/devices/{device}", {"kind": kind, "person_id": person}).status_code == 201
    r = api.send([
        api.fix("W-1", HOME_LAT, HOME_LON, seconds=-20), api.fix("AM-1", north(50), HOME_LON, seconds=-20),
        api.fix("W-2", SEOUL_LAT, SEOUL_LON, seconds=-20), api.fix("AM-2", seoul_north(50), SEOUL_LON, seconds=-20),
    ])  # fmt: skip
    assert r.status_code == 200, r.text
    for oid, s, p in (("O1", "S1", "P1"), ("O2", "S2", "P2")):
        assert api.put(f"/v1/orders/{oid}", order_body(s, p)).status_code == 201
    for oid, s, p in (
        ("O1b", "S1", "P1"),
        ("O2b", "S2", "P2"),
    ):  # to be ended; 50 m apart is no breach of these
        assert api.put(f"/v1/orders/{oid}", order_body(s, p, 10, 20)).status_code == 201
    for sid in ("S1", "S2"):  # a photo each (a PNG's signature is all the route checks)
        r = api.client.put(
            f"/v1/subjects/{sid}/photo",
            content=PHOTO,
            headers={**api.auth("operator"), "Content-Type": "image/png"},
        )
        assert r.status_code == 201, r.text
    for sid, zones in (("S1", ("Z1", "Z1b")), ("S2", ("Z2", "Z2b"))):
        for zone in zones:
            assert api.put(f"/v1/subjects/{sid}/zones/{zone}", ZONE).status_code == 201
    alerts = {}
    for name, order in (("A1", "O1"), ("A2", "O2")):
        [alert] = [a for a in api.get("/v1/alerts").json() if a["order"] == order]
        assert alert["kind"] == "proximity_violation", alert
        alerts[name] = alert["id"]
        alerts[name.replace("A", "I")] = alert["incident"]  # each danger its own incident
    for name in ("A1", "A2"):
        assert api.put(f"/v1/alerts/{alerts[name]}/assignments/u-fo3", None).status_code == 200
    assert api.put(f"/v1/alerts/{alerts['A1']}/assignments/u-field_officer", None).status_code == 200
    with api.db.begin() as conn:  # her own account speaks for P1; P2 has one too
        conn.execute(update(t.users).where(t.users.c.id == "u-protected_person").values(person_id="P1"))
        create_user(conn, user_id="u-p2", name="P2", role=Role.PROTECTED_PERSON, now=now, person_id="P2")
        # a Seoul station's investigator, who records C2
        create_user(
            conn, user_id="u-inv-seoul", name="inv", role=Role.POLICE_INVESTIGATOR, now=now, areas=["11"]
        )
        api.tokens["u-inv-seoul"] = issue_token(
            conn, role=Role.POLICE_INVESTIGATOR, now=now, user_id="u-inv-seoul"
        )
    api.client.app.state.services.tokens.clear()
    for case, who, body in (
        ("C1", "police_investigator", case_body("S1", "31130")),
        ("C2", "u-inv-seoul", case_body("S2", "11010")),
    ):
        r = api.put(f"/v1/cases/{case}", body, who=who)
        assert r.status_code == 201 and r.json()["match"]["subject_id"] == body["suspect"]["subject_id"], (
            r.text
        )
    return alerts


@pytest.fixture
def scene(scene_of):
    """The scene for a test that changes it: its own copy of the scene, which is built once per
    session and backend (tests/api/conftest.py `scene_of`), with an app started on the copy."""
    return scene_of(build)


@pytest.fixture(scope="module")
def read_scene(shared_app):
    """The same scene, built once per backend for the tests that only read it: lists, streams, the
    areas view, the schema. Their reads are audited, which no test here counts on that app."""
    return shared_app, build(shared_app)


def passes(method: str, status: int) -> bool:
    if method == "GET":
        return 200 <= status < 300
    return status not in (401, 403) and status < 500


def call(api, who: str, method: str, path: str, body: Any, params: dict[str, str] | None) -> Any:
    return api.client.request(method, path, json=body, params=params, headers=api.auth(who))


# --- the tests -------------------------------------------------------------------------------------


# The sweep of every row against every role is in test_access_matrix_sweep.py: a file of its own,
# so the test processes (one file each) share the matrix's minute between them.


@pytest.mark.parametrize("path", sorted(LISTS))
def test_lists_hold_only_what_each_role_may_see(read_scene, path):
    api, alerts = read_scene
    key, inner, expected = LISTS[path]
    names = {v: k for k, v in alerts.items()}
    for who in ROLES:
        r = api.get(path, who=who, params={**WATCH, "open_only": "false", "active": "false"})
        if expected.get(who) is None:
            assert r.status_code == 403, (who, r.status_code)
            continue
        assert r.status_code == 200, (who, r.text)
        items = r.json()[inner] if inner else r.json()
        ids = (x["properties"][key] if inner == "features" else x[key] for x in items)
        seen = {names.get(i, i) for i in ids}
        must, must_not = expected[who]
        assert must <= seen and not (must_not & seen), (who, path, seen)


def test_refusals_are_recorded_in_the_trail(scene):
    api, alerts = scene
    assert api.get(f"/v1/alerts/{alerts['A2']}", who="police_dispatcher").status_code == 403
    r = api.get("/v1/audit", who="auditor", params={"actor": "u-police_dispatcher"})
    refused = [e for e in r.json() if e["target"] == f"/v1/alerts/{alerts['A2']}"]
    assert refused and refused[-1]["detail"]["allowed"] is False


def test_a_body_naming_someone_out_of_scope_is_refused_and_changes_nothing(scene):
    api, _ = scene
    # A probation officer may not bind a device to, nor make an order for, another officer's subject.
    r = api.put("/v1/devices/AM-9", {"kind": "ankle_monitor", "person_id": "S2"}, who="probation_officer")
    assert r.status_code == 403 and "person_id" in r.text
    assert api.get("/v1/devices/AM-9").status_code == 404
    r = api.put("/v1/orders/O9", order_body("S2", "P1"), who="probation_officer")
    assert r.status_code == 403 and "subject_id" in r.text
    assert api.get("/v1/orders/O9").status_code == 404
    # Nor name another caseload's victim for his own subject: her position would reach him in the
    # facts of every alert the order raises.
    r = api.put("/v1/orders/O9", order_body("S1", "P2", 100, 200_000), who="probation_officer")
    assert r.status_code == 403 and "protected_person_id" in r.text
    assert api.get("/v1/orders/O9").status_code == 404
    # A new subject joins the caseload of the probation officer who registers him.
    assert api.put("/v1/subjects/S9", SUBJECT, who="probation_officer").status_code == 201
    assert api.get("/v1/subjects/S9").json()["probation_officer"] == "u-probation_officer"
    assert api.get("/v1/subjects/S9", who="probation_officer").status_code == 200
    r = api.put("/v1/subjects/S9", {**SUBJECT, "probation_officer": "u-operator"})
    assert r.status_code == 422 and "probation_officer" in r.text


@pytest.mark.slow  # every read, every role, both sides
def test_no_read_hands_out_a_live_track_link(read_scene):
    """A live-track link opens both parties' live positions: no read gives one to anyone. Operators
    and dispatchers are handed one when they send a unit (and a dispatch target in its push)."""
    api, alerts = read_scene
    handed = []
    for row in matrix(alerts["A1"], alerts["A2"]):
        if row.method != "GET":
            continue
        for who in ROLES:
            for path in (row.inside, row.outside):
                r = call(api, who, "GET", path, None, row.params)
                if "inc_" in r.text or "/field/?" in r.text:
                    handed.append((who, path))
    assert handed == []
    a1 = api.get(f"/v1/alerts/{alerts['A1']}", who="probation_officer").json()
    assert a1["live_track"] == {"links": 2} and "links" not in a1  # two units hold one: not which
    assert {x["holder"] for x in api.get(f"/v1/alerts/{alerts['A1']}").json()["links"]} == {
        "u-fo3",
        "u-field_officer",
    }


def test_every_endpoint_is_in_the_matrix(read_scene):
    api, alerts = read_scene
    covered = {(r.method, _template(r.inside, alerts)) for r in matrix(alerts["A1"], alerts["A2"])}
    covered |= {("GET", path) for path in LISTS} | OTHER_CREDENTIALS
    schema = api.client.get("/openapi.json").json()
    every = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert every - covered == set()


def _template(path: str, alerts: dict[str, str]) -> str:
    """The OpenAPI path a concrete path stands for: the segment after a collection is its id."""
    names = {
        "alerts": "alert_id", "people": "person_id", "subjects": "subject_id", "protected-persons": "person_id",
        "devices": "device_id", "orders": "order_id", "zones": "zone_id", "assignments": "user_id",
        "targets": "target_id", "legal-holds": "hold_id", "users": "user_id", "links": "link_id",
        "incidents": "incident_id", "cases": "case_id", "absences": "absence_id",
    }  # fmt: skip
    fixed = {"review"}  # a route of its own beside a collection, not an id
    parts = path.strip("/").split("/")
    out = [
        "{" + names[parts[i - 1]] + "}"
        if i and parts[i - 1] in names and part not in {*names, *fixed}
        else part
        for i, part in enumerate(parts)
    ]
    return "/" + "/".join(out)


# --- the stream ------------------------------------------------------------------------------------


def position_of(message: dict[str, Any]) -> tuple[str, float]:
    feature = message["feature"]
    return feature["properties"]["person"], feature["geometry"]["coordinates"][1]


def connect(api, who: str, **params: str):
    query = "&".join(f"{k}={v}" for k, v in {"token": api.tokens[who], **WATCH, **params}.items())
    return api.client.websocket_connect(f"/v1/stream?{query}")


STREAM_SEES = {
    "operator": {"S1", "P1", "S2", "P2"},
    "probation_officer": {"S1"},
    "police_dispatcher": {"S1", "P1"},
    "field_officer": {"S1", "P1"},
}


def test_the_stream_carries_only_what_each_role_may_see(scene):
    """Every role at once on one scene (a scene per role cost a minute of the suite): those who may
    not watch are refused; the watchers are connected together, everyone moves a little, and each
    watcher must have seen exactly their people by the time S1's move reaches them."""
    api, alerts = scene
    for who in ROLES:
        if who not in STREAM_SEES:
            with pytest.raises(WebSocketDisconnect) as refused, connect(api, who) as ws:
                ws.receive_json()  # accepted, then closed with the reason
            assert refused.value.code == 1008, who
    with ExitStack() as stack:
        watching = {who: stack.enter_context(connect(api, who)) for who in STREAM_SEES}
        for ws in watching.values():
            assert ws.receive_json()["type"] == "hello"
        # S1 last, whom every watcher may see, so when his position has arrived everything sent
        # before it has been decided for that viewer.
        r = api.send([
            api.fix("AM-2", seoul_north(52), SEOUL_LON), api.fix("W-2", SEOUL_LAT, SEOUL_LON),
            api.fix("W-1", HOME_LAT, HOME_LON),
        ])  # fmt: skip
        assert r.status_code == 200, r.text
        assert api.send([api.fix("AM-1", north(52), HOME_LON, seconds=1)]).status_code == 200
        for who, ws in watching.items():
            people, seen_alerts = set(), set()
            while "S1" not in people:
                message = ws.receive_json()
                people.update(f["properties"]["person"] for f in shown_in(message))
                if message["type"] == "alert":
                    seen_alerts.add(message["alert"]["id"])
            assert people == STREAM_SEES[who], who
            if who != "operator":
                assert alerts["A2"] not in seen_alerts, who


# The whole map at national zoom (view=areas): counts per municipality of those each role may see.
HOME_CODE, SEOUL_CODE = "31130", "11010"
BOTH = {"subject": 1, "protected_person": 1}
AREAS_SEEN = {
    "operator": {HOME_CODE: BOTH, SEOUL_CODE: BOTH},
    "probation_officer": {HOME_CODE: {"subject": 1}},
    "police_dispatcher": {HOME_CODE: BOTH},
    "field_officer": {HOME_CODE: BOTH},
}


@pytest.mark.parametrize("who", ROLES)
def test_the_areas_view_counts_only_what_each_role_may_see(read_scene, who):
    api, _ = read_scene
    if who not in AREAS_SEEN:
        with pytest.raises(WebSocketDisconnect) as refused, connect(api, who, view="areas") as ws:
            ws.receive_json()  # accepted, then closed with the reason
        assert refused.value.code == 1008
        return
    with connect(api, who, view="areas") as ws:
        assert ws.receive_json()["type"] == "hello"
        message = ws.receive_json()
        while message["type"] != "areas":
            message = ws.receive_json()
        assert message["areas"] == AREAS_SEEN[who]


@pytest.mark.parametrize("who", ["probation_officer", "police_dispatcher", "field_officer"])
def test_the_stream_refuses_to_follow_what_is_out_of_scope(read_scene, who):
    api, alerts = read_scene
    with pytest.raises(WebSocketDisconnect) as refused, connect(api, who, alert=alerts["A2"]) as ws:
        ws.receive_json()  # accepted, then closed with the reason
    assert refused.value.code == 1008 and "outside" in refused.value.reason
    with connect(api, who, alert=alerts["A1"]) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_the_whole_stream_needs_a_purpose_from_those_who_see_everything(read_scene):
    api, alerts = read_scene
    token = api.tokens["operator"]
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        api.client.websocket_connect(f"/v1/stream?token={token}") as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 1008 and "purpose" in refused.value.reason
    with api.client.websocket_connect(f"/v1/stream?token={token}&alert={alerts['A1']}") as ws:
        assert ws.receive_json()["type"] == "hello"  # one alert is not a wider view
    assert api.get("/v1/positions").status_code == 422
    assert api.get("/v1/positions", who="police_dispatcher").status_code == 200  # already narrow


# --- access that ends ------------------------------------------------------------------------------


def test_field_officer_access_ends_with_the_incident_and_its_grace(scene):
    api, alerts = scene
    a1 = alerts["A1"]
    assert api.get(f"/v1/alerts/{a1}", who="field_officer").status_code == 200
    assert api.post(f"/v1/alerts/{a1}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    api.clock.advance(14 * 60)  # the grace: units still on their way can finish
    assert api.get(f"/v1/alerts/{a1}", who="field_officer").status_code == 200
    api.clock.advance(2 * 60)
    assert api.get(f"/v1/alerts/{a1}", who="field_officer").status_code == 403
    assert api.get("/v1/alerts", who="field_officer", params={"open_only": "false"}).json() == []
    assert api.get("/v1/people/S1/track", who="field_officer").status_code == 403
    assert api.get("/v1/positions", who="field_officer").json()["features"] == []
    with pytest.raises(WebSocketDisconnect), connect(api, "field_officer", alert=a1) as ws:
        ws.receive_json()  # accepted, then closed with the reason


def test_taken_off_an_incident_a_field_officer_sees_it_no_more(scene):
    api, alerts = scene
    a1 = alerts["A1"]
    assert (
        api.client.delete(f"/v1/alerts/{a1}/assignments/u-field_officer", headers=api.auth()).status_code
        == 200
    )
    assert api.get(f"/v1/alerts/{a1}", who="field_officer").status_code == 403


def test_dispatchers_see_the_parties_only_while_the_alert_is_open(scene):
    api, alerts = scene
    assert api.get("/v1/subjects/S1", who="police_dispatcher").status_code == 200
    for alert in ("A1",):
        assert (
            api.post(
                f"/v1/alerts/{alerts[alert]}/steps", {"state": "false_alarm", "note": "done"}
            ).status_code
            == 200
        )
    # The alert itself stays theirs (it happened in their jurisdiction); its parties do not.
    assert api.get(f"/v1/alerts/{alerts['A1']}", who="police_dispatcher").status_code == 200
    assert api.get("/v1/subjects/S1", who="police_dispatcher").status_code == 403
    assert api.get("/v1/people/P1/track", who="police_dispatcher").status_code == 403


def test_a_dispatcher_keeps_an_alert_whose_parties_moved_out_of_the_jurisdiction(scene):
    api, alerts = scene
    # S1 and P1 both go to Seoul: the alert still concerns Namyangju, where it was raised.
    r = api.send([
        api.fix("W-1", SEOUL_LAT + 0.01, SEOUL_LON, seconds=2),
        api.fix("AM-1", seoul_north(50) + 0.01, SEOUL_LON, seconds=2),
    ])  # fmt: skip
    assert r.status_code == 200
    assert api.get(f"/v1/alerts/{alerts['A1']}", who="police_dispatcher").status_code == 200


def test_a_seoul_dispatcher_sees_the_seoul_side_only(scene):
    api, alerts = scene
    with api.db.begin() as conn:
        conn.execute(update(t.users).where(t.users.c.id == "u-police_dispatcher").values(areas="11"))
        api.tokens["seoul"] = issue_token(
            conn, role=Role.POLICE_DISPATCHER, now=api.clock(), user_id="u-police_dispatcher"
        )
    assert api.get(f"/v1/alerts/{alerts['A2']}", who="seoul").status_code == 200
    assert api.get(f"/v1/alerts/{alerts['A1']}", who="seoul").status_code == 403
    assert {a["id"] for a in api.get("/v1/alerts", who="seoul").json()} == {alerts["A2"]}


def test_her_sos_shows_a_dispatcher_the_man_her_order_names(scene):
    """Her SOS names only her; the police sent to her must see where he is, live."""
    api, _ = scene
    far = north(5000)  # 5 km: no approach, so nothing else makes him visible
    assert api.put("/v1/subjects/S7", SUBJECT).status_code == 201
    assert api.put("/v1/protected-persons/P7", {"name": "person P7"}).status_code == 201
    for device, person, kind in (("AM-7", "S7", "ankle_monitor"), ("W-7", "P7", "smartwatch")):
        assert api.put(f"/v1/devices/{device}", {"kind": kind, "person_id": person}).status_code == 201
    assert api.put("/v1/orders/O7", order_body("S7", "P7")).status_code == 201
    assert api.send([api.fix("AM-7", far, HOME_LON), api.fix("W-7", HOME_LAT, HOME_LON)]).status_code == 200
    with connect(api, "police_dispatcher") as ws:
        assert ws.receive_json()["type"] == "hello"
        sos = {"device": "W-7", "at": api.at(1), "event": "sos", "fix": {"lat": HOME_LAT, "lon": HOME_LON}}
        assert api.send([sos]).status_code == 200
        # He moves, then she does: her marked position closes what this viewer was sent.
        assert api.send([api.fix("AM-7", far + 0.001, HOME_LON, seconds=2)]).status_code == 200
        marker = HOME_LAT + 0.0005
        assert api.send([api.fix("W-7", marker, HOME_LON, seconds=3)]).status_code == 200
        people, kinds, shown = set(), set(), set()
        while ("P7", marker) not in shown:
            message = ws.receive_json()
            if message["type"] == "alert":
                kinds.add(message["alert"]["kind"])
                continue
            shown = {position_of({"feature": f}) for f in shown_in(message)}
            people.update(person for person, _ in shown)
    assert "sos" in kinds and "S7" in people


# --- one namespace of people ---------------------------------------------------------------------
# The attack that was reproduced: a probation officer puts another caseload's protected person's id
# as a subject of his own; the id joined his caseload, and with it her record, home zone, live
# track, her account (a new activation code) and her phone's credential.

PO = "probation_officer"


def test_an_id_the_other_kind_uses_is_refused_and_changes_nothing(scene):
    api, _ = scene
    before = snapshot(api)
    r = api.put("/v1/subjects/P2", SUBJECT, who=PO)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "subject_id", r.text
    r = api.put("/v1/subjects/P2", {**SUBJECT, "probation_officer": "u-probation_officer"})  # an operator
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "subject_id"
    r = api.put("/v1/protected-persons/S2", {"name": "not him"})
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"
    r = api.put("/v1/protected-persons/S1", {"name": "not him"}, who=PO)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"
    assert snapshot(api) == before
    # So the takeover finds nothing to take: her record, track, account and phone stay out of reach.
    for method, path, body in cross_caseload_calls():
        r = call(api, PO, method, path, body, WATCH)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert snapshot(api) == before


def test_refusing_her_in_an_order_is_recorded(scene):
    api, _ = scene
    assert api.put("/v1/orders/O9", order_body("S1", "P2"), who=PO).status_code == 403
    trail = api.get("/v1/audit", who="auditor", params={"actor": "u-probation_officer"}).json()
    refused = [e for e in trail if e["target"] == "/v1/orders/O9"]
    assert refused and refused[-1]["detail"]["allowed"] is False
    assert refused[-1]["detail"]["refused"] == "protected_person_id"


def test_a_probation_officer_may_set_up_a_new_case_for_a_victim_he_registered(scene):
    api, _ = scene
    # A new victim he registers himself, in no one's order yet: his order for his subject may name her.
    assert api.put("/v1/protected-persons/P9", {"name": "new case"}, who=PO).status_code == 201
    assert api.put("/v1/orders/O9", order_body("S1", "P9"), who=PO).status_code == 201
    assert api.put("/v1/orders/O9", order_body("S1", "P9", 50, 500), who=PO).status_code == 200
    # Still, her record, track and account are an operator's, as for every victim.
    assert api.get("/v1/protected-persons/P9", who=PO).status_code == 403
    # Registered by someone else, or already in another caseload's order: not his to name.
    assert api.put("/v1/protected-persons/P10", {"name": "operator's"}).status_code == 201
    assert api.put("/v1/orders/O10", order_body("S1", "P10"), who=PO).status_code == 403
    assert api.put("/v1/protected-persons/P11", {"name": "his, then theirs"}, who=PO).status_code == 201
    assert api.put("/v1/orders/O11", order_body("S2", "P11")).status_code == 201  # an operator
    assert api.put("/v1/orders/O12", order_body("S1", "P11"), who=PO).status_code == 403
    # The victim of his own subject's order stays his to name again (a new order for the same pair).
    assert api.put("/v1/orders/O13", order_body("S1", "P1"), who=PO).status_code == 201


def cross_caseload_calls() -> list[tuple[str, str, Any]]:
    """Every way the reproduced attack reached P2 (another caseload's victim, with her watch W-2)."""
    return [
        ("GET", "/v1/protected-persons/P2", None),
        ("PUT", "/v1/protected-persons/P2", {"name": "mine now"}),
        ("GET", "/v1/people/P2/track", None),
        ("GET", "/v1/devices/W-2", None),
        ("PUT", "/v1/devices/W-2", {"kind": "smartwatch", "person_id": "P2"}),
        ("POST", "/v1/protected-persons/P2/activation", BECAUSE),
        ("POST", "/v1/devices/W-2/credentials", BECAUSE),
        ("PUT", "/v1/orders/O9", order_body("S1", "P2", 100, 200_000)),
        ("PUT", "/v1/devices/AM-9", {"kind": "ankle_monitor", "person_id": "P2"}),
    ]


def snapshot(api) -> dict[str, Any]:
    """The registry, the accounts and the tokens, to show a refused call changed nothing."""
    tables = (
        t.subjects,
        t.protected_persons,
        t.devices,
        t.orders,
        t.zones,
        t.users,
        t.tokens,
        t.account_notices,
    )
    with api.db.connect() as conn:
        return {
            table.name: sorted(tuple(str(v) for v in row) for row in conn.execute(select(table)))
            for table in tables
        }


def collide(api, person: str, officer: str = "u-probation_officer") -> None:
    """What a database made before ids were one namespace may hold: a subject with the id of a
    protected person, in this officer's caseload (as the reproduced attack left it)."""
    now = api.clock()
    with api.db.begin() as conn:
        conn.execute(
            insert(t.subjects).values(
                id=person, name="collision", legal_basis="parole", case_reference="", notes="",
                probation_officer=officer, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_a_colliding_pair_in_an_old_database_lets_no_scope_across_kinds(scene, caplog):
    api, alerts = scene
    collide(api, "P2")
    with caplog.at_level(logging.WARNING, logger="vigil.app"):
        api.restart()  # the server says so when it starts
    assert "'P2' names both a subject and a protected person" in caplog.text
    # He sees the subject P2 (his, by the row) and nothing of the protected person P2.
    subject = api.get("/v1/subjects/P2", who=PO)
    assert subject.status_code == 200
    assert subject.json()["devices"] == [] and subject.json()["orders"] == []
    for method, path, body in cross_caseload_calls():
        r = call(api, PO, method, path, body, WATCH)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert "W-2" not in {d["id"] for d in api.get("/v1/devices", who=PO).json()}
    assert "P2" not in {p["id"] for p in api.get("/v1/protected-persons", who=PO).json()}
    assert "O2" not in {o["id"] for o in api.get("/v1/orders", who=PO).json()}
    features = api.get("/v1/positions", who=PO).json()["features"]
    assert {(f["properties"]["person"], f["properties"]["person_kind"]) for f in features} == {
        ("S1", "subject")
    }
    assert alerts["A2"] not in {
        a["id"] for a in api.get("/v1/alerts", who=PO, params={"open_only": "false"}).json()
    }
    assert api.get(f"/v1/alerts/{alerts['A2']}/evidence", who=PO, params=WHY).status_code == 403
    # Nothing can be bound or ordered to an id that names two people, not even by an operator.
    r = api.put("/v1/devices/AM-9", {"kind": "ankle_monitor", "person_id": "P2"})
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"
    r = api.get("/v1/people/P2/track", params=WATCH)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"
    # The stream: her watch moves, then his subject S1; he gets S1 and never her.
    with connect(api, PO) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert api.send([api.fix("W-2", SEOUL_LAT + 0.0001, SEOUL_LON, seconds=1)]).status_code == 200
        assert api.send([api.fix("AM-1", north(53), HOME_LON, seconds=1)]).status_code == 200
        seen = set()
        while ("S1", "subject") not in seen:
            for feature in shown_in(ws.receive_json()):
                props = feature["properties"]
                seen.add((props["person"], props["person_kind"]))
    assert seen == {("S1", "subject")}
    with connect(api, PO, subject="P2") as ws:  # following "his" P2 shows the subject P2 only
        assert ws.receive_json()["type"] == "hello"
        assert api.send([api.fix("W-2", SEOUL_LAT + 0.0002, SEOUL_LON, seconds=2)]).status_code == 200
        viewers = list(api.hub.viewers)
        assert viewers and not any(v.wants_position(protected_ref("P2")) for v in viewers)
        assert all(v.wants_position(subject_ref("P2")) for v in viewers)


def test_her_app_speaks_for_her_own_device_even_beside_a_subject_of_her_id(scene):
    api, _ = scene
    collide(api, "P1", officer="u-po2")
    assert api.put("/v1/devices/AM-0", {"kind": "ankle_monitor", "person_id": "S1"}).status_code == 201
    with api.db.begin() as conn:  # an old binding: the ankle monitor of the subject "P1"
        conn.execute(
            update(t.devices).where(t.devices.c.id == "AM-0").values(person_id="P1", person_kind="subject")
        )
    r = api.post("/v1/me/position", {"lat": HOME_LAT, "lon": HOME_LON}, who="protected_person")
    assert r.status_code == 200, r.text
    assert api.fixes_of("AM-0") == [] and len(api.fixes_of("W-1")) >= 2


# --- incidents by their own id ----------------------------------------------------------------------


def test_an_incident_is_read_by_whoever_sees_one_of_its_alerts_and_refused_to_others(read_scene):
    api, ids = read_scene
    assert ids["I1"] != ids["I2"]
    for who in ROLES:
        expect = ALERT_READERS.get(who, NONE)
        for side, incident in (("in", ids["I1"]), ("out", ids["I2"])):
            should = expect == ALL or (expect == IN and side == "in")
            r = api.get(f"/v1/incidents/{incident}", who=who)
            if should:
                assert r.status_code == 200, (who, incident, r.text)
                body = r.json()
                assert body["id"] == incident and body["number"]
                assert [a["id"] for a in body["alerts"]] == [ids["A1" if side == "in" else "A2"]]
            else:
                assert r.status_code == 403, (who, incident, r.status_code)
    r = api.get("/v1/audit", who="auditor", params={"actor": "u-police_dispatcher"})
    assert any(e["target"] == f"/v1/incidents/{ids['I2']}" and not e["detail"]["allowed"] for e in r.json())
    # a staff token never opens the link holder's view, even in ?token=
    assert api.get("/v1/incidents/nonexistent").status_code == 404


def test_the_queue_filters_never_reach_past_the_callers_scope(read_scene):
    """Searching and filtering narrow what the caller sees, never widen it: the probation officer
    looking for the other caseload's subject, or the dispatcher for Seoul (outside Gyeonggi), finds
    nothing; each finds his own incident by the same filters."""
    api, ids = read_scene
    every = {"state": "all"}

    def found(who: str, **params: str) -> set[str]:
        r = api.get("/v1/incidents", who=who, params={**every, **params})
        assert r.status_code == 200, (who, params, r.text)
        return {i["id"] for i in r.json()}

    for who in ("probation_officer", "police_dispatcher", "field_officer"):
        assert found(who, q="S2") == found(who, person="S2") == found(who, q=ids["I2"]) == set(), who
        assert found(who, area="11") == set(), who  # A2 is in Seoul's Jongno-gu
        assert found(who, q="S1") == found(who, person="S1") == {ids["I1"]}, who
    assert found("operator", q="S2") == found("operator", area="11") == {ids["I2"]}
    assert found("operator", kind="proximity_violation") == {ids["I1"], ids["I2"]}
    # her name finds her incident for those who may see her record, never for a probation officer
    assert found("operator", q="person P1") == {ids["I1"]}
    assert found("police_dispatcher", q="person P1") == {ids["I1"]}
    assert found("probation_officer", q="person P1") == set()
    # a name without regard to case (both subjects are named "subject"): his own only
    assert found("operator", q="SUBJECT") == {ids["I1"], ids["I2"]}
    assert found("probation_officer", q="SUBJECT") == {ids["I1"]}


def test_a_roles_token_opens_no_subject_through_the_field_paths(read_scene):
    """His photo and description reach a field unit through its incident's link only: every role's
    own token is refused there (401: it is not a link)."""
    api, alerts = read_scene
    for who in ROLES:
        for path in (
            f"/v1/incidents/{alerts['A1']}/subject",
            f"/v1/incidents/{alerts['A1']}/subject/photo",
            f"/v1/incidents/{alerts['A1']}/address",
        ):
            r = api.client.get(path, headers=api.auth(who))
            assert r.status_code == 401, (who, path, r.status_code)
