"""The edge: rate limits, body limits, input no store can hold, security headers, CORS, log redaction
and the production-mode refusal (api/hardening.py, config.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from vigil.api import hardening
from vigil.api.hardening import Limit, Limiter, redact, tile_source
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store import tables as t

# From tests/api/conftest.py (not imported: a bare `conftest` import is ambiguous beside tests/web).
GATEWAY = "gateway"  # a device token not bound to any device
BOUND = "bound"  # a device token bound to AM-1
Api = Any  # conftest.Api

STRONG = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="  # 32 distinct-ish bytes


@pytest.fixture
def api(app_client: Api) -> Iterator[Api]:
    """The app_client with the hardening installed (a no-op once create_app does it itself)."""
    app: Any = app_client.client.app
    if not getattr(app.state, "hardened", False):
        app_client.stop()
        original = app_client.start

        def start() -> None:
            from vigil.app import create_app

            built = create_app(app_client.settings, clock=app_client.clock)
            hardening.install(built, app_client.settings)
            app_client.client = app_client._stack.enter_context(TestClient(built))

        app_client.start = start  # type: ignore[method-assign]
        start()
        try:
            yield app_client
        finally:
            app_client.start = original  # type: ignore[method-assign]
        return
    yield app_client


# --- rate limits ------------------------------------------------------------------------------------


def test_limiter_refills_and_bounds_memory() -> None:
    now = [0.0]
    limiter = Limiter(max_buckets=100, clock=lambda: now[0])
    limit = Limit(per_s=2.0, burst=3)
    assert [limiter.take("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", limit) == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a", limit) == 0.0
    for i in range(1000):
        limiter.take(f"k{i}", limit)
    assert len(limiter) <= 100
    now[0] += 10.0  # everything has refilled: idle buckets are dropped
    limiter.take("fresh", limit)
    assert len(limiter) == 1
    assert limiter.take("x", Limit(per_s=0, burst=1)) == 0.0  # 0: no limit


# Rates of one token per 1,000 s: no bucket refills within a test, however slow the machine (at one
# per second, a loaded machine refilled a bucket between two calls and the 429 came late).
@pytest.mark.app_settings(rate_user_per_s=0.001, rate_user_burst=3)
def test_a_person_over_the_limit_gets_429_with_retry_after(api: Api) -> None:
    codes = [api.get("/v1/alerts").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = api.get("/v1/alerts")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert "too many requests" in r.json()["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # another person has a bucket of their own; so does a device token
    assert api.get("/v1/alerts", who=Role.PROBATION_OFFICER).status_code == 200
    assert api.send([], who=GATEWAY).status_code == 200


@pytest.mark.app_settings(rate_device_per_s=0.001, rate_device_burst=2, rate_gateway_per_s=1000.0)
def test_a_bound_device_is_limited_but_the_gateway_has_its_own_higher_limit(api: Api) -> None:
    assert [api.send([], who=BOUND).status_code for _ in range(3)] == [200, 200, 429]
    assert all(api.send([], who=GATEWAY).status_code == 200 for _ in range(50))
    # ?token= and the OsmAnd path token are the same credential as the header
    token = api.tokens[BOUND]
    assert api.client.get("/osmand", params={"token": token}).status_code == 429
    assert api.client.get(f"/osmand/t/{token}").status_code == 429


@pytest.mark.app_settings(rate_anonymous_per_s=0.001, rate_anonymous_burst=2)
def test_calls_without_a_known_token_share_one_bucket_per_address(api: Api) -> None:
    assert api.client.get("/health").status_code == 200
    assert api.client.get("/v1/alerts", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.client.get("/health").status_code == 429
    assert api.get("/v1/alerts").status_code == 200  # a known token is not in that bucket


def test_defaults_do_not_throttle_a_busy_client(api: Api) -> None:
    assert all(api.get("/v1/alerts").status_code == 200 for _ in range(300))


# --- bodies and input no store can hold -------------------------------------------------------------


@pytest.mark.app_settings(max_body_bytes=2048)
def test_every_body_is_capped_early_and_when_streamed(api: Api) -> None:
    big = {"name": "x" * 4096, "legal_basis": "parole"}
    r = api.put("/v1/subjects/S1", big)
    assert r.status_code == 413
    assert "2048" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    r = api.client.put("/v1/subjects/S1", content=chunks(), headers=api.auth())  # chunked, no length
    assert r.status_code == 413
    assert api.put("/v1/subjects/S1", {"name": "ok", "legal_basis": "parole"}).status_code == 201


@pytest.mark.both_backends  # input a store may refuse (NUL, big numbers)
@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\u0000b", "legal_basis": "parole"}',
        '{"name": "\\ud800", "legal_basis": "parole"}',
        '{"name": "a", "legal_basis": "parole", "x": NaN}',
        '{"name": "a", "legal_basis": "parole", "x": 1e999}',
        '{"name": "a", "legal_basis": "parole", "x": -Infinity}',
        '{"name": "a", "legal_basis": "parole", "x": 99999999999999999999999}',
    ],
)
def test_json_no_store_can_hold_is_refused_with_422(api: Api, body: str) -> None:
    headers = {**api.auth(), "Content-Type": "application/json"}
    r = api.client.put("/v1/subjects/S1", content=body.encode(), headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] in {"name", ""}
    assert api.count(t.subjects) == 0


@pytest.mark.both_backends  # input a store may refuse (NUL, big numbers)
def test_ordinary_json_with_long_numbers_and_look_alike_text_passes(api: Api) -> None:
    headers = {**api.auth(), "Content-Type": "application/json"}
    body = b'{"name": "NaN Infinity \\\\u0000 1e999", "legal_basis": "parole", "note": 0.30000000000000004}'
    assert api.client.put("/v1/subjects/S1", content=body, headers=headers).status_code == 201


@pytest.mark.both_backends  # input a store may refuse (NUL, big numbers)
def test_devices_get_400_nothing_stored(api: Api) -> None:
    body = b'[{"device": "AM-1\\u0000", "at": "2020-01-01T00:00:00Z", "fix": {"lat": 1, "lon": 2}}]'
    headers = {**api.auth(GATEWAY), "Content-Type": "application/json"}
    r = api.client.post("/v1/devices/messages", content=body, headers=headers)
    assert r.status_code == 400, r.text


@pytest.mark.both_backends  # input a store may refuse (NUL, big numbers)
def test_nul_in_the_path_or_query_is_refused(api: Api) -> None:
    assert api.get("/v1/subjects/a%00b").status_code == 400
    assert api.get("/v1/alerts?subject=a%00b").status_code == 400
    r = api.client.post(
        "/osmand",
        content=b"id=AM-1&lat=1%00&lon=2",
        headers={**api.auth(GATEWAY), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400


# --- headers and CORS -------------------------------------------------------------------------------


def test_security_headers_on_pages_and_api(api: Api) -> None:
    page = api.client.get("/control/")
    assert page.status_code == 200
    h = page.headers
    csp = h["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "img-src 'self' data:" in csp
    assert "connect-src 'self' ws://testserver wss://testserver" in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    assert h["permissions-policy"] == "geolocation=(self), camera=(), microphone=()"
    assert "strict-transport-security" not in h  # the public URL is not https
    assert "no-store" not in h.get("cache-control", "")
    r = api.get("/v1/alerts")
    assert r.headers["cache-control"] == "no-store"
    assert api.client.get("/v1/alerts").headers["cache-control"] == "no-store"  # 401 too
    assert "cdn.jsdelivr.net" in api.client.get("/docs").headers["content-security-policy"]


@pytest.mark.app_settings(
    public_url="https://vigil.example", tile_url="https://{s}.tiles.example/{z}/{x}/{y}.png"
)
def test_hsts_and_the_tile_server_when_configured(api: Api) -> None:
    h = api.client.get("/health").headers
    assert h["strict-transport-security"].startswith("max-age=")
    assert "img-src 'self' data: https://*.tiles.example" in h["content-security-policy"]


def test_tile_source() -> None:
    assert tile_source(None) is None
    assert tile_source("https://tiles.example:8443/{z}/{x}/{y}.png") == "https://tiles.example:8443"
    assert tile_source("https://{s}.tile.osm.org/{z}/{x}/{y}.png") == "https://*.tile.osm.org"
    assert tile_source("javascript:alert(1)") is None
    assert tile_source("https://evil.example;script-src *") is None


def test_no_cross_origin_access_by_default(api: Api) -> None:
    preflight = api.client.options(
        "/v1/alerts",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    r = api.client.get("/v1/alerts", headers={**api.auth(), "Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.app_settings(cors_origins="https://partner.example")
def test_cors_allow_list(api: Api) -> None:
    ok = api.client.options(
        "/v1/alerts",
        headers={"Origin": "https://partner.example", "Access-Control-Request-Method": "GET"},
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://partner.example"
    other = api.client.options(
        "/v1/alerts",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert other.headers.get("access-control-allow-origin") != "https://elsewhere.example"


def test_install_twice_is_a_no_op(api: Api) -> None:
    app: Any = api.client.app
    before = len(app.user_middleware)
    hardening.install(app, api.settings)
    assert len(app.user_middleware) == before


def test_websocket_still_works(api: Api) -> None:
    watch = "purpose=monitoring&reason=control-centre+watch"
    with api.client.websocket_connect(f"/v1/stream?token={api.tokens[Role.OPERATOR]}&{watch}") as ws:
        ws.close()


# --- logs -------------------------------------------------------------------------------------------


def test_redact() -> None:
    line = (
        'GET /v1/stream?token=vgl_abcdefghijklmnop&x=1 "/osmand/t/vgl_SECRETSECRET?lat=1" '
        "Authorization: Bearer vgl_zzzzzzzzzz secret whsec_QUJDREVGR0hJSktM link inc_AbCdEf123456"
    )
    out = redact(line)
    for secret in ("abcdefghijklmnop", "SECRETSECRET", "zzzzzzzzzz", "QUJDREVGR0hJSktM", "AbCdEf123456"):
        assert secret not in out
    assert "token=[redacted]&x=1" in out
    assert "/osmand/t/[redacted]?lat=1" in out
    assert redact("nothing to see, since_when=3") == "nothing to see, since_when=3"
    # a purpose's reason may name someone: the trail keeps it, the logs do not
    assert redact("GET /v1/positions?purpose=investigation&reason=Kim+Minji+case") == (
        "GET /v1/positions?purpose=investigation&reason=[redacted]"
    )


def test_uvicorn_access_log_and_vigil_logs_are_redacted(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = api.tokens[Role.OPERATOR]
    # Whatever an earlier test's uvicorn did to its loggers (its logging config sets the access log
    # to its own level and stops it propagating), this test sees that logger's records.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    # uvicorn's access log: a format string and a tuple of arguments its formatter unpacks
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/v1/stream?token={token}", "1.1", 101
    )
    record = caplog.records[-1]
    assert isinstance(record.args, tuple) and len(record.args) == 5
    assert token not in caplog.text
    assert "token=[redacted]" in caplog.text
    # Vigil's own loggers go through the root handlers, which carry the filter
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        hardening.install_log_redaction()
        assert any(isinstance(f, hardening.RedactingFilter) for f in handler.filters)
    finally:
        root.removeHandler(handler)


# --- production mode --------------------------------------------------------------------------------


def _production(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "environment": "production",
        "public_url": "https://vigil.example",
        "database_url": "postgresql+psycopg://vigil@db/vigil",
        "log_level": "INFO",
        "audit_key_file": "/etc/vigil/audit.key",
    }
    return Settings(**{**base, **overrides})


def test_production_accepts_sound_settings() -> None:
    s = _production(
        dispatch_url="https://112.example/vigil", dispatch_secret=STRONG, cors_origins="https://a.example"
    )
    assert s.production_problems() == []
    assert s.cors_origins == ["https://a.example"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"public_url": "http://vigil.example"}, "VIGIL_PUBLIC_URL"),
        ({"public_url": None}, "VIGIL_PUBLIC_URL"),
        ({"database_url": "sqlite:///var/vigil.db"}, "VIGIL_DATABASE_URL"),
        ({"dispatch_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "VIGIL_DISPATCH_SECRET"),
        ({"dispatch_secret": "whsec_c2hvcnQ="}, "VIGIL_DISPATCH_SECRET"),
        ({"dispatch_secret": "changeme"}, "VIGIL_DISPATCH_SECRET"),
        ({"dispatch_url": "http://112.example/vigil"}, "VIGIL_DISPATCH_URL"),
        ({"cors_origins": "*"}, "VIGIL_CORS_ORIGINS"),
        ({"cors_origins": '["http://a.example"]'}, "VIGIL_CORS_ORIGINS"),
        ({"log_level": "debug"}, "VIGIL_LOG_LEVEL"),
        ({"rate_user_per_s": 0}, "rate limits"),
        ({"audit_key_file": None}, "VIGIL_AUDIT_KEY_FILE"),
        ({"sms_url": "http://sms.example/send", "sms_token": "a-token"}, "VIGIL_SMS_URL"),
        ({"sms_url": "https://sms.example/send"}, "VIGIL_SMS_TOKEN"),
        ({"push_allow_loopback_http": True}, "VIGIL_PUSH_ALLOW_LOOPBACK_HTTP"),
        (
            {"audit_witness_url": "http://witness.example", "audit_witness_secret": STRONG},
            "VIGIL_AUDIT_WITNESS_URL",
        ),
        (
            {"audit_witness_url": "https://w.example", "audit_witness_secret": "whsec_c2hvcnQ="},
            "WITNESS_SECRET",
        ),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match="refusing to start in production mode") as caught:
        _production(**overrides)
    assert named in str(caught.value)


def test_production_names_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(environment="production", log_level="DEBUG", cors_origins="*")
    text = str(caught.value)
    for name in (
        "VIGIL_PUBLIC_URL",
        "VIGIL_DATABASE_URL",
        "VIGIL_CORS_ORIGINS",
        "VIGIL_LOG_LEVEL",
        "VIGIL_AUDIT_KEY",
    ):
        assert name in text


def test_development_starts_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_CORS_ORIGINS", "https://a.example, https://b.example/")
    s = Settings()
    assert s.environment == "development"
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("VIGIL_ENVIRONMENT", "production")
    with pytest.raises(ValidationError):
        Settings()
