"""The breach report as a PDF, made from sealed evidence (`report.seal`).

Every page's footer carries the SHA-256 of the JSON evidence the PDF was made from, so a reader can
tie the paper to the JSON (and check the JSON's bytes against it). The output is deterministic: the
same evidence gives the same PDF bytes on the same machine (reportlab's invariant mode: no creation
time, fixed document id), with the same street tiles where the map has streets (`streets`).

Korean text: a TrueType font with Hangul is embedded (only the glyphs used: reportlab subsets it)
when the machine has one (`FONT_FILES`, or the file `VIGIL_PDF_FONT` names): a court's reader then
needs no Korean fonts of its own. Without one, reportlab's built-in CID font is named instead (not
embedded: the reader supplies the glyphs). Nanum Gothic (fonts-nanum) is under the SIL Open Font
Licence, which allows embedding; nothing is shipped in the package. Which font a PDF was drawn with
does not matter to its verification: Vigil keeps the hash of the exact bytes it issued.
"""

from __future__ import annotations

import io
import logging
import math
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from vigil.evidence import figures, streets
from vigil.evidence.pack import BETWEEN
from vigil.evidence.report import Sealed

log = logging.getLogger(__name__)

CID_FONT = "HYSMyeongJo-Medium"  # Korean (and Latin) from reportlab's CID fonts: the fallback
EMBEDDED = "VigilKorean"
FONT_FILES = (  # Hangul TrueType fonts of common systems, the first found is embedded
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",  # Debian/Ubuntu fonts-nanum (SIL OFL 1.1)
    "/usr/share/fonts/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
MAX_TRACK_ROWS = 400  # per party in the tables; the JSON holds every fix
SUBJECT_COLOUR = colors.HexColor("#c0392b")
PROTECTED_COLOUR = colors.HexColor("#2471a3")
ZONE_COLOUR = colors.HexColor("#1e8449")
MAP_WIDTH = 180 * mm
WATER_COLOUR = colors.HexColor("#a9cde0")
ROAD_STYLE = {  # vector streets: line width (pt) and colour by the basemap's road kind
    "highway": (2.4, colors.HexColor("#f6c96b")),
    "major_road": (1.8, colors.HexColor("#fbe2a0")),
    "medium_road": (1.4, colors.white),
    "minor_road": (0.9, colors.white),
    "path": (0.4, colors.HexColor("#a39b8d")),
    "other": (0.4, colors.HexColor("#a39b8d")),
}
STREETS_DPI = 150  # the street picture's resolution in the PDF: print quality for a map, not more


@cache
def _font() -> str:
    """The font every text is set in, registered once per process."""
    named = os.environ.get("VIGIL_PDF_FONT", "")
    for candidate in (named, *FONT_FILES) if named else FONT_FILES:
        if candidate.endswith(".ttf") and Path(candidate).is_file():
            try:
                pdfmetrics.registerFont(TTFont(EMBEDDED, candidate))
            except Exception:  # not a usable TrueType font: try the next
                continue
            return EMBEDDED
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=24, spaceAfter=10),
        "h1": ParagraphStyle("h1", fontName=font, fontSize=13, leading=18, spaceBefore=10, spaceAfter=6),
        "h2": ParagraphStyle("h2", fontName=font, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=font, fontSize=9, leading=12),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=7, leading=8.5),
        "small": ParagraphStyle("small", fontName=font, fontSize=7.5, leading=9.5, textColor=colors.grey),
    }


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def render(sealed: Sealed, tiles: streets.TileSource | None = None) -> bytes:
    """The PDF of this evidence (a breach report, a court's full version, or her pack): a summary in
    Korean and English in local time, a map and a distance chart, then the tables.

    `tiles`: the deployment's street map, if it has one: the map then shows the streets under the
    tracks, credited beneath it. Without it, or when its tiles cannot be had, the map is drawn from
    the municipality outlines alone, and says nothing of streets. The same evidence with the same
    tiles gives the same bytes; the bytes issued are what `vigil evidence verify` checks (it never
    draws the PDF again), so a street map that changes later does not unmake an issued report."""
    ev = sealed.evidence
    case = figures.case_of(ev)
    st = _styles()
    buffer = io.BytesIO()
    title = _title(ev)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=ev["generated"]["by"],
        creator=f"Vigil {ev['generated']['vigil_version']}",
        subject=f"SHA-256 of the JSON evidence: {sealed.sha256}",
        invariant=1,
    )
    made = figures.local(datetime.fromisoformat(ev["generated"]["at"]), case.tz)

    def footer(canvas: Canvas, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 7)
        canvas.setFillColor(colors.black)
        canvas.drawString(15 * mm, 10 * mm, f"SHA-256 of the JSON evidence: {sealed.sha256}")
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"page {document.page}")
        canvas.drawString(15 * mm, 6 * mm, f"{title} / generated {made}")
        canvas.restoreState()

    story = _summary_page(case, title, st)
    story.append(PageBreak())
    story += _pictures(case, st, tiles)
    story.append(PageBreak())
    if case.for_her:
        story += _facts_page(ev, case, sealed.sha256, st, her=True)
        story += _pack_tables(case, st)
    else:
        story += _facts_page(ev, case, sealed.sha256, st, her=False)
        story += _alerts(ev, case, st)
        story += _dispatch(ev, case, st)
        story += _events(ev, case, st)
        story += _tracks(ev, case, st)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _title(ev: dict[str, Any]) -> str:
    scope = ev["scope"]
    if scope["kind"] == "victim_pack":
        return "피해자 증거 자료 / Her evidence record"
    if scope["kind"] == "person":
        return f"보호대상자 증거 자료 / Evidence concerning {_name(ev.get('protected_person'))}"
    return f"위반 사건 보고서 / Breach report {scope.get('alert') or scope.get('order')}"


