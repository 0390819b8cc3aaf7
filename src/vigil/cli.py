"""The `vigil` command: serve, replay, bench, and account management."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigil.config import Settings
from vigil.domain.model import Role

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _edge(args: argparse.Namespace, settings: Settings) -> int:
    """`vigil edge`: `vigil serve`, refusing to start outside cluster mode."""
    from vigil.cluster.roles import require_cluster

    problem = require_cluster(settings)
    if problem:
        print(f"vigil edge: {problem}", file=sys.stderr)
        return 2
    args.workers = 0
    return _serve(args, settings)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.cluster.roles import worker_main

    return worker_main(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from vigil.app import create_app
    from vigil.cluster.roles import Supervisor, require_cluster
    from vigil.serving import Server
    from vigil.store.accounts import bootstrap
    from vigil.store.database import migrate, open_engine

    workers: int = getattr(args, "workers", 0) or 0
    if workers:
        problem = require_cluster(settings)
        if problem:
            print(f"vigil serve --workers: {problem}", file=sys.stderr)
            return 2
    elif settings.nats_url is not None and not settings.cluster:
        print("vigil serve: VIGIL_NATS_URL is set but the database is not PostgreSQL", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})
    db = open_engine(settings.database_url)
    migrate(db)
    with db.begin() as conn:
        first = bootstrap(conn, datetime.now(UTC))
    db.dispose()
    if first:
        print("First start: these tokens are shown once; keep them safe.", flush=True)
        for label, token in first.items():
            print(f"  {label:15} {token}", flush=True)
    print(f"Vigil serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)", flush=True)
    print(f"database: {settings.database_url}", flush=True)
    # serving.Server tells the app where it really listens (the live-track links in pushes name it)
    server = Server(
        uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            access_log=False,
            ws_per_message_deflate=settings.stream_compression,
        )
    )
    supervisor = Supervisor(workers) if workers else None
    if supervisor is not None:
        print(f"cluster {settings.cluster_name}: this edge and {workers} worker processes", flush=True)
        supervisor.start()
        server.every_second = supervisor.check
    try:
        server.run()
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0 if server.started else 3  # 3: uvicorn's own code for a server that could not start


def _record(
    db: Engine,
    settings: Settings,
    action: str,
    target: str,
    purpose: str = "",
    reason: str = "",
    **detail: Any,
) -> None:
    """A command's own entry in the audit trail, before it acts: the shell user who ran it on this
    host, and what it was asked to do. Appended to the same chain as the server's entries, with the
    same key (raises AuditKeyError when there is none to use)."""
    from vigil.store import audit, audit_key

    key, _ = audit_key.load(settings, create=True)
    entry = audit.cli_entry(action, target, purpose, reason, **detail)
    with db.begin() as conn:
        audit.append(conn, key, [(datetime.now(UTC), entry)])


def _user(args: argparse.Namespace, settings: Settings) -> int:
    """A new user, or new name, role and areas for an existing one, and a token. A changed role
    revokes the user's tokens; a server running on the same database refuses them at once."""
    from sqlalchemy import select

    from vigil.store import tables as t
    from vigil.store.accounts import issue_token, put_user
    from vigil.store.database import migrate, open_engine

    db = open_engine(settings.database_url)
    migrate(db)
    now = datetime.now(UTC)
    user_id = args.id or f"u-{uuid.uuid4().hex[:12]}"
    areas = [a for a in (args.areas or "").split(",") if a]
    if any(not (a.isdigit() and 2 <= len(a) <= 10) for a in areas):
        print("--areas: municipality code prefixes of 2 to 10 digits, comma-separated (e.g. 11,31130)")
        return 2
    _record(db, settings, "users.manage", f"user:{user_id}", role=args.role, areas=areas)
    with db.begin() as conn:
        before = conn.execute(
            select(t.users.c.person_id, t.users.c.disabled).where(t.users.c.id == user_id)
        ).first()
        person_id, disabled = (before.person_id, before.disabled) if before is not None else (None, False)
        put_user(conn, user_id, args.name, Role(args.role), person_id, disabled, now, areas=areas)
        token = issue_token(conn, role=Role(args.role), now=now, user_id=user_id)
    db.dispose()
    print(f"user {user_id} ({args.role}) token: {token}")
    if disabled:
        print(f"user {user_id} is disabled: the token works once an admin enables the account")
    return 0


