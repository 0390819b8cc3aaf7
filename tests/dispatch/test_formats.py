"""Rendering a push: CloudEvent envelope, data.alert, CAP 1.2 and EIDO, checked against the pinned schemas."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.schemas import STANDARDS, validate_cap, validate_cloudevent, validate_eido
from vigil.dispatch.dossier import Agency, Dossier, OrderInfo, Party, PushType, Reference, Task
from vigil.dispatch.formats import FORMATS, cloudevent, render
from vigil.domain.alerts import Alert, AlertKey, AlertKind, AlertState, Confidence, Facts, Position
from vigil.domain.model import ClockDoubt, ClockSuspect
from vigil.jurisdiction import Area

C = "{urn:oasis:names:tc:emergency:cap:1.2}"
AT = datetime(2026, 3, 14, 7, 12, 5, 123456, tzinfo=UTC)
JONGNO = Area("11110", "종로구", "Jongno-gu")
SEA = Area("28710", "옹진군", "Ongjin-gun", outside=True, distance_m=1234.56)
SUBJECT_POS = Position(37.57, 126.98, 12.0, AT - timedelta(seconds=20), 20.0, 1.43, 44.6, "gnss")
VICTIM_POS = Position(37.5705, 126.9808, None, AT - timedelta(seconds=5), 5.0, source="cell")


def dossier(**changes: object) -> Dossier:
    facts = Facts(
        subject_position=SUBJECT_POS,
        protected_position=VICTIM_POS,
        distance_m=85.26,
        confidence=Confidence.LIKELY,
        bearing_deg=44.4,
        compass="NE",
        subject_speed_mps=1.43,
        closing_speed_mps=1.21,
        time_to_contact_s=70.6,
        stale=("protected_person",),
    )
    alert = Alert(
        id="al-1",
        key=AlertKey("proximity", "s1", "p1"),
        kind=AlertKind.PROXIMITY_VIOLATION,
        state=AlertState.DISPATCHED,
        active=True,
        opened_at=AT - timedelta(minutes=3),
        updated_at=AT,
        facts=facts,
        subject_id="s1",
        protected_person_id="p1",
        order_id="o1",
    )
    base = Dossier(
        event_id="ev-2",
        push_type=PushType.ESCALATED,
        sequence=2,
        alert=alert,
        at=AT,
        note="",
        subject=Party("s1", "subject", "김철수", "", "2026-형-123", SUBJECT_POS, JONGNO),
        protected=Party("p1", "protected_person", "이영희", "010-1234-5678", "", VICTIM_POS, JONGNO),
        order=OrderInfo(
            "o1",
            "2026초기123",
            "스토킹처벌법 제9조",
            "서울중앙지방법원",
            100.0,
            500.0,
            AT + timedelta(days=90),
        ),
        plan=(
            Task(
                Agency.POLICE,
                "Go to the protected person",
                VICTIM_POS,
                "live_position",
                JONGNO,
                ("police-seoul",),
            ),
            Task(
                Agency.PROBATION,
                "Locate the subject",
                SUBJECT_POS,
                "live_position",
                JONGNO,
                ("probation-seoul",),
            ),
        ),
        live_track_url="https://vigil.example.kr/track/abc",
        references=(Reference("ev-1", AT - timedelta(minutes=3)),),
        sender="vigil@control.example.kr",
        source="/vigil/control-centre",
        timezone="Asia/Seoul",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _all_valid(d: Dossier) -> dict[str, Any]:
    event = cloudevent(d, FORMATS)
    validate_cloudevent(event)
    data = event["data"]
    validate_cap(data["cap"])
    validate_eido(data["eido"])
    assert json.loads(render(d, FORMATS)) == event
    return event


def test_envelope_carries_the_cloudevent_context() -> None:
    event = cloudevent(dossier(escalation_level=2, escalation_reason="no acknowledgement in 60 s"))
    validate_cloudevent(event)
    assert event["specversion"] == "1.0"
    assert event["id"] == "ev-2"
    assert event["type"] == "org.vigil.alert.escalated"
    assert event["subject"] == "al-1"
    assert event["time"] == "2026-03-14T07:12:05Z"
    assert event["sequence"] == "0000000002"
    assert event["severity"] == "critical"
    assert event["escalation"] == 2
    assert set(event["data"]) == {"alert"}
    assert "escalation" not in cloudevent(dossier())


def test_formats_are_included_only_when_asked_for() -> None:
    assert set(cloudevent(dossier(), frozenset({"cap"}))["data"]) == {"alert", "cap"}
    assert set(cloudevent(dossier(), frozenset({"eido"}))["data"]) == {"alert", "eido"}
    with pytest.raises(ValueError, match="unknown push formats"):
        cloudevent(dossier(), frozenset({"nims"}))


def test_render_is_compact_utf8_and_deterministic() -> None:
    body = render(dossier(), FORMATS)
    assert body == render(dossier(), FORMATS)
    assert "김철수".encode() in body  # not \\u-escaped
    assert b'": ' not in body and b'", "' not in body


def test_alert_view_uses_local_times_and_rounds() -> None:
    view = cloudevent(dossier())["data"]["alert"]
    assert view["updated_at"] == "2026-03-14T16:12:05+09:00"
    assert view["distance_m"] == 85.3 and view["time_to_contact_s"] == 71 and view["bearing_deg"] == 44
    assert view["subject"]["position"] == {
        "lat": 37.57,
        "lon": 126.98,
        "accuracy_m": 12.0,
        "time": "2026-03-14T16:11:45+09:00",
        "age_s": 20,
        "speed_mps": 1.4,
        "heading_deg": 45,
        "source": "gnss",
    }
    assert view["protected_person"]["phone"] == "010-1234-5678"
    assert view["jurisdiction"] == [
        {
            "code": "11110",
            "name": "종로구",
            "name_en": "Jongno-gu",
            "outside": False,
            "parties": ["subject", "protected_person"],
        }
    ]
    assert view["order"]["valid_until"] == "2026-06-12T16:12:05+09:00"
    assert [t["agency"] for t in view["response_plan"]] == ["police", "probation"]
    assert view["note"] is None and view["escalation"] is None


def test_alert_view_falls_back_to_alert_ids_and_facts_without_parties() -> None:
    view = cloudevent(dossier(subject=None, protected=None, order=None))["data"]["alert"]
    assert view["subject"]["id"] == "s1" and view["subject"]["name"] is None
    assert view["subject"]["position"]["lat"] == 37.57
    assert view["jurisdiction"] == []
    assert view["order"]["id"] == "o1" and view["order"]["reference"] is None


def test_cap_alert_shape() -> None:
    xml = cloudevent(dossier(), frozenset({"cap"}))["data"]["cap"]
    validate_cap(xml)
    root = ET.fromstring(xml)
    assert root.findtext(C + "sent") == "2026-03-14T16:12:05+09:00"
    assert root.findtext(C + "msgType") == "Update"
    assert root.findtext(C + "references") == "vigil@control.example.kr,ev-1,2026-03-14T16:09:05+09:00"
    infos = root.findall(C + "info")
    assert [i.findtext(C + "language") for i in infos] == ["ko-KR", "en-US"]
    en = infos[1]
    assert en.findtext(C + "urgency") == "Immediate" and en.findtext(C + "severity") == "Extreme"
    assert en.findtext(C + "certainty") == "Observed"
    assert "85 m" in (en.findtext(C + "headline") or "")
    circles = [a.findtext(C + "circle") for a in en.findall(C + "area")]
    assert circles == ["37.570000,126.980000 0.050", "37.570500,126.980800 0.050"]
    params = {p.findtext(C + "valueName"): p.findtext(C + "value") for p in en.findall(C + "parameter")}
    assert params["orderReference"] == "2026초기123" and params["timeToContactS"] == "71"


@pytest.mark.parametrize(
    ("push", "state", "msg_type", "response", "urgency"),
    [
        (PushType.OPENED, AlertState.OPEN, "Alert", "Execute", "Immediate"),
        (PushType.UPDATED, AlertState.ACKNOWLEDGED, "Update", "Execute", "Immediate"),
        (PushType.CLEARED, AlertState.ON_SCENE, "Update", "AllClear", "Past"),
        (PushType.CLOSED, AlertState.RESOLVED, "Update", "AllClear", "Past"),
        (PushType.CLOSED, AlertState.FALSE_ALARM, "Cancel", "AllClear", "Past"),
    ],
)
def test_cap_message_type_follows_the_change(
    push: PushType, state: AlertState, msg_type: str, response: str, urgency: str
) -> None:
    d = dossier(
        push_type=push, alert=replace(dossier().alert, state=state, active=push is not PushType.CLEARED)
    )
    root = ET.fromstring(_all_valid(d)["data"]["cap"])
    assert root.findtext(C + "msgType") == msg_type
    info = root.find(C + "info")
    assert info is not None
    assert info.findtext(C + "responseType") == response
    assert info.findtext(C + "urgency") == urgency


def test_cap_update_without_references_is_refused() -> None:
    with pytest.raises(ValueError, match="needs references"):
        cloudevent(dossier(references=()), frozenset({"cap"}))


def test_cap_identifier_with_a_space_is_refused() -> None:
    with pytest.raises(ValueError, match="identifier"):
        cloudevent(dossier(event_id="ev 2"), frozenset({"cap"}))


def test_cap_without_positions_has_an_unknown_area() -> None:
    alert = dossier().alert
    bare = replace(alert, kind=AlertKind.BATTERY_LOW, facts=Facts(device_id="dev-9"))
    subject = Party("s1", "subject", "김철수")
    d = dossier(alert=bare, subject=subject, protected=None, plan=())
    root = ET.fromstring(_all_valid(d)["data"]["cap"])
    areas = root.findall(f"{C}info/{C}area")
    assert [a.findtext(C + "areaDesc") for a in areas] == ["위치 불명", "unknown position"]


def test_validate_cap_catches_prose_rules() -> None:
    xml = cloudevent(dossier(), frozenset({"cap"}))["data"]["cap"]
    with pytest.raises(AssertionError, match="references"):
        validate_cap(
            xml.replace(
                "<references>vigil@control.example.kr,ev-1,2026-03-14T16:09:05+09:00</references>", ""
            )
        )
    with pytest.raises(AssertionError, match="circle"):
        validate_cap(xml.replace("37.570000,126.980000 0.050", "37.57 126.98 0.05"))
    with pytest.raises(AssertionError, match="XSD"):
        validate_cap(xml.replace("+09:00</sent>", "Z</sent>"))


def test_eido_shape() -> None:
    eido = cloudevent(dossier(), frozenset({"eido"}))["data"]["eido"]
    validate_eido(eido)
    assert eido["$id"] == "urn:emergency:uid:incidentid:al-1:control.example.kr"
    incident = eido["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "STKX"
    assert incident["incidentStatusCommonRegistryText"] == ["Active", "ResourcesAssigned"]
    roles = {p["personIncidentRoleRegistryText"][0]: p for p in eido["personComponent"]}
    assert set(roles) == {"Suspect", "Victim"}
    assert roles["Suspect"]["ncPersonComponent"]["name"][0]["personFullName"][0]["value"] == "김철수"
    assert eido["callbackComponent"][0]["callBackInformationUri"] == ["tel:01012345678;phone-context=+82"]
    by_url = [loc for loc in eido["locationComponent"] if "locationByReferenceUrl" in loc]
    assert by_url[0]["locationByReferenceUrl"] == "https://vigil.example.kr/track/abc"
    assert {a["$id"] for a in eido["agencyComponent"]} == {
        "control.example.kr",
        "police-seoul",
        "probation-seoul",
    }


def test_eido_zone_violation_is_an_order_violation() -> None:
    alert = replace(dossier().alert, kind=AlertKind.ZONE_VIOLATION, state=AlertState.FALSE_ALARM)
    eido = _all_valid(dossier(alert=alert, push_type=PushType.CLOSED))["data"]["eido"]
    assert eido["incidentComponent"]["incidentTypeCommonRegistryText"] == "ORDERV"
    assert eido["incidentComponent"]["incidentStatusCommonRegistryText"] == ["Cancelled"]


def test_validate_eido_catches_schema_and_reference_errors() -> None:
    eido = cloudevent(dossier(), frozenset({"eido"}))["data"]["eido"]
    with pytest.raises(AssertionError, match="eidoVersion"):
        validate_eido({**eido, "eidoVersion": "2.0"})
    with pytest.raises(AssertionError, match="name no component"):
        validate_eido({**eido, "updatedByAgencyReference": {"$ref": "nowhere"}})


def test_the_pinned_sample_eido_validates() -> None:
    sample = json.loads((STANDARDS / "eido" / "sample-call-transfer.json").read_text(encoding="utf-8"))
    validate_eido(sample)


# -- properties ------------------------------------------------------------------------------------

names = st.one_of(
    st.just(""), st.sampled_from(["김철수", "이영희", "박 지민", "O'Brien & <Sons>"]), st.text(max_size=30)
)
finite = st.floats(allow_nan=False, allow_infinity=False)
maybe = st.one_of(st.none(), st.floats(min_value=0, max_value=1e5), st.just(float("inf")))
areas = st.one_of(
    st.none(),
    st.builds(
        Area,
        code=st.from_regex(r"[0-9]{5}", fullmatch=True),
        name=st.sampled_from(["종로구", "옹진군", "제주시"]),
        name_en=st.sampled_from(["Jongno-gu", "Ongjin-gun", "Jeju-si"]),
        outside=st.booleans(),
        distance_m=st.floats(min_value=0, max_value=50_000),
    ),
)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
# what a device may claim, as kept (rules/device_clock.KEPT_FROM .. KEPT_UNTIL)
claims = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC))


@st.composite
def positions(draw: st.DrawFn) -> Position:
    return Position(
        lat=draw(st.floats(min_value=-90, max_value=90)),
        lon=draw(st.floats(min_value=-180, max_value=180)),
        accuracy_m=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=20_000))),
        time=draw(times),
        age_s=draw(st.floats(min_value=0, max_value=1e6)),
        speed_mps=draw(maybe),
        heading_deg=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=360))),
        source=draw(st.sampled_from(["gnss", "wifi", "cell", "ble"])),
    )


maybe_positions = st.one_of(st.none(), positions())


@st.composite
def parties(draw: st.DrawFn, role: str, pid: str) -> Party | None:
    if draw(st.booleans()):
        return None
    phone = draw(st.sampled_from(["", "010-1234-5678", "+82 10 9876 5432"]))
    return Party(pid, role, draw(names), phone, draw(names), draw(maybe_positions), draw(areas))


@st.composite
def dossiers(draw: st.DrawFn) -> Dossier:
    kind = draw(st.sampled_from(list(AlertKind)))
    push = draw(st.sampled_from(list(PushType)))
    state = draw(st.sampled_from(list(AlertState)))
    if push is PushType.CLOSED:
        state = draw(st.sampled_from([AlertState.RESOLVED, AlertState.FALSE_ALARM]))
    at = draw(times)
    facts = Facts(
        subject_position=draw(maybe_positions),
        protected_position=draw(maybe_positions),
        distance_m=draw(maybe),
        confidence=draw(st.one_of(st.none(), st.sampled_from(list(Confidence)))),
        bearing_deg=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=359.9))),
        compass=draw(st.one_of(st.none(), st.sampled_from(["N", "NNE", "SW"]))),
        subject_speed_mps=draw(maybe),
        closing_speed_mps=draw(st.one_of(maybe, st.floats(min_value=-50, max_value=0))),
        time_to_contact_s=draw(maybe),
        stale=tuple(draw(st.lists(st.sampled_from(["subject", "protected_person"]), unique=True))),
        zone_label=draw(st.one_of(st.none(), names)),
        device_id=draw(st.one_of(st.none(), st.just("dev-1"))),
        event=draw(st.one_of(st.none(), st.sampled_from(["strap_cut", "case_open", "sos"]))),
        occurred_at=draw(st.one_of(st.none(), times)),
        clock_suspect=draw(
            st.one_of(st.none(), st.builds(ClockSuspect, st.sampled_from(ClockDoubt), claims, times))
        ),
    )
    alert = Alert(
        id=draw(st.from_regex(r"al-[0-9a-f]{8}", fullmatch=True)),
        key=AlertKey("family", "s1", "p1"),
        kind=kind,
        state=state,
        active=draw(st.booleans()),
        opened_at=at - timedelta(minutes=5),
        updated_at=at,
        facts=facts,
        subject_id=draw(st.one_of(st.none(), st.just("s1"))),
        protected_person_id=draw(st.one_of(st.none(), st.just("p1"))),
        zone_id=draw(st.one_of(st.none(), st.just("z1"))),
        order_id=draw(st.one_of(st.none(), st.just("o1"))),
        late=draw(st.booleans()),
    )
    order = draw(
        st.one_of(
            st.none(),
            st.builds(
                OrderInfo,
                id=st.just("o1"),
                reference=names,
                legal_basis=names,
                issuing_agency=names,
                violation_distance_m=st.floats(min_value=1, max_value=2000),
                warning_distance_m=st.floats(min_value=1, max_value=5000),
                valid_until=st.one_of(st.none(), times),
            ),
        )
    )
    tasks = st.builds(
        Task,
        agency=st.sampled_from(list(Agency)),
        goal=names,
        position=maybe_positions,
        basis=st.sampled_from(["live_position", "home_zone", "last_known_position", "unknown"]),
        area=areas,
        targets=st.lists(st.sampled_from(["police-seoul", "probation-seoul", "any-1"]), unique=True).map(
            tuple
        ),
    )
    needs_refs = push is not PushType.OPENED
    refs = draw(
        st.lists(
            st.builds(Reference, identifier=st.from_regex(r"ev-[0-9]{1,6}", fullmatch=True), sent=times),
            min_size=1 if needs_refs else 0,
            max_size=3,
        )
    )
    return Dossier(
        event_id=draw(st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}", fullmatch=True)),
        push_type=push,
        sequence=draw(st.integers(min_value=1, max_value=10_000)),
        alert=alert,
        at=at,
        note=draw(names),
        subject=draw(parties("subject", "s1")),
        protected=draw(parties("protected_person", "p1")),
        order=order,
        plan=tuple(draw(st.lists(tasks, max_size=3))),
        live_track_url=draw(st.one_of(st.none(), st.just("https://vigil.example.kr/track/x?t=1&u=2"))),
        references=tuple(refs),
        sender="vigil@control.example.kr",
        source="/vigil/control-centre",
        timezone=draw(st.sampled_from(["Asia/Seoul", "UTC", "America/St_Johns"])),
        escalation_level=draw(st.integers(min_value=0, max_value=5)),
        escalation_reason=draw(names),
    )


@pytest.mark.slow  # 150 generated dossiers, each checked against the schemas
@settings(max_examples=150, deadline=None)
@given(dossiers())
def test_every_dossier_renders_valid_formats(d: Dossier) -> None:
    event = _all_valid(d)
    assert render(d, FORMATS) == render(d, FORMATS)
    assert event["type"] == f"org.vigil.alert.{d.push_type.value}"


# --- incidents: one stream of pushes per danger ----------------------------------------------------------


def _incident(**changes: object) -> Dossier:
    """A tamper pushed in the incident of an earlier violation (two pushes about it before)."""
    chain = (Reference("ev-1", AT - timedelta(minutes=3)), Reference("ev-2", AT - timedelta(minutes=1)))
    tamper = replace(
        dossier().alert,
        id="al-2",
        key=AlertKey("tamper", "s1", "AM-1"),
        kind=AlertKind.TAMPER,
        state=AlertState.OPEN,
        incident_id="inc-7",
    )
    base = dossier(
        event_id="ev-3",
        push_type=PushType.OPENED,
        sequence=1,
        alert=tamper,
        references=(),
        incident_id="inc-7",
        incident_number="1206-07",
        incident_references=chain,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_cap_of_a_new_alert_in_an_incident_references_the_incidents_earlier_messages() -> None:
    event = _all_valid(_incident())  # the XSD and CAP's prose rules
    root = ET.fromstring(event["data"]["cap"])
    assert root.findtext(C + "msgType") == "Alert"
    assert root.findtext(C + "references") == (
        "vigil@control.example.kr,ev-1,2026-03-14T16:09:05+09:00 "
        "vigil@control.example.kr,ev-2,2026-03-14T16:11:05+09:00"
    )
    assert root.findtext(C + "incidents") == "1206-07"
    # CloudEvents and EIDO carry the incident too; data.alert names it
    assert (event["incident"], event["incidentnumber"]) == ("inc-7", "1206-07")
    assert event["data"]["eido"]["incidentComponent"]["internalIncidentId"] == "1206-07"
    assert event["data"]["alert"]["incident"] == {"id": "inc-7", "number": "1206-07"}


def test_cap_cancel_of_one_alert_references_only_its_own_messages_not_the_whole_incident() -> None:
    own = (Reference("ev-3", AT - timedelta(seconds=30)),)
    closed = replace(_incident().alert, state=AlertState.FALSE_ALARM)
    d = _incident(push_type=PushType.CLOSED, alert=closed, references=own, sequence=2, event_id="ev-4")
    root = ET.fromstring(_all_valid(d)["data"]["cap"])
    assert root.findtext(C + "msgType") == "Cancel"
    assert root.findtext(C + "references") == "vigil@control.example.kr,ev-3,2026-03-14T16:11:35+09:00"


def test_without_an_incident_the_formats_are_as_before() -> None:
    event = _all_valid(dossier())
    assert "incident" not in event and event["data"]["alert"]["incident"] is None
    assert ET.fromstring(event["data"]["cap"]).findtext(C + "incidents") == "al-1"