# --- sections -------------------------------------------------------------------------------------


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(_text(text)), style)


def _table(
    header: list[str], rows: list[list[Any]], st: dict[str, ParagraphStyle], widths: list[float]
) -> Table:
    data = [[_p(h, st["cell"]) for h in header]] + [[_p(c, st["cell"]) for c in row] for row in rows]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def _pairs(rows: list[tuple[str, Any]], st: dict[str, ParagraphStyle]) -> Table:
    data = [[_p(k, st["body"]), _p(v, st["body"])] for k, v in rows]
    table = Table(data, colWidths=[45 * mm, 135 * mm])
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.2, colors.lightgrey)]
        )
    )
    return table


def _name(person: dict[str, Any] | None) -> str:
    if person is None:
        return "-"
    name = person.get("name") or ""
    return f"{name} ({person['id']})" if name and person.get("id") else str(name or person.get("id"))


def _summary_page(case: figures.Case, title: str, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    told = figures.summary(case)
    story: list[Flowable] = [_p(title, st["title"]), _p("요약", st["h1"])]
    story += [_p(line, st["body"]) for line in told.ko]
    story += [Spacer(1, 3 * mm), _p("Summary", st["h1"])]
    story += [_p(line, st["body"]) for line in told.en]
    if case.for_her:
        story += [
            Spacer(1, 4 * mm),
            _p(
                "이 자료에는 상대방의 위치가 들어 있지 않습니다. 거리는 보호대상자 앱에 표시되는 방식대로 "
                "표시합니다(표시 한계 안: 10 m 단위, 그 밖: 구간만). / This record holds no position of his; "
                "distances are as her app shows them (within her view to 10 m, beyond it only the band). "
                "A court may obtain the full sealed version for the same period from Vigil.",
                st["small"],
            ),
        ]
    return story


def _streets(model: figures.MapModel, tiles: streets.TileSource | None) -> streets.Streets | None:
    """The streets under the map, or None (no street map, or none to be had now: never an error)."""
    if tiles is None:
        return None
    try:
        return streets.streets(model, tiles, round(MAP_WIDTH / 72 * STREETS_DPI))
    except Exception:  # a source's fault must not cost the court its report
        log.warning("report map: no streets (the street map failed)", exc_info=True)
        return None


def _pictures(
    case: figures.Case, st: dict[str, ParagraphStyle], tiles: streets.TileSource | None
) -> list[Flowable]:
    story: list[Flowable] = [_p("지도 / Map", st["h1"])]
    model = figures.map_model(case)
    if model is None:
        story.append(_p("위치 기록 없음 / No position in this period.", st["body"]))
    else:
        under = _streets(model, tiles)
        story.append(MapFigure(model, under))
        legend = (
            "blue: her track (보호대상자); green: her zones (exclusion); grey: municipality outlines "
            "(2012). No position of his is shown."
            if case.for_her
            else "red: his track (대상자); blue: her track (보호대상자); green: zones; black line: the closest "
            "approach; grey: municipality outlines (2012)."
        )
        story.append(_p(legend + " " + " / ".join(model.places[:6]), st["small"]))
        if under is not None:  # said only when the streets are on the map
            story.append(_p(f"도로 지도 / Streets: {under.attribution}", st["small"]))
    story.append(_p("시간에 따른 거리 / Distance over time", st["h1"]))
    chart = figures.chart_model(case)
    if chart is None:
        story.append(_p("거리 기록 없음 / No distance recorded in this period.", st["body"]))
    else:
        story.append(ChartFigure(chart, case.tz))
        note = (
            "Distances the alerts recorded within her view; beyond it her app shows only a band."
            if case.for_her
            else "Distances from both tracks (fixes within 2 minutes of each other) and the alerts' own."
        )
        story.append(_p(note + " " + figures.zone_named(case.tz, chart.start)[1], st["small"]))
    return story


def _facts_page(
    ev: dict[str, Any], case: figures.Case, sha256: str, st: dict[str, ParagraphStyle], *, her: bool
) -> list[Flowable]:
    scope, tz = ev["scope"], case.tz
    orders = ev.get("orders") or ([ev["order"]] if ev.get("order") else [])
    rows: list[tuple[str, Any]] = [
        ("File / 자료", f"{scope['kind']} {scope.get('alert') or scope.get('order') or scope.get('person')}")
    ]
    if not her and ev.get("subject"):
        rows.append(("Case reference / 사건번호", ev["subject"].get("case_reference") or "-"))
    rows += [
        ("Monitored person / 대상자", case.him),
        ("Protected person / 보호대상자", case.her),
    ]
    for order in orders:
        if order.get("missing"):
            continue
        rows += [
            (
                "Order / 명령",
                f"{order.get('reference') or order['id']} ({order.get('issuing_agency') or '-'})",
            ),
            ("Legal basis / 법적 근거", order.get("legal_basis") or "-"),
            (
                "Distances / 거리",
                f"keep away {figures.metres(order['violation_distance_m'])}, "
                f"warning {figures.metres(order['warning_distance_m'])}",
            ),
            (
                "In force / 유효 기간",
                f"{figures.local(_when(order.get('valid_from')), tz)} - "
                f"{figures.local(_when(order.get('valid_until')), tz)}"
                if order.get("valid_from") or order.get("valid_until")
                else "not limited / 기한 없음",
            ),
        ]
    rows += [
        ("Period / 기간", f"{figures.local(case.since, tz)} - {figures.local(case.until, tz)}"),
        ("Alerts / 경보", len(case.incidents)),
        (
            "Positions / 위치 기록",
            f"hers {len(case.her_track)}" + ("" if her else f", his {len(case.his_track)}"),
        ),
        ("Generated / 작성", f"{figures.local(_when(ev['generated']['at']), tz)} by {ev['generated']['by']}"),
        ("Software", f"Vigil {ev['generated']['vigil_version']} ({ev['generated']['format']})"),
        ("SHA-256 of the JSON evidence", sha256),
    ]
    story: list[Flowable] = [
        _p("기본 사항 / Particulars", st["h1"]),
        _pairs(rows, st),
        Spacer(1, 3 * mm),
        _p(
            "This report is a rendering of the JSON evidence named by the hash above (canonical JSON: "
            "sorted keys, no spaces, UTF-8). The JSON is the record, in UTC; every page carries its hash. "
            "Vigil can say whether it issued this file (vigil evidence verify, POST /v1/evidence/verify). "
            + figures.zone_named(tz, case.since)[1],
            st["small"],
        ),
    ]
    if case.zones:
        story.append(_p("Zones / 구역", st["h2"]))
        story.append(
            _table(
                ["kind", "label", "shape"],
                [[z.kind, z.label, _shape(z)] for z in case.zones],
                st,
                [30, 60, 90],
            )
        )
    return story


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _shape(zone: figures.Zone) -> str:
    if zone.circle is not None:
        lat, lon, radius = zone.circle
        return f"circle of {figures.metres(radius)} around {lat:.5f}, {lon:.5f}"
    return f"area of {len(zone.polygon)} corners"


def _incident_rows(inc: figures.Incident, tz: Any) -> list[list[Any]]:
    rows = []
    for s in inc.steps:
        ko, en = figures.words(figures.CHANGE_WORDS, s.change)
        by = figures.words(figures.BY_WORDS, s.by)[1] + (f" ({s.who})" if s.who else "")
        rows.append([figures.local(s.at, tz), f"{en} / {ko}", figures.words({}, s.state)[1], by])
    return rows


def _incident_head(inc: figures.Incident, tz: Any, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    ko, en = figures.words(figures.KIND_WORDS, inc.kind)
    _c_ko, c_en = figures.closest_words(inc.closest)
    head = [
        ("What / 내용", f"{en} / {ko}" + (f" ({inc.zone})" if inc.zone else "")),
        ("Opened / 발생", figures.local(inc.opened, tz)),
        ("Closed / 종결", figures.local(inc.closed, tz)),
        ("Closest / 최근접", c_en + (f" at {figures.local(inc.closest.at, tz)}" if inc.closest else "")),
        ("Lasted / 지속", " / ".join(reversed(figures.duration(inc.active_s)))),
        ("State / 상태", inc.state.replace("_", " ")),
    ]
    return [KeepTogether([_p(f"Alert {inc.id}", st["h2"]), _pairs(head, st)]), Spacer(1, 2 * mm)]


def _pack_tables(case: figures.Case, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [PageBreak(), _p("경보와 조치 / Alerts and what was done", st["h1"])]
    if not case.incidents:
        story.append(_p("이 기간에 경보가 없습니다. / No alert in this period.", st["body"]))
    for inc in case.incidents:
        story += _incident_head(inc, case.tz, st)
        story.append(
            _table(["time", "step", "state", "by"], _incident_rows(inc, case.tz), st, [45, 60, 30, 45])
        )
        story += _push_tables(inc, case.tz, st)
    return story


def _push_tables(inc: figures.Incident, tz: Any, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = []
    if inc.pushes:
        story.append(Spacer(1, 2 * mm))
        story.append(
            _table(
                ["sent to police / 통보", "sent", "delivered", "acknowledged"],
                [
                    [
                        p.to,
                        figures.local(p.sent, tz),
                        figures.local(p.delivered, tz),
                        figures.local(p.acknowledged, tz),
                    ]
                    for p in inc.pushes
                ],
                st,
                [45, 45, 45, 45],
            )
        )
    if inc.reports:
        story.append(Spacer(1, 2 * mm))
        story.append(
            _table(
                ["report back / 보고", "received", "status"],
                [
                    [
                        r.source,
                        figures.local(r.at, tz),
                        " / ".join(reversed(figures.words(figures.STATUS_WORDS, r.status))),
                    ]
                    for r in inc.reports
                ],
                st,
                [60, 50, 70],
            )
        )
    return story


def _alerts(ev: dict[str, Any], case: figures.Case, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [PageBreak(), _p("경보와 경과 / Alerts and their timelines", st["h1"])]
    if not case.incidents:
        story.append(_p("이 기간에 경보가 없습니다. / No alert in this period.", st["body"]))
    notes = {a["id"]: a["timeline"] for a in ev["alerts"]}
    for inc in case.incidents:
        story += _incident_head(inc, case.tz, st)
        rows = _incident_rows(inc, case.tz)
        for row, change in zip(rows, notes[inc.id], strict=True):
            row.append(change.get("note") or _facts(change.get("facts"), inc.kind))
        story.append(
            _table(["time", "step", "state", "by", "note / measured"], rows, st, [36, 40, 22, 30, 52])
        )
        story += _push_tables(inc, case.tz, st)
    return story


def _facts(facts: Any, kind: str) -> str:
    """The measurement behind a change, in words."""
    if not isinstance(facts, dict):
        return ""
    parts = []
    if isinstance(facts.get("distance_m"), (int, float)):
        between = kind in BETWEEN
        parts.append(f"{figures.metres(facts['distance_m'])} {'apart' if between else 'from the zone edge'}")
    if facts.get("confidence"):
        parts.append(f"{facts['confidence']} by the positions' accuracy")
    if facts.get("tier"):
        parts.append(f"now at {facts['tier']} level")
    if facts.get("stale"):
        parts.append("old position of " + " and ".join(str(s).replace("_", " ") for s in facts["stale"]))
    if facts.get("zone_label"):
        parts.append(f"zone {facts['zone_label']}")
    return "; ".join(parts)


def _dispatch(ev: dict[str, Any], case: figures.Case, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("통보 내역 / Dispatch: deliveries and reports back", st["h1"])]
    names = {target["id"]: f"{target['name']} ({target['agency']})" for target in ev["dispatch_targets"]}
    deliveries = [(a["id"], d) for a in ev["alerts"] for d in a["deliveries"]]
    callbacks = [(a["id"], c) for a in ev["alerts"] for c in a["callbacks"]]
    if not deliveries and not callbacks:
        story.append(_p("Nothing was pushed to dispatch about these alerts.", st["body"]))
        return story
    tz = case.tz
    if deliveries:
        story.append(_p("Deliveries (one per push and target)", st["h2"]))
        story.append(
            _table(
                ["alert", "target", "state", "tries", "sent", "delivered", "acknowledged", "last answer"],
                [
                    [
                        alert_id,
                        names.get(d["target"], d["target"]),
                        d["state"],
                        d["attempts"],
                        figures.local(_when(d["created_at"]), tz),
                        figures.local(_when(d["delivered_at"]), tz),
                        figures.local(_when(d["acked_at"]), tz),
                        f"HTTP {d['last_status']}" if d.get("last_status") else (d.get("last_error") or "-"),
                    ]
                    for alert_id, d in deliveries
                ],
                st,
                [18, 26, 16, 10, 30, 30, 30, 20],
            )
        )
    if callbacks:
        story.append(_p("Reports back from dispatch", st["h2"]))
        story.append(
            _table(
                ["alert", "received", "from", "status", "detail"],
                [
                    [
                        alert_id,
                        figures.local(_when(c["received_at"]), tz),
                        names.get(c["target"], c["target"]),
                        " / ".join(reversed(figures.words(figures.STATUS_WORDS, str(c["status"])))),
                        _callback_detail(c["body"]),
                    ]
                    for alert_id, c in callbacks
                ],
                st,
                [20, 36, 34, 34, 56],
            )
        )
    return story


def _callback_detail(body: Any) -> str:
    if not isinstance(body, dict):
        return _text(body)
    parts = [f"{k}: {_text(body[k])}" for k in ("reason", "note", "unit", "units", "eta") if k in body]
    return "; ".join(parts)


def _events(ev: dict[str, Any], case: figures.Case, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("장치 사건 / Device events", st["h1"])]
    if not ev["device_events"]:
        story.append(_p("No device event in this period.", st["body"]))
        return story
    story.append(
        _table(
            ["time", "device", "event", "where", "received"],
            [
                [
                    figures.local(_when(e["time"]), case.tz),
                    e["device"],
                    e["kind"].replace("_", " "),
                    _where(e),
                    figures.local(_when(e.get("received_at")), case.tz),
                ]
                for e in ev["device_events"]
            ],
            st,
            [36, 22, 30, 56, 36],
        )
    )
    return story


def _where(record: dict[str, Any]) -> str:
    if record.get("lat") is None or record.get("lon") is None:
        return "-"
    accuracy = record.get("accuracy_m")
    near = f" (within {figures.metres(accuracy)})" if isinstance(accuracy, (int, float)) else ""
    return f"{record['lat']:.5f}, {record['lon']:.5f}{near}"


def _tracks(ev: dict[str, Any], case: figures.Case, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [PageBreak(), _p("위치 기록 / Positions of both parties", st["h1"])]
    tracks = ev["tracks"]
    for role, label in (
        ("subject", "His positions / 대상자"),
        ("protected_person", "Her positions / 보호대상자"),
    ):
        fixes = tracks[role]
        story.append(_p(f"{label}: {len(fixes)}", st["h2"]))
        if not fixes:
            story.append(_p("No position in this period.", st["body"]))
            continue
        shown = fixes[:MAX_TRACK_ROWS]
        story.append(
            _table(
                ["time", "device", "where", "source", "speed"],
                [
                    [
                        figures.local(_when(f["time"]), case.tz),
                        f["device"],
                        _where(f),
                        f.get("source") or "-",
                        "-" if f.get("speed_mps") is None else f"{f['speed_mps'] * 3.6:.0f} km/h",
                    ]
                    for f in shown
                ],
                st,
                [36, 22, 72, 20, 30],
            )
        )
        if len(fixes) > len(shown):
            story.append(
                _p(f"... and {len(fixes) - len(shown)} more positions in the JSON evidence.", st["small"])
            )
    return story


# --- figures --------------------------------------------------------------------------------------


class MapFigure(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """The map, drawn with the canvas's own primitives and clipped to its frame: the streets when
    there are (a picture exactly covering the frame, or roads and water as lines: `streets`),
    municipality outlines (over streets: only their boundaries), zones, tracks, the closest
    approach, a scale bar and north."""

    def __init__(
        self, model: figures.MapModel, under: streets.Streets | None = None, width: float = MAP_WIDTH
    ) -> None:
        super().__init__()
        self.model = model
        self.under = under
        self.width = width
        self.height = width * model.half_h_m / model.half_w_m

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def _outlines(self, at: Any, *, stroke: bool, fill: bool) -> None:
        c = self.canv
        for _, rings in self.model.outlines:
            path = c.beginPath()
            for ring in rings:
                path.moveTo(*at(ring[0]))
                for p in ring[1:]:
                    path.lineTo(*at(p))
                path.close()
            c.drawPath(path, stroke=int(stroke), fill=int(fill), fillMode=0)  # even-odd: holes stay holes

    def _line(self, at: Any, points: tuple[tuple[float, float], ...], *, close: bool = False) -> Any:
        path = self.canv.beginPath()
        path.moveTo(*at(points[0]))
        for p in points[1:]:
            path.lineTo(*at(p))
        if close:
            path.close()
        return path

    def _vector_streets(self, at: Any) -> None:
        """Water, then the roads: each kind cased in grey, then filled, the most important on top."""
        c, under = self.canv, self.under
        assert under is not None
        c.saveState()
        c.setFillColor(WATER_COLOUR)
        c.setStrokeColor(WATER_COLOUR)
        for area in under.water:
            path = c.beginPath()
            for ring in area:
                path.moveTo(*at(ring[0]))
                for p in ring[1:]:
                    path.lineTo(*at(p))
                path.close()
            c.drawPath(path, stroke=0, fill=1, fillMode=0)
        c.setLineWidth(0.8)
        for line in under.waterways:
            c.drawPath(self._line(at, line), stroke=1, fill=0)
        c.setLineCap(1)
        c.setLineJoin(1)
        for kind in reversed(streets.ROAD_KINDS):
            lines = [line for k, line in under.roads if k == kind]
            width, fill = ROAD_STYLE[kind]
            if not lines:
                continue
            if kind not in ("path", "other"):  # a grey edge, so white roads show on pale land
                c.setStrokeColor(colors.HexColor("#b9b2a6"))
                c.setLineWidth(width + 0.7)
                for line in lines:
                    c.drawPath(self._line(at, line), stroke=1, fill=0)
            c.setStrokeColor(fill)
            c.setLineWidth(width)
            for line in lines:
                c.drawPath(self._line(at, line), stroke=1, fill=0)
        c.restoreState()

    def draw(self) -> None:
        c, m = self.canv, self.model
        w, h = self.width, self.height
        scale = w / (2 * m.half_w_m)

        def at(p: tuple[float, float]) -> tuple[float, float]:
            return w / 2 + p[0] * scale, h / 2 + p[1] * scale

        c.saveState()
        frame = c.beginPath()
        frame.rect(0, 0, w, h)
        c.clipPath(frame, stroke=1, fill=0)
        c.setFillColor(colors.HexColor("#dfe9f2"))  # the sea, and whatever no outline covers
        c.rect(0, 0, w, h, stroke=0, fill=1)
        c.setLineWidth(0.6)
        c.setStrokeColor(colors.HexColor("#9a9a9a"))
        c.setFillColor(colors.HexColor("#f4f1ea"))
        if self.under is None:
            self._outlines(at, stroke=True, fill=True)
        else:
            self._outlines(at, stroke=False, fill=True)  # shows through where a tile is missing
            image = self.under.image
            if image is not None:
                c.drawImage(ImageReader(image), 0, 0, w, h, mask="auto" if image.mode == "RGBA" else None)
            else:
                self._vector_streets(at)
            # on streets, only where one area ends: thin and solid (a dash would not show on a
            # boundary two areas share: each draws it in its own phase)
            c.setStrokeColor(colors.Color(0.36, 0.4, 0.46, alpha=0.8))
            c.setLineWidth(0.7)
            self._outlines(at, stroke=True, fill=False)
        c.setFillColor(colors.HexColor("#7b7b7b") if self.under is None else colors.HexColor("#3d4450"))
        c.setFont(_font(), 7)
        for name, p in m.labels:
            c.drawCentredString(*at(p), name)
        c.setStrokeColor(ZONE_COLOUR)
        c.setFillColor(colors.Color(0.1, 0.6, 0.3, alpha=0.15))
        for zone, centre, ring in m.zones:
            if centre is not None and zone.circle is not None:
                c.circle(*at(centre), zone.circle[2] * scale, stroke=1, fill=1)
            elif ring:
                path = c.beginPath()
                path.moveTo(*at(ring[0]))
                for p in ring[1:]:
                    path.lineTo(*at(p))
                path.close()
                c.drawPath(path, stroke=1, fill=1)
        for role, colour in (("subject", SUBJECT_COLOUR), ("protected_person", PROTECTED_COLOUR)):
            placed = [at(p) for p in m.tracks.get(role, ())]
            if self.under is not None and len(placed) > 1:  # a white casing: the track over streets
                c.setStrokeColor(colors.white)
                c.setLineWidth(2.8)
                path = c.beginPath()
                path.moveTo(*placed[0])
                for p in placed[1:]:
                    path.lineTo(*p)
                c.drawPath(path, stroke=1, fill=0)
            c.setStrokeColor(colour)
            c.setFillColor(colour)
            c.setLineWidth(1.2)
            if len(placed) > 1:
                path = c.beginPath()
                path.moveTo(*placed[0])
                for p in placed[1:]:
                    path.lineTo(*p)
                c.drawPath(path, stroke=1, fill=0)
            for p in placed:
                c.circle(*p, 1.3, stroke=0, fill=1)
        if m.closest is not None:
            his, hers, label = m.closest
            c.setStrokeColor(colors.black)
            c.setLineWidth(1.5)
            ends = [at(p) for p in (his, hers) if p is not None]
            if len(ends) == 2:
                c.line(*ends[0], *ends[1])
            for p in ends:
                c.circle(*p, 3.5, stroke=1, fill=0)
            c.setFillColor(colors.black)
            c.setFont(_font(), 7)
            text = f"closest / 최근접: {label}"
            width = c.stringWidth(text, _font(), 7)
            x, y = ends[0]
            x, y = max(4, min(x + 5, w - width - 4)), max(4, min(y + 5, h - 24))
            if self.under is not None:  # legible over streets
                c.setFillColor(colors.Color(1, 1, 1, alpha=0.8))
                c.rect(x - 1.5, y - 2, width + 3, 9, stroke=0, fill=1)
                c.setFillColor(colors.black)
            c.drawString(x, y, text)
        c.restoreState()
        # scale bar and north, outside the clip
        bar_m = _round_metres(m.half_w_m / 2)
        if self.under is not None:  # a white ground under them, legible over streets
            c.saveState()
            c.setFillColor(colors.Color(1, 1, 1, alpha=0.8))
            c.rect(2, 2, bar_m * scale + 8, 15, stroke=0, fill=1)
            c.rect(4, h - 32, 12, 30, stroke=0, fill=1)
            c.restoreState()
        c.setStrokeColor(colors.black)
        c.setLineWidth(1.5)
        c.line(6, 6, 6 + bar_m * scale, 6)
        c.setFont(_font(), 7)
        c.setFillColor(colors.black)
        c.drawString(6, 9, f"{bar_m:,.0f} m")
        c.drawString(8, h - 12, "N")
        c.line(10.5, h - 30, 10.5, h - 15)


class ChartFigure(Flowable):  # type: ignore[misc]
    """Distance over time, with the order's distances as labelled lines."""

    def __init__(
        self, chart: figures.Chart, tz: Any, width: float = 180 * mm, height: float = 70 * mm
    ) -> None:
        super().__init__()
        self.chart, self.tz = chart, tz
        self.width, self.height = width, height

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c, ch = self.canv, self.chart
        left, bottom, right, top = 40.0, 20.0, self.width - 8, self.height - 6
        span = max((ch.end - ch.start).total_seconds(), 1.0)

        def at(when: datetime, metres: float) -> tuple[float, float]:
            x = left + (when - ch.start).total_seconds() / span * (right - left)
            return x, bottom + min(metres, ch.top_m) / ch.top_m * (top - bottom)

        c.saveState()
        c.setStrokeColor(colors.black)
        c.setLineWidth(0.8)
        c.line(left, bottom, right, bottom)
        c.line(left, bottom, left, top)
        c.setFont(_font(), 6.5)
        c.setFillColor(colors.black)
        step = _round_metres(ch.top_m / 5)
        tick = 0.0
        while tick <= ch.top_m:
            y = at(ch.start, tick)[1]
            c.drawRightString(left - 3, y - 2, f"{tick:,.0f} m")
            tick += step
        for i in range(5):
            when = ch.start + (ch.end - ch.start) * (i / 4)
            x = at(when, 0)[0]
            c.drawCentredString(x, bottom - 9, figures.local(when, self.tz, date=False))
        c.drawString(left, 2, figures.local(ch.start, self.tz) + " ~")
        for metres, label in ch.lines:
            y = at(ch.start, metres)[1]
            c.setStrokeColor(SUBJECT_COLOUR if "violation" in label else colors.HexColor("#d68910"))
            c.setDash(4, 2)
            c.line(left, y, right, y)
            c.drawRightString(right, y + 2, label)
        c.setDash()
        c.setStrokeColor(PROTECTED_COLOUR)
        c.setFillColor(PROTECTED_COLOUR)
        c.setLineWidth(1.2)
        placed = [at(when, m) for when, m in ch.points]
        if len(placed) > 1:
            path = c.beginPath()
            path.moveTo(*placed[0])
            for p in placed[1:]:
                path.lineTo(*p)
            c.drawPath(path, stroke=1, fill=0)
        for p in placed:
            c.circle(*p, 1.4, stroke=0, fill=1)
        c.restoreState()


def _round_metres(value: float) -> float:
    value = max(value, 1.0)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)