SHOWN_FINDINGS = 200  # a trail re-chained with a wrong key breaks at every entry: the first ones say it


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from vigil.store import audit, audit_key
    from vigil.store.database import migrate, open_engine

    key, _ = audit_key.load(settings, create=False)
    anchors = Path(args.anchors) if args.anchors else audit_key.places(settings).anchor_file
    db = open_engine(settings.database_url)
    try:
        migrate(db)
        with db.connect() as conn:
            verdict = audit.verify(conn, key, args.expect_head, anchors)
    finally:
        db.dispose()
    for finding in verdict.findings[:SHOWN_FINDINGS]:
        print(f"entry {finding.seq}: {finding.problem}" if finding.seq is not None else finding.problem)
    if len(verdict.findings) > SHOWN_FINDINGS:
        print(f"... and {len(verdict.findings) - SHOWN_FINDINGS} more")
    for note in verdict.notes:
        print(f"note: {note}")
    state = "intact" if verdict.intact else f"BROKEN in {len(verdict.findings)} place(s)"
    print(
        f"audit trail {state}: {verdict.entries} entries ({verdict.keyed} keyed, {verdict.legacy} legacy "
        f"SHA-256); {verdict.anchors} anchors checked ({anchors}); head {verdict.head} "
        "(keep it to check the tail later)"
    )
    return 0 if verdict.intact else 1


