"""`vigil demo`: the whole system, live, on the embedded default.

Starts the server on a fresh SQLite file, loads a realistic caseload through the public registry
API, and drives it with the simulator in real time through the public device interfaces (native
JSON and OsmAnd), exactly as devices would. A few incidents are scripted in the first minute so
alerts appear at once; the rest arrive at the simulator's ordinary rate. Ctrl-C stops the devices
first, then the server (which commits what it holds), so the database is left consistent; the
next run starts again from a fresh file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Generator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import update

from vigil import jurisdiction
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.alerts import AlertKind
from vigil.domain.model import Role
from vigil.services import Services
from vigil.serving import Server
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine
from vigil_sim.caseload import Caseload, make_caseload
from vigil_sim.desk import Desk, Desks, Tally, demo_desks
from vigil_sim.driver import Driver, run_live
from vigil_sim.incidents import IncidentKind
from vigil_sim.simulator import Simulation

DEMO_DB = Path("var/demo.db")
# Who logs in to the demo, one of each role that watches or acts.
DEMO_USERS = (
    ("operator", Role.OPERATOR),
    ("probation", Role.PROBATION_OFFICER),
    ("dispatcher", Role.POLICE_DISPATCHER),
    ("investigator", Role.POLICE_INVESTIGATOR),
    ("field", Role.FIELD_OFFICER),
    ("victim", Role.PROTECTED_PERSON),
    ("admin", Role.ADMIN),
)
# Scripted in the first minute, so a visitor sees the system work without waiting for chance. The
# approach starts at once, with him already driving to her, 1.2 km from her door: a warning as soon
# as both devices have reported, and a violation about a minute and a half in (within two minutes
# whatever the draw: his speed, the devices' first reports, the order's violation distance).
APPROACH_FROM_M = 1_200.0
PURSUIT = timedelta(minutes=30)
OPENING = (
    (IncidentKind.NAMYANGJU, timedelta(seconds=0)),
    (IncidentKind.TAMPER, timedelta(seconds=10)),
    (IncidentKind.SOS, timedelta(seconds=20)),
)


class _QuietServer(Server):
    """uvicorn, minus its own Ctrl-C handling: the demo stops the devices before the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def fresh_database(path: Path) -> str:
    """Delete the previous run's database (and its WAL), so every run starts the same way; and its
    audit anchors, which would otherwise say that the new trail lost the old one's entries."""
    for suffix in ("", "-wal", "-shm", ".audit.anchors.jsonl"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def make_accounts(url: str) -> dict[str, str]:
    """Demo users and a device-gateway token, created before the server starts."""
    db = open_engine(url)
    migrate(db)
    now = datetime.now(UTC)
    tokens: dict[str, str] = {}
    with db.begin() as conn:
        for user_id, role in DEMO_USERS:
            create_user(conn, user_id=user_id, name=user_id, role=role, now=now)
            tokens[user_id] = issue_token(conn, role=role, now=now, user_id=user_id)
        tokens["devices"] = issue_token(conn, role=Role.DEVICE, now=now)
    db.dispose()
    return tokens


def bind_victim(url: str, user_id: str, person_id: str) -> None:
    db = open_engine(url)
    with db.begin() as conn:
        conn.execute(update(t.users).where(t.users.c.id == user_id).values(person_id=person_id))
    db.dispose()


def give_scopes(url: str, caseload: list[str], areas: str) -> None:
    """The probation officer's caseload, and the dispatcher's jurisdiction and the investigator's
    station areas (code prefixes), so that logging in as any of them shows a narrower view than the
    operator's."""
    db = open_engine(url)
    with db.begin() as conn:
        conn.execute(
            update(t.subjects).where(t.subjects.c.id.in_(caseload)).values(probation_officer="probation")
        )
        police = t.users.c.id.in_(["dispatcher", "investigator"])
        conn.execute(update(t.users).where(police).values(areas=areas))
    db.dispose()


def province_of(sim: Simulation, person_id: str, ts: float) -> str:
    """The province (two-digit code) where a person is at `ts`: the dispatcher's jurisdiction is the
    one the scripted approach happens in, so that he sees it."""
    lat, lon = sim.position(person_id, ts)[:2]
    return jurisdiction.locate(lat, lon).code[:2]


async def register_desks(base: str, admin_token: str, desks: Sequence[Desk], desks_url: str) -> None:
    """The desks as dispatch targets, through the registry API as an administrator would."""
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        for desk in desks:
            r = await client.put(f"/v1/dispatch/targets/{desk.target_id}", json=desk.registration(desks_url))
            if r.status_code not in (200, 201):
                raise RuntimeError(
                    f"the dispatch desk {desk.target_id} was refused: {r.status_code} {r.text}"
                )


def role_links(base: str, tokens: dict[str, str], scopes: dict[str, str]) -> list[str]:
    """One line per demo account: who, the link that signs in as them, and what they see there."""
    lines = []
    for user_id, role in DEMO_USERS:
        app = "victim" if role is Role.PROTECTED_PERSON else "control"
        lines.append(f"  {user_id:10} {base}/{app}/?token={tokens[user_id]}   {scopes[user_id]}")
    return lines


def script_opening(sim: Simulation, caseload: Caseload, now: datetime) -> list[str]:
    """Force the opening incidents on the subjects best placed for them; returns what was scripted."""
    ts = now.timestamp()
    # The approach goes to the pair living closest, so it reaches the victim within minutes.
    by_distance = sorted(caseload.subjects, key=lambda s: sim.partner_distance(s.id, ts))
    scripted: list[str] = []
    for (kind, delay), subject in zip(OPENING, by_distance, strict=False):
        if kind is IncidentKind.NAMYANGJU:
            sim.force(kind, subject.id, now + delay, approach_from_m=APPROACH_FROM_M)
            # Both parties' devices report every 15 s from the start, as the server's pursuit mode
            # would have them once the warning opens: a watch on a 5-minute interval would otherwise
            # keep the first warning waiting for minutes.
            for person_id in (subject.id, *caseload.partners(subject.id)):
                for device in caseload.people[person_id].devices:
                    sim.pursuit(device.id, now + PURSUIT, at=now)
        else:
            sim.force(kind, subject.id, now + delay)
        scripted.append(f"{kind.value} by {subject.id} at +{int(delay.total_seconds())} s")
    return scripted


DEMO_CASE = "DEMO-1"
ORDER_ENDS_IN = timedelta(days=10)  # inside the 14-day reminder: both agencies are told within a minute


async def seed_case(
    base: str, tokens: dict[str, str], sim: Simulation, caseload_ids: list[str], skip: str, province: str
) -> str | None:
    """A police case of the investigator's station against a subject of the probation officer's
    caseload (not the man of the scripted approach), matched at once, and a court's 3-2 granted for
    ten days: the Cases and Caseload tabs have something to show, and the reminders in the top bar
    reach both agencies at the server's first sweep. Returns what was seeded, or None when no subject
    of the caseload is in the station's province now."""
    ts = datetime.now(UTC).timestamp()
    here = []
    for sid in caseload_ids:
        lat, lon = sim.position(sid, ts)[:2]
        code = jurisdiction.locate(lat, lon).code
        if sid != skip and code.startswith(province):
            here.append((sid, code))
    if not here:
        return None
    subject_id, area = here[0]

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        him = (await client.get(f"/v1/subjects/{subject_id}", headers=auth("operator"))).json()
        suspect: dict[str, Any] = {"name": him.get("name") or subject_id, "subject_id": subject_id}
        if him.get("birth_date"):
            suspect["birth_date"] = him["birth_date"]
        case = {
            "kind": "stalking", "area": area, "station": "데모 경찰서 (demo station)", "suspect": suspect,
            "victim": {"name": "이서연 (demo)", "phone": "010-0000-0000"},
            "offences": ["stalking (Stalking Act art. 18)"],
            "reports": [{"at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
                         "summary": "waited outside her flat at night"}],
            "measures_requested": ["2", "3-2"],
        }  # fmt: skip
        r = await client.put(f"/v1/cases/{DEMO_CASE}", json=case, headers=auth("investigator"))
        if not r.is_success or r.json().get("match", {}).get("subject_id") != subject_id:
            return None
        decision = {
            "measure": "3-2", "granted": True, "court": "데모 지방법원 (demo court)",
            "court_reference": "2026초기0001", "decided_on": datetime.now(UTC).date().isoformat(),
            "valid_until": (datetime.now(UTC) + ORDER_ENDS_IN).isoformat(),
        }  # fmt: skip
        r = await client.post(f"/v1/cases/{DEMO_CASE}/decisions", json=decision, headers=auth("investigator"))
        if not r.is_success:
            return None
    return (
        f"police case {DEMO_CASE} matched to {subject_id}, with a 3-2 ending in 10 days (reminders at +30 s)"
    )


def _alert_counts(services: Services) -> dict[AlertKind, int]:
    book = services.processor.engine.book
    counts: dict[AlertKind, int] = {}
    for alert in list(book):
        counts[alert.kind] = counts.get(alert.kind, 0) + 1
    return counts


def summary(subjects: int, fixes_per_s: float, counts: dict[AlertKind, int], desks: Tally) -> str:
    total = sum(counts.values())
    worst = ", ".join(f"{kind.value} {n}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])
    return (
        f"subjects {subjects} | fixes/s {fixes_per_s:6.1f} | open alerts {total}"
        + (f" ({worst})" if worst else "")
        + f" | pushes {desks.verified}, answered {desks.reported}"
    )


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    while not server.started:
        if serving.done():
            return False
        await asyncio.sleep(0.05)
    return True


async def run_demo(*, subjects: int, seed: int, host: str, port: int) -> int:
    url = fresh_database(DEMO_DB)
    tokens = make_accounts(url)
    settings = Settings(database_url=url, host=host, port=port)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=settings.stream_compression,
    )
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve())
    if not await _started(server, serving):
        print(f"the server did not start on {host}:{port} (is the port taken?)", file=sys.stderr)
        return 1
    base = f"http://{host}:{port}"
    # The dispatch desks (a 112 centre and a probation service) on a loopback port of their own; they
    # call back the server on loopback too, whatever address it was asked to listen on.
    local = base if host not in ("0.0.0.0", "::", "") else f"http://127.0.0.1:{port}"
    desk_list = demo_desks()
    desks = Desks(desk_list, local)
    desk_socket = socket.socket()
    desk_socket.bind(("127.0.0.1", 0))
    desks_url = f"http://127.0.0.1:{desk_socket.getsockname()[1]}"
    desk_server = _QuietServer(uvicorn.Config(desks, log_level="warning", access_log=False, lifespan="off"))
    desk_serving = asyncio.create_task(desk_server.serve(sockets=[desk_socket]))
    stop = asyncio.Event()
    devices: asyncio.Task[None] | None = None
    driver: Driver | None = None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not await _started(desk_server, desk_serving):
            print("the dispatch desks did not start on 127.0.0.1", file=sys.stderr)
            return 1
        await register_desks(base, tokens["admin"], desk_list, desks_url)

        caseload = make_caseload(subjects, seed)
        driver = Driver(base, device_token=tokens["devices"], registry_token=tokens["operator"])
        await driver.register(caseload)
        # The simulated world starts once its registry is in: the scripted minutes are all seen.
        now = datetime.now(UTC)
        sim = Simulation(caseload, seed, start=now)
        scripted = script_opening(sim, caseload, now)
        # The victim app's demo account speaks for the woman the scripted approach is aimed at.
        approach = next(i for i in sim.incidents if i.forced and i.kind is IncidentKind.NAMYANGJU)
        victim_id = approach.protected_person_id or caseload.partners(approach.subject_id)[0]
        bind_victim(url, "victim", victim_id)
        # Every other subject, and the man of the scripted approach, are the probation officer's; the
        # dispatcher's jurisdiction is the province the approach happens in.
        ids = sorted(s.id for s in caseload.subjects)
        caseload_ids = sorted({*ids[::2], approach.subject_id})
        province = province_of(sim, victim_id, now.timestamp())
        give_scopes(url, caseload_ids, province)
        names = jurisdiction.area_names(province) or (province, province)
        seeded = await seed_case(base, tokens, sim, caseload_ids, approach.subject_id, province)
        if seeded:
            scripted.append(seeded)

        print(f"\nVigil demo: {base}   (API and docs: {base}/docs)", flush=True)
        print(f"database: {DEMO_DB} (fresh each run); caseload: {subjects} subjects, seed {seed}")
        print("tokens (Authorization: Bearer <token>, or ?token=<token>):")
        for label, token in tokens.items():
            print(f"  {label:10} {token}")
        print("sign in as each role (Korean first; KO/EN switch at the top; the scope is in the header):")
        scopes = {
            "operator": "control centre: everything monitored",
            "probation": f"control centre: his caseload, {len(caseload_ids)} subjects",
            "dispatcher": f"control centre: his jurisdiction, {province} {names[1]} ({names[0]})",
            "investigator": f"control centre: police cases of his station's areas, {province} {names[1]}",
            "field": "control centre: the incidents he is sent to (an operator sends him from an alert)",
            "victim": f"victim app: {victim_id}, the approach's target",
            "admin": "control centre: users and dispatch targets, no one's records",
        }
        for line in role_links(base, tokens, scopes):
            print(line)
        print("  field terminal  the live-track link in an alert's detail, or in a push (that incident only)")
        print(
            f"dispatch: every push goes to a local 112 centre and probation service ({desks_url}), which "
            "check its signature and answer: receipts and a patrol unit in the alert's detail"
        )
        print("scripted in the first minute: " + "; ".join(scripted))
        print("Ctrl-C to stop.\n", flush=True)

        devices = asyncio.create_task(run_live(sim, driver, stop=stop))
        while not stop.is_set() and not devices.done() and not serving.done():
            line = summary(
                len(caseload.subjects),
                driver.stats.fixes_per_s(),
                _alert_counts(app.state.services),
                desks.tally,
            )
            sys.stdout.write("\r" + line.ljust(110))
            sys.stdout.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        stop.set()
        print("\nstopping: devices first, then the dispatch desks, then the server...", flush=True)
        if devices is not None:
            with contextlib.suppress(Exception):
                await devices
        if driver is not None:
            await driver.aclose()
        await desks.aclose()
        server.should_exit = True
        await serving
        desk_server.should_exit = True
        await desk_serving
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    tally = desks.tally
    print(
        f"dispatch desks: {tally.verified} pushes verified, {tally.refused} refused for their signature, "
        f"{tally.reported} answers accepted, {len(tally.report_errors)} refused"
    )
    print("stopped; the database is consistent. Run again to start afresh.")
    return 0


def main(*, subjects: int = 200, seed: int = 1, host: str = "127.0.0.1", port: int = 8000) -> int:
    return asyncio.run(run_demo(subjects=subjects, seed=seed, host=host, port=port))
