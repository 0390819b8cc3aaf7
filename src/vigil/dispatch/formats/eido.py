"""EIDO (NENA-STA-021.1b Emergency Incident Data Object) as JSON: the push for a CAD system.

The EIDO's `$id` is the incident tracking id of the alert (`urn:emergency:uid:incidentid:<alert>:<domain>`),
so every push about one alert is a newer version of the same EIDO, ordered by `lastUpdateTimeStamp`.
Components are named `<incident id>:<kind>:<name>`. Registry values come from the standard's tables:
APCO incident types (STKX, ORDERV), incident status, person role (Suspect, Victim), location type and
agency role. Positions travel as PIDF-LO circles (RFC 5491), and the live track as a by-reference URL.
"""

from __future__ import annotations

import html
from datetime import UTC, tzinfo
from typing import Any
from xml.sax.saxutils import quoteattr

from vigil.dispatch.dossier import Agency, Dossier, Party, Task
from vigil.dispatch.formats.alert import PROTECTED, SUBJECT, local, parties, zone
from vigil.dispatch.formats.cap import EN, description, event_name, headline
from vigil.domain.alerts import AlertKind, AlertState, Position

INCIDENT_TYPE: dict[AlertKind, str] = {
    AlertKind.PROXIMITY_WARNING: "STKX",  # stalking, suspect on scene
    AlertKind.PROXIMITY_VIOLATION: "STKX",
    AlertKind.SOS: "STKX",
    AlertKind.ZONE_VIOLATION: "ORDERV",  # order violation
    AlertKind.TAMPER: "ORDERV",
    AlertKind.POWER_OFF: "ORDERV",
    AlertKind.SIGNAL_LOSS: "ORDERV",
    AlertKind.BATTERY_LOW: "ORDERV",
    # The centre's own alarm still concerns a supervised person's order.
    AlertKind.DISPATCH_FAILURE: "ORDERV",
    AlertKind.POSITION_DOUBT: "ORDERV",
    AlertKind.CASE_MATCH: "STKX",  # a stalking case against a supervised man
}
STATUS: dict[AlertState, list[str]] = {
    AlertState.OPEN: ["Active"],
    AlertState.ACKNOWLEDGED: ["Active"],
    AlertState.DISPATCHED: ["Active", "ResourcesAssigned"],
    AlertState.ON_SCENE: ["Active", "ResourcesOnscene"],
    AlertState.RESOLVED: ["Closed"],
    AlertState.FALSE_ALARM: ["Cancelled"],
}
PERSON_ROLE = {SUBJECT: "Suspect", PROTECTED: "Victim"}
# IANA urn:emergency:service:responder has police; probation and monitoring centres are local values.
AGENCY_TYPE: dict[Agency, list[str]] = {
    Agency.POLICE: ["police"],
    Agency.PROBATION: ["probation"],
    Agency.ANY: ["police", "probation"],
}
CENTRE_TYPE = ["electronic_monitoring"]
METHOD = {"gnss": "GPS", "wifi": "802.11", "cell": "Cell"}  # IANA method tokens (RFC 4119)
CONFIDENCE_PCT = 68  # device accuracy is a one-sigma radius (RFC 7459 confidence)
TRACKING_PREFIX = "urn:emergency:uid:incidentid:"


def domain_of(sender: str) -> str:
    return sender.rpartition("@")[2] or sender


