"""`vigil replay`: scenario files through the real ingest -> engine -> alert path on a virtual clock.

Every scenarios/NAME.json runs through `run()` and must give the alert lines listed in
NAME.expected.json. An expected entry names the fields it checks (at least at, kind, change, subject,
protected_person, zone and late; distances are left out on purpose, a metre of rounding is no
regression). Expected files hold what is right; where the engine does otherwise today the scenario is
marked xfail (strict) with the reason, and the parts it does get right are still checked.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil import replay
from vigil.processor import GARBAGE_TIME
from vigil.replay import ScenarioError, load, parse, run, simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json") if not p.name.endswith(".expected.json"))
CONTRACT_KEYS = ("at", "alert", "kind", "change", "subject", "protected_person", "zone", "distance_m", "late")
CHECKED_KEYS = {"at", "kind", "change", "subject", "protected_person", "zone", "late"}
KINDS = {
    "proximity_warning",
    "proximity_violation",
    "zone_violation",
    "tamper",
    "battery_low",
    "signal_loss",
    "location_loss",
    "power_off",
    "sos",
}
TIERS = {None, "warning", "violation"}
CHANGES = {"opened", "updated", "escalated", "cleared"}


def _scenario(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    return doc


def _expected(name: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = json.loads(
        (SCENARIOS / f"{name}.expected.json").read_text(encoding="utf-8")
    )
    return lines


@functools.cache
def _replayed(name: str) -> tuple[str, ...]:
    return tuple(json.dumps(line) for line in run(_scenario(name)))


def replayed(name: str) -> list[dict[str, Any]]:
    """The scenario's alert lines (each scenario is replayed once per test session)."""
    return [json.loads(line) for line in _replayed(name)]


