"""One Web Push request (RFC 8030) to her browser's push service: the payload encrypted for her
browser (RFC 8291, `aes128gcm` per RFC 8188) by pywebpush, and the request signed with the
server's VAPID key (RFC 8292). Built afresh at each attempt: every send has its own ephemeral key
and salt, and a signature of its own time."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from urllib.parse import urlsplit

from pywebpush import WebPusher

from vigil.notify.messages import Notice
from vigil.notify.vapid import VapidKey

SIGNATURE_LIFE_S = 12 * 3600  # a VAPID token's exp: at most 24 h ahead (RFC 8292 section 2)


def audience(endpoint: str) -> str:
    """The push service's origin: the JWT's `aud`."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def request(
    notice: Notice, key: VapidKey, subject: str, ttl_s: int, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The encrypted body and the headers of the POST to `notice.recipient`."""
    pusher = WebPusher({"endpoint": notice.recipient, "keys": {"p256dh": notice.p256dh, "auth": notice.auth}})
    body = bytes(pusher.encode(notice.payload.encode(), content_encoding="aes128gcm")["body"])
    expires = int(now.timestamp()) + SIGNATURE_LIFE_S
    headers = {
        "Authorization": key.authorization(audience(notice.recipient), subject, expires),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl_s),
        "Urgency": "high",  # he is near: wake the phone (RFC 8030 section 5.3)
        # a later push about the same alert replaces one still queued at the push service
        "Topic": _topic(notice),
    }
    return body, headers


def _topic(notice: Notice) -> str:
    """RFC 8030 Topic (at most 32 URL-safe base64 characters): one per alert, so a phone that was
    off gets the newest word about it, not the whole series."""
    digest = hashlib.sha256(notice.alert_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]
