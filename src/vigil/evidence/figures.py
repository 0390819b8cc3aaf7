"""What the PDF shows, as plain data, before anything is drawn: a judge's reading of the evidence.

From any evidence file (`report`: an alert, an order, a protected person's full version; `pack`:
her pack) this makes one `Case`: the people, the orders, and each incident with its closest
approach, how long it lasted and what the control centre and police did and when. From a case:
the plain-language summary in Korean and English, in local time with the zone named (`summary`);
the map model, both tracks (only hers in her pack), the order's zones, the closest approach and the
municipality outlines around them, projected to metres (`map_model`); and the distance over time
with the order's distances (`chart_model`). `pdf` only draws these; tests read them directly.

Everything here comes from the evidence alone (its `generated.timezone` included), so the same
evidence always gives the same summary, map and chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigil import jurisdiction
from vigil.domain import geo
from vigil.evidence.pack import BETWEEN

PAIR_WINDOW = timedelta(seconds=120)  # his fix and hers at most this far apart make one distance
MIN_MAP_SPAN_M = 400.0

KIND_WORDS = {
    "proximity_violation": ("접근금지 거리 위반", "came inside the order's distance"),
    "proximity_warning": ("경고 거리 접근", "came inside the warning distance"),
    "zone_violation": ("금지 구역 위반", "entered a zone he must keep out of"),
    "sos": ("피해자 긴급 호출(SOS)", "she pressed SOS"),
    "tamper": ("장치 훼손", "his device was tampered with"),
    "signal_loss": ("신호 끊김", "his device fell silent"),
    "location_loss": ("위치 확인 불가", "his device reported no usable position"),
    "power_off": ("전원 꺼짐", "a device was switched off"),
    "battery_low": ("배터리 부족", "a device's battery ran low"),
}
CHANGE_WORDS = {
    "opened": ("경보 발생", "alert raised"),
    "updated": ("갱신", "updated"),
    "escalated": ("위반으로 격상", "escalated to a violation"),
    "cleared": ("상황 해소", "condition cleared"),
    "acknowledged": ("확인", "acknowledged"),
    "dispatched": ("출동 지시", "dispatched"),
    "on_scene": ("현장 도착", "on scene"),
    "resolved": ("종결", "resolved"),
    "false_alarm": ("오경보 처리", "closed as a false alarm"),
    "callback": ("출동 기관 보고", "dispatch reported"),
    "unacknowledged": ("미확인: 다음 기관으로", "not acknowledged in time: escalated"),
}
STATUS_WORDS = {
    "received": ("접수", "received"),
    "accepted": ("수락", "accepted"),
    "rejected": ("거절", "rejected"),
    "units_assigned": ("출동대 배정", "units assigned"),
    "en_route": ("출동 중", "en route"),
    "on_scene": ("현장 도착", "on scene"),
    "closed": ("종료", "closed"),
}
BY_WORDS = {
    "staff": ("담당자", "staff"),
    "vigil": ("Vigil(자동)", "Vigil (automatic)"),
    "system": ("Vigil(자동)", "Vigil (automatic)"),
    "control_centre": ("관제센터", "the control centre"),
    "operator": ("관제센터", "the control centre"),
    "probation": ("보호관찰소", "probation"),
    "probation_officer": ("보호관찰소", "probation"),
    "police": ("경찰", "police"),
    "police_dispatcher": ("경찰", "police"),
    "police_investigator": ("경찰", "police"),
    "police_unit": ("현장 경찰관", "a police unit"),
    "field_officer": ("현장 경찰관", "a police unit"),
    "herself": ("본인", "herself"),
    "protected_person": ("본인", "herself"),
}
_SYSTEM_CHANGES = {"opened", "updated", "escalated", "cleared"}


def words(table: dict[str, tuple[str, str]], code: str) -> tuple[str, str]:
    return table.get(code, (code.replace("_", " "), code.replace("_", " ")))


# --- the case ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    change: str
    state: str
    by: str  # a role word (vigil, control_centre, police, ...)
    who: str = ""  # in a court's file: the account that took it


@dataclass(frozen=True, slots=True)
class Push:
    to: str  # the dispatch target's name (agency)
    sent: datetime | None
    delivered: datetime | None
    acknowledged: datetime | None


@dataclass(frozen=True, slots=True)
class Report:
    at: datetime
    source: str
    status: str


@dataclass(frozen=True, slots=True)
class Closest:
    at: datetime
    metres: float | None  # exact (a court's file), or rounded within her view (her pack)
    band: tuple[int, int | None] | None = None  # her pack beyond her view: (from, to) metres
    him: tuple[float, float] | None = None  # (lat, lon): a court's file only
    her: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    kind: str
    state: str
    opened: datetime
    closed: datetime | None
    zone: str | None
    closest: Closest | None
    active_s: float | None
    steps: tuple[Step, ...]
    pushes: tuple[Push, ...]
    reports: tuple[Report, ...]
    distances: tuple[tuple[datetime, float], ...]  # (time, metres) as the alert recorded them


@dataclass(frozen=True, slots=True)
class Zone:
    kind: str
    label: str
    circle: tuple[float, float, float] | None  # lat, lon, radius m
    polygon: tuple[tuple[float, float], ...] = ()  # (lon, lat)


@dataclass(frozen=True, slots=True)
class Case:
    kind: str  # alert | order | person | victim_pack
    tz: ZoneInfo
    since: datetime
    until: datetime
    her: str
    him: str
    references: tuple[str, ...]  # the orders' references and issuing agencies
    violation_m: float | None
    warning_m: float | None
    view_m: float | None
    incidents: tuple[Incident, ...]
    her_track: tuple[tuple[datetime, float, float], ...]
    his_track: tuple[tuple[datetime, float, float], ...]  # empty in her pack
    zones: tuple[Zone, ...]

    @property
    def for_her(self) -> bool:
        return self.kind == "victim_pack"


def _t(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _zones(zones: list[dict[str, Any]]) -> tuple[Zone, ...]:
    out = []
    for z in zones:
        shape = z.get("shape") or {}
        if z.get("removed_at"):
            continue
        if "circle" in shape:
            c = shape["circle"]
            out.append(Zone(z["kind"], z.get("label") or "", (c["lat"], c["lon"], c["radius_m"])))
        elif "polygon" in shape:
            ring = tuple((float(p[0]), float(p[1])) for p in shape["polygon"])
            out.append(Zone(z["kind"], z.get("label") or "", None, ring))
    return tuple(out)


def case_of(ev: dict[str, Any]) -> Case:
    """The case an evidence file tells, whatever its kind."""
    scope = ev["scope"]
    tz = _zone(ev["generated"].get("timezone", "UTC"))
    kind = scope["kind"]
    orders = ev.get("orders") or ([ev["order"]] if ev.get("order") and not ev["order"].get("missing") else [])
    first = orders[0] if orders else {}
    names = [(o.get("subject") or {}).get("name") for o in orders if o.get("subject")]
    names = names or [(ev.get("subject") or {}).get("name")]
    him = ", ".join(sorted({n for n in names if n})) or "-"
    her = (ev.get("protected_person") or {}).get("name") or "-"
    refs = tuple(
        " ".join(p for p in (o.get("issuing_agency"), o.get("reference")) if p) or str(o.get("id"))
        for o in orders
    )
    if kind == "victim_pack":
        incidents = tuple(_pack_incident(a) for a in ev["approaches"])
        her_track = tuple(_fix(f) for f in ev["own_track"])
        his_track: tuple[tuple[datetime, float, float], ...] = ()
        zones = _zones([z for o in orders for z in o.get("zones", [])])
    else:
        actors = ev.get("actors") or {}
        targets = {d["id"]: f"{d['name']} ({d['agency']})" for d in ev["dispatch_targets"]}
        incidents = tuple(_full_incident(a, actors, targets, orders) for a in ev["alerts"])
        her_track = tuple(_fix(f) for f in ev["tracks"]["protected_person"])
        his_track = tuple(_fix(f) for f in ev["tracks"]["subject"])
        zones = _zones([z for o in orders for z in o.get("zones", [])])

    def num(key: str) -> float | None:
        value = first.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return Case(
        kind, tz, datetime.fromisoformat(scope["from"]), datetime.fromisoformat(scope["until"]), her, him, refs,
        num("violation_distance_m"), num("warning_distance_m"), num("victim_view_m"),
        incidents, her_track, his_track, zones,
    )  # fmt: skip


def _fix(f: dict[str, Any]) -> tuple[datetime, float, float]:
    return datetime.fromisoformat(f["time"]), float(f["lat"]), float(f["lon"])


def _position(p: Any) -> tuple[float, float] | None:
    if (
        isinstance(p, dict)
        and isinstance(p.get("lat"), (int, float))
        and isinstance(p.get("lon"), (int, float))
    ):
        return float(p["lat"]), float(p["lon"])
    return None


def _full_incident(
    a: dict[str, Any], actors: dict[str, str], targets: dict[str, str], orders: list[dict[str, Any]]
) -> Incident:
    closest: Closest | None = None
    distances = []
    for c in a["timeline"] if a["kind"] in BETWEEN else ():
        facts = c.get("facts") or {}
        metres = facts.get("distance_m")
        if isinstance(metres, (int, float)) and not isinstance(metres, bool):
            at = datetime.fromisoformat(c["at"])
            distances.append((at, float(metres)))
            if closest is None or metres < (closest.metres or math.inf):
                him, her = (
                    _position(facts.get("subject_position")),
                    _position(facts.get("protected_position")),
                )
                closest = Closest(at, float(metres), None, him, her)
    zone_labels = {z["id"]: z.get("label") for o in orders for z in o.get("zones", [])}
    steps = tuple(
        Step(
            datetime.fromisoformat(c["at"]),
            c["change"],
            c["state"],
            actors.get(c["actor"], "system" if c["actor"] == "vigil" else "staff"),
            "" if c["actor"] == "vigil" else c["actor"],
        )
        for c in a["timeline"]
    )
    pushes = tuple(
        Push(targets.get(d["target"], d["target"]), _t(d.get("created_at")), _t(d.get("delivered_at")),
             _t(d.get("acked_at")))
        for d in a["deliveries"]
    )  # fmt: skip
    reports = tuple(
        Report(
            datetime.fromisoformat(c["received_at"]), targets.get(c["target"], c["target"]), str(c["status"])
        )
        for c in a["callbacks"]
    )
    return Incident(
        a["id"], a["kind"], a["state"], datetime.fromisoformat(a["opened_at"]),
        _t(a["updated_at"]) if a["state"] in ("resolved", "false_alarm") else None,
        zone_labels.get(a.get("zone_id") or ""), closest, _active_s(a["timeline"], a["updated_at"]),
        steps, pushes, reports, tuple(distances),
    )  # fmt: skip


def _active_s(timeline: list[dict[str, Any]], last: str) -> float | None:
    start = end = None
    for c in timeline:
        if c.get("active") and start is None:
            start = datetime.fromisoformat(c["at"])
        elif start is not None and not c.get("active"):
            end = datetime.fromisoformat(c["at"])
            break
    if start is None:
        return None
    return max(0.0, ((end or datetime.fromisoformat(last)) - start).total_seconds())


def _pack_incident(a: dict[str, Any]) -> Incident:
    c = a.get("closest")
    closest = None
    if c is not None:
        band = (int(c["from_m"]), c.get("to_m")) if "from_m" in c else None
        closest = Closest(datetime.fromisoformat(c["at"]), float(c["m"]) if "m" in c else None, band)
    return Incident(
        a["id"], a["kind"], a["state"], datetime.fromisoformat(a["opened_at"]), _t(a.get("closed_at")),
        a.get("zone"), closest, a.get("active_s"),
        tuple(Step(datetime.fromisoformat(s["at"]), s["change"], s["state"], s["by"]) for s in a["steps"]),
        tuple(
            Push(f"{d['to']['name']} ({d['to']['agency']})", _t(d.get("sent_at")), _t(d.get("delivered_at")),
                 _t(d.get("acknowledged_at")))
            for d in a["dispatch"]
        ),
        tuple(
            Report(datetime.fromisoformat(r["at"]), f"{r['from']['name']} ({r['from']['agency']})", r["status"])
            for r in a["reports_back"]
        ),
        tuple((datetime.fromisoformat(d["at"]), float(d["m"])) for d in a["distances"] if "m" in d),
    )  # fmt: skip


# --- words ---------------------------------------------------------------------------------------


def local(at: datetime | None, tz: ZoneInfo, *, date: bool = True) -> str:
    """A time as a judge reads it: local, to the second, with the zone's abbreviation (KST)."""
    if at is None:
        return "-"
    here = at.astimezone(tz)
    return here.strftime("%Y-%m-%d %H:%M:%S %Z" if date else "%H:%M:%S")


