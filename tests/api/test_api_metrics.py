"""GET /metrics: the Prometheus text format, parsed back with prometheus_client's own parser, from a
real server over a real database; the values move as reports, refusals, alerts, pushes, device
connections and viewers come and go. Who may read it is tested here and in the access matrix."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from api_kit import HOME_LAT, HOME_LON, north, wait_until
from prometheus_client.parser import text_string_to_metric_families
from test_gateway_devices import GT06_IMEI, Device, _gps_frame, _register

from conftest import Api, _api
from database_kit import Copy
from dispatch.receiver import _free_port
from vigil import __version__
from vigil.adapters import gt06
from vigil.config import Settings
from vigil.dispatch.signing import new_secret

SCRAPE = "scrape-7f3a9c1e5b2d4f6a8c0e2b4d6f8a1c3e"  # the scraper's token in these tests
SCRAPER = {"Authorization": f"Bearer {SCRAPE}"}

NO_LABELS = {"device", "person", "subject", "alert", "target", "id"}  # nothing that names anyone

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api, headers: dict[str, str] = SCRAPER) -> Samples:
    r = api.client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


# --- what it says --------------------------------------------------------------------------------------


@pytest.mark.app_settings(metrics_token=SCRAPE)
def test_reports_refusals_and_alerts_move_the_figures(app_client: Api) -> None:
    api = app_client
    before = scrape(api)
    assert value(before, "vigil_build_info", version=__version__) == 1
    assert value(before, "vigil_alerts_open", kind="proximity_violation", severity="critical") == 0
    # the library's process figures, on the app's own registry
    assert {"process_cpu_seconds_total", "python_info", "python_gc_collections_total"} <= names(before)

    alert_id = api.violation()  # two fixes over HTTP, then an order: one proximity violation
    r = api.send([
        api.fix("AM-1", north(55), seconds=-10),  # stored
        api.fix("GHOST-1", HOME_LAT, seconds=-10),  # nobody's device: the writer refuses it
        {"device": "AM-1", "at": api.at(-9), "fix": {"lat": "north", "lon": HOME_LON}},  # the decoder does
    ])  # fmt: skip
    assert r.status_code == 422, r.text
    assert api.send([api.fix("AM-1", north(55), seconds=-10)]).status_code == 200  # a retry: duplicate
    osmand = {"id": "W-1", "timestamp": str(int(api.clock().timestamp()) - 5), "lat": "37.6", "lon": "127.2"}
    assert api.client.get("/osmand", params=osmand, headers=api.auth("gateway")).status_code == 200
    api.clock.advance(30)
    after = scrape(api)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert not {k for _, labels in after for k, _ in labels} & NO_LABELS
    assert moved("vigil_reports_received_total", channel="http") == 5
    assert moved("vigil_reports_stored_total", channel="http") == 3
    assert moved("vigil_reports_duplicate_total", channel="http") == 1
    assert moved("vigil_reports_refused_total", channel="http", reason="unknown device") == 1
    assert moved("vigil_reports_refused_total", channel="http", reason="invalid message") == 1
    assert moved("vigil_reports_stored_total", channel="osmand") == 1
    assert moved("vigil_alerts_raised_total", kind="proximity_violation", how="opened") == 1
    assert moved("vigil_alert_changes_total", kind="proximity_violation", change="opened") == 1
    assert value(after, "vigil_alerts_open", kind="proximity_violation", severity="critical") == 1
    assert value(after, "vigil_alerts_unacknowledged", severity="critical") == 1
    assert value(after, "vigil_alerts_unacknowledged_oldest_age_seconds", severity="critical") >= 30
    assert moved("vigil_writer_batches_total") >= 6
    assert value(after, "vigil_writer_failed_batches_total") == 0
    assert ("vigil_writer_queue_depth", frozenset()) in after
    assert value(after, "vigil_dispatch_backlog") == 0  # no dispatch target in these settings

    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "acknowledged"}).status_code == 200
    acknowledged = scrape(api)
    assert value(acknowledged, "vigil_alerts_unacknowledged", severity="critical") == 0
    assert value(acknowledged, "vigil_alerts_unacknowledged_oldest_age_seconds", severity="critical") == 0
    assert value(acknowledged, "vigil_alerts_open", kind="proximity_violation", severity="critical") == 1
    assert (
        value(acknowledged, "vigil_alert_changes_total", kind="proximity_violation", change="acknowledged")
        == 1
    )


@pytest.mark.app_settings(metrics_token=SCRAPE)
def test_live_stream_viewers_are_counted(app_client: Api) -> None:
    api = app_client
    assert value(scrape(api), "vigil_stream_viewers") == 0
    token = api.tokens["operator"]
    with api.client.websocket_connect(f"/v1/stream?token={token}&purpose=monitoring&reason=watch") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert value(scrape(api), "vigil_stream_viewers") == 1
    wait_until(lambda: value(scrape(api), "vigil_stream_viewers") == 0)
    assert value(scrape(api), "vigil_stream_viewers_dropped_total") == 0


@pytest.mark.app_settings(
    metrics_token=SCRAPE,
    dispatch_url="http://127.0.0.1:9/112",  # nothing listens there: every attempt fails
    dispatch_secret=new_secret(),
    dispatch_backoff_s=1,
    dispatch_ack_timeout_s=3600,
)
def test_an_undelivered_push_shows_as_backlog_age_and_failures(app_client: Api) -> None:
    api = app_client
    assert value(scrape(api), "vigil_dispatch_oldest_undelivered_age_seconds") == 0
    api.violation()
    found = wait_until(lambda: (s := scrape(api)) and value(s, "vigil_dispatch_failures_total") >= 1 and s)
    assert value(found, "vigil_dispatch_backlog") == 1
    assert value(found, "vigil_dispatch_delivered_total") == 0
    api.clock.advance(40)
    later = scrape(api)
    assert value(later, "vigil_dispatch_backlog") == 1
    assert value(later, "vigil_dispatch_oldest_undelivered_age_seconds") >= 40
    assert value(later, "vigil_dispatch_alarms_total") == 0  # not yet: the alarm comes after 120 s


@pytest.fixture
def served(request: pytest.FixtureRequest, provisioned: Copy) -> Iterator[Api]:
    """The app with a GT06 listener on a free port and a Teltonika one on a port already taken."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    api = _api(
        request,
        provisioned,
        metrics_token=SCRAPE,
        gt06_port=_free_port(),
        watch_port=0,
        teltonika_port=taken.getsockname()[1],
    )
    api.start()
    try:
        yield api
    finally:
        api.stop()
        taken.close()


