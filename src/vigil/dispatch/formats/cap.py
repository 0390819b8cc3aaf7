"""CAP 1.2 (OASIS Common Alerting Protocol): the push as an XML alert, Korean and English.

Element order follows the XSD's sequences. Rules the XSD does not check are kept here: `sent` with a
numeric offset and no fraction, `restriction` for the Restricted scope, `references` on Update and
Cancel, circles as `lat,lon radius_km`, no spaces, commas, `<` or `&` in identifier and sender.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import tzinfo

from vigil.dispatch.dossier import Agency, Dossier, PushType, Reference
from vigil.dispatch.formats.alert import PROTECTED, SUBJECT, local, parties, tenth, whole, zone
from vigil.domain.alerts import Alert, AlertKind, AlertState, Confidence, Position, Severity

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MIN_RADIUS_M = 50.0  # a circle tighter than this would overstate what a fix can tell
HEADLINE_MAX = 159  # CAP asks for fewer than 160 characters
_FORBIDDEN = frozenset(" ,<&\t\r\n")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

KO, EN = 0, 1
LANGUAGES = ("ko-KR", "en-US")

EVENT: dict[AlertKind, tuple[str, str]] = {
    AlertKind.PROXIMITY_WARNING: ("접근 경고", "Proximity warning"),
    AlertKind.PROXIMITY_VIOLATION: ("접근금지 위반", "Proximity violation"),
    AlertKind.ZONE_VIOLATION: ("구역 위반", "Zone violation"),
    AlertKind.TAMPER: ("장치 훼손", "Device tamper"),
    AlertKind.BATTERY_LOW: ("배터리 부족", "Low battery"),
    AlertKind.SIGNAL_LOSS: ("신호 끊김", "Signal loss"),
    AlertKind.POWER_OFF: ("장치 전원 꺼짐", "Device powered off"),
    AlertKind.SOS: ("피해자 긴급 호출", "SOS from the protected person"),
    AlertKind.DISPATCH_FAILURE: ("출동 요청 전송 실패", "Dispatch push failure"),
    AlertKind.POSITION_DOUBT: ("위치 신뢰 불가", "Implausible positions reported"),
    AlertKind.LOCATION_LOSS: ("위치 끊김", "Location loss (no usable position)"),
    AlertKind.DEVICE_CONFLICT: ("장치 충돌", "Device conflict (identifier in use elsewhere)"),
    AlertKind.CASE_MATCH: ("스토킹 사건 피의자: 전자감독 대상자", "Police case names a monitored subject"),
}
CAP_SEVERITY: dict[AlertKind, str] = {
    AlertKind.PROXIMITY_VIOLATION: "Extreme",
    AlertKind.SOS: "Extreme",
    AlertKind.ZONE_VIOLATION: "Severe",
    AlertKind.TAMPER: "Severe",
    AlertKind.PROXIMITY_WARNING: "Moderate",
    AlertKind.POWER_OFF: "Moderate",
    AlertKind.SIGNAL_LOSS: "Moderate",
    AlertKind.BATTERY_LOW: "Minor",
    AlertKind.DISPATCH_FAILURE: "Severe",
    AlertKind.POSITION_DOUBT: "Moderate",
}
# For a kind added later and not yet mapped here: the alert's own severity decides.
BY_SEVERITY = {
    Severity.CRITICAL: "Extreme",
    Severity.HIGH: "Severe",
    Severity.MEDIUM: "Moderate",
    Severity.LOW: "Minor",
}
IMMEDIATE = frozenset(
    {AlertKind.PROXIMITY_VIOLATION, AlertKind.ZONE_VIOLATION, AlertKind.TAMPER, AlertKind.SOS}
)
# What the receiving agency is asked to do while the condition holds.
RESPONSE: dict[AlertKind, str] = {
    AlertKind.PROXIMITY_VIOLATION: "Execute",
    AlertKind.ZONE_VIOLATION: "Execute",
    AlertKind.TAMPER: "Execute",
    AlertKind.SOS: "Execute",
    AlertKind.POWER_OFF: "Execute",
    AlertKind.PROXIMITY_WARNING: "Prepare",
    AlertKind.SIGNAL_LOSS: "Assess",
    AlertKind.BATTERY_LOW: "Monitor",
    AlertKind.DISPATCH_FAILURE: "Assess",
    AlertKind.POSITION_DOUBT: "Assess",
    AlertKind.LOCATION_LOSS: "Assess",
    AlertKind.DEVICE_CONFLICT: "Assess",
    AlertKind.CASE_MATCH: "Assess",
}
CERTAINTY: dict[Confidence | None, str] = {
    Confidence.CERTAIN: "Observed",
    Confidence.LIKELY: "Observed",
    Confidence.POSSIBLE: "Likely",
    Confidence.COARSE: "Possible",
    None: "Observed",  # device events and health: reported by the device itself
}
CHANGE: dict[PushType, tuple[str, str]] = {
    PushType.OPENED: ("", ""),
    PushType.UPDATED: ("[갱신] ", "[Update] "),
    PushType.ESCALATED: ("[격상] ", "[Escalated] "),
    PushType.CLEARED: ("[상황 종료] ", "[Cleared] "),
    PushType.CLOSED: ("[종결] ", "[Closed] "),
}
ROLE: dict[str, tuple[str, str]] = {SUBJECT: ("대상자", "subject"), PROTECTED: ("피해자", "protected person")}
AGENCY: dict[Agency, tuple[str, str]] = {
    Agency.POLICE: ("경찰", "Police"),
    Agency.PROBATION: ("보호관찰", "Probation"),
    Agency.ANY: ("경찰·보호관찰", "Police and probation"),
}
BASIS: dict[str, tuple[str, str]] = {
    "live_position": ("실시간 위치", "live position"),
    "home_zone": ("주거지", "home zone"),
    "last_known_position": ("마지막 확인 위치", "last known position"),
    "unknown": ("위치 불명", "position unknown"),
}
SENDER_NAME = ("Vigil 전자감독 관제센터", "Vigil electronic-monitoring control centre")
RESTRICTION = (
    "For law-enforcement and probation use only. Contains personal data of an offender and a protected "
    "person: do not forward or publish."
)


def _sub(parent: ET.Element, tag: str, value: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = _NOT_XML.sub("", value)  # ElementTree escapes markup but passes control characters
    return child


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    holder = ET.SubElement(parent, tag)
    _sub(holder, "valueName", name)
    _sub(holder, "value", value)


def event_name(kind: AlertKind, lang: int) -> str:
    return EVENT.get(kind, (kind.value, kind.value))[lang]


def cap_severity(a: Alert) -> str:
    return CAP_SEVERITY.get(a.kind) or BY_SEVERITY[a.severity]


def _check_token(field: str, value: str) -> None:
    if not value or _FORBIDDEN.intersection(value):
        raise ValueError(f"CAP {field} must be non-empty without spaces, commas, '<' or '&': {value!r}")


def msg_type(d: Dossier) -> str:
    if d.push_type is PushType.OPENED:
        return "Alert"
    if d.push_type is PushType.CLOSED and d.alert.state is AlertState.FALSE_ALARM:
        return "Cancel"
    return "Update"


def _references(d: Dossier, kind: str) -> tuple[Reference, ...]:
    """What a message references: the incident's earlier messages (about any of its alerts), so a
    receiver can follow one stream per danger; a Cancel (one alert was a false alarm) only its own
    alert's, so it withdraws that alert and not the rest of the incident."""
    if kind == "Cancel" or not d.incident_references:
        return d.references
    return d.incident_references