def _project(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The actual lines cut down to the fields each expected line checks, for a readable diff."""
    out = []
    for i, line in enumerate(actual):
        keys = list(expected[i]) if i < len(expected) else sorted(CHECKED_KEYS)
        out.append({key: line.get(key, "<absent>") for key in keys})
    return out


# --- the scenarios ------------------------------------------------------------------------------------


def test_the_scenarios_are_all_there() -> None:
    assert len(NAMES) >= 10
    for name in NAMES:
        expected = _expected(name)
        assert all(set(line) >= CHECKED_KEYS for line in expected), name


@pytest.mark.parametrize("name", NAMES)
def test_scenario(name: str) -> None:
    expected = _expected(name)
    assert _project(replayed(name), expected) == expected


@pytest.mark.parametrize("name", NAMES)
def test_every_line_keeps_the_contract(name: str) -> None:
    tz = _scenario(name)["timezone"]
    for line in replayed(name):
        assert list(line)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
        at = datetime.fromisoformat(line["at"])
        assert at.utcoffset() == at.astimezone(ZoneInfo(tz)).utcoffset()
        assert at.microsecond == 0
        assert line["kind"] in KINDS
        assert line["change"] in CHANGES
        assert line["alert"].startswith("a-")
        assert line["distance_m"] is None or isinstance(line["distance_m"], float)
        assert isinstance(line["late"], bool)
        # The alert-quality facts (issue 13): present on every line, whatever the kind.
        assert line["tier"] in TIERS and line["peak_tier"] in TIERS
        assert isinstance(line["inferred"], bool) and isinstance(line["unconfirmed"], bool)
        for fix in line["evidence"]:
            assert list(fix) == ["lat", "lon", "accuracy_m", "time"]
            assert datetime.fromisoformat(fix["time"]).utcoffset() is not None


def test_issue_example_silence_fires_300_s_after_last_heard() -> None:
    doc = _scenario("issue_example")
    last_heard = max(datetime.fromisoformat(m.get("received_at") or m["at"]) for m in doc["messages"])
    [loss] = [line for line in replayed("issue_example") if line["kind"] == "signal_loss"]
    assert datetime.fromisoformat(loss["at"]) == last_heard + timedelta(seconds=300)
    assert loss["change"] == "opened"


def test_issue_example_curfew_runs_on_the_clock_through_the_night() -> None:
    # 2026-03-14 is a Saturday in Seoul. The curfew triangle Z1 is off at 07:00; run the clock on
    # past 22:00 and it raises on his last known position (outside it, and by then stale), then
    # clears when the window ends at 06:00 Sunday, with no fix at all after 07:01.
    doc = _scenario("issue_example")
    doc["until"] = "2026-03-15T07:00:00+09:00"
    curfew = [line for line in run(doc) if line["zone"] == "Z1"]
    assert [(line["at"], line["change"], line["stale"]) for line in curfew] == [
        ("2026-03-14T22:00:00+09:00", "opened", ["subject"]),
        ("2026-03-15T06:00:00+09:00", "cleared", ["subject"]),
    ]


def test_boundary_jitter_escalates_once_and_never_flaps() -> None:
    lines = replayed("boundary_jitter")
    changes = [line["change"] for line in lines]
    assert changes.count("opened") == 1
    assert changes.count("escalated") == 1
    assert "cleared" not in changes
    assert {line["alert"] for line in lines} == {"a-1"}


def test_stale_victim_is_named_stale() -> None:
    first = replayed("stale_victim")[0]
    assert "protected_person" in first["stale"]


def test_two_victims_get_independent_alerts() -> None:
    by_person: dict[str, set[str]] = {}
    for line in replayed("two_victims"):
        by_person.setdefault(line["protected_person"], set()).add(line["alert"])
    assert by_person == {"P1": {"a-1"}, "P2": {"a-2"}}


def test_a_skewed_alarm_is_raised_at_its_arrival_and_nothing_is_refused() -> None:
    outcome = simulate(parse(_scenario("clock_skew")))
    assert outcome.refusals == []
    tamper = next(line for line in outcome.alerts if line["kind"] == "tamper")
    assert tamper["at"] == tamper["occurred_at"] == tamper["clock_suspect"]["received_at"]
    assert tamper["clock_suspect"]["device_time"] == "2026-03-14T10:07:00+09:00"
    # the strap cut sent again at 10:02:30 (its time believed by then) is the same report: no update
    assert [line["change"] for line in outcome.alerts if line["kind"] == "tamper"] == ["opened"]


# --- arrival order and the virtual clock -----------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_order_of_messages_in_the_file_does_not_matter(data: st.DataObject) -> None:
    doc = _scenario("namyangju")
    arrivals = [m.get("received_at") or m["at"] for m in doc["messages"]]
    assert len(set(arrivals)) == len(arrivals)  # distinct arrivals: the order is fully determined
    shuffled = copy.deepcopy(doc)
    shuffled["messages"] = data.draw(st.permutations(doc["messages"]))
    assert run(shuffled) == replayed("namyangju")


def test_messages_arriving_together_are_one_batch_in_file_order() -> None:
    doc = _scenario("late_batch")
    doc["messages"] = [m for m in reversed(doc["messages"])]  # the 09:20 batch now runs newest first
    lines = run(doc)
    late = [line for line in lines if line["kind"] == "proximity_violation"]
    # Newest first makes the older fixes out of order: judged at their own time, still opened late
    # and cleared because the live position is far.
    assert [(line["change"], line["late"]) for line in late] == [("opened", True), ("cleared", True)]
    assert late[0]["occurred_at"] == "2026-03-16T09:11:00+09:00"


def test_the_temporary_database_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run(_scenario("signal_loss"))
    assert list(tmp_path.iterdir()) == []


# --- refusals: the data is reported and the replay carries on ------------------------------------------


def _small(messages: list[dict[str, Any]], until: str = "2026-03-14T10:10:00+09:00") -> dict[str, Any]:
    return {
        "timezone": "Asia/Seoul",
        "subjects": [{"id": "S1", "devices": ["AM-1"]}],
        "protected_persons": [{"id": "P1", "devices": ["W-1"]}],
        "orders": [
            {
                "id": "O1",
                "subject": "S1",
                "protected_person": "P1",
                "violation_distance_m": 100,
                "warning_distance_m": 1000,
            }
        ],
        "messages": messages,
        "until": until,
    }


def test_refused_messages_are_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    doc = _small(
        [
            {"at": "2026-03-14T10:00:00+09:00", "device": "W-1", "fix": {"lat": 37.5, "lon": 127.0}},
            {"at": "2026-03-14T10:01:00+09:00", "device": "AM-1", "fix": {"lat": 200, "lon": 127.0}},
            {"at": "2026-03-14T10:01:30+09:00", "device": "AM-1", "event": "hiccup"},
            {
                "at": "2026-03-14T10:02:00+09:00",
                "device": "AM-1",
                "event": "hiccup",
                "fix": {"lat": 37.5005, "lon": 127.0},
            },
            {
                "at": "1999-12-31T23:59:59+09:00",
                "received_at": "2026-03-14T10:03:00+09:00",
                "device": "AM-1",
                "fix": {"lat": 37.5, "lon": 127.0},
            },
            {"at": "2026-03-14T10:04:00+09:00", "device": "AM-1", "event": "strap_cut"},
        ],
        until="2026-03-14T10:05:00+09:00",
    )
    outcome = simulate(parse(doc))
    refused = [(r["refused"], r["path"], r["reason"]) for r in outcome.refusals]
    assert refused == [
        ("message", "$.messages[1].fix.lat", "must be in [-90, 90]"),
        ("message", "$.messages[2].event", "unknown event kind"),
        ("part", "$.messages[3].event", "unknown event kind"),
        ("message", "$.messages[4].at", GARBAGE_TIME),
    ]
    # The fix that came with the unknown event still counts: 55 m from her.
    kinds = [(line["kind"], line["change"]) for line in outcome.alerts]
    assert kinds == [("proximity_violation", "opened"), ("tamper", "opened")]
    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / "refusals.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert replay.main(path, stdout=out, stderr=err) == 0
    lines = [json.loads(line) for line in err.getvalue().splitlines()]
    assert [line["path"] for line in lines if "refused" in line] == [r[1] for r in refused]
    # beside them, pursuit mode's changes (the violation asks both devices to report fast)
    assert {line["pursuit"] for line in lines if "refused" not in line} == {"on"}
    assert len(out.getvalue().splitlines()) == 2


# --- errors in the file ---------------------------------------------------------------------------------


def _errors(doc: Any) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        run(doc)
    return caught.value.errors


def test_every_error_is_reported_with_its_json_path() -> None:
    doc = _small(
        [
            {"at": "2026-03-14T10:00:00", "device": "AM-1", "fix": {"lat": 37.5, "lon": 127.0}},
            {"at": "2026-03-14T10:01:00+09:00", "device": "GHOST", "fix": {"lat": 37.5, "lon": 127.0}},
            {"at": "2026-03-14T10:02:00+09:00", "device": "AM-1"},
            {
                "at": "2026-03-14T10:00:00+09:00",
                "received_at": "2026-03-14T11:00:00+09:00",
                "device": "AM-1",
                "event": "sos",
            },
        ]
    )
    doc["timezone"] = "Mars/Olympus_Mons"
    doc["subjects"].append({"id": "S2", "devices": ["AM-1", {"id": "AM-2", "silence_limit_s": -1}]})
    doc["protected_persons"].append({"id": "S1", "devices": []})
    doc["orders"][0].update(
        violation_distance_m=-5,
        valid_from="2026-03-14T12:00:00+09:00",
        valid_until="2026-03-14T11:00:00+09:00",
        legal_basis="vibes",
        zones=[
            {"label": "home", "circle": {"lat": 37.6, "lon": 127.2, "radius_m": 0}},
            {"kind": "inclusion", "circle": {"lat": 37.6, "lon": 127.2, "radius_m": 50}},
        ],
    )
    doc["orders"].append(
        {
            "id": "O1",
            "subject": "S9",
            "protected_person": "P1",
            "violation_distance_m": 500,
            "warning_distance_m": 200,
        }
    )
    doc["zones"] = [
        {"id": "O1.z2", "subject": "S1", "kind": "curfew", "polygon": [[127.0, 37.5], [127.1, 37.5]]},
        {
            "id": "Z2",
            "subject": "S1",
            "circle": {"lat": 37.6, "lon": 127.2, "radius_m": 50},
            "schedule": [{"days": ["caturday"], "start": "22:00", "end": "6 am"}],
        },
        {"id": "Z3", "subject": "S1", "circle": {"lat": 37.6, "lon": 127.2, "radius_m": 50}, "polygon": []},
    ]
    errors = _errors(doc)
    paths = [e.split(": ", 1)[0] for e in errors]
    for expected in [
        "$.timezone",
        "$.subjects[1].devices[0]",
        "$.subjects[1].devices[1].silence_limit_s",
        "$.protected_persons[1].id",
        "$.orders[0].violation_distance_m",
        "$.orders[0].valid_until",
        "$.orders[0].legal_basis",
        "$.orders[0].zones[0].circle.radius_m",
        "$.orders[0].zones[1].kind",
        "$.orders[1].subject",
        "$.orders[1].warning_distance_m",
        "$.zones[0].kind",
        "$.zones[0].polygon",
        "$.zones[1].schedule[0].days",
        "$.zones[2]",
        "$.messages[0].at",
        "$.messages[1].device",
        "$.messages[3].received_at",
    ]:
        assert expected in paths, (expected, errors)
    assert "$.orders[0].zones[0].circle.radius_m: must be above 0 and at most 100 km" in errors
    assert "$.messages[0].at: needs a UTC offset" in errors
    assert any(e.startswith("$.orders[1].id: order id 'O1' is already used") for e in errors)
    assert any("zone id 'O1.z2' is already used" in e for e in errors)
    # $.messages[2] has neither fix nor event: that is the adapter's call, reported when replayed.
    assert not any(p.startswith("$.messages[2]") for p in paths)


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ([], "$: must be an object"),
        ({}, "$.timezone: missing"),
        ({}, "$.subjects: missing"),
        ({}, "$.protected_persons: missing"),
        ({}, "$.orders: missing"),
        ({}, "$.messages: missing"),
        ({}, "$.until: missing"),
        ({"subjects": {"id": "S1"}}, "$.subjects: must be an array"),
        ({"subjects": ["S1"]}, "$.subjects[0]: must be an object"),
        ({"until": 1773450000}, "$.until: must be a string"),
    ],
)
def test_the_shape_of_the_file_is_checked(doc: Any, error: str) -> None:
    assert error in _errors(doc)


def test_optional_parts_may_be_left_out_and_extra_keys_are_ignored() -> None:
    doc = _small([], until="2026-03-14T10:00:00+09:00")
    doc["comment"] = "written by hand"
    doc["orders"][0]["zones"] = []
    doc["subjects"][0]["name"] = "Kim"
    assert run(doc) == []
    assert parse(doc).start == parse(doc).until


# --- the command ---------------------------------------------------------------------------------------


def _vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_prints_one_json_line_per_alert_change() -> None:
    done = _vigil("replay", str(SCENARIOS / "namyangju.json"))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == replayed("namyangju")


def test_cli_exits_2_naming_the_json_paths(tmp_path: Path) -> None:
    doc = _scenario("namyangju")
    doc["orders"][0]["violation_distance_m"] = "far"
    doc["messages"][3]["at"] = "2026-03-10T08:00:30"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = _vigil("replay", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "$.orders[0].violation_distance_m: must be a finite number" in done.stderr
    assert "$.messages[3].at: needs a UTC offset" in done.stderr


def test_cli_exits_2_on_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "timezone": "Asia/Seoul",\n  "subjects": [,]\n}\n', encoding="utf-8")
    done = _vigil("replay", str(path))
    assert done.returncode == 2
    assert "invalid JSON at line 3, column 16" in done.stderr


def test_a_file_nested_too_deeply_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    err = io.StringIO()
    assert replay.main(path, stderr=err) == 2
    assert "nested too deeply" in err.getvalue()


def test_unreadable_files_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert replay.main(tmp_path / "missing.json", stderr=err) == 2
    assert "no such file" in err.getvalue()
    nan = tmp_path / "nan.json"
    nan.write_text('{"until": NaN}', encoding="utf-8")
    err = io.StringIO()
    assert replay.main(nan, stderr=err) == 2
    assert "NaN is not a JSON number" in err.getvalue()


def test_a_devices_location_limit_and_report_interval_are_read_and_checked() -> None:
    doc = _scenario("issue_example")
    doc["subjects"][0]["devices"] = [{"id": "AM-1", "location_limit_s": 900, "report_interval_s": 300}]
    (device,) = parse(doc).subjects[0].devices
    assert (device.location_limit_s, device.report_interval_s) == (900, 300)
    doc["subjects"][0]["devices"] = [{"id": "AM-1", "location_limit_s": 0, "report_interval_s": "often"}]
    paths = [e.split(": ", 1)[0] for e in _errors(doc)]
    assert "$.subjects[0].devices[0].location_limit_s" in paths
    assert "$.subjects[0].devices[0].report_interval_s" in paths


def test_the_environment_does_not_change_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    # A file gives the same lines on every machine: the server's VIGIL_* settings are not read.
    monkeypatch.setenv("VIGIL_TIER_HOLD_S", "0")
    monkeypatch.setenv("VIGIL_STALE_AFTER_S", "10")
    monkeypatch.setenv("VIGIL_DEFAULT_SILENCE_S", "60")
    assert run(_scenario("stale_victim")) == replayed("stale_victim")


def test_pursuit_mode_starts_with_the_danger_and_ends_on_its_own() -> None:
    """scenarios/pursuit_mode.json: both parties' devices report fast from the warning, and go back
    to normal 5 min (the pursuit hold) after the warning clears at the end of its 15-min hold."""
    outcome = simulate(parse(load(SCENARIOS / "pursuit_mode.json")))
    modes = [(m["at"][11:19], m["pursuit"], m["device"]) for m in outcome.modes]
    assert modes == [
        ("21:10:30", "on", "AM-1"),
        ("21:10:30", "on", "W-1"),
        ("21:32:30", "off", "AM-1"),
        ("21:32:30", "off", "W-1"),
    ]
    assert outcome.modes[0]["reason"] == "proximity_warning a-1"


def test_her_sos_puts_his_monitor_in_pursuit_too() -> None:
    """scenarios/sos_pursues_him.json: her SOS, he 3 km away: his monitor reports fast as well as
    her watch (it was hers alone)."""
    outcome = simulate(parse(load(SCENARIOS / "sos_pursues_him.json")))
    modes = [(m["at"][11:19], m["pursuit"], m["device"]) for m in outcome.modes]
    assert modes == [("22:00:35", "on", "AM-1"), ("22:00:35", "on", "W-1")]
