"""The breach report as a PDF, made from sealed evidence (`report.seal`).

Every page's footer carries the SHA-256 of the JSON evidence the PDF was made from, so a reader can
tie the paper to the JSON (and check the JSON's bytes against it). Korean names render with
reportlab's built-in CID font (no font files). The output is deterministic: the same evidence gives
the same PDF bytes (reportlab's invariant mode: no creation time, fixed document id).
"""

from __future__ import annotations

import io
import math
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, PolyLine, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
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

from vigil.evidence.report import Sealed

FONT = "HYSMyeongJo-Medium"  # Korean (and Latin) from reportlab's CID fonts: nothing to ship
MAX_TRACK_ROWS = 400  # per party in the tables; the JSON holds every fix
SUBJECT_COLOUR = colors.HexColor("#c0392b")
PROTECTED_COLOUR = colors.HexColor("#2471a3")

_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


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


def render(sealed: Sealed) -> bytes:
    """The PDF of this evidence."""
    ev = sealed.evidence
    st = _styles()
    buffer = io.BytesIO()
    scope = ev["scope"]
    title = f"Breach report {scope.get('alert') or scope.get('order')}"
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

    def footer(canvas: Canvas, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 7)
        canvas.setFillColor(colors.black)
        canvas.drawString(15 * mm, 10 * mm, f"SHA-256 of the JSON evidence: {sealed.sha256}")
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"page {document.page}")
        canvas.drawString(15 * mm, 6 * mm, f"{title} / generated {ev['generated']['at']} (UTC)")
        canvas.restoreState()

    story = _title_page(ev, sealed.sha256, st)
    story.append(PageBreak())
    story += _alerts(ev, st)
    story += _dispatch(ev, st)
    story += _events(ev, st)
    story += _tracks(ev, st)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


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
    return f"{name} ({person['id']})" if name else str(person["id"])


