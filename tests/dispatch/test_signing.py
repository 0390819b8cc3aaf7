"""Standard Webhooks signatures on the way out and the way back, and incident link tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from vigil.dispatch import links
from vigil.dispatch.signing import TOLERANCE_S, BadSignature, headers, new_secret, valid_secret, verify

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
BODY = json.dumps({"alert": "A1", "status": "received", "note": "한글 ok"}).encode()
NOW = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)


def signed(
    at: datetime = NOW, body: bytes = BODY, secret: str = SECRET, mid: str = "msg-1"
) -> dict[str, str]:
    return headers(secret, mid, at, body)


def test_round_trip() -> None:
    sent = signed()
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert sent["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert sent["webhook-signature"].startswith("v1,")
    assert verify(SECRET, sent, BODY, NOW) == "msg-1"


def test_sub_second_times_sign_the_whole_second() -> None:
    sent = signed(NOW + timedelta(microseconds=999_999))
    assert sent["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert verify(SECRET, sent, BODY, NOW + timedelta(seconds=1)) == "msg-1"


def test_the_reference_library_accepts_what_we_sign() -> None:
    now = datetime.now(UTC)
    sent = signed(now)
    assert Webhook(SECRET).verify(BODY, sent) == json.loads(BODY)


def test_we_accept_what_the_reference_library_signs() -> None:
    now = datetime.now(UTC)
    text = BODY.decode()
    sent = {
        "webhook-id": "cb-1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign("cb-1", now, text),
    }
    assert verify(SECRET, sent, BODY, now) == "cb-1"


def test_tampered_body_or_id_or_timestamp() -> None:
    sent = signed()
    with pytest.raises(BadSignature):
        verify(SECRET, sent, BODY.replace(b"received", b"accepted"), NOW)
    with pytest.raises(BadSignature):
        verify(SECRET, sent, BODY + b" ", NOW)
    with pytest.raises(BadSignature):
        verify(SECRET, {**sent, "webhook-id": "msg-2"}, BODY, NOW)
    stamp = str(int(sent["webhook-timestamp"]) + 1)
    with pytest.raises(BadSignature):
        verify(SECRET, {**sent, "webhook-timestamp": stamp}, BODY, NOW)


def test_wrong_secret() -> None:
    with pytest.raises(BadSignature):
        verify(OTHER, signed(), BODY, NOW)
    with pytest.raises(BadSignature):
        verify(SECRET, signed(secret=OTHER), BODY, NOW)


@pytest.mark.parametrize("offset", [-TOLERANCE_S, -1.0, 0.0, 1.0, TOLERANCE_S])
def test_within_tolerance(offset: float) -> None:
    assert verify(SECRET, signed(NOW + timedelta(seconds=offset)), BODY, NOW) == "msg-1"


@pytest.mark.parametrize("offset", [-TOLERANCE_S - 1, TOLERANCE_S + 1, -86_400.0, 86_400.0 * 365])
def test_too_old_or_too_new(offset: float) -> None:
    with pytest.raises(BadSignature, match="5 minutes"):
        verify(SECRET, signed(NOW + timedelta(seconds=offset)), BODY, NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_or_empty_headers(missing: str) -> None:
    sent = signed()
    with pytest.raises(BadSignature, match="required"):
        verify(SECRET, {k: v for k, v in sent.items() if k != missing}, BODY, NOW)
    with pytest.raises(BadSignature, match="required"):
        verify(SECRET, {**sent, missing: ""}, BODY, NOW)


def test_message_id_length() -> None:
    longest = "m" * 200
    assert verify(SECRET, signed(mid=longest), BODY, NOW) == longest
    with pytest.raises(BadSignature, match="too long"):
        verify(SECRET, signed(mid=longest + "m"), BODY, NOW)


@pytest.mark.parametrize("stamp", ["abc", "1.5e9", "", "0x10", "17e8", "nan"])
def test_timestamp_must_be_unix_seconds(stamp: str) -> None:
    sent = signed()
    with pytest.raises(BadSignature):
        verify(SECRET, {**sent, "webhook-timestamp": stamp}, BODY, NOW)


def test_several_signatures_one_valid() -> None:
    good = signed()["webhook-signature"]
    bad = signed(secret=OTHER)["webhook-signature"]
    for combined in (f"{bad} {good}", f"{good} {bad}", f"v1,AAAA {bad}  {good}", f"{bad}\t{good}"):
        assert verify(SECRET, {**signed(), "webhook-signature": combined}, BODY, NOW) == "msg-1"
    with pytest.raises(BadSignature):
        verify(SECRET, {**signed(), "webhook-signature": f"{bad} v1,AAAA"}, BODY, NOW)


@pytest.mark.parametrize("version", ["v2", "v1a", "V1", "v0", "", "v1a1"])
def test_only_v1_signatures_count(version: str) -> None:
    value = signed()["webhook-signature"].split(",", 1)[1]
    with pytest.raises(BadSignature, match="no v1 signature"):
        verify(SECRET, {**signed(), "webhook-signature": f"{version},{value}"}, BODY, NOW)
    with pytest.raises(BadSignature):
        verify(SECRET, {**signed(), "webhook-signature": value}, BODY, NOW)  # no version at all


def test_a_body_that_is_not_utf8_is_checked_over_its_bytes() -> None:
    raw = b"\xff\xfe" + BODY
    stamp = str(int(NOW.timestamp()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = base64.b64encode(hmac.new(key, b"m-1." + stamp.encode() + b"." + raw, hashlib.sha256).digest())
    headers = {"webhook-id": "m-1", "webhook-timestamp": stamp, "webhook-signature": "v1," + mac.decode()}
    assert verify(SECRET, headers, raw, NOW) == "m-1"  # theirs: the body is refused later, as a body
    with pytest.raises(BadSignature):
        verify(SECRET, signed(), raw, NOW)


# --- fuzz: whatever arrives, the answer is BadSignature or an id ---------------------------------------

header_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=300),  # latin-1 bytes
    st.integers().map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n),  # past int()'s digit limit
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.lists(st.text(max_size=20), max_size=6).map(",".join),
    st.lists(st.text(max_size=20), max_size=6).map(" ".join),
    st.just(""),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_id=st.none() | header_text,
    stamp=st.none() | header_text,
    signature=st.none() | header_text,
    body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
    offset=st.integers(-400, 400),
)
@example(message_id="m", stamp="-99999999999999", signature="v1,x", body=b"{}", offset=0)
@example(message_id="m", stamp="99999999999999999999", signature="v1,x", body=b"{}", offset=0)
@example(message_id="m", stamp="-62135596801", signature="v1,x", body=b"{}", offset=0)
@example(message_id="m", stamp="253402300800", signature="v1,x", body=b"{}", offset=0)
@example(message_id="m", stamp="1_773_471_600", signature="v1,é,ü v2,, ,,", body=b"{}", offset=0)
@example(message_id="m", stamp="\u0661\u0667\u0667", signature="v1,\x00", body=b"\x80", offset=0)
def test_verify_raises_only_bad_signature(
    message_id: str | None, stamp: str | None, signature: str | None, body: bytes, offset: int
) -> None:
    received = {
        name: value
        for name, value in (
            ("webhook-id", message_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", signature),
        )
        if value is not None
    }
    if stamp is None and offset % 2 == 0:
        received["webhook-timestamp"] = str(int(NOW.timestamp()) + offset)  # in time, often enough
    try:
        found = verify(SECRET, received, body, NOW)
    except BadSignature:
        return
    # accepted only with a real signature (the fuzz cannot forge one)
    assert found == message_id
    raise AssertionError(f"a fuzzed header set was accepted: {received!r}")


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(max_size=300).map(str.encode),
    mid=st.text(min_size=1, max_size=200),
    offset=st.integers(-300, 300),
)
def test_round_trip_for_any_text_body_and_id(body: bytes, mid: str, offset: int) -> None:
    sent = headers(SECRET, mid, NOW + timedelta(seconds=offset), body)
    assert verify(SECRET, sent, body, NOW) == mid


# --- secrets --------------------------------------------------------------------------------------------


def test_new_secrets_are_valid_and_distinct() -> None:
    made = {new_secret() for _ in range(20)}
    assert len(made) == 20
    assert all(valid_secret(s) and s.startswith("whsec_") for s in made)


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        (SECRET, True),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), True),  # 16 bytes: the least
        ("whsec_" + base64.b64encode(b"x" * 15).decode(), False),
        ("whsec_" + base64.b64encode(b"x" * 64).decode(), True),
        (base64.b64encode(b"x" * 32).decode(), False),  # no prefix
        ("WHSEC_" + base64.b64encode(b"x" * 32).decode(), False),
        ("whsec_", False),
        ("whsec_!!!!" + "A" * 40, False),
        ("whsec_" + base64.b64encode(b"x" * 32).decode().rstrip("="), False),  # bad padding
        ("whsec_" + base64.urlsafe_b64encode(b"\xff" * 32).decode(), False),  # url-safe alphabet
        ("whsec_" + "é" * 40, False),
        ("whsec_ " + base64.b64encode(b"x" * 32).decode(), False),
        ("", False),
    ],
)
def test_valid_secret(secret: str, valid: bool) -> None:
    assert valid_secret(secret) is valid


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100).map(lambda s: "whsec_" + s) | st.text(max_size=100))
def test_valid_secret_never_raises(secret: str) -> None:
    assert valid_secret(secret) in (True, False)


# --- incident links -------------------------------------------------------------------------------------


def test_incident_tokens_name_their_link_and_are_random() -> None:
    link_id, token = links.new_token()
    assert token.startswith(f"inc_{link_id}_")
    assert "=" not in token and "+" not in token and "/" not in token  # safe in a URL as is
    assert len(token) - len(f"inc_{link_id}_") >= 32  # 192 random bits after the id
    assert links.new_token() != (link_id, token)
    assert links.digest(token) == hashlib.sha256(token.encode()).hexdigest()  # what the database keeps


def test_live_track_url() -> None:
    url = links.url("https://vigil.test/", "A1", "inc_ab_cd")
    assert url == "https://vigil.test/field/?incident=A1&token=inc_ab_cd"
    assert links.url("http://h:1", "a/b&c", "t") == "http://h:1/field/?incident=a%2Fb%26c&token=t"