def _ended(d: Dossier) -> bool:
    return d.push_type in {PushType.CLEARED, PushType.CLOSED} or not d.alert.active


def _metres(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f} km"
    return f"{round(value)} m"


def _name(d: Dossier, role: str, pid: str) -> str:
    party = d.subject if role == SUBJECT else d.protected
    return party.name if party is not None and party.name else pid


def _where(d: Dossier, lang: int) -> str:
    for party in (d.subject, d.protected):
        if party is not None and party.area is not None:
            return party.area.name if lang == KO else party.area.name_en
    return ""


def headline(d: Dossier, lang: int) -> str:
    a = d.alert
    parts = [CHANGE[d.push_type][lang]]
    if d.escalation_level > 0:
        parts.append(
            f"[미확인 재전송 {d.escalation_level}] " if lang == KO else f"[Re-sent {d.escalation_level}] "
        )
    parts.append(event_name(a.kind, lang))
    who = [(role, pid) for role, _, pid, _ in parties(d)]
    if who:
        role, pid = who[0]
        parts.append(f": {ROLE[role][lang]} {_name(d, role, pid)}")
    distance = tenth(a.facts.distance_m)
    if distance is not None:
        parts.append(
            f", 피해자와 {_metres(distance)}" if lang == KO else f", {_metres(distance)} from the victim"
        )
    where = _where(d, lang)
    if where:
        parts.append(f" ({where})")
    line = "".join(parts)
    return line if len(line) <= HEADLINE_MAX else line[: HEADLINE_MAX - 1] + "…"


