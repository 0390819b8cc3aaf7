"""The generated caseload: real places, the intended mixes, and registry bodies the API accepts."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sim_kit import caseload

from vigil.api import registry as api
from vigil.domain import geo
from vigil.domain.model import DeviceKind, Polygon
from vigil_sim.caseload import atlas, make_caseload


def test_same_seed_same_caseload_and_another_seed_differs() -> None:
    assert make_caseload(40, 3) == make_caseload(40, 3)
    assert make_caseload(40, 3).subjects != make_caseload(40, 4).subjects


def test_homes_lie_inside_their_municipality() -> None:
    load = caseload(300, 1)
    places = atlas()
    for person in load.people.values():
        if not person.municipality:
            continue  # a victim placed over water off a coast has none; subjects always have one
        m = places.by_code[person.municipality]
        home = person.home
        assert m.contains(home.lat, home.lon), person.id
        # Cross-check with the domain's own geometry: some ring of the MultiPolygon holds the point.
        assert any(
            geo.contains(Polygon(tuple(zip(xs, ys, strict=True))), home.lat, home.lon) for xs, ys in m.rings
        ), person.id
    assert all(s.person.municipality for s in load.subjects)


def test_subjects_favour_the_metropolitan_area() -> None:
    regions = Counter(s.person.municipality[:2] for s in caseload(300, 1).subjects)
    capital = regions["11"] + regions["23"] + regions["31"]  # Seoul, Incheon, Gyeonggi
    assert 0.35 < capital / 300 < 0.75


def test_the_mixes_come_out_near_their_settings() -> None:
    load = caseload(1000, 2)
    per_subject = Counter(len(load.orders_by_subject[s.id]) for s in load.subjects)
    assert set(per_subject) == {1, 2}
    assert 0.06 < per_subject[2] / 1000 < 0.14
    shared = sum(1 for p in load.protected_persons if len(load.orders_by_person[p.id]) == 2)
    assert 0.03 < shared / len(load.protected_persons) < 0.08
    assert 0.6 < sum(1 for s in load.subjects if s.curfew is not None) / 1000 < 0.8
    assert len({s.legal_basis for s in load.subjects}) == 4
    kinds = Counter(p.device.kind for p in load.protected_persons)
    assert kinds[DeviceKind.SMARTWATCH] > 0 and kinds[DeviceKind.PHONE] > 0
    distances = Counter(o.violation_distance_m for o in load.orders)
    assert distances.most_common(1)[0][0] == 100.0 and set(distances) == {100.0, 200.0, 500.0}
    assert all(o.warning_distance_m >= 2 * o.violation_distance_m for o in load.orders)
    assert all(150 <= z.radius_m <= 300 for o in load.orders for z in o.zones)


def test_some_victims_live_close_to_their_offender() -> None:
    load = caseload(1000, 2)
    first = [o for o in load.orders if load.orders_by_person[o.protected_person_id][0] is o]
    near = 0
    for o in first:
        s, v = load.people[o.subject_id].home, load.people[o.protected_person_id].home
        if geo.distance_m(s.lat, s.lon, v.lat, v.lon) <= 3_050:
            near += 1
    assert 0.10 < near / len(first) < 0.20


def test_ids_follow_the_agreed_forms() -> None:
    load = caseload(300, 1)
    assert load.subjects[0].id == "S-000001"
    assert load.subjects[0].person.device.id == "AM-000001"
    for p in load.protected_persons:
        assert re.fullmatch(r"[WP]-\d{6}", p.device.id)
        assert (p.device.kind is DeviceKind.PHONE) == p.device.id.startswith("P-")
        assert (p.device.protocol == "osmand") == (p.device.kind is DeviceKind.PHONE)


def test_registry_bodies_are_accepted_by_the_api_models_in_dependency_order() -> None:
    load = caseload(50, 1)
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for method, path, body in load.registry_bodies():
        assert method == "PUT"
        parts = path.split("/")
        assert parts[:2] == ["", "v1"]
        if parts[2] == "subjects" and len(parts) == 4:
            api.SubjectIn.model_validate(body)
            kind = "subject"
        elif parts[2] == "protected-persons":
            api.ProtectedPersonIn.model_validate(body)
            kind = "person"
        elif parts[2] == "devices":
            device = api.DeviceIn.model_validate(body)
            assert device.person_id in seen
            kind = "device"
        elif parts[2] == "orders":
            order = api.OrderIn.model_validate(body)
            assert {order.subject_id, order.protected_person_id} <= seen
            assert order.zones and order.zones[0].circle is not None
            kind = "order"
        else:
            assert parts[2] == "subjects" and parts[4] == "zones"
            zone = api.ZoneIn.model_validate(body)
            assert parts[3] in seen and zone.kind.value == "inclusion" and zone.schedule
            kind = "zone"
        seen.add(parts[3])
        counts[kind] += 1
    assert counts["subject"] == 50
    devices = sum(len(p.devices) for p in load.people.values())
    assert counts["device"] == devices > 50 + counts["person"]  # some subjects carry a phone too
    assert counts["order"] == len(load.orders)
    assert counts["zone"] == sum(1 for s in load.subjects if s.curfew is not None)


def test_caseload_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 1 and 100,000"):
        make_caseload(0, 1)
