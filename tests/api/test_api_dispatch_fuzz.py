"""Fuzzing the dispatch endpoints through the running app: signed callbacks with any body, and target
definitions with any content, never get a 5xx, and a refused callback changes nothing.

Inputs that once crashed the server are pinned by the tests at the end; the fuzz strategies keep clear of exactly those
inputs (NUL characters, NaN, nesting past the recursion limit, integers past int()'s digit limit) so
that the fuzz keeps guarding everything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from vigil.dispatch.reports import Outcome, Status
from vigil.domain.alerts import AlertKind

pytestmark = pytest.mark.both_backends  # text PostgreSQL refuses (NUL) and SQLite stores

PATH, TARGET = "/seoul-police", "seoul-police"
CALLBACK_ANSWERS = {200, 400, 404, 409, 413, 422}
# 30 bodies per test and backend: the same parsers and the same refusals as 60, at half the suite's
# time (each example is two to four requests through the app). Under CI=true the draw is the same
# every run (tests/conftest.py's profile); locally it differs each run, so the many runs explore.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sign(secret: str, message_id: str, stamp: int, raw: bytes) -> str:
    """Standard Webhooks v1 over the raw body bytes (the reference library takes only text)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{stamp}.".encode() + raw, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass
class Scene:
    api: Any
    receiver: Any
    raw: TestClient  # the same app, answering 500 instead of raising into the test
    alert_id: str

    def post(self, raw: bytes, target: str = TARGET, secret: str | None = None) -> Any:
        message_id = f"cb-{uuid.uuid4()}"
        stamp = int(self.api.clock().timestamp())
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret or self.receiver.secrets[PATH], message_id, stamp, raw),
            "content-type": "application/json",
        }
        return self.raw.post(f"/v1/dispatch/callbacks/{target}", content=raw, headers=headers)

    def timeline(self) -> list[Any]:
        r = self.api.get(f"/v1/alerts/{self.alert_id}")
        assert r.status_code == 200, r.text
        return list(r.json()["timeline"])

    def state(self) -> str:
        return str(self.api.get(f"/v1/alerts/{self.alert_id}").json()["state"])