def _position_words(p: Position, tz: tzinfo, lang: int) -> str:
    acc = tenth(p.accuracy_m)
    accuracy = f" ±{_metres(acc)}" if acc is not None else ""
    age = whole(p.age_s)
    when = local(p.time, tz)
    if lang == KO:
        return f"{p.lat:.6f},{p.lon:.6f}{accuracy} ({p.source}, {when}, {age}초 전)"
    return f"{p.lat:.6f},{p.lon:.6f}{accuracy} ({p.source}, {when}, {age} s old)"


def description(d: Dossier, tz: tzinfo, lang: int) -> str:
    a = d.alert
    f = a.facts
    ko = lang == KO
    out: list[str] = []
    distance, bearing = tenth(f.distance_m), whole(f.bearing_deg)
    if distance is not None:
        heading = f" ({f.compass or ''} {bearing}°)".replace("( ", "(") if bearing is not None else ""
        out.append(
            f"대상자와 피해자 거리 {_metres(distance)}{heading}."
            if ko
            else f"Subject is {_metres(distance)} from the protected person{heading}."
        )
    speed, closing, contact = (
        tenth(f.subject_speed_mps),
        tenth(f.closing_speed_mps),
        whole(f.time_to_contact_s),
    )
    if speed is not None:
        out.append(f"대상자 이동 속도 {speed} m/s." if ko else f"Subject moving at {speed} m/s.")
    if closing is not None:
        out.append(f"접근 속도 {closing} m/s." if ko else f"Closing at {closing} m/s.")
    if contact is not None:
        out.append(f"약 {contact}초 후 접촉 예상." if ko else f"Contact expected in about {contact} s.")
    if f.confidence is not None:
        out.append(f"판정 신뢰도: {f.confidence.value}." if ko else f"Confidence: {f.confidence.value}.")
    for stale in f.stale:
        who = ROLE.get(stale, (stale, stale))[lang]
        out.append(f"{who}의 마지막 위치가 오래됨." if ko else f"The {who}'s last fix is stale.")
    for role, _, pid, pos in parties(d):
        if pos is not None:
            label = f"{ROLE[role][lang]} {_name(d, role, pid)}"
            words = _position_words(pos, tz, lang)
            out.append(f"{label} 위치: {words}." if ko else f"Position of the {label}: {words}.")
    if f.zone_label:
        out.append(f"구역: {f.zone_label}." if ko else f"Zone: {f.zone_label}.")
    if f.event:
        device = f" ({f.device_id})" if f.device_id else ""
        out.append(f"장치 이벤트: {f.event}{device}." if ko else f"Device event: {f.event}{device}.")
    if f.occurred_at is not None:
        out.append(
            f"발생 시각 {local(f.occurred_at, tz)}." if ko else f"Occurred at {local(f.occurred_at, tz)}."
        )
    if f.clock_suspect is not None:
        claimed = local(f.clock_suspect.device_time, tz)
        out.append(
            f"장치 시계 의심: 장치가 보고한 시각 {claimed}, 수신 시각 기준으로 판정함."
            if ko
            else f"Device clock suspect: the device said {claimed}; judged at the time received."
        )
    if a.late:
        out.append("증거가 늦게 도착함." if ko else "The evidence arrived late.")
    if d.order is not None:
        o = d.order
        out.append(
            f"명령 {o.reference} ({o.legal_basis}): 접근금지 {_metres(o.violation_distance_m)}, "
            f"경고 {_metres(o.warning_distance_m)}."
            if ko
            else f"Order {o.reference} ({o.legal_basis}): keep-away {_metres(o.violation_distance_m)}, "
            f"warning at {_metres(o.warning_distance_m)}."
        )
    state = a.state.value + ("" if a.active else (", 상황 종료" if ko else ", condition ended"))
    out.append(f"경보 상태: {state}." if ko else f"Alert state: {state}.")
    if d.note:
        out.append(f"메모: {d.note}" if ko else f"Note: {d.note}")
    if d.escalation_level > 0:
        reason = f": {d.escalation_reason}" if d.escalation_reason else ""
        out.append(
            f"확인 응답 없음, 재전송 {d.escalation_level}회차{reason}."
            if ko
            else f"Not acknowledged; re-sent (level {d.escalation_level}){reason}."
        )
    return " ".join(out)


def _instruction(d: Dossier, lang: int) -> str | None:
    lines = []
    for t in d.plan:
        basis = BASIS.get(t.basis, (t.basis, t.basis))[lang]
        area = f", {t.area.name if lang == KO else t.area.name_en}" if t.area is not None else ""
        at = f" @ {t.position.lat:.6f},{t.position.lon:.6f}" if t.position is not None else ""
        lines.append(f"{AGENCY[t.agency][lang]}: {t.goal} ({basis}{area}{at})")
    return "\n".join(lines) or None


