"""The SMS gateway's request (docs/notifications.md): a POST of JSON with a bearer token.

    POST VIGIL_SMS_URL
    Authorization: Bearer <VIGIL_SMS_TOKEN>
    Idempotency-Key: vigil-sms-<notification id>
    {"id": "vigil-sms-<notification id>", "to": "+821012345678", "text": "..."}

Any 2xx means the gateway accepted the text; a retry carries the same id, so the gateway sends it
once."""

from __future__ import annotations

import json

from vigil.notify.messages import Notice


def message_id(notice: Notice) -> str:
    return f"vigil-sms-{notice.id}"


def request(notice: Notice, token: str | None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"id": message_id(notice), "to": notice.recipient, "text": notice.payload}, ensure_ascii=False
    ).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message_id(notice)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return body, headers
