"""A device record names the protocol it speaks and the identifier its frames carry (issue 15):
one identifier, one device per protocol; a protocol that needs an identifier refuses a record
without one, or with one that is not of its form."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from vigil.store import tables as t

IMEI = "864717003283581"

pytestmark = pytest.mark.both_backends  # the unique index and the 409 are the store's


def test_a_gt06_monitor_is_registered_with_its_imei_and_found_by_it(app_client) -> None:
    api = app_client
    api.subject("S1", device=None)
    r = api.put(
        "/v1/devices/AM-9",
        {"kind": "ankle_monitor", "protocol": "gt06", "identifier": IMEI, "person_id": "S1"},
    )
    assert r.status_code == 201, r.text
    shown = api.get("/v1/devices/AM-9").json()
    assert (shown["protocol"], shown["identifier"]) == ("gt06", IMEI)
    assert api.client.app.state.services.reader.device_for("gt06", IMEI) == "AM-9"
    assert api.client.app.state.services.reader.device_for("teltonika", IMEI) is None


def test_a_second_device_with_the_same_identifier_is_refused_with_409_and_nothing_changes(app_client) -> None:
    api = app_client
    body = {"kind": "ankle_monitor", "protocol": "gt06", "identifier": IMEI}
    assert api.put("/v1/devices/AM-1", body).status_code == 201
    r = api.put("/v1/devices/AM-2", body)
    assert r.status_code == 409, r.text
    assert r.json()["detail"][0]["field"] == "identifier"
    assert api.get("/v1/devices/AM-2").status_code == 404
    # The same number on another protocol names another device; re-putting the holder is fine.
    assert api.put("/v1/devices/AM-2", {**body, "protocol": "teltonika"}).status_code == 201
    assert api.put("/v1/devices/AM-1", body).status_code == 200


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"protocol": "gt06"}, "identifier"),  # needs one
        ({"protocol": "gt06", "identifier": "86471700328358"}, "identifier"),  # 14 digits
        ({"protocol": "teltonika", "identifier": "86471700328358X"}, "identifier"),
        ({"protocol": "owntracks", "identifier": "jane"}, "identifier"),  # user/device
        ({"protocol": "owntracks", "identifier": "jane/+"}, "identifier"),  # a wildcard
        ({"protocol": "native", "identifier": IMEI}, "identifier"),  # addressed by its id
        ({"identifier": IMEI}, "identifier"),  # no protocol: native
        ({"protocol": "nmea"}, "protocol"),
        ({"protocol": "gt06", "identifier": IMEI, "network": "10.0.0.300/8"}, "network"),
    ],
)
def test_bad_identities_are_refused_naming_the_field(app_client, body, field) -> None:
    r = app_client.put("/v1/devices/AM-1", {"kind": "ankle_monitor", **body})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field]
    assert app_client.count(t.devices) == 0


def test_a_network_is_kept_in_its_normal_form(app_client) -> None:
    body = {
        "kind": "ankle_monitor",
        "protocol": "watch",
        "identifier": "6907919734",
        "network": "10.64.1.7/16",
    }
    assert app_client.put("/v1/devices/W-7", body).status_code == 201
    with app_client.db.connect() as conn:
        assert conn.execute(select(t.devices.c.network)).scalar() == "10.64.0.0/16"