@pytest.fixture
def scene(dispatch_client: Any, receiver: Any) -> Iterator[Scene]:
    """One target (the receiver's /seoul-police) told about one open proximity violation."""
    api = dispatch_client
    r = api.put(
        f"/v1/dispatch/targets/{TARGET}",
        {"name": TARGET, "url": receiver.url + PATH, "secret": receiver.secrets[PATH], "agency": "police"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    alert_id = api.violation()
    receiver.wait(PATH, 1)
    yield Scene(api, receiver, TestClient(api.client.app, raise_server_exceptions=False), alert_id)


def test_the_raw_signature_is_the_reference_one(receiver: Any) -> None:
    secret = receiver.secrets[PATH]
    raw = json.dumps({"alert": "A1", "status": "received", "note": "한글"})
    now = datetime.fromtimestamp(1_773_471_600, UTC)
    assert sign(secret, "m-1", 1_773_471_600, raw.encode()) == Webhook(secret).sign("m-1", now, raw)


# --- strategies -------------------------------------------------------------------------------------

# NUL characters and NaN are tested on their own at the end.
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
lone_surrogates = st.sampled_from(["\ud800", "x\udfff", "\udc00\ud800"])  # valid only as JSON escapes
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
    | lone_surrogates,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)
huge = st.sampled_from([65, 101, 2001, 70_000]).map(lambda n: "x" * n)
statuses = st.sampled_from([s.value for s in Status])
callback_fields = {
    "alert": texts | huge | json_values,  # replaced by the real id half the time (below)
    "status": statuses | texts | json_values,
    "reason": texts | huge | json_values,
    "units": st.lists(texts | huge, max_size=55) | json_values,
    "outcome": st.sampled_from([o.value for o in Outcome]) | st.none() | json_values,
    "note": texts | huge | json_values,
    "at": st.sampled_from(
        ["2026-03-14T07:00:00+09:00", "2026-03-14T07:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]
    )
    | texts
    | json_values,
    "incident": texts | huge | json_values,
}
well_typed = {
    "reason": texts,
    "units": st.lists(texts, max_size=3),
    "outcome": st.sampled_from([o.value for o in Outcome]),
    "note": texts,
    "at": st.sampled_from(["2026-03-14T07:00:00+09:00", "2026-03-14T07:00:00Z"]),
    "incident": texts,
}
callback_objects = st.fixed_dictionaries({}, optional=callback_fields).flatmap(
    lambda fields: st.dictionaries(texts, json_values, max_size=3).map(lambda extra: {**extra, **fields})
)


def dumps(value: Any, ascii_only: bool) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate: only as an escape
        return json.dumps(value).encode()


@st.composite
def callback_bodies(draw: st.DrawFn, alert_id: str) -> tuple[str, bytes]:
    """(what it is, the raw body)."""
    shape = draw(
        st.sampled_from(["object", "object", "valid", "report", "report", "json", "text", "bytes", "huge"])
    )
    if shape == "report":  # well typed: what a real dispatch system sends, in any order
        report: dict[str, Any] = {"alert": alert_id, "status": draw(statuses)}
        report.update(draw(st.fixed_dictionaries({}, optional=well_typed)))
        return shape, dumps(report, ascii_only=draw(st.booleans()))
    if shape in ("object", "valid"):
        body = draw(callback_objects)
        if shape == "valid" or draw(st.booleans()):
            body["alert"] = alert_id
        if shape == "valid":
            body["status"] = draw(statuses)
        return shape, dumps(body, ascii_only=draw(st.booleans()))
    if shape == "json":
        return shape, dumps(draw(json_values), ascii_only=draw(st.booleans()))
    if shape == "text":
        return shape, draw(texts).encode()
    if shape == "bytes":
        return shape, draw(st.binary(max_size=200))
    filler = "y" * draw(st.sampled_from([2_000, 200_000, 1_100_000]))  # past 1 MiB: 413
    return shape, json.dumps({"alert": alert_id, "status": "received", "note": filler}).encode()


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.slow  # generated bodies, each through the app
@FUZZ
@given(data=st.data())
def test_signed_callbacks_with_any_body_never_fail_the_server(scene: Scene, data: st.DataObject) -> None:
    shape, raw = data.draw(callback_bodies(scene.alert_id), label="body")
    before = scene.timeline()
    r = scene.post(raw)
    after = scene.timeline()
    event(f"{shape} -> {r.status_code}")
    if not is_utf8(raw):
        # a doubt, pinned by test_a_signed_body_that_is_not_utf8_is_a_bad_request: 401 today
        assert r.status_code in {400, 401}, (shape, raw[:200], r.status_code, r.text[:500])
    else:
        assert r.status_code in CALLBACK_ANSWERS, (shape, raw[:200], r.status_code, r.text[:500])
    if r.status_code != 200:
        assert after == before, (shape, raw[:200], r.status_code, r.text[:500])
        return
    answer = r.json()
    assert answer["alert"] == scene.alert_id and answer["duplicate"] is False
    assert answer["state"] == scene.state()
    assert after[: len(before)] == before  # the past is never rewritten
    assert len(after) > len(before)
    assert after[len(before)]["actor"] == f"dispatch:{TARGET}"


@pytest.mark.slow  # generated bodies, each through the app
@FUZZ
@given(data=st.data())
def test_a_refused_signature_changes_nothing_whatever_the_body(scene: Scene, data: st.DataObject) -> None:
    _, raw = data.draw(callback_bodies(scene.alert_id), label="body")
    before = scene.timeline()
    wrong = scene.post(raw, secret=scene.receiver.secrets["/probation"])
    unknown = scene.post(raw, target=data.draw(st.sampled_from(["nobody", "probation", "x" * 300])))
    assert wrong.status_code == 401 or (wrong.status_code == 413 and len(raw) > 1_048_576)
    assert unknown.status_code == 401
    assert scene.timeline() == before


def test_a_replayed_callback_is_recorded_once(scene: Scene) -> None:
    raw = json.dumps({"alert": scene.alert_id, "status": "accepted"}).encode()
    stamp = int(scene.api.clock().timestamp())
    headers = {
        "webhook-id": "same",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(scene.receiver.secrets[PATH], "same", stamp, raw),
    }
    url = f"/v1/dispatch/callbacks/{TARGET}"
    first = scene.raw.post(url, content=raw, headers=headers)
    settled = scene.timeline()
    again = scene.raw.post(url, content=raw, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert scene.timeline() == settled


# --- targets ----------------------------------------------------------------------------------------

ident = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z", fullmatch=True)
target_fields = {
    "name": texts | huge | json_values,
    "url": st.sampled_from(
        ["http://127.0.0.1:9/x", "https://dispatch.example/push", "ftp://x", "http://", "not a url", ""]
    )
    | texts
    | json_values,
    "secret": st.sampled_from(
        ["whsec_" + base64.b64encode(b"k" * 32).decode(), "whsec_", "plain", "whsec_" + "A" * 10]
    )
    | texts
    | json_values,
    "agency": st.sampled_from(["police", "probation", "any", "army"]) | json_values,
    "codes": st.lists(st.from_regex(r"\A\d{1,6}\Z", fullmatch=True) | texts, max_size=5) | json_values,
    "formats": st.lists(st.sampled_from(["cap", "eido", "json"]), max_size=3) | json_values,
    "kinds": st.none() | st.lists(st.sampled_from([k.value for k in AlertKind] + ["x"]), max_size=4),
    "priority": st.integers(-5, 150) | json_values,
    "enabled": st.booleans() | json_values,
}


@FUZZ
@given(
    target_id=ident,
    body=st.fixed_dictionaries({}, optional=target_fields).map(
        lambda fields: {"name": "t", "url": "http://127.0.0.1:9/x", "agency": "police", **fields}
    )
    | st.fixed_dictionaries({}, optional=target_fields)
    | json_values,
)
def test_target_definitions_never_fail_the_server(dispatch_client: Any, target_id: str, body: Any) -> None:
    api = dispatch_client
    raw = TestClient(api.client.app, raise_server_exceptions=False)
    headers = {**api.auth("admin"), "content-type": "application/json"}
    r = raw.put(f"/v1/dispatch/targets/{target_id}", content=json.dumps(body).encode(), headers=headers)
    event(str(r.status_code))
    assert r.status_code in {200, 201, 409, 422}, (body, r.status_code, r.text[:500])
    if r.status_code in (200, 201):
        listed = {t["id"]: t for t in api.get("/v1/dispatch/targets", who="admin").json()}
        assert "secret" not in listed[target_id]
        assert listed[target_id]["name"] == body["name"]
        assert ("secret" in r.json()) is (r.status_code == 201 and body.get("secret") is None)


# --- inputs that once crashed the server ----------------------------------------------------------------


def test_a_deeply_nested_body_is_a_bad_request(scene: Scene) -> None:
    before = scene.timeline()
    assert scene.post(b"[" * 50_000).status_code == 400
    assert scene.timeline() == before


def test_a_huge_integer_body_is_a_bad_request(scene: Scene) -> None:
    raw = b'{"alert": "%s", "status": "received", "x": %s}' % (scene.alert_id.encode(), b"9" * 5000)
    assert scene.post(raw).status_code in (400, 422)


def test_nul_in_the_alert_id(scene: Scene, request: pytest.FixtureRequest) -> None:
    raw = json.dumps({"alert": "a\x00b", "status": "received"}).encode()
    assert scene.post(raw).status_code in (404, 422)


@pytest.mark.parametrize("field", ["note", "reason", "incident", "units"])
def test_nul_in_an_accepted_report(scene: Scene, request: pytest.FixtureRequest, field: str) -> None:
    value: Any = ["Patrol\x0012"] if field == "units" else "a\x00b"
    status = "rejected" if field == "reason" else "units_assigned" if field == "units" else "received"
    raw = json.dumps({"alert": scene.alert_id, "status": status, field: value}).encode()
    before = scene.timeline()
    r = scene.post(raw)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert scene.timeline() == before


@pytest.mark.parametrize("field", ["note", "reason", "incident", "units", "extra"])
def test_a_lone_surrogate_in_a_report_is_refused_or_kept_as_an_escape(scene: Scene, field: str) -> None:
    """A JSON escape such as "\\ud800" names no character: no store can encode it. In a field the
    report's note is made of it is refused (422, nothing changes); elsewhere in the body it is kept
    as the escape it came as. Found by the fuzz test above as a 500."""
    value = '["\\ud800"]' if field == "units" else '"x\\udfff"'
    status = "rejected" if field == "reason" else "units_assigned" if field == "units" else "received"
    raw = f'{{"alert": "{scene.alert_id}", "status": "{status}", "{field}": {value}}}'.encode()
    before = scene.timeline()
    r = scene.post(raw)
    if field == "extra":
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 422, r.text
    assert scene.timeline() == before


def test_nan_in_an_extra_field_of_an_accepted_report(scene: Scene, request: pytest.FixtureRequest) -> None:
    raw = b'{"alert": "%s", "status": "received", "extra": NaN}' % scene.alert_id.encode()
    assert scene.post(raw).status_code in (200, 400, 422)


def test_nul_in_the_callback_target_id_unsigned(scene: Scene, request: pytest.FixtureRequest) -> None:
    r = scene.raw.post("/v1/dispatch/callbacks/a%00b", content=b"{}")
    assert r.status_code == 401


def test_nul_in_a_target_name(dispatch_client: Any, request: pytest.FixtureRequest) -> None:
    api = dispatch_client
    raw = TestClient(api.client.app, raise_server_exceptions=False)
    body = {"name": "a\x00b", "url": "http://127.0.0.1:9/x", "agency": "police"}
    r = raw.put("/v1/dispatch/targets/t1", json=body, headers=api.auth("admin"))
    assert r.status_code in (201, 422), r.text


def test_a_signed_body_that_is_not_utf8_is_a_bad_request(scene: Scene) -> None:
    assert scene.post(b'{"alert": "\xff"}').status_code == 400


@pytest.mark.parametrize(("size", "expected"), [(2_001, 422), (200_000, 422), (1_100_000, 413)])
def test_huge_bodies(scene: Scene, size: int, expected: int) -> None:
    before = scene.timeline()
    raw = json.dumps({"alert": scene.alert_id, "status": "received", "note": "y" * size}).encode()
    assert scene.post(raw).status_code == expected
    assert scene.timeline() == before
