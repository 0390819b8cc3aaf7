"""Browser tests: a real server on a loopback port and Debian's Chromium driven by Playwright (no
browser download: the `chromium` package's executable). Without Chromium the tests skip, except
under CI=true, where they fail (conftest.service_unavailable)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Connection, update
from web_kit import DESK, DISPATCHER_AREAS, SOON, Site

from accounts_kit import provision
from dispatch.receiver import _free_port
from services import service_unavailable
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store import tables

CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "site_settings(**overrides): Settings fields for the `site` server, e.g. access_token_s=2"
    )
    config.addinivalue_line(
        "markers", "fresh_site: the `site` fixture is a server of the test's own, over a fresh database"
    )


def _provision(url: str) -> dict[str, str]:
    """A user per staff role and the gateway token (a victim's own account is a test's: `Site.account`).
    The police dispatcher's jurisdiction is Gyeonggi (where the scenes happen); the probation
    officer's caseload is whoever `Site.pair` puts in it."""

    def extra(conn: Connection, now: datetime, tokens: dict[str, str]) -> None:
        dispatcher = tables.users.c.id == f"u-{Role.POLICE_DISPATCHER.value}"
        conn.execute(update(tables.users).where(dispatcher).values(areas=DISPATCHER_AREAS))

    staff = (Role.OPERATOR, Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.ADMIN)
    return provision(url, staff, extra=extra)


@contextmanager
def _serving(url: str, overrides: dict[str, Any]) -> Iterator[Site]:
    """A server on a free loopback port over the SQLite file at `url`, provisioned here."""
    tokens = _provision(url)
    port = _free_port()
    settings = Settings(
        **{
            "database_url": url,
            "token_cache_s": 0,
            "host": "127.0.0.1",
            "port": port,
            "public_url": f"http://127.0.0.1:{port}",
            **overrides,
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    found = Site(f"http://127.0.0.1:{port}", tokens, url)
    try:
        yield found
    finally:
        found.close()
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for the tests of a module that can share it: each sets its own scene (`Site.pair`
    and `Site.account` hand out ids no other test of the module uses), so none sees another's."""
    folder = tmp_path_factory.mktemp("site")
    with _serving(f"sqlite:///{folder / 'vigil.db'}", {}) as found:
        yield found


@pytest.fixture(scope="module")
def module_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for a module whose Settings are made at run time (a file, a loopback server's
    port): the module's own `module_settings` fixture gives them."""
    overrides: dict[str, Any] = request.getfixturevalue("module_settings")
    folder = tmp_path_factory.mktemp("site")
    with _serving(f"sqlite:///{folder / 'vigil.db'}", overrides) as found:
        yield found


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The server, with uvicorn on a free loopback port over SQLite: the module's shared one, or a
    server of the test's own over a fresh database when it is marked @pytest.mark.fresh_site (it
    looks at everything there is: an empty queue, every alert) or
    @pytest.mark.site_settings(name=value, ...) (it gets those Settings instead of the defaults)."""
    marker = request.node.get_closest_marker("site_settings")
    if marker is None and request.node.get_closest_marker("fresh_site") is None:
        yield request.getfixturevalue("shared_site")
        return
    overrides: dict[str, Any] = dict(marker.kwargs) if marker else {}
    with _serving(f"sqlite:///{tmp_path / 'vigil.db'}", overrides) as found:
        yield found


class _Chromium:
    """The test process's Chromium, started by the first test that needs it and kept while the tests
    that follow need it too: a launch costs about a second of CPU (the browser's processes and
    Playwright's driver), once per module before. Closed before a test of another file that does not
    use it, and after the last: Playwright's sync API keeps an event loop running in the main thread
    while it lives, and tests elsewhere (asyncio.run) must not find one."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is not None and not self._browser.is_connected():
            self.close()  # it crashed (or a test closed it): the next module gets a new one
        if self._browser is None:
            if shutil.which(CHROMIUM) is None:
                service_unavailable("Chromium", CHROMIUM, "not installed (apt-get install chromium)")
            from playwright.sync_api import sync_playwright

            with ExitStack() as stack:
                playwright = stack.enter_context(sync_playwright())
                launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                stack.callback(launched.close)
                self._stack, self._browser = stack.pop_all(), launched
        return self._browser

    def close(self) -> None:
        stack, self._stack, self._browser = self._stack, None, None
        if stack is not None:
            stack.close()


_CHROMIUM = _Chromium()


@pytest.fixture
def browser() -> Any:
    """Headless Debian Chromium through Playwright: the process's one (see `_Chromium`), asked for
    per test, since it may have been closed and started again since the module's first. Each test
    opens contexts of its own on it (`desk`, a module's `phone`), so no test sees another's cookies,
    storage or pages."""
    return _CHROMIUM.get()


@pytest.hookimpl(trylast=True)  # after the test's fixtures (its contexts) are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Kept for the next test if it uses the browser or is in the same file (as when the browser was
    the module's, the file's other tests ran beside it); else closed."""
    uses = nextitem is not None and "browser" in getattr(nextitem, "fixturenames", ())
    if nextitem is None or not (uses or nextitem.path == item.path):
        _CHROMIUM.close()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """A control-centre screen in a Korean browser."""
    context = browser.new_context(viewport=DESK, locale="ko-KR")
    context.set_default_timeout(SOON)
    yield context
    context.close()


@pytest.fixture
def people(browser: Any) -> Iterator[Any]:
    """A fresh Korean browser context per person (each their own session and language), which lets
    the test add axe-core to the page (the apps' Content-Security-Policy refuses inline scripts)."""
    contexts: list[Any] = []

    def person() -> Any:  # a Playwright Page
        context = browser.new_context(viewport=DESK, locale="ko-KR", bypass_csp=True)
        context.set_default_timeout(SOON)
        contexts.append(context)
        return context.new_page()

    yield person
    for context in contexts:
        context.close()