def _device_token(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.store import notices
    from vigil.store.accounts import issue_token
    from vigil.store.database import migrate, open_engine

    db = open_engine(settings.database_url)
    migrate(db)
    _record(db, settings, "device.credentials", f"device:{args.device or '*'}")
    with db.begin() as conn:
        now = datetime.now(UTC)
        token = issue_token(conn, role=Role.DEVICE, now=now, device_id=args.device)
        if args.device:  # whoever holds it posts as her device: she is told, as for a rotation
            by = f"cli:{getpass.getuser()}"
            notices.device_credential(
                conn, args.device, now, actor=by, by_role="shell", reason="vigil device-token"
            )
    scope = f"device {args.device}" if args.device else "a gateway (any registered device)"
    print(f"device token for {scope}: {token}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from vigil_sim.demo import main as demo_main

    return demo_main(
        subjects=args.subjects,
        seed=args.seed,
        host=args.host or settings.host,
        port=args.port or settings.port,
    )


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.replay import Dispatch
    from vigil.replay import main as replay_main

    dispatch = None
    if settings.dispatch_url and settings.dispatch_secret:
        dispatch = Dispatch(
            settings.dispatch_url,
            settings.dispatch_secret,
            args.timeout,
            settings.dispatch_sender,
            settings.dispatch_source,
        )
    return replay_main(args.file, dispatch=dispatch)


def _counts(text: str) -> list[int]:
    """ "1000,10000" -> [1000, 10000]."""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated counts, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise ValueError(f"expected positive counts, got {text!r}")
    return values


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.workload == "dispatch":
        return _dispatch_bench(args)
    if args.workload == "tcp":
        return _tcp_bench(args)
    if args.workers is not None:
        return _cluster_bench(args)
    if args.http or args.workload:
        from vigil_sim.httpbench import main as http_main

        w1 = args.workload == "w1"
        try:
            default_sizes = [] if w1 else [1_000, 10_000, 100_000]
            sizes = _counts(args.devices) if args.devices is not None else default_sizes
            pairs = (_counts(args.pairs) if args.pairs else [1_000, 10_000]) if w1 else []
        except ValueError as exc:
            print(f"vigil bench: {exc}", file=sys.stderr)
            return 2
        return http_main(
            sizes,
            fixes=args.fixes or 100_000,
            latency_fixes=(args.fixes or 100_000) // 2,
            w1_pairs=pairs,
            updates=args.updates,
            out=args.out,
            chart_path=args.chart,
            viewers=args.viewers,
        )
    from vigil_sim.bench import main as bench_main

    return bench_main(
        pairs=int(args.pairs or 10_000),
        fixes=args.fixes or 200_000,
        devices=int(args.devices or 100_000),
        batch=args.batch,
        out=args.out,
    )


def _cluster_bench(args: argparse.Namespace) -> int:
    """`vigil bench --workload w1 --workers 1,2`: the embedded mode and the cluster side by side."""
    from vigil_sim.clusterbench import PAIRS, PARTITIONS, PG_ADMIN_URL
    from vigil_sim.clusterbench import main as cluster_main

    try:
        if args.workload not in (None, "w1"):
            raise ValueError("--workers runs workload w1 only")
        # 0 is the embedded mode, always run first as the baseline
        others = ",".join(part for part in args.workers.split(",") if part.strip() != "0")
        modes = [0, *(_counts(others) if others.strip() else [])]
        pairs = _counts(args.pairs) if args.pairs else [PAIRS]
        if len(pairs) != 1:
            raise ValueError("--workers takes one --pairs count")
    except ValueError as exc:
        print(f"vigil bench: {exc}", file=sys.stderr)
        return 2
    return cluster_main(
        pairs[0],
        args.updates,
        modes,
        pg_admin_url=args.pg_admin_url or PG_ADMIN_URL,
        nats_url=args.nats_url,
        partitions=args.partitions or PARTITIONS,
        out=args.out,
    )


def _dispatch_bench(args: argparse.Namespace) -> int:
    from vigil_sim.dispatchbench import BURST, DEVICES, PAIRS, RATE
    from vigil_sim.dispatchbench import main as dispatch_main

    try:
        pairs = _counts(args.pairs) if args.pairs else [PAIRS]
        devices = _counts(args.devices) if args.devices else [DEVICES]
        if len(pairs) != 1 or len(devices) != 1:
            raise ValueError("--workload dispatch takes one --pairs and one --devices count")
    except ValueError as exc:
        print(f"vigil bench: {exc}", file=sys.stderr)
        return 2
    bursting = BURST if args.burst is None else max(0, args.burst)
    return dispatch_main(pairs[0], devices[0], rate=args.rate or RATE, bursting=bursting, out=args.out)


def _tcp_bench(args: argparse.Namespace) -> int:
    from vigil_sim.tcpbench import DEVICES, INTERVAL_S, SECONDS
    from vigil_sim.tcpbench import main as tcp_main

    try:
        devices = _counts(args.devices) if args.devices else [DEVICES]
        if len(devices) != 1 or devices[0] < 2:
            raise ValueError("--workload tcp takes one --devices count, at least 2")
        seconds = SECONDS if args.seconds is None else args.seconds
        interval = INTERVAL_S if args.interval is None else args.interval
        if seconds <= 0 or interval <= 0:
            raise ValueError("--seconds and --interval must be positive")
    except ValueError as exc:
        print(f"vigil bench: {exc}", file=sys.stderr)
        return 2
    return tcp_main(devices[0], seconds=seconds, interval=interval, out=args.out)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from vigil_sim.simulate import Forced, Options, UsageError, parse_noise, parse_rates, parse_seeds
    from vigil_sim.simulate import main as simulate_main

    try:
        forced = tuple(Forced.parse(text) for text in args.force)
        rates = parse_rates(args.incident_rate)
        seeds = None if args.seeds is None else parse_seeds(args.seeds)
        noise = parse_noise(args.noise)
    except UsageError as exc:
        print(f"vigil simulate: {exc}", file=sys.stderr)
        return 2
    return simulate_main(
        Options(
            subjects=args.subjects,
            hours=args.hours,
            seed=args.seed,
            incident_rate=rates[0],
            incident_rates=rates if len(rates) > 1 else None,
            seeds=seeds,
            noise=noise,
            workers=args.workers,
            plain_world=args.plain_world,
            scenario_out=args.scenario_out,
            quality=args.quality,
            json_out=args.json,
            url=args.url,
            device_token=args.device_token,
            registry_token=args.registry_token,
            force=forced,
        )
    )


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from vigil.retention import direct, purge
    from vigil.store.database import migrate, open_engine

    db = open_engine(settings.database_url)
    try:
        migrate(db)
        _record(
            db,
            settings,
            "retention.purge",
            "fixes,device_events",
            dry_run=args.dry_run,
            days=settings.retention_days,
        )
        report = purge(
            db,
            direct(db),
            now=datetime.now(UTC),
            retention=timedelta(days=settings.retention_days),
            chunk=settings.retention_chunk,
            dry_run=args.dry_run,
        )
    finally:
        db.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"retention {settings.retention_days} days (before {report.cutoff.isoformat()}): {verb} "
        f"{report.fixes_deleted} fixes and {report.events_deleted} device events of {report.devices} devices; "
        f"kept as evidence {report.fixes_kept} fixes and {report.events_kept} device events"
        + ("" if args.dry_run else f" ({report.transactions} transactions)")
    )
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from vigil.api.trail import Purpose
    from vigil.evidence import pdf
    from vigil.evidence.issued import issue
    from vigil.evidence.pack import victim_pack
    from vigil.evidence.report import alert_evidence, order_evidence, person_evidence, seal
    from vigil.store.database import open_engine
    from vigil.streetmap import tile_source

    out = Path(args.out)
    if out.suffix.lower() not in {".pdf", ".json"}:
        print("vigil report: --out must end in .pdf or .json", file=sys.stderr)
        return 2
    chosen = [x for x in (args.alert, args.order, args.person) if x is not None]
    if len(chosen) != 1 or (args.pack and args.person is None):
        print(
            "vigil report: give an ALERT_ID, or --order or --person (with --from and --until; "
            "--pack: her own pack)",
            file=sys.stderr,
        )
        return 2
    if args.purpose not in set(Purpose) or len(args.reason.strip()) < 5:
        print(
            f"vigil report: an export needs --purpose ({', '.join(Purpose)}) and a --reason", file=sys.stderr
        )
        return 2
    since = until = None
    if args.alert is None:
        try:
            since, until = (datetime.fromisoformat(v) for v in (args.since, args.until))
        except (TypeError, ValueError):
            print("vigil report: --order and --person need --from and --until as ISO times", file=sys.stderr)
            return 2
        if since.tzinfo is None or until.tzinfo is None:
            print("vigil report: --from and --until need a time zone (e.g. +09:00)", file=sys.stderr)
            return 2
    now = datetime.now(UTC)
    by = f"cli:{getpass.getuser()}"
    what = "alert" if args.alert else "order" if args.order else "person"
    db = open_engine(settings.database_url)
    try:
        target = f"{what}:{chosen[0]}"
        _record(db, settings, "evidence.read", target, args.purpose, args.reason.strip(), out=str(out))
        with db.connect() as conn:
            tz = settings.timezone
            if args.alert is not None:
                evidence = alert_evidence(conn, args.alert, generated_at=now, generated_by=by, timezone=tz)
            elif args.order is not None:
                assert since is not None and until is not None
                evidence = order_evidence(
                    conn, args.order, since=since, until=until, generated_at=now, generated_by=by, timezone=tz
                )
            else:
                assert since is not None and until is not None
                evidence = person_evidence(
                    conn,
                    args.person,
                    since=since,
                    until=until,
                    generated_at=now,
                    generated_by=by,
                    timezone=tz,
                )
                if evidence is not None and args.pack:
                    evidence = victim_pack(evidence)
        if evidence is None:
            print(f"vigil report: no such {what}", file=sys.stderr)
            return 1
        sealed = seal(evidence)
        fmt = out.suffix.lower().lstrip(".")
        body = pdf.render(sealed, tile_source(settings)) if fmt == "pdf" else sealed.envelope()
        with db.begin() as conn:  # recorded as issued, so a court can check it against Vigil
            issue(conn, sealed, body, fmt, issued_to=by, at=now)
    finally:
        db.dispose()
    out.write_bytes(body)
    print(f"{out}: SHA-256 of the JSON evidence {sealed.sha256}")
    return 0


def _evidence_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Whether Vigil issued this evidence file (JSON envelope or PDF), and whether its content matches
    its hash: 0 yes, 1 no, 2 the file cannot be read."""
    from pathlib import Path

    from vigil.evidence.issued import verify_file
    from vigil.store.database import open_engine

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"vigil evidence verify: {exc}", file=sys.stderr)
        return 2
    db = open_engine(settings.database_url)
    try:
        with db.connect() as conn:
            verdict = verify_file(conn, data)
    finally:
        db.dispose()
    print(json.dumps(verdict.as_json(), ensure_ascii=False, indent=2))
    return 0 if verdict.issued and verdict.intact else 1


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from vigil.api.trail import Purpose
    from vigil.store.archive import ArchiveError
    from vigil.store.database import open_engine
    from vigil.transfer import export_record

    if args.purpose not in set(Purpose) or len(args.reason.strip()) < 5:
        print(f"vigil export: needs --purpose ({', '.join(Purpose)}) and a --reason", file=sys.stderr)
        return 2
    db = open_engine(settings.database_url)
    try:
        written = export_record(
            db,
            settings,
            Path(args.folder),
            purpose=args.purpose,
            reason=args.reason.strip(),
            with_key=args.with_audit_key,
        )
    except ArchiveError as exc:
        print(f"vigil export: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(
        f"{written.folder}: {written.rows} rows in {written.tables} tables; "
        f"SHA-256 of manifest.json {written.manifest_sha256} (keep it to check the archive later)"
    )
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from vigil.store.archive import ArchiveError, open_archive
    from vigil.store.database import open_engine
    from vigil.transfer import import_record

    try:
        archive = open_archive(Path(args.folder))
    except ArchiveError as exc:
        print(f"vigil import: {exc}", file=sys.stderr)
        return 1
    db = open_engine(settings.database_url)
    try:
        done = import_record(
            db, settings, archive, Path(args.audit_key_file) if args.audit_key_file else None
        )
    except ArchiveError as exc:
        print(f"vigil import: {exc} (nothing was loaded)", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"imported {done.rows} rows; audit chain verified: {done.entries} entries, head {done.head}")
    if done.key_installed is not None:
        print(f"the archive's audit key is now at {done.key_installed} (mode 0600)")
    if done.anchors_installed is not None:
        print(f"its anchors are at {done.anchors_installed}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, default=0, help="cluster mode: also start this many `vigil worker` processes"
    )
    serve.set_defaults(run=_serve)
    edge = sub.add_parser("edge", help="cluster mode: the API, device listeners and live streams (no engine)")
    edge.add_argument("--host")
    edge.add_argument("--port", type=int)
    edge.set_defaults(run=_edge)
    worker = sub.add_parser("worker", help="cluster mode: run the engine for a share of the log's partitions")
    worker.set_defaults(run=_worker)
    user = sub.add_parser(
        "user", help="create a user (or change an existing one's name, role and areas) and print a token"
    )
    user.add_argument("name")
    user.add_argument("role", choices=[r.value for r in Role if r is not Role.DEVICE])
    user.add_argument("--id")
    user.add_argument(
        "--areas",
        help="a police dispatcher's jurisdictions or an investigator's station areas: code prefixes, e.g. 11,31 (Seoul, Gyeonggi-do: the 2012 codes)",
    )
    user.set_defaults(run=_user)
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="check the keyed chain and its anchors; exit 1 and say where if it is broken"
    )
    verify.add_argument("--expect-head", help="the head hash recorded earlier: detects a cut tail")
    verify.add_argument(
        "--anchors", metavar="FILE", help="the anchor file to check against (default: the server's)"
    )
    verify.set_defaults(run=_audit)
    device = sub.add_parser("device-token", help="issue a device token and print it")
    device.add_argument("--device", help="the device it may post for (omit for a gateway token)")
    device.set_defaults(run=_device_token)
    demo = sub.add_parser("demo", help="the live demo: server, caseload and simulated devices in real time")
    demo.add_argument("--subjects", type=int, default=200)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.set_defaults(run=_demo)
    replay = sub.add_parser("replay", help="run a scenario file on a virtual clock; print alert changes")
    replay.add_argument("file")
    replay.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="with VIGIL_DISPATCH_URL set: seconds to wait for every push to be delivered (default 30)",
    )
    replay.set_defaults(run=_replay)
    bench = sub.add_parser("bench", help="drive ingest -> engine -> store and print throughput and latency")
    bench.add_argument(
        "--pairs",
        help="default 10,000; with --workload w1, comma-separated counts (default 1000,10000); "
        "with --workload dispatch, the driven pairs (default 200)",
    )
    bench.add_argument(
        "--fixes", type=int, help="default 200,000 (--http: 100,000 per size, plus half as many paced)"
    )
    bench.add_argument(
        "--devices",
        help="registered devices for the memory figure (default 100,000); "
        "with --http, comma-separated sizes (default 1000,10000,100000); "
        "with --workload tcp, devices connected at once (default 10,000)",
    )
    bench.add_argument("--batch", type=int, default=100)
    bench.add_argument("--out", help="also save the figures as JSON here (e.g. docs/bench/latest.json)")
    bench.add_argument(
        "--http", action="store_true", help="server and load generator as separate processes, over HTTP"
    )
    bench.add_argument(
        "--workload",
        choices=["w1", "dispatch", "tcp"],
        help="w1: the named comparison workload (implies --http); "
        "dispatch: alert -> push latency to a loopback dispatch receiver; "
        "tcp: GT06 devices connected at once to the device gateway",
    )
    bench.add_argument("--updates", type=int, default=200_000, help="with --workload w1: updates sent")
    bench.add_argument("--chart", help="with --http: draw a PNG chart here (needs matplotlib)")
    bench.add_argument(
        "--viewers", type=int, default=1, help="with --http: operators watching the whole stream (default 1)"
    )
    bench.add_argument(
        "--workers",
        help="with --workload w1: cluster mode with these worker counts, e.g. 1,2, beside the embedded "
        "mode (an edge and N `vigil worker` processes on NATS JetStream and PostgreSQL)",
    )
    bench.add_argument(
        "--nats-url",
        help="with --workers: use this NATS server (default: a private nats-server on a free port)",
    )
    bench.add_argument(
        "--partitions", type=int, help="with --workers: the cluster log's partitions (default 64)"
    )
    bench.add_argument(
        "--pg-admin-url",
        help="with --workers: PostgreSQL on which each run's own database is created and dropped "
        "(default postgresql+psycopg://postgres@127.0.0.1:5432/test)",
    )
    bench.add_argument(
        "--rate", type=float, help="with --workload dispatch: background fixes/s (default 1,500)"
    )
    bench.add_argument(
        "--burst",
        type=int,
        help="with --workload dispatch: violations opened by one POST before the measured phase (default 300; 0: none)",
    )
    bench.add_argument(
        "--seconds",
        type=float,
        help="with --workload tcp: reporting time after all are connected (default 60)",
    )
    bench.add_argument(
        "--interval", type=float, help="with --workload tcp: seconds between a device's reports (default 10)"
    )
    bench.set_defaults(run=_bench)
    simulate = sub.add_parser(
        "simulate",
        help="simulate a caseload: drive a server live (--url), or run offline, write a scenario, score it",
    )
    simulate.add_argument("--subjects", type=int, help="default 200 (50 with --quality)")
    simulate.add_argument("--hours", type=float, default=24.0, help="virtual hours offline; live: stop after")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--seeds", metavar="A-B", help="with --quality: one run per seed, e.g. 1-6 or 1,3,7-9"
    )
    simulate.add_argument(
        "--incident-rate", default="0.05", help="incidents per subject-day; with --quality several: 0.05,0.5"
    )
    simulate.add_argument(
        "--noise",
        default="default",
        help="device noise: clean, default or noisy; with --quality several: default,noisy",
    )
    simulate.add_argument(
        "--workers", type=int, help="with several runs: worker processes (default: the cores)"
    )
    simulate.add_argument(
        "--plain-world",
        action="store_true",
        help="no 300 s devices and no second phones (the simulated world before issue 13), to compare",
    )
    simulate.add_argument("--force", action="append", default=[], metavar="KIND@MINUTES[:SUBJECT]")
    simulate.add_argument("--scenario-out", metavar="FILE", help="write the run as a `vigil replay` file")
    simulate.add_argument("--quality", action="store_true", help="replay the run and score it vs the truth")
    simulate.add_argument("--json", metavar="FILE", help="with --quality: save the figures as JSON")
    simulate.add_argument("--url", help="drive this server live, e.g. http://127.0.0.1:8000")
    simulate.add_argument("--device-token", help="with --url: a gateway device token")
    simulate.add_argument("--registry-token", help="with --url: a token allowed to write the registry")
    simulate.set_defaults(run=_simulate)
    purge_cmd = sub.add_parser(
        "purge", help="delete history older than VIGIL_RETENTION_DAYS, except evidence (alerts, legal holds)"
    )
    purge_cmd.add_argument("--dry-run", action="store_true", help="only say what would be deleted and kept")
    purge_cmd.set_defaults(run=_purge)
    report = sub.add_parser(
        "report", help="export the breach report of an alert (an order, a protected person) as PDF or JSON"
    )
    report.add_argument("alert", nargs="?", metavar="ALERT_ID")
    report.add_argument("--out", required=True, metavar="FILE.pdf|FILE.json")
    report.add_argument("--order", help="instead of an alert: every alert and both tracks of this order")
    report.add_argument(
        "--person", help="instead: everything that concerned this protected person (both tracks, for a court)"
    )
    report.add_argument(
        "--pack", action="store_true", help="with --person: her own pack instead (nothing of his whereabouts)"
    )
    report.add_argument(
        "--from", dest="since", metavar="ISO", help="with --order/--person: start (with time zone)"
    )
    report.add_argument("--until", metavar="ISO", help="with --order/--person: end (with time zone)")
    report.add_argument("--purpose", default="", help="why it is exported: a reason code (court_order, ...)")
    report.add_argument("--reason", default="", help="why, in words (recorded in the audit trail)")
    report.set_defaults(run=_report)
    evidence_cmd = sub.add_parser("evidence", help="check evidence files against what Vigil issued")
    evidence_sub = evidence_cmd.add_subparsers(dest="evidence_command", required=True)
    verify_cmd = evidence_sub.add_parser(
        "verify", help="whether Vigil issued this JSON or PDF evidence file, and its content is intact"
    )
    verify_cmd.add_argument("file", metavar="FILE")
    verify_cmd.set_defaults(run=_evidence_verify)
    export_cmd = sub.add_parser(
        "export",
        help="write the whole system of record as a vendor-neutral archive (NDJSON per table, manifest with hashes)",
    )
    export_cmd.add_argument("folder", help="a new (or empty) folder")
    export_cmd.add_argument(
        "--purpose", default="", help="why: a reason code (court_order, audit_review, ...)"
    )
    export_cmd.add_argument("--reason", default="", help="why, in words (recorded in the audit trail)")
    export_cmd.add_argument(
        "--with-audit-key",
        action="store_true",
        help="put the audit chain's key in the archive too (then keep the archive as safe as the key)",
    )
    export_cmd.set_defaults(run=_export)
    import_cmd = sub.add_parser(
        "import", help="load an archive written by `vigil export` into an empty database (either backend)"
    )
    import_cmd.add_argument("folder")
    import_cmd.add_argument(
        "--audit-key-file", metavar="FILE", help="the audit chain's key, when it is not in the archive"
    )
    import_cmd.set_defaults(run=_import)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic", "httpx", "httpcore"):  # routine migrations and requests are not news
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from vigil.store.audit_key import AuditKeyError

    try:
        code: int = args.run(args, settings)
    except AuditKeyError as exc:  # no key to append or verify with: say what to set
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
