"""The breach report: the evidence it gathers, a stable content hash over canonical JSON that changes
with any change, and a PDF that carries that hash on every page and renders Korean names."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, insert, select, update

from vigil.config import Settings
from vigil.evidence.pdf import render
from vigil.evidence.report import alert_evidence, canonical_json, order_evidence, seal
from vigil.store import audit, audit_key
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = pytest.mark.both_backends  # evidence

OPENED = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
CLOSED = OPENED + timedelta(minutes=40)
LATER = CLOSED + timedelta(days=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    stamps = {"created_at": OPENED - timedelta(days=30), "updated_at": OPENED - timedelta(days=30)}
    with engine.begin() as conn:
        conn.execute(
            insert(t.subjects).values(
                id="S1", name="김철수", legal_basis="stalking_provisional_measure", case_reference="2026고단1234",
                **stamps,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.protected_persons).values(id="P1", name="이영희", phone="010-0000-0000", **stamps)
        )
        conn.execute(insert(t.users).values(id="u-operator", name="관제요원", role="operator", **stamps))
        conn.execute(
            insert(t.orders).values(
                id="O1", subject_id="S1", protected_person_id="P1", violation_distance_m=100.0,
                warning_distance_m=1000.0, victim_view_m=600.0, legal_basis="stalking_provisional_measure",
                issuing_agency="서울중앙지방법원", reference="2026즈기1", **stamps,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.zones).values(
                id="O1.z1", order_id="O1", kind="exclusion", label="피해자 자택",
                shape={"circle": {"lat": 37.6, "lon": 127.2, "radius_m": 200.0}}, **stamps,
            )
        )  # fmt: skip
        for device, person, kind in (("AM-1", "S1", "subject"), ("W-1", "P1", "protected_person")):
            conn.execute(
                insert(t.devices).values(
                    id=device, kind="phone", person_id=person, person_kind=kind, **stamps
                )
            )
        conn.execute(
            insert(t.alerts).values(
                id="a-1", key="proximity:S1:P1", kind="proximity_violation", severity="critical",
                state="resolved", active=False, late=False, subject_id="S1", protected_person_id="P1",
                zone_id=None, order_id="O1", opened_at=OPENED, updated_at=CLOSED, facts={"distance_m": 50.0},
            )
        )  # fmt: skip
        conn.execute(
            insert(t.alert_changes),
            [
                {"alert_id": "a-1", "change": "opened", "at": OPENED, "actor": "vigil", "note": "",
                 "kind": "proximity_violation", "state": "open", "active": True, "facts": {"distance_m": 50.0}},
                {"alert_id": "a-1", "change": "resolved", "at": CLOSED, "actor": "u-operator",
                 "note": "경찰 출동, 대상자 이탈", "kind": "proximity_violation", "state": "resolved",
                 "active": False, "facts": {}},
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.dispatch_targets).values(
                id="t-112", name="112 서울", url="https://112.example/hook", secret="whsec_x", agency="police",
                codes=[], formats=["cloudevents"], kinds=None, priority=1, enabled=True, disabled_reason="",
                **stamps,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.dispatch_events).values(
                id="ev-1", alert_id="a-1", sequence=1, push_type="new", escalation=0, needs_ack=True,
                created_at=OPENED, facts={},
            )
        )  # fmt: skip
        conn.execute(
            insert(t.deliveries).values(
                event_id="ev-1", target_id="t-112", alert_id="a-1", body='{"id":"ev-1"}', state="delivered",
                attempts=1, created_at=OPENED, next_attempt_at=OPENED, last_attempt_at=OPENED,
                last_status=200, last_error="", delivered_at=OPENED + timedelta(seconds=1),
                acked_at=OPENED + MIN,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.dispatch_callbacks).values(
                target_id="t-112", id="cb-1", alert_id="a-1", status="on_scene", received_at=OPENED + 9 * MIN,
                body={"status": "on_scene", "unit": "서울 12"},
            )
        )  # fmt: skip
        fixes = [
            {"device_id": device, "time": at, "lat": 37.6 + i * 1e-4, "lon": 127.2, "accuracy_m": 5.0,
             "source": "gnss", "received_at": at}
            for device in ("AM-1", "W-1")
            for i, at in enumerate([OPENED - 40 * MIN, OPENED - 10 * MIN, OPENED, CLOSED, CLOSED + 40 * MIN])
        ]  # fmt: skip
        conn.execute(insert(t.fixes), fixes)
        conn.execute(
            insert(t.device_events).values(
                device_id="AM-1", time=OPENED + MIN, kind="strap_open", detail={}, received_at=OPENED + MIN
            )
        )
    try:
        yield engine
    finally:
        engine.dispose()


def evidence(db: Engine, at: datetime = LATER) -> dict[str, Any]:
    with db.connect() as conn:
        found = alert_evidence(conn, "a-1", generated_at=at, generated_by="u-operator", timezone="Asia/Seoul")
    assert found is not None
    return found


def test_the_evidence_of_an_alert(db: Engine) -> None:
    ev = evidence(db)
    assert ev["scope"] == {
        "kind": "alert",
        "alert": "a-1",
        "from": (OPENED - 30 * MIN).isoformat(),
        "until": (CLOSED + 30 * MIN).isoformat(),
    }
    assert ev["subject"]["name"] == "김철수" and ev["protected_person"] == {"id": "P1", "name": "이영희"}
    assert "010-0000-0000" not in json.dumps(ev)  # her phone number is not evidence of the breach
    assert ev["order"]["reference"] == "2026즈기1" and [z["id"] for z in ev["order"]["zones"]] == ["O1.z1"]
    (alert,) = ev["alerts"]
    assert [c["change"] for c in alert["timeline"]] == ["opened", "resolved"]
    assert [d["target"] for d in alert["deliveries"]] == ["t-112"]
    assert [c["status"] for c in alert["callbacks"]] == ["on_scene"]
    assert [(d["id"], d["name"]) for d in ev["dispatch_targets"]] == [("t-112", "112 서울")]
    assert "whsec_x" not in json.dumps(ev, ensure_ascii=False)  # never the target's secret
    # both tracks within the window only (40 min before and after are outside)
    for role, device in (("subject", "AM-1"), ("protected_person", "W-1")):
        track = ev["tracks"][role]
        assert [f["time"] for f in track] == [
            (OPENED - 10 * MIN).isoformat(),
            OPENED.isoformat(),
            CLOSED.isoformat(),
        ]
        assert {f["device"] for f in track} == {device}
    assert [e["kind"] for e in ev["device_events"]] == ["strap_open"]
    assert ev["generated"]["by"] == "u-operator" and ev["generated"]["vigil_version"]


def test_an_unknown_alert_has_no_evidence(db: Engine) -> None:
    with db.connect() as conn:
        assert alert_evidence(conn, "nope", generated_at=LATER, generated_by="x") is None
        assert (
            order_evidence(conn, "nope", since=OPENED, until=LATER, generated_at=LATER, generated_by="x")
            is None
        )


def test_the_hash_is_stable_and_over_exactly_the_canonical_bytes(db: Engine) -> None:
    first, second = seal(evidence(db)), seal(evidence(db))
    assert first.canonical == second.canonical and first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256(first.canonical).hexdigest()
    independent = json.dumps(
        json.loads(first.canonical), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert first.canonical == independent and b'": ' not in first.canonical
    assert "김철수".encode() in first.canonical  # UTF-8, not \\u escapes
    envelope = json.loads(first.envelope())
    assert envelope["sha256"] == first.sha256
    assert canonical_json(envelope["evidence"]) == first.canonical  # a verifier can recompute it


@pytest.mark.parametrize(
    "change",
    [
        lambda conn: conn.execute(update(t.fixes).where(t.fixes.c.time == OPENED).values(lat=37.7)),
        lambda conn: conn.execute(update(t.alert_changes).values(note="edited")),
        lambda conn: conn.execute(update(t.deliveries).values(attempts=2)),
        lambda conn: conn.execute(update(t.subjects).values(name="김철수2")),
        lambda conn: conn.execute(
            insert(t.device_events).values(
                device_id="W-1", time=CLOSED, kind="sos", detail={}, received_at=CLOSED
            )
        ),
    ],
    ids=["fix", "timeline", "delivery", "name", "event"],
)
def test_any_change_changes_the_hash(db: Engine, change: Any) -> None:
    before = seal(evidence(db)).sha256
    with db.begin() as conn:
        change(conn)
    assert seal(evidence(db)).sha256 != before


def test_the_generation_is_part_of_what_is_sealed(db: Engine) -> None:
    assert seal(evidence(db, LATER)).sha256 != seal(evidence(db, LATER + MIN)).sha256


def test_the_pdf_is_tied_to_the_json_by_its_hash(db: Engine) -> None:
    sealed = seal(evidence(db))
    data = render(sealed)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert render(sealed) == data  # deterministic: same evidence, same PDF
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 3
    texts = [page.extract_text() for page in reader.pages]
    assert all(sealed.sha256 in text for text in texts)  # the footer of every page
    everything = "\n".join(texts)
    for expected in ("2026고단1234", "a-1", "resolved", "경찰 출동", "112 서울", "on scene", "strap open"):
        assert expected in everything, expected
    assert "confidence" not in everything and "stale []" not in everything  # words, not field dumps


def test_the_report_leads_with_a_summary_in_korean_and_english_in_local_time(db: Engine) -> None:
    sealed = seal(evidence(db))
    first = PdfReader(io.BytesIO(render(sealed))).pages[0].extract_text().replace("\n", " ")
    # who, which order, when (local: 21:00 UTC is 06:00 KST the next day), how close, how long
    for expected in ("요약", "Summary", "김철수", "이영희", "2026즈기1", "서울중앙지방법원",
                     "2026-03-03 06:00:00 KST", "50 m", "40분 0초", "40 min 0 s", "Asia/Seoul", "UTC+09:00"):  # fmt: skip
        assert expected in first, expected
    # what the centre and police did and when, in both languages
    assert "관제센터(u-operator): 종결 06:40:00" in first
    assert "The control centre (u-operator): resolved at 06:40:00" in first
    assert "acknowledged at 06:01:00" in first and "현장 도착 06:09:00" in first


def test_the_map_and_the_chart(db: Engine) -> None:
    from vigil.evidence import figures

    case = figures.case_of(evidence(db))
    drawn = figures.map_model(case)
    assert drawn is not None
    assert set(drawn.tracks) == {"subject", "protected_person"} and len(drawn.tracks["subject"]) == 3
    assert any("Namyangju" in name or "남양주" in name for name in drawn.places), drawn.places  # 37.6, 127.2
    assert [z.label for z, _, _ in drawn.zones] == ["피해자 자택"]
    chart = figures.chart_model(case)
    assert chart is not None and [m for m, _ in chart.lines] == [100.0, 1000.0]
    assert any(m == 50.0 for _, m in chart.points)
    # drawn into the PDF with the canvas's primitives: paths, a clip, circles (Bezier curves)
    page = PdfReader(io.BytesIO(render(seal(evidence(db))))).pages[1]
    ops = page.get_contents().get_data()
    assert re.search(rb"re W\*? [nS]", ops)  # the map's frame, clipping what lies beyond it
    assert ops.count(b" l") > 30 and ops.count(b" c") > 10  # outlines and tracks; points and zones


def test_an_order_over_a_time_range(db: Engine) -> None:
    with db.connect() as conn:
        ev = order_evidence(
            conn,
            "O1",
            since=OPENED - timedelta(hours=2),
            until=LATER,
            generated_at=LATER,
            generated_by="cli:x",
        )
        none = order_evidence(
            conn,
            "O1",
            since=LATER,
            until=LATER + timedelta(hours=1),
            generated_at=LATER,
            generated_by="cli:x",
        )
    assert ev is not None and none is not None
    assert [a["id"] for a in ev["alerts"]] == ["a-1"]
    assert len(ev["tracks"]["subject"]) == 5
    assert none["alerts"] == [] and none["tracks"]["subject"] == []
    data = render(seal(none))  # an empty report still renders
    assert data.startswith(b"%PDF-")


def test_the_cli_writes_both_formats(db: Engine, database_url: str, tmp_path: Any, monkeypatch: Any) -> None:
    from vigil.cli import main

    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    why = ["--purpose", "court_order", "--reason", "Seoul District Court 2026-17"]
    assert main(["report", "a-1", "--out", str(tmp_path / "a.json"), *why]) == 0
    envelope = json.loads((tmp_path / "a.json").read_bytes())
    assert hashlib.sha256(canonical_json(envelope["evidence"])).hexdigest() == envelope["sha256"]
    assert main(["report", "a-1", "--out", str(tmp_path / "a.pdf"), *why]) == 0
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-")
    assert main(["report", "nope", "--out", str(tmp_path / "n.pdf"), *why]) == 1
    assert main(["report", "a-1", "--out", str(tmp_path / "a.txt"), *why]) == 2
    assert main(["report", "a-1", "--out", str(tmp_path / "b.json")]) == 2  # no purpose: no export
    assert not (tmp_path / "b.json").exists()
    assert main(["report", "--order", "O1", "--from", OPENED.isoformat(), "--until", LATER.isoformat(),
                 "--out", str(tmp_path / "o.json"), *why]) == 0  # fmt: skip
    # Each export is in the audit trail, with its purpose, and the chain holds.
    with db.connect() as conn:
        rows = conn.execute(select(t.audit_log).where(t.audit_log.c.action == "evidence.read")).all()
        key, _ = audit_key.load(Settings(database_url=database_url), create=False)
        assert audit.verify(conn, key).intact
    assert [(r.target, r.purpose, r.role) for r in rows] == [
        ("alert:a-1", "court_order", "cli"), ("alert:a-1", "court_order", "cli"),
        ("alert:nope", "court_order", "cli"), ("order:O1", "court_order", "cli"),
    ]  # fmt: skip


def test_her_pack_from_the_store_holds_nothing_of_his(db: Engine, tmp_path: Any, monkeypatch: Any) -> None:
    from vigil.evidence.pack import victim_pack
    from vigil.evidence.report import person_evidence

    his = {"lat": 37.61234, "lon": 127.23456}  # his own place, and in the alert's facts
    with db.begin() as conn:
        ids = [r.id for r in conn.execute(select(t.devices.c.id).where(t.devices.c.person_kind == "subject"))]
        conn.execute(update(t.fixes).where(t.fixes.c.device_id.in_(ids)).values(**his))
        conn.execute(
            update(t.alert_changes)
            .where(t.alert_changes.c.change == "opened")
            .values(facts={"distance_m": 50.0, "subject_position": {**his, "time": OPENED.isoformat()}})
        )
    with db.connect() as conn:
        full = person_evidence(
            conn,
            "P1",
            since=OPENED - timedelta(hours=1),
            until=LATER,
            generated_at=LATER,
            generated_by="u-p1",
        )
    assert full is not None and {f["lat"] for f in full["tracks"]["subject"]} == {his["lat"]}
    pack = seal(victim_pack(full))
    text = pack.canonical.decode()
    assert "37.612" not in text and "127.234" not in text and "AM-1" not in text
    assert "경찰 출동" not in text  # a note may say where he was: never in her pack
    (approach,) = pack.evidence["approaches"]
    assert approach["closest"]["m"] == 50 and approach["active_s"] == 2400
    assert [s["by"] for s in approach["steps"]] == ["vigil", "control_centre"]
    assert approach["reports_back"] == [
        {
            "at": (OPENED + 9 * MIN).isoformat(),
            "from": {"name": "112 서울", "agency": "police"},
            "status": "on_scene",
        }
    ]
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render(pack))).pages)
    assert "37.612" not in pdf_text and "이영희" in pdf_text and "50 m" in pdf_text


def test_the_cli_makes_her_pack_and_the_full_version_and_verifies_them(
    db: Engine, database_url: str, tmp_path: Any, monkeypatch: Any
) -> None:
    from vigil.cli import main

    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    why = ["--purpose", "court_order", "--reason", "Seoul District Court 2026-17"]
    period = ["--from", OPENED.isoformat(), "--until", LATER.isoformat()]
    assert main(["report", "--person", "P1", *period, "--out", str(tmp_path / "full.json"), *why]) == 0
    assert main(["report", "--person", "P1", "--pack", *period, "--out", str(tmp_path / "p.pdf"), *why]) == 0
    assert json.loads((tmp_path / "full.json").read_bytes())["evidence"]["tracks"]["subject"]
    assert (
        main(["report", "--pack", "a-1", "--out", str(tmp_path / "x.pdf"), *why]) == 2
    )  # --pack needs --person
    assert main(["report", "--person", "P1", "--out", str(tmp_path / "x.pdf"), *why]) == 2  # and a period
    for name in ("full.json", "p.pdf"):
        assert main(["evidence", "verify", str(tmp_path / name)]) == 0, name
    data = (tmp_path / "full.json").read_bytes()
    changed = data.replace(b'"distance_m":50.0', b'"distance_m":90.0', 1)  # he was farther away
    assert changed != data
    (tmp_path / "changed.json").write_bytes(changed)
    assert main(["evidence", "verify", str(tmp_path / "changed.json")]) == 1