def _parameters(d: Dossier) -> list[tuple[str, str]]:
    a, f = d.alert, d.alert.facts
    found: list[tuple[str, object]] = [
        ("alertId", a.id),
        ("kind", a.kind.value),
        ("state", a.state.value),
        ("change", d.push_type.value),
        ("sequence", d.sequence),
        ("distanceM", tenth(f.distance_m)),
        ("bearingDeg", whole(f.bearing_deg)),
        ("closingSpeedMps", tenth(f.closing_speed_mps)),
        ("timeToContactS", whole(f.time_to_contact_s)),
        ("confidence", f.confidence.value if f.confidence is not None else None),
        ("deviceId", f.device_id),
        ("zone", f.zone_label),
        ("orderReference", d.order.reference if d.order is not None else None),
        ("legalBasis", d.order.legal_basis if d.order is not None else None),
        ("escalationLevel", d.escalation_level or None),
    ]
    return [(name, str(value)) for name, value in found if value is not None and value != ""]


def _areas(info: ET.Element, d: Dossier, lang: int) -> None:
    placed = False
    for role, party, _, pos in parties(d):
        if pos is None:
            continue
        placed = True
        area = ET.SubElement(info, "area")
        where = party.area if party is not None else None
        place = (where.name if lang == KO else where.name_en) if where is not None else ""
        desc = f"{place} — {ROLE[role][lang]}" if place else ROLE[role][lang]
        _sub(area, "areaDesc", desc)
        radius_km = max(pos.accuracy_m or 0.0, MIN_RADIUS_M) / 1000.0
        _sub(area, "circle", f"{pos.lat:.6f},{pos.lon:.6f} {radius_km:.3f}")
        if where is not None:
            _pair(area, "geocode", "KR-SGG", where.code)
    if not placed:  # CAP wants an areaDesc even when nothing is known
        area = ET.SubElement(info, "area")
        _sub(area, "areaDesc", "위치 불명" if lang == KO else "unknown position")


def _info(root: ET.Element, d: Dossier, tz: tzinfo, lang: int, parameters: list[tuple[str, str]]) -> None:
    a = d.alert
    ended = _ended(d)
    info = ET.SubElement(root, "info")
    _sub(info, "language", LANGUAGES[lang])
    _sub(info, "category", "Security")
    if a.kind is AlertKind.SOS:
        _sub(info, "category", "Rescue")
    _sub(info, "event", event_name(a.kind, lang))
    _sub(info, "responseType", "AllClear" if ended else RESPONSE.get(a.kind, "Assess"))
    _sub(info, "urgency", "Past" if ended else ("Immediate" if a.kind in IMMEDIATE else "Expected"))
    _sub(info, "severity", cap_severity(a))
    _sub(info, "certainty", CERTAINTY[a.facts.confidence])
    _pair(info, "eventCode", "org.vigil.alert.kind", a.kind.value)
    _sub(info, "onset", local(a.facts.occurred_at or a.opened_at, tz))
    _sub(info, "senderName", SENDER_NAME[lang])
    _sub(info, "headline", headline(d, lang))
    _sub(info, "description", description(d, tz, lang))
    instruction = _instruction(d, lang)
    if instruction:
        _sub(info, "instruction", instruction)
    if d.live_track_url:
        _sub(info, "web", d.live_track_url)
    for name, value in parameters:
        _pair(info, "parameter", name, value)
    _areas(info, d, lang)


def render(d: Dossier) -> str:
    """The CAP alert as an XML document (declaration included), ready to embed as a string."""
    _check_token("identifier", d.event_id)
    _check_token("sender", d.sender)
    tz = zone(d.timezone)
    kind = msg_type(d)
    # Plain tags under a default-namespace attribute: no prefixes, and no global namespace registry.
    root = ET.Element("alert", {"xmlns": NS})
    _sub(root, "identifier", d.event_id)
    _sub(root, "sender", d.sender)
    _sub(root, "sent", local(d.at, tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", kind)
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", RESTRICTION)
    if d.note:
        _sub(root, "note", d.note)
    references = _references(d, kind)
    if kind != "Alert" and not references:
        raise ValueError(f"CAP {kind} needs references to earlier pushes (alert {d.alert.id})")
    if references:
        for ref in references:
            _check_token("reference identifier", ref.identifier)
        _sub(
            root,
            "references",
            " ".join(f"{d.sender},{r.identifier},{local(r.sent, tz)}" for r in references),
        )
    # The incident groups the messages of one danger; its radio number is what dispatchers say.
    incident = d.incident_number or d.incident_id or d.alert.id
    _check_token("incidents", incident)
    _sub(root, "incidents", incident)
    parameters = _parameters(d)
    for lang in (KO, EN):
        _info(root, d, tz, lang, parameters)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