def zone_named(tz: ZoneInfo, at: datetime) -> tuple[str, str]:
    here = at.astimezone(tz)
    offset = here.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    abbr = here.tzname() or tz.key
    return (
        f"모든 시각은 현지 시각입니다: {abbr} ({tz.key}, {utc}).",
        f"All times are local: {abbr} ({tz.key}, {utc}).",
    )


def duration(seconds: float | None) -> tuple[str, str]:
    if seconds is None:
        return "-", "-"
    s = round(seconds)
    h, m, s = s // 3600, s % 3600 // 60, s % 60
    ko = (f"{h}시간 " if h else "") + (f"{m}분 " if h or m else "") + f"{s}초"
    en = (f"{h} h " if h else "") + (f"{m} min " if h or m else "") + f"{s} s"
    return ko, en


def metres(value: float) -> str:
    return f"{round(value):,} m"


def closest_words(c: Closest | None) -> tuple[str, str]:
    if c is None:
        return "거리 기록 없음", "no distance recorded"
    if c.metres is not None:
        return metres(c.metres), metres(c.metres)
    assert c.band is not None
    low, high = c.band
    if high is None:
        return f"{low:,} m 이상", f"more than {low:,} m"
    return f"{low:,}~{high:,} m 사이", f"between {low:,} and {high:,} m"