def _title_page(ev: dict[str, Any], sha256: str, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    scope, order, subject = ev["scope"], ev["order"] or {}, ev["subject"] or {}
    case = scope.get("alert") or scope.get("order")
    rows: list[tuple[str, Any]] = [
        ("Case", f"{scope['kind']} {case}"),
        ("Case reference", subject.get("case_reference") or "-"),
        ("Subject", _name(ev["subject"])),
        ("Protected person", _name(ev["protected_person"])),
        ("Order", order.get("id")),
        ("Order reference", order.get("reference") or "-"),
        ("Issuing agency", order.get("issuing_agency") or "-"),
        ("Legal basis", order.get("legal_basis") or subject.get("legal_basis")),
        (
            "Distances",
            f"violation {_text(order.get('violation_distance_m'))} m, "
            f"warning {_text(order.get('warning_distance_m'))} m"
            if order
            else "-",
        ),
        ("Order in force", f"{_text(order.get('valid_from'))} - {_text(order.get('valid_until'))}"),
        ("Period of this report", f"{scope['from']} - {scope['until']} (UTC)"),
        ("Alerts", len(ev["alerts"])),
        (
            "Fixes (subject / protected)",
            f"{len(ev['tracks']['subject'])} / {len(ev['tracks']['protected_person'])}",
        ),
        ("Generated", f"{ev['generated']['at']} by {ev['generated']['by']}"),
        ("Software", f"Vigil {ev['generated']['vigil_version']} ({ev['generated']['format']})"),
        ("SHA-256 of the JSON evidence", sha256),
    ]
    story: list[Flowable] = [
        _p("위반 사건 보고서 / Breach report", st["title"]),
        _pairs(rows, st),
        Spacer(1, 6 * mm),
        _p(
            "This report is a rendering of the JSON evidence named by the hash above (canonical JSON: "
            "sorted keys, no spaces, UTF-8). The JSON is the record; every page carries its hash. "
            "All times are UTC.",
            st["small"],
        ),
    ]
    zones = order.get("zones") or []
    if zones:
        story.append(_p("Zones", st["h2"]))
        story.append(
            _table(
                ["id", "kind", "label", "shape", "removed"],
                [[z["id"], z["kind"], z["label"], _shape(z["shape"]), z["removed_at"]] for z in zones],
                st,
                [30, 18, 40, 72, 20],
            )
        )
    return story


def _shape(shape: Any) -> str:
    if isinstance(shape, dict) and "circle" in shape:
        c = shape["circle"]
        return f"circle {_text(c.get('lat'))}, {_text(c.get('lon'))} r {_text(c.get('radius_m'))} m"
    if isinstance(shape, dict) and "polygon" in shape:
        return f"polygon of {len(shape['polygon'])} points"
    return _text(shape)


def _alerts(ev: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("Alerts and their timelines", st["h1"])]
    if not ev["alerts"]:
        story.append(_p("No alert in this period.", st["body"]))
    for alert in ev["alerts"]:
        head = [
            ("Alert", alert["id"]),
            ("Kind / severity", f"{alert['kind']} / {alert['severity']}"),
            ("State", f"{alert['state']} (active: {_text(alert['active'])}, late: {_text(alert['late'])})"),
            ("Opened / last change", f"{alert['opened_at']} / {alert['updated_at']}"),
            ("Zone", alert.get("zone_id")),
        ]
        story.append(KeepTogether([_p(f"Alert {alert['id']}", st["h2"]), _pairs(head, st)]))
        story.append(Spacer(1, 2 * mm))
        story.append(
            _table(
                ["time", "change", "state", "actor", "note / facts"],
                [
                    [c["at"], c["change"], c["state"], c["actor"], c["note"] or _facts(c["facts"])]
                    for c in alert["timeline"]
                ],
                st,
                [38, 20, 22, 30, 70],
            )
        )
    return story


def _facts(facts: Any) -> str:
    if not isinstance(facts, dict):
        return _text(facts)
    keys = ("distance_m", "separation_m", "confidence", "tier", "stale", "zone")
    shown = [f"{k} {_text(facts[k])}" for k in keys if k in facts]
    return ", ".join(shown)


def _dispatch(ev: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("Dispatch: deliveries and reports back", st["h1"])]
    names = {target["id"]: f"{target['name']} ({target['agency']})" for target in ev["dispatch_targets"]}
    deliveries = [(a["id"], d) for a in ev["alerts"] for d in a["deliveries"]]
    callbacks = [(a["id"], c) for a in ev["alerts"] for c in a["callbacks"]]
    if not deliveries and not callbacks:
        story.append(_p("Nothing was pushed to dispatch about these alerts.", st["body"]))
        return story
    if deliveries:
        story.append(_p("Deliveries (one per push and target)", st["h2"]))
        story.append(
            _table(
                ["alert", "target", "push", "state", "tries", "created", "delivered", "acknowledged", "last"],
                [
                    [
                        alert_id,
                        names.get(d["target"], d["target"]),
                        d["event"],
                        d["state"],
                        d["attempts"],
                        d["created_at"],
                        d["delivered_at"],
                        d["acked_at"],
                        f"{_text(d['last_status'])} {d['last_error']}".strip(),
                    ]
                    for alert_id, d in deliveries
                ],
                st,
                [18, 24, 22, 14, 9, 25, 25, 25, 18],
            )
        )
    if callbacks:
        story.append(_p("Reports back from dispatch", st["h2"]))
        story.append(
            _table(
                ["alert", "received", "target", "status", "message id", "detail"],
                [
                    [
                        alert_id,
                        c["received_at"],
                        names.get(c["target"], c["target"]),
                        c["status"],
                        c["id"],
                        _callback_detail(c["body"]),
                    ]
                    for alert_id, c in callbacks
                ],
                st,
                [20, 34, 28, 20, 30, 48],
            )
        )
    return story


def _callback_detail(body: Any) -> str:
    if not isinstance(body, dict):
        return _text(body)
    parts = [f"{k}: {_text(body[k])}" for k in ("reason", "note", "unit", "units", "eta") if k in body]
    return "; ".join(parts)


def _events(ev: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("Device events", st["h1"])]
    if not ev["device_events"]:
        story.append(_p("No device event in this period.", st["body"]))
        return story
    story.append(
        _table(
            ["time", "device", "event", "lat", "lon", "accuracy m", "received"],
            [
                [e["time"], e["device"], e["kind"], e["lat"], e["lon"], e["accuracy_m"], e["received_at"]]
                for e in ev["device_events"]
            ],
            st,
            [36, 22, 20, 20, 22, 16, 36],
        )
    )
    return story


def _tracks(ev: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [PageBreak(), _p("Tracks of both parties", st["h1"])]
    tracks = ev["tracks"]
    story.append(_plot(tracks["subject"], tracks["protected_person"]))
    story.append(
        _p("red: subject; blue: protected person; the ring marks each track's first position.", st["small"])
    )
    for role, label in (("subject", "Subject"), ("protected_person", "Protected person")):
        fixes = tracks[role]
        story.append(_p(f"{label}: {_name(ev[role])}, {len(fixes)} fixes", st["h2"]))
        if not fixes:
            story.append(_p("No position in this period.", st["body"]))
            continue
        shown = fixes[:MAX_TRACK_ROWS]
        story.append(
            _table(
                ["time", "device", "lat", "lon", "accuracy m", "source", "speed m/s", "received"],
                [
                    [
                        f["time"],
                        f["device"],
                        f["lat"],
                        f["lon"],
                        f["accuracy_m"],
                        f["source"],
                        f["speed_mps"],
                        f["received_at"],
                    ]
                    for f in shown
                ],
                st,
                [34, 20, 20, 22, 14, 12, 14, 34],
            )
        )
        if len(fixes) > len(shown):
            story.append(
                _p(f"... and {len(fixes) - len(shown)} more fixes in the JSON evidence.", st["small"])
            )
    return story


def _plot(subject: list[dict[str, Any]], protected: list[dict[str, Any]]) -> Drawing:
    """Both tracks on a local equirectangular projection, with a scale bar."""
    width, height, pad = 180 * mm, 90 * mm, 6 * mm
    drawing = Drawing(width, height)
    points = [(f["lat"], f["lon"]) for f in subject + protected]
    if not points:
        drawing.add(String(pad, height / 2, "no positions", fontName=_font(), fontSize=8))
        return drawing
    lat0 = sum(p[0] for p in points) / len(points)
    k = math.cos(math.radians(lat0)) * 111_320.0  # metres per degree of longitude here
    xs = [lon * k for _, lon in points]
    ys = [lat * 110_574.0 for lat, _ in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 50.0)  # at least 50 m across
    scale = min(width - 2 * pad, height - 2 * pad) / span
    x0 = (min(xs) + max(xs)) / 2
    y0 = (min(ys) + max(ys)) / 2

    def place(lat: float, lon: float) -> tuple[float, float]:
        return width / 2 + (lon * k - x0) * scale, height / 2 + (lat * 110_574.0 - y0) * scale

    for fixes, colour in ((subject, SUBJECT_COLOUR), (protected, PROTECTED_COLOUR)):
        placed = [place(f["lat"], f["lon"]) for f in fixes]
        if len(placed) > 1:
            drawing.add(PolyLine([c for xy in placed for c in xy], strokeColor=colour, strokeWidth=1))
        for x, y in placed:
            drawing.add(Circle(x, y, 1.2, fillColor=colour, strokeColor=None))
        if placed:
            drawing.add(Circle(*placed[0], 3.5, fillColor=None, strokeColor=colour, strokeWidth=1))
    bar_m = _round_metres(span / 4)
    drawing.add(PolyLine([pad, pad, pad + bar_m * scale, pad], strokeColor=colors.black, strokeWidth=1.2))
    drawing.add(String(pad, pad + 2, f"{bar_m:g} m", fontName=_font(), fontSize=7))
    return drawing


def _round_metres(value: float) -> float:
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)
