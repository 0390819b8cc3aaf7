"""Standard Webhooks signatures: every push is signed with its target's `whsec_` secret, and every
report back must be signed with the same secret. The HMAC itself is the reference library's."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

# A signed message older or newer than this is refused, so a captured one cannot be replayed later.
TOLERANCE_S = 300.0


class BadSignature(ValueError):
    """The headers are missing, malformed, out of time, or do not match the body."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def valid_secret(secret: str) -> bool:
    if not secret.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(secret[6:], validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The three webhook headers for one send (the timestamp is the time of this attempt)."""
    stamp = int(at.timestamp())
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def verify(secret: str, received: Mapping[str, str], body: bytes, now: datetime) -> str:
    """Check a signed message; returns its webhook-id. Time is checked against `now`, so the
    server's clock (not the library's) decides what is too old."""
    message_id = received.get("webhook-id", "")
    stamp = received.get("webhook-timestamp", "")
    signatures = received.get("webhook-signature", "")
    if not (message_id and stamp and signatures):
        raise BadSignature("webhook-id, webhook-timestamp and webhook-signature are all required")
    if len(message_id) > 200:
        raise BadSignature("webhook-id is too long")
    try:
        sent = datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise BadSignature("webhook-timestamp must be Unix seconds") from None
    if abs((now - sent).total_seconds()) > TOLERANCE_S:
        raise BadSignature("webhook-timestamp is more than 5 minutes away from the server's time")
    # Signed over the raw bytes, as the scheme says, so a body that is not even UTF-8 is still
    # recognised as theirs (and then refused as a bad body, not as a bad secret).
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{int(stamp)}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value.encode(errors="replace")):
            return message_id
    raise BadSignature("no v1 signature matches the body")