def pidf(entity: str, p: Position) -> str:
    """A PIDF-LO document with one device located by a circle (or a point when accuracy is unknown)."""
    pos = f"<gml:pos>{p.lat:.6f} {p.lon:.6f}</gml:pos>"
    if p.accuracy_m is not None and p.accuracy_m > 0:
        shape = (
            '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">'
            f'{pos}<gs:radius uom="urn:ogc:def:uom:EPSG::9001">{p.accuracy_m:.1f}</gs:radius></gs:Circle>'
            f'<con:confidence pdf="normal">{CONFIDENCE_PCT}</con:confidence>'
        )
    else:
        shape = f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326">{pos}</gml:Point>'
    method = METHOD.get(p.source)
    when = p.time.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"'
        ' xmlns:gbp="urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy"'
        ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:gml="http://www.opengis.net/gml"'
        ' xmlns:gs="http://www.opengis.net/pidflo/1.0" xmlns:con="urn:ietf:params:xml:ns:geopriv:conf"'
        f" entity={quoteattr(entity)}>"
        '<dm:device id="d1"><gp:geopriv>'
        f"<gp:location-info>{shape}</gp:location-info>"
        "<gp:usage-rules><gbp:retransmission-allowed>false</gbp:retransmission-allowed></gp:usage-rules>"
        f"{f'<gp:method>{method}</gp:method>' if method else ''}"
        f"</gp:geopriv><dm:timestamp>{when}</dm:timestamp></dm:device></presence>"
    )


class _Builder:
    """Collects components with shared prologue fields, so ids and references stay consistent."""

    def __init__(self, d: Dossier) -> None:
        self.d = d
        self.tz = zone(d.timezone)
        self.domain = domain_of(d.sender)
        self.base = f"{TRACKING_PREFIX}{d.alert.id}:{self.domain}"
        self.centre = self.domain
        self.stamp = local(d.at, self.tz)
        self.components: dict[str, list[dict[str, Any]]] = {}

    def id(self, *parts: str) -> str:
        return ":".join((self.base, *parts))

    def add(self, kind: str, cid: str, body: dict[str, Any], stamp: str | None = None) -> dict[str, Any]:
        component = {
            "$id": cid,
            "lastUpdateTimeStamp": stamp or self.stamp,
            "updatedByAgencyReference": {"$ref": self.centre},
            **body,
        }
        self.components.setdefault(kind, []).append(component)
        return component

    def note(self, name: str, words: str) -> dict[str, str]:
        cid = self.id("note", name)
        # notesActionComments is HTML5: escape the text and keep line breaks visible.
        self.add("notesComponent", cid, {"notesActionComments": html.escape(words).replace("\n", "<br>")})
        return {"$ref": cid}

    def location(self, name: str, p: Position, kind: str, words: str) -> dict[str, str]:
        cid = self.id("location", name)
        body = {
            "locationTypeDescriptionRegistryText": kind,
            "locationByValue": pidf(f"pres:{name}@{self.domain}", p),
            "locationDescriptionText": words,
        }
        self.add("locationComponent", cid, body, local(p.time, self.tz))
        return {"$ref": cid}


def _person(b: _Builder, role: str, party: Party | None, pid: str, locations: list[dict[str, str]]) -> str:
    ids = [{"identificationId": [{"value": pid}], "category": [{"value": "vigil person id"}]}]
    person: dict[str, Any] = {}
    if party is not None and party.name:
        person["name"] = [{"personFullName": [{"value": party.name}]}]
    if party is not None and party.case_reference:
        ids.append(
            {"identificationId": [{"value": party.case_reference}], "category": [{"value": "case reference"}]}
        )
    person["otherIdentification"] = ids
    body: dict[str, Any] = {
        "ncPersonComponent": person,
        "personIncidentRoleRegistryText": [PERSON_ROLE[role]],
    }
    if locations:
        body["locationReference"] = locations
    if party is not None and party.phone:
        callback = b.id("callback", role)
        b.add("callbackComponent", callback, {"callBackInformationUri": [tel_uri(party.phone)]})
        body["callBackReference"] = {"$ref": callback}
    cid = b.id("person", role)
    b.add("personComponent", cid, body)
    return cid


def tel_uri(phone: str) -> str:
    """RFC 3966: a global number as is; a local one (a Korean deployment) with its phone context."""
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if digits.startswith("+"):
        return f"tel:{digits}"
    return f"tel:{digits};phone-context=+82"


