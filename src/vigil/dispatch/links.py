"""Incident links: the live-track URL a push carries for the units sent to an incident.

The token in it is a capability for one alert, made with the installation's secret key: nothing is
stored, it cannot be turned to another alert, and the server honours it only while the incident is
open (plus a short grace), so a link in a dispatch system's records goes dead with the incident.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def incident_token(key: bytes, alert_id: str) -> str:
    digest = hmac.new(key, f"incident:{alert_id}".encode(), hashlib.sha256).digest()
    return "inc_" + base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def token_matches(key: bytes, alert_id: str, token: str) -> bool:
    return hmac.compare_digest(incident_token(key, alert_id).encode(), token.encode())


def live_track_url(base: str, key: bytes, alert_id: str) -> str:
    return f"{base}/field/?incident={alert_id}&token={incident_token(key, alert_id)}"