@dataclass(frozen=True, slots=True)
class Summary:
    ko: tuple[str, ...]
    en: tuple[str, ...]


def summary(case: Case) -> Summary:
    """The plain-language account, in Korean and in English, paragraph by paragraph."""
    tz = case.tz
    period_ko = f"{local(case.since, tz)} ~ {local(case.until, tz)}"
    period_en = f"{local(case.since, tz)} to {local(case.until, tz)}"
    refs = "; ".join(case.references) or "-"
    dist_ko = dist_en = ""
    if case.violation_m is not None and case.warning_m is not None:
        dist_ko = f" (접근금지 거리 {metres(case.violation_m)}, 경고 거리 {metres(case.warning_m)})"
        dist_en = (
            f" (keep-away distance {metres(case.violation_m)}, warning distance {metres(case.warning_m)})"
        )
    ko = [
        f"{case.him}(대상자)은 명령 {refs}에 따라 {case.her}(보호대상자)에게 접근해서는 안 됩니다{dist_ko}.",
        f"이 보고서는 {period_ko} 동안의 기록이며, 경보 {len(case.incidents)}건이 있었습니다.",
    ]
    en = [
        f"{case.him} (the monitored person) must keep away from {case.her} (the protected person) "
        f"under order {refs}{dist_en}.",
        f"This report covers {period_en}; there "
        + ("was 1 alert." if len(case.incidents) == 1 else f"were {len(case.incidents)} alerts."),
    ]
    for inc in case.incidents:
        k_ko, k_en = words(KIND_WORDS, inc.kind)
        c_ko, c_en = closest_words(inc.closest)
        d_ko, d_en = duration(inc.active_s)
        at_ko = at_en = ""
        if inc.closest is not None:
            at_ko = f" ({local(inc.closest.at, tz, date=False)})"
            at_en = f" at {local(inc.closest.at, tz, date=False)}"
        zone_ko = f", 구역 '{inc.zone}'" if inc.zone else ""
        zone_en = f" (zone '{inc.zone}')" if inc.zone else ""
        line_ko = f"{local(inc.opened, tz)}: {k_ko}{zone_ko}. 최근접 거리 {c_ko}{at_ko}, 지속 {d_ko}."
        line_en = f"{local(inc.opened, tz)}: he {k_en}{zone_en}. Closest: {c_en}{at_en}; it lasted {d_en}."
        done_ko, done_en = _actions(inc, tz)
        ko.append(" ".join([line_ko, *done_ko]))
        en.append(" ".join([line_en, *done_en]))
    zone_ko, zone_en = zone_named(tz, case.since)
    ko.append(zone_ko)
    en.append(zone_en)
    return Summary(tuple(ko), tuple(en))


