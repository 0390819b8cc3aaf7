"""Authentication and roles at the edge: no anonymous access to anything but docs and health."""

from __future__ import annotations

import re

from api_kit import WATCH

PUBLIC = {
    "/health",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/v1/web/config",
    "/v1/web/basemap",
    "/v1/auth/login",  # these three take credentials in their bodies (tests/api/test_api_accounts.py)
    "/v1/auth/refresh",
    "/v1/auth/activate",
}


def endpoints(client) -> list[tuple[str, str]]:
    """Every HTTP operation the app publishes, path parameters filled in."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "X1", path))
        for path, operations in paths.items()
        if path not in PUBLIC
        for method in operations
    ]


def test_every_endpoint_refuses_a_missing_or_unknown_token(app_client):
    client = app_client.client
    operations = endpoints(client)
    assert len(operations) >= 25  # every router is wired: a missing one would shrink this
    for method, path in operations:
        if path.startswith("/osmand/t/"):
            continue  # the token is the path itself: see the next test
        if path.startswith(("/v1/dispatch/callbacks/", "/v1/incidents/")):
            # signed with the target's webhook secret, or opened by the incident link's own token
            assert client.request(method, path, json={}).status_code == 401
            continue
        r = client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers.get("www-authenticate") == "Bearer"
        r = client.request(method, path, json={}, headers={"Authorization": "Bearer vgl_nonsense"})
        assert r.status_code == 401, (method, path, r.status_code)


def test_path_token_endpoint_refuses_unknown_token(app_client):
    assert app_client.client.get("/osmand/t/vgl_nonsense", params={"id": "W-1"}).status_code == 401
    assert app_client.client.post("/osmand/t/vgl_nonsense", data={"id": "W-1"}).status_code == 401


FORBIDDEN = [
    ("gateway", "GET", "/v1/alerts"),
    ("bound", "GET", "/v1/alerts/X1"),
    ("gateway", "POST", "/v1/alerts/X1/steps"),
    ("admin", "GET", "/v1/positions"),
    ("admin", "GET", "/v1/people/S1/track"),
    ("admin", "GET", "/v1/alerts"),
    ("field_officer", "GET", "/v1/subjects"),
    ("admin", "PUT", "/v1/subjects/S1"),
    ("admin", "GET", "/v1/subjects"),
    ("field_officer", "PUT", "/v1/subjects/S1"),
    ("police_dispatcher", "PUT", "/v1/subjects/S1"),
    ("police_dispatcher", "POST", "/v1/orders/O1/end"),
    ("protected_person", "GET", "/v1/subjects"),
    ("protected_person", "GET", "/v1/positions"),
    ("gateway", "GET", "/v1/subjects"),
    ("operator", "POST", "/v1/devices/messages"),
    ("admin", "POST", "/v1/devices/messages"),
    ("operator", "GET", "/osmand"),
]


def test_a_role_that_may_not_is_refused_with_403(app_client):
    wrong = []
    for who, method, path in FORBIDDEN:
        r = app_client.client.request(method, path, json={}, headers=app_client.auth(who))
        if r.status_code != 403:
            wrong.append((who, method, path, r.status_code))
    assert wrong == []


def test_roles_that_may_are_let_through(app_client):
    api = app_client
    for who in ("operator", "probation_officer"):
        assert (
            api.put(f"/v1/subjects/S-{who}", {"legal_basis": "parole", "name": "Kim"}, who=who).status_code
            == 201
        )
    for who in ("operator", "probation_officer", "police_dispatcher"):
        assert api.get("/v1/subjects", who=who).status_code == 200
    for who in ("operator", "probation_officer", "police_dispatcher"):
        assert api.get("/v1/positions", who=who, params=WATCH).status_code == 200
        assert api.get("/v1/alerts", who=who).status_code == 200


def test_docs_and_openapi_are_public(app_client):
    client = app_client.client
    r = client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"/v1/devices/messages", "/v1/orders/{order_id}", "/v1/alerts/{alert_id}/steps"} <= set(paths)
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    assert client.get("/health").json()["status"] == "ok"
