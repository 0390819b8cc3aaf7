"""Shared, generic fixtures: a database per test on the backends it runs on, and the skip-or-fail rule
for external services.

Which backends. A test that uses a database runs on SQLite only, unless it is marked
`@pytest.mark.both_backends` (a module opts in whole with `pytestmark = pytest.mark.both_backends`):
then it runs on SQLite and on PostgreSQL, as `test_x[sqlite]` and `test_x[postgresql]`. Both where
the storage behaves differently between them: scope filtering in SQL, the audit chain, retention,
evidence, idempotent writes (ON CONFLICT), the revocation signal (NOTIFY), savepoints and locking,
JSON and text a store may refuse (NUL), times and time zones read back (after a restart), and
migrations. The rest runs the same SQL on either, so SQLite, the cheaper, is enough. When unsure,
both. A test that is about one backend only parametrises `backend` itself, e.g.
`@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)`. PostgreSQL tests carry the
`postgres` marker; without the server they skip, or fail under CI=true (tests/services.py).

Which database. Migrating takes longer than most tests, so a migrated database is built once per
session and backend (a template, tests/database_kit.py) and each test gets a copy of it:
`database_url` is migrated and holds no rows beyond what the migrations put there. A test that
migrates itself (the migrations' own tests) takes `empty_database_url` instead. Either is the test's
own: a SQLite file in its tmp_path, or a PostgreSQL database dropped after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings

from database_kit import BACKENDS, MIGRATED, Templates
from vigil.store import accounts

# Generated-input tests run beside other work (another test process, a CI neighbour): how long one
# example takes says nothing about the code under test, so neither a deadline nor the "too slow"
# health check may fail a test. A test's own @settings still choose its example counts.
settings.register_profile("vigil", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Under CI=true the draw is derandomized (seeded from each test), as in Hypothesis's own "ci" profile:
# every run sends the same cases, so a red run is the code's doing, not the draw's, and a failure
# prints its blob (`@reproduce_failure`) to replay it anywhere. A fresh clone has no database of past
# failures to replay, so none is kept there. Locally the draw stays random and the database in
# .hypothesis/ replays what failed before: the many runs there explore, the CI run checks.
settings.register_profile(
    "vigil-ci", settings.get_profile("vigil"), derandomize=True, database=None, print_blob=True
)
settings.load_profile("vigil-ci" if os.environ.get("CI", "").lower() in ("1", "true") else "vigil")


# Passwords are hashed at a low argon2id cost in every test process (and so by every server a test
# runs in it). The product's hasher (vigil.store.accounts: the library's recommended 64 MiB and three
# passes) takes about half a second of one core per hash or check on this kind of machine, a second
# when both cores are busy; the logins, activations, lockouts and new passwords of the API and browser
# tests spent most of their time inside argon2, on work no test looks at. The code around it is the
# same: the hash is argon2id, a check reads its cost from the stored hash (one made at full cost by a
# `vigil` process is checked at that cost, then rehashed as after a change of parameters), and an
# unknown user's dummy hash is made by this hasher too, so it costs what a real check does.
accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# No test's server listens for devices on the protocols' fixed ports (5023, 5093, 5027): tests run in
# parallel, and one that tests a listener gives it a port of its own. Servers started as processes
# (the demo, the simulator's) inherit this.
for _protocol in ("GT06", "WATCH", "TELTONIKA"):
    os.environ[f"VIGIL_{_protocol}_PORT"] = "0"

MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (in pyproject's addopts): two test processes per core, at most MAX_WORKERS. The
    suite waits more than it computes (browsers, databases committing, servers answering, a
    cluster's processes): on 2 cores, 4 processes ran it in 469 s where 2 took 547 s. Each process
    builds its own template databases and starts its own servers on free ports, so more than that
    costs more in set-up than it saves. Files go whole to one process (`--dist loadfile`), so a
    module's shared server (tests/web) starts once; a file that takes a minute or more is split in
    two for the processes to share (test_access_matrix_sweep.py, test_control_queue.py). `-n 0`
    runs in this process, for a debugger."""
    import os

    return max(1, min(MAX_WORKERS, 2 * (os.cpu_count() or 1)))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_backends: run on SQLite and PostgreSQL (storage behaviour differs), not SQLite only",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the process that hands out the tests (xdist's controller, before it starts the test
    processes: its own `pytest_sessionstart` runs last), rewrite every test module's asserts once and
    keep the result where each test process looks for it first (tests/**/__pycache__, pytest's
    hash-checked `.pyc`). Each test process imports every test module to collect them; rewriting and
    compiling them took 6 of its 10.5 s of CPU on a two-core machine whose environment sets
    PYTHONDONTWRITEBYTECODE=1, under which no process writes them and every process pays it: four
    times per run. The processes only read what is kept here (the variable stays set for them), and a
    changed file fails its hash and is rewritten in memory as before."""
    config = session.config
    if getattr(config, "workerinput", None) is not None or not config.getoption("numprocesses", None):
        return  # a test process, or no test processes (-n 0): collection rewrites once anyway
    if config.getoption("assertmode") != "rewrite":
        return
    from _pytest.assertion import rewrite

    _compile_the_product(config)
    state = config.stash[rewrite.assertstate_key]
    for source in _collected_modules(config):
        pyc = rewrite.get_cache_dir(source) / (source.name[:-3] + rewrite.PYC_TAIL)
        if rewrite._read_pyc(source, pyc, state.trace) is not None:
            continue  # kept by an earlier run and still current
        if rewrite.try_makedirs(pyc.parent):
            source_hash, code = rewrite._rewrite_test(source, config)
            rewrite._write_pyc(state, code, source_hash, pyc)


def _compile_the_product(config: pytest.Config) -> None:
    """The same for `src/vigil` when it is this checkout's (an editable install; an installed package
    was compiled by pip): every test process imports it, and so does every `vigil` process a test
    starts (the cluster's, the benches', the replays'), each compiling all of it again (about 0.2 s
    of its 1.5 s start) where nothing may write the bytecode they would read."""
    import compileall

    import vigil

    package = Path(vigil.__file__).resolve().parent
    if package.is_relative_to(config.rootpath):
        compileall.compile_dir(package, quiet=1)


def _collected_modules(config: pytest.Config) -> list[Path]:
    """The test modules and conftests the test processes will import for this run's arguments (a
    file, a folder, a test id; none: the testpaths), so a run of one file rewrites only that."""
    found: set[Path] = set()
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path.is_dir():
            found.update(
                p for p in path.rglob("*.py") if p.name == "conftest.py" or p.name.startswith("test_")
            )
        elif path.suffix == ".py":
            found.add(path)
        for folder in path.parents:  # the conftests above it, up to the root
            if not folder.is_relative_to(config.rootpath):
                break
            if (folder / "conftest.py").is_file():
                found.add(folder / "conftest.py")
    roots = [(config.rootpath / root).resolve() for root in config.getini("testpaths")]
    return sorted(p for p in found if any(p.is_relative_to(root) for root in roots))  # never .venv


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a database gets `backend`: SQLite, or both when marked. A test that
    parametrises `backend` itself keeps its own choice."""
    if "backend" not in metafunc.fixturenames or _parametrises(metafunc, "backend"):
        return
    chosen = BACKENDS if metafunc.definition.get_closest_marker("both_backends") else ("sqlite",)
    params = [pytest.param(b, marks=pytest.mark.postgres) if b == "postgresql" else b for b in chosen]
    metafunc.parametrize("backend", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL variants are `slow` too: the quick loop (`-m "not slow"`) runs on the embedded
    default, SQLite, and the whole suite (the README command, CI) runs them all. They exist to check
    what PostgreSQL stores differently, which an inner loop on one backend does not change; each
    costs four times its SQLite twin (a database made from the template, a server on it)."""
    for item in items:
        if item.get_closest_marker("postgres") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
    # The files whose tests run longest go first, the longest first: handed out last, one of them ran
    # alone at the end of every run for a minute or more while the other processes waited. (xdist
    # would reorder files by how many tests they hold, not how long they take: pyproject's addopts
    # turn that off with --no-loadscope-reorder, so this order is the one the processes get.)
    items.sort(key=lambda item: LONG_FIRST.get(item.nodeid.split("::", 1)[0], len(LONG_FIRST)))


# Seconds each took on a busy two-core machine (a full run with --durations=0, session 10; the four
# files changed on branch h-suitetime scaled by how much faster they ran alone, before against after).
_LONGEST = (
    ("tests/api/test_access_matrix.py", 82),  # 140 before its scene template
    ("tests/api/test_access_matrix_sweep.py", 60),
    ("tests/api/test_api_dispatch_fuzz.py", 47),  # 62 at 60 examples
    ("tests/sim/test_clusterbench.py", 55),
    ("tests/test_schemathesis.py", 29),  # 53 at 12 examples per operation
    ("tests/web/test_forms.py", 52),
    ("tests/web/test_control.py", 50),
    ("tests/web/test_control_queue.py", 45),
    ("tests/sim/test_demo.py", 38),
    ("tests/api/test_api_profiles.py", 27),  # 35 with PostgreSQL twins of its refusals
    ("tests/cluster/test_cluster_restarts.py", 35),
    ("tests/web/test_victim.py", 31),
    ("tests/api/test_api_dispatch.py", 31),
    ("tests/web/test_login.py", 31),
    ("tests/web/test_alarm.py", 26),
    ("tests/sim/test_httpbench.py", 26),
    ("tests/api/test_api_incidents.py", 26),
    ("tests/api/test_api_me.py", 25),
    ("tests/replay/test_replay.py", 24),
    ("tests/cluster/test_cluster_failover.py", 21),
)
LONG_FIRST = {path: rank for rank, (path, _) in enumerate(sorted(_LONGEST, key=lambda p: -p[1]))}


def _parametrises(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql": which one this test runs on (see the module docstring)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """The session's template databases (built on first use) and their copies."""
    templates = Templates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture(autouse=True)
def _audit_files_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit key and anchor files a server makes for a database that is not a file (PostgreSQL)
    go under var/ in the working directory; a test's go to its own folder instead."""
    from vigil.store import audit_key

    monkeypatch.setattr(audit_key, "VAR", tmp_path / "var")


@pytest.fixture
def database_url(backend: str, tmp_path: Path, database_templates: Templates) -> Iterator[str]:
    """A SQLAlchemy URL for the test's own database, migrated to the newest revision and otherwise
    empty (no users, no tokens, no audit entries): a copy of the session's template, a SQLite file
    (tmp_path/vigil.db) or a PostgreSQL database dropped afterwards."""
    with database_templates.copy(backend, MIGRATED, tmp_path) as copy:
        yield copy.url


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, database_templates: Templates) -> Iterator[str]:
    """A SQLAlchemy URL for an empty database, not migrated, for tests that migrate it themselves:
    a SQLite file not made yet (tmp_path/vigil.db), or a fresh PostgreSQL database dropped
    afterwards."""
    with database_templates.empty(backend, tmp_path) as url:
        yield url