def _actions(inc: Incident, tz: ZoneInfo) -> tuple[list[str], list[str]]:
    """What people did, in order: each step with who and when, each push to police and its
    answers."""
    ko: list[str] = []
    en: list[str] = []
    for s in inc.steps:
        if s.change in _SYSTEM_CHANGES:
            continue
        c_ko, c_en = words(CHANGE_WORDS, s.change)
        b_ko, b_en = words(BY_WORDS, s.by)
        if s.who:
            b_ko, b_en = f"{b_ko}({s.who})", f"{b_en} ({s.who})"
        ko.append(f"{b_ko}: {c_ko} {local(s.at, tz, date=False)}.")
        en.append(f"{b_en[:1].upper() + b_en[1:]}: {c_en} at {local(s.at, tz, date=False)}.")
    for p in inc.pushes:
        sent, ack = local(p.sent, tz, date=False), local(p.acknowledged, tz, date=False)
        ko.append(f"{p.to}에 통보 {sent}" + (f", 접수 확인 {ack}." if p.acknowledged else "."))
        en.append(f"Sent to {p.to} at {sent}" + (f", acknowledged at {ack}." if p.acknowledged else "."))
    for r in inc.reports:
        s_ko, s_en = words(STATUS_WORDS, r.status)
        ko.append(f"{r.source} 보고: {s_ko} {local(r.at, tz, date=False)}.")
        en.append(f"{r.source} reported: {s_en} at {local(r.at, tz, date=False)}.")
    if not ko:
        ko.append("사람이 취한 조치 기록 없음.")
        en.append("No step by a person is recorded.")
    return ko, en


