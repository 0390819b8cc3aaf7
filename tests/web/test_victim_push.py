"""The victim app's alerts with the app closed (Web Push), in a real browser.

Headless Chromium has no push service to subscribe with (its PushManager.subscribe needs the
vendor's push service, which a sandboxed test cannot reach), so the page's PushManager is replaced
by a stand-in that hands out a subscription made of keys the test generated; everything else is
real: the permission prompt granted by the browser context, the VAPID key fetched from the server
and handed to subscribe as applicationServerKey, the subscription stored on the server, and taken
off it again at sign-out. The service worker's push handler is tried by dispatching a push event in
the real worker: the notification it shows is read back from the registration."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from web_kit import HOME_LAT, HOME_LON, SOON, Site, north, state_purpose

from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = pytest.mark.slow  # a real server and Chromium


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


P256DH = b64(
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)
AUTH = b64(b"0123456789abcdef")
ENDPOINT = "https://push.example.com/send/her-phone"

# PushManager as a browser with a push service would behave, holding one subscription.
FAKE_PUSH = """
(() => {
  const keys = __KEYS__;
  window.__push = { subscribed: null, serverKey: null, unsubscribed: 0 };
  const make = (serverKey) => ({
    endpoint: keys.endpoint,
    options: { applicationServerKey: serverKey, userVisibleOnly: true },
    toJSON: () => ({ endpoint: keys.endpoint, expirationTime: null, keys: { p256dh: keys.p256dh, auth: keys.auth } }),
    unsubscribe: async () => { window.__push.subscribed = null; window.__push.unsubscribed += 1; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.__push.serverKey = btoa(String.fromCharCode(...key)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    window.__push.subscribed = make(key.buffer);
    return window.__push.subscribed;
  };
  PushManager.prototype.getSubscription = async function () { return window.__push.subscribed; };
})();
""".replace("__KEYS__", json.dumps({"endpoint": ENDPOINT, "p256dh": P256DH, "auth": AUTH}))


@pytest.fixture
def phone(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        geolocation={"latitude": HOME_LAT, "longitude": HOME_LON, "accuracy": 12},
        permissions=["geolocation", "notifications"],
        locale="en-US",
    )
    context.set_default_timeout(SOON)
    context.add_init_script("localStorage.setItem('vigil.language', 'en')")
    context.add_init_script(FAKE_PUSH)
    yield context
    context.close()


def until(page: Any, expression: str) -> None:
    """Poll `expression` from here: wait_for_function polls by evaluating a string in the page once
    the first check fails, which the app's CSP (no 'unsafe-eval') refuses."""
    for _ in range(200):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {expression}")


def subscriptions(site: Site) -> list[Any]:
    db = open_engine(site.database_url)
    try:
        with db.connect() as conn:
            return list(conn.execute(select(t.push_subscriptions)))
    finally:
        db.dispose()


def test_turning_alerts_on_registers_this_phone_and_signing_out_removes_it(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    until(page, "navigator.serviceWorker.controller !== null")
    card = page.locator("#alerts")
    expect(card).to_be_visible()
    expect(card).to_contain_text("even with the app closed")
    page.locator("#alerts-toggle").click()
    expect(page.locator("#alerts-state")).to_have_text("Alerts are on for this phone.")
    expect(page.locator("#alerts-toggle")).to_have_text("Turn alerts off")

    # the server has her subscription, subscribed with the key it serves
    [row] = [r for r in subscriptions(site) if r.person_id == pair.victim]
    assert (row.endpoint, row.p256dh, row.auth) == (ENDPOINT, P256DH, AUTH)
    served = site.http.get("/v1/me/push-key", headers={"Authorization": f"Bearer {site.tokens[her]}"})
    assert page.evaluate("window.__push.serverKey") == served.json()["public_key"]

    # signing out turns alerts off on this phone: the server forgets it and the browser drops it
    page.locator("#main .signout").click()
    expect(page.locator("#login")).to_be_visible()
    until(page, "window.__push.unsubscribed === 1")
    assert [r for r in subscriptions(site) if r.person_id == pair.victim] == []
    assert errors == []


SHOWN = """async (data) => {
  for (const n of await self.registration.getNotifications()) n.close();
  try {
    self.dispatchEvent(new PushEvent("push", { data: JSON.stringify(data) }));
  } catch (e) {
    // a synthetic event may not extend its lifetime (waitUntil): the notification is shown anyway
  }
  for (let i = 0; i < 50; i++) {
    const found = await self.registration.getNotifications();
    if (found.length) return found.map((n) => ({ title: n.title, body: n.body, tag: n.tag, silent: n.silent }));
    await new Promise((r) => setTimeout(r, 50));
  }
  return [];
}"""


def test_the_service_worker_shows_a_push_without_saying_where_he_is(site: Site, phone: Any) -> None:
    from playwright.sync_api import expect

    pair = site.pair()
    site.fixes((pair.phone, HOME_LAT, HOME_LON))
    her = site.account(Role.PROTECTED_PERSON, person_id=pair.victim)
    page = phone.new_page()
    page.goto(f"{site.url}/victim/?token={site.tokens[her]}")
    expect(page.locator("#status")).to_have_attribute("data-status", "safe")
    until(page, "navigator.serviceWorker.controller !== null")
    [worker] = [w for w in phone.service_workers if w.url.endswith("/victim/sw.js")]
    page.wait_for_timeout(300)  # the page has kept its preferences for the worker

    push = {"v": 1, "kind": "danger", "alert": "a-1", "at": "2026-12-06T17:00:00+00:00"}
    [shown] = worker.evaluate(SHOWN, push)
    assert shown["title"] == "Danger" and "112" in shown["body"] and shown["tag"] == "vigil-a-1"
    [answered] = worker.evaluate(SHOWN, {**push, "kind": "sos_answered", "alert": "a-2"})
    assert answered["title"] == "Your SOS was answered"

    # discreet mode: the notification names nothing and makes no sound
    page.locator("#discreet").click()
    page.wait_for_timeout(300)
    [quiet] = worker.evaluate(SHOWN, push)
    assert (quiet["title"], quiet["body"], quiet["silent"]) == ("Notes", "You have a new note.", True)


# --- what the control centre sees of the messages to her ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SMS_PORT = _free_port()  # chosen at import: the site's settings name it before the gateway listens


@pytest.fixture
def gateway() -> Iterator[list[dict[str, Any]]]:
    """An SMS gateway on loopback that accepts every text (its checks: tests/api/test_api_wake.py)."""
    texts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            texts.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", SMS_PORT), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield texts
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.site_settings(sms_url=f"http://127.0.0.1:{SMS_PORT}/sms", sms_token="test-token")
def test_the_alert_detail_shows_the_text_sent_to_her(
    gateway: list[dict[str, Any]], site: Site, desk: Any
) -> None:
    from playwright.sync_api import expect

    pair = site.pair()  # her number: 010-0000-0000
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(2000), HOME_LON), seconds_ago=100)
    site.fixes((pair.phone, HOME_LAT, HOME_LON), (pair.ankle, north(50), HOME_LON))
    alerts = site.call("GET", "/v1/alerts").json()
    [alert] = [a for a in alerts if a["subject"] == pair.subject and a["kind"] == "proximity_violation"]
    page = desk.new_page()
    page.goto(f"{site.url}/control/?token={site.tokens['operator']}")
    state_purpose(page)
    page.get_by_test_id("language").get_by_role("button", name="EN").click()
    page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'] .kind").click()
    told = page.get_by_test_id("alert-detail").get_by_test_id("detail-notifications")
    expect(told.get_by_test_id("notification")).to_have_count(1)
    row = told.get_by_test_id("notification").first
    expect(row).to_contain_text("Text")
    expect(row).to_contain_text("Danger")
    expect(row).to_contain_text("…0000")
    expect(row).to_contain_text("100 m")
    expect(row).to_contain_text("Delivered")
    assert [m["to"] for m in gateway] == ["010-0000-0000"]