def test_device_listeners_connections_and_their_reports(served: Api) -> None:
    api = served
    first = scrape(api)
    assert value(first, "vigil_listener_up", protocol="gt06") == 1
    assert value(first, "vigil_listener_up", protocol="teltonika") == 0  # its port was taken
    assert ("vigil_listener_up", frozenset({("protocol", "watch")})) not in first  # disabled
    _register(api, "AM-G", "gt06", GT06_IMEI)
    device = Device(api.settings.gt06_port)
    stranger = Device(api.settings.gt06_port)
    try:
        device.send(gt06.frame(0x01, bytes.fromhex("0" + GT06_IMEI), 1))
        assert device.until(b"\r\n")  # the login's ack
        device.send(_gps_frame(api.clock(), HOME_LAT, HOME_LON, 2))
        assert device.until(b"\r\n")  # acknowledged once stored
        stranger.send(gt06.frame(0x01, bytes.fromhex("0864717003283599"), 1))  # nobody's IMEI
        with contextlib.suppress(OSError):
            stranger.until(b"\r\n")
        now = wait_until(
            lambda: (s := scrape(api)) and value(s, "vigil_device_connections", protocol="gt06") == 1 and s
        )
        assert value(now, "vigil_reports_received_total", channel="gt06") == 1
        assert value(now, "vigil_reports_stored_total", channel="gt06") == 1
        assert value(now, "vigil_reports_refused_total", channel="gt06", reason="unknown identifier") == 1
        assert value(now, "vigil_device_frames_total", channel="gt06") >= 3
    finally:
        device.close()
        stranger.close()
    wait_until(lambda: value(scrape(api), "vigil_device_connections", protocol="gt06") == 0)


# --- who may read it -------------------------------------------------------------------------------------


@pytest.mark.app_settings(metrics_token=SCRAPE)
def test_only_the_scrape_token_and_admins_may_read_it(app_client: Api) -> None:
    api = app_client
    r = api.client.get("/metrics")
    assert r.status_code == 401 and r.json()["detail"].startswith("a token is required")
    assert r.headers["www-authenticate"] == "Bearer"
    for wrong in (SCRAPE[:-1], SCRAPE + "0", SCRAPE.upper(), "", "Bearer"):
        r = api.client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert r.status_code == 401 and "detail" in r.json(), wrong
    # never in the query string, where proxies and logs keep it
    assert api.client.get("/metrics", params={"token": SCRAPE}).status_code == 401
    for role in ("operator", "auditor", "probation_officer", "police_dispatcher", "field_officer",
                 "protected_person", "gateway"):  # fmt: skip
        r = api.get("/metrics", who=role)
        assert r.status_code == 403 and r.json() == {"detail": "your role may not do this"}, role
    assert api.get("/metrics", who="admin").status_code == 200
    assert api.client.get("/metrics", headers=SCRAPER).status_code == 200
    assert api.client.get("/metrics", headers={"authorization": f"bearer {SCRAPE}"}).status_code == 200


@pytest.mark.app_settings(metrics_token=SCRAPE)
def test_an_admin_look_is_audited_and_a_scrape_is_not(app_client: Api) -> None:
    api = app_client
    scrape(api)
    assert api.get("/metrics", who="admin").status_code == 200
    assert api.get("/metrics", who="operator").status_code == 403
    trail = api.get("/v1/audit", who="auditor", params={"action": "metrics"}).json()
    seen = [(e["actor"], e["detail"]["allowed"]) for e in trail if e["target"] == "/metrics"]
    assert sorted(seen) == [("u-admin", True), ("u-operator", False)]


def test_without_a_scrape_token_only_admins_may(app_client: Api) -> None:
    api = app_client
    assert api.client.get("/metrics", headers=SCRAPER).status_code == 401
    assert api.get("/metrics", who="admin").status_code == 200


@pytest.mark.app_settings(metrics_token=SCRAPE)
def test_the_scrape_token_is_a_secret_in_the_settings_shown(app_client: Api) -> None:
    assert app_client.get("/v1/settings", who="admin").json()["metrics_token"] == "(set)"


def test_production_refuses_a_weak_or_empty_scrape_token() -> None:
    weak = Settings.of(metrics_token="metrics")
    assert any("VIGIL_METRICS_TOKEN" in p for p in weak.production_problems())
    assert not any(
        "VIGIL_METRICS_TOKEN" in p for p in Settings.of(metrics_token=SCRAPE).production_problems()
    )
    with pytest.raises(ValueError, match="VIGIL_METRICS_TOKEN is empty"):
        Settings.of(metrics_token="  ")