# --- the map -------------------------------------------------------------------------------------

XY = tuple[float, float]
_KY = geo.EARTH_RADIUS_M * math.pi / 180.0  # metres per degree of latitude (and of longitude at the equator)


@dataclass(frozen=True, slots=True)
class MapModel:
    """Everything on the map, in metres east and north of its centre (a local equirectangular
    projection); `half_w_m`, `half_h_m`: the half extents."""

    half_w_m: float
    half_h_m: float
    outlines: tuple[tuple[str, tuple[tuple[XY, ...], ...]], ...]  # (name, rings)
    zones: tuple[tuple[Zone, XY | None, tuple[XY, ...]], ...]  # zone, centre (circle), ring (polygon)
    tracks: dict[str, tuple[XY, ...]] = field(default_factory=dict)  # "subject", "protected_person"
    closest: tuple[XY | None, XY | None, str] | None = None  # his place, hers, label
    places: tuple[str, ...] = ()  # the municipalities shown, by name
    labels: tuple[tuple[str, XY], ...] = ()  # a name at the middle of its outline's visible part
    origin: tuple[float, float] = (0.0, 0.0)  # (lat, lon) of the centre: where x = y = 0

    def xy(self, lat: float, lon: float) -> XY:
        """A place in the map's metres, as `map_model` places everything."""
        lat0, lon0 = self.origin
        return (lon - lon0) * math.cos(math.radians(lat0)) * _KY, (lat - lat0) * _KY

    def lat_lon(self, x: float, y: float) -> tuple[float, float]:
        """The place at (x, y) metres from the centre, undoing `map_model`'s projection exactly (so
        street tiles, in another projection, can be laid under the tracks where they belong)."""
        lat0, lon0 = self.origin
        return lat0 + y / _KY, lon0 + x / (math.cos(math.radians(lat0)) * _KY)