def _agencies(b: _Builder, tasks: tuple[Task, ...]) -> None:
    merged: dict[str, tuple[list[str], list[dict[str, str]]]] = {}
    for i, t in enumerate(tasks):
        note = b.note(f"task{i + 1}", _task_words(t, b.tz))
        for target in t.targets or (b.id("agency", t.agency.value),):
            types, notes = merged.setdefault(target, ([], []))
            types.extend(x for x in AGENCY_TYPE[t.agency] if x not in types)
            notes.append(note)
    for target, (types, notes) in merged.items():
        body = {
            "agencyRoleDescriptionRegistryText": ["Dispatching"],
            "agencyType": types,
            "notesReference": notes,
        }
        b.add("agencyComponent", target, body)


def _task_words(t: Task, tz: tzinfo) -> str:
    where = f" in {t.area.name_en} ({t.area.name})" if t.area is not None else ""
    at = f" at {t.position.lat:.6f},{t.position.lon:.6f}" if t.position is not None else ""
    return f"{t.agency.value}: {t.goal} [{t.basis}{where}{at}]"


def render(d: Dossier) -> dict[str, Any]:
    b = _Builder(d)
    a = d.alert
    incident_party = PROTECTED if a.kind is AlertKind.SOS else SUBJECT
    incident_locations: list[dict[str, str]] = []
    people: list[dict[str, str]] = []
    b.add(
        "agencyComponent",
        b.centre,
        {"agencyRoleDescriptionRegistryText": ["CallReceiving"], "agencyType": CENTRE_TYPE},
    )
    b.components["agencyComponent"][0]["incidentOwningAgencyIndicator"] = True
    for role, party, pid, pos in parties(d):
        kind = "CurrentIncident" if role == incident_party else "Other"
        mine: list[dict[str, str]] = []
        if pos is not None:
            age = round(pos.age_s)
            words = f"{role} position, {pos.source}, {age} s old at the push"
            mine.append(b.location(role, pos, kind, words))
        if role == SUBJECT and d.live_track_url:
            cid = b.id("location", "subject-track")
            body = {
                "locationTypeDescriptionRegistryText": kind,
                "locationByReferenceUrl": d.live_track_url,
                "locationDescriptionText": "subject live track (moving device)",
            }
            b.add("locationComponent", cid, body)
            mine.append({"$ref": cid})
        if kind == "CurrentIncident":
            incident_locations.extend(mine)
        people.append({"$ref": _person(b, role, party, pid, mine)})
    for i, t in enumerate(d.plan):
        # A leg sent to where a party is needs no location of its own. Compared by value, not by
        # identity: a dossier read back from its stored draft must render to the same bytes.
        if t.position is not None and all(t.position != p for _, _, _, p in parties(d)):
            incident_locations.append(b.location(f"task{i + 1}", t.position, "Other", _task_words(t, b.tz)))
    _agencies(b, d.plan)
    notes = [b.note("headline", headline(d, EN) + "\n" + description(d, b.tz, EN))]
    if d.note:
        notes.append(b.note("change", d.note))
    status_internal = [a.state.value] + ([] if a.active else ["condition_ended"])
    incident: dict[str, Any] = {
        "$id": b.id("incident"),
        "lastUpdateTimeStamp": b.stamp,
        "updatedByAgencyReference": {"$ref": b.centre},
        "incidentTypeInternalCode": a.kind.value,
        "incidentTypeInternalText": event_name(a.kind, EN),
        "incidentTypeCommonRegistryText": INCIDENT_TYPE.get(a.kind, "ORDERV"),
        "incidentStatusInternalText": status_internal,
        "incidentStatusCommonRegistryText": STATUS[a.state],
        # the control centre's own incident: its radio number (the alert's id before incidents)
        "internalIncidentId": d.incident_number or d.incident_id or a.id,
        "incidentPriorityInternalText": a.severity.value,
        "notesReference": notes,
    }
    if incident_locations:
        incident["locationReference"] = incident_locations
    if people:
        incident["personReference"] = people
    if d.order is not None:
        incident["documentIdentification"] = [d.order.reference]
    return {
        "$id": b.base,
        "lastUpdateTimeStamp": b.stamp,
        "updatedByAgencyReference": {"$ref": b.centre},
        "eidoVersion": "1.0",
        "issuingElementIdentification": d.sender.replace("@", "."),
        "incidentComponent": incident,
        **b.components,
        "@context": {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"},
    }