def map_model(case: Case, aspect: float = 0.55) -> MapModel | None:
    """The map: None when there is nothing to place."""
    points = [(lat, lon) for _, lat, lon in case.her_track + case.his_track]
    points += [(z.circle[0], z.circle[1]) for z in case.zones if z.circle]
    points += [(lat, lon) for z in case.zones for lon, lat in z.polygon]
    for inc in case.incidents:
        if inc.closest is not None:
            points += [p for p in (inc.closest.him, inc.closest.her) if p is not None]
    if not points:
        return None
    lat0 = (min(p[0] for p in points) + max(p[0] for p in points)) / 2
    lon0 = (min(p[1] for p in points) + max(p[1] for p in points)) / 2
    k = math.cos(math.radians(lat0)) * _KY
    ky = _KY

    def xy(lat: float, lon: float) -> XY:
        return (lon - lon0) * k, (lat - lat0) * ky

    placed = [xy(*p) for p in points]
    half_w = max(*(abs(x) for x, _ in placed), MIN_MAP_SPAN_M / 2) * 1.15
    half_h = max(*(abs(y) for _, y in placed), MIN_MAP_SPAN_M / 2) * 1.15
    half_w, half_h = max(half_w, half_h / aspect), max(half_h, half_w * aspect)
    box = (lon0 - half_w / k, lat0 - half_h / ky, lon0 + half_w / k, lat0 + half_h / ky)
    outlines = []
    for m in jurisdiction.municipalities().municipalities:
        mb = m.bbox
        if mb[0] > box[2] or mb[2] < box[0] or mb[1] > box[3] or mb[3] < box[1]:
            continue
        rings = tuple(tuple(xy(lat, lon) for lon, lat in zip(xs, ys, strict=True)) for xs, ys in m.rings)
        outlines.append((f"{m.name} {m.name_eng}", rings))
    zones = tuple(
        (z, xy(z.circle[0], z.circle[1]) if z.circle else None, tuple(xy(lat, lon) for lon, lat in z.polygon))
        for z in case.zones
    )
    tracks = {"protected_person": tuple(xy(lat, lon) for _, lat, lon in case.her_track)}
    if case.his_track:
        tracks["subject"] = tuple(xy(lat, lon) for _, lat, lon in case.his_track)
    nearest = min(
        (i.closest for i in case.incidents if i.closest is not None and (i.closest.him or i.closest.her)),
        key=lambda c: c.metres if c.metres is not None else math.inf,
        default=None,
    )
    closest = None
    if nearest is not None:
        closest = (
            xy(*nearest.him) if nearest.him else None,
            xy(*nearest.her) if nearest.her else None,
            f"{closest_words(nearest)[1]} {local(nearest.at, case.tz)}",
        )
    labels = []
    for name, rings in outlines:
        seen = [p for ring in rings for p in ring if abs(p[0]) < half_w * 0.9 and abs(p[1]) < half_h * 0.9]
        if len(seen) >= 3:
            labels.append((name, (sum(x for x, _ in seen) / len(seen), sum(y for _, y in seen) / len(seen))))
    if not labels:  # all inside one municipality, no boundary in sight: name it at the top
        here = jurisdiction.municipalities().municipality_at(lat0, lon0)
        if here is not None:
            labels.append((f"{here.name} {here.name_eng}", (0.0, half_h * 0.85)))
    return MapModel(
        half_w, half_h, tuple(outlines), zones, tracks, closest, tuple(n for n, _ in outlines), tuple(labels),
        (lat0, lon0),
    )  # fmt: skip


# --- the chart -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chart:
    start: datetime
    end: datetime
    points: tuple[tuple[datetime, float], ...]  # (time, metres), in time order
    lines: tuple[tuple[float, str], ...]  # (metres, label): the order's distances
    top_m: float


def chart_model(case: Case) -> Chart | None:
    """The distance between them over time: from both tracks (his fix and her nearest within 2
    minutes) and the alerts' own measurements; in her pack, only what the alerts recorded within
    her view. None when there is no distance at all."""
    found = {at: m for inc in case.incidents for at, m in inc.distances}
    if case.his_track and case.her_track:
        hers = sorted(case.her_track)
        for at, lat, lon in case.his_track:
            near = min(hers, key=lambda f: abs((f[0] - at).total_seconds()))
            if abs(near[0] - at) <= PAIR_WINDOW:
                found.setdefault(at, geo.distance_m(lat, lon, near[1], near[2]))
    if not found:
        return None
    points = tuple(sorted(found.items()))
    lines = []
    if case.violation_m is not None:
        lines.append((case.violation_m, f"violation {metres(case.violation_m)} / 위반"))
    if case.warning_m is not None:
        lines.append((case.warning_m, f"warning {metres(case.warning_m)} / 경고"))
    if case.for_her and case.view_m is not None:
        lines.append((case.view_m, f"her view {metres(case.view_m)} / 표시 한계"))
    top = max([m for _, m in points] + [m for m, _ in lines]) * 1.1
    start = min(points[0][0], *(i.opened for i in case.incidents)) if case.incidents else points[0][0]
    end = max(points[-1][0], start + timedelta(minutes=1))
    return Chart(start, end, points, tuple(lines), top)
