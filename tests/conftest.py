"""
Shared fixtures.

Tests that touch the global reactor must leave it as they found it:
pytest-twisted has no trial-style dirty-reactor check, so the autouse
L{reactor_is_clean} fixture fails a test that leaks a timer or a socket.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from zope.interface import implementer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tempmail.hub import EventHub  # noqa: E402
from tempmail.interfaces import IMailStore  # noqa: E402
from tempmail.publishing import PublishingMailStore  # noqa: E402
from tempmail.storage import StoreLocation, open_store  # noqa: E402
from tempmail.testing import MemoryMailStore  # noqa: E402
from tempmail.testing.postgres import PostgresServer, available, throwaway_server  # noqa: E402
from tests.daemon import DaemonFactory  # noqa: E402
from tests.support import T0  # noqa: E402


def _reactor_state() -> tuple[set[Any], set[Any]]:
    from twisted.internet import reactor

    calls = {c for c in reactor.getDelayedCalls() if c.active()}
    selectables = {
        s
        for s in set(reactor.getReaders()) | set(reactor.getWriters())
        # The reactor's own wakers come and go with signal handling.
        if not type(s).__name__.endswith("Waker")
    }
    return calls, selectables


@pytest.fixture(autouse=True)
def reactor_is_clean() -> Iterator[None]:
    """
    Fail a test that leaves delayed calls or open sockets on the reactor.
    """
    calls_before, selectables_before = _reactor_state()
    yield
    calls_after, selectables_after = _reactor_state()
    leaked_calls = calls_after - calls_before
    leaked_selectables = selectables_after - selectables_before
    assert not leaked_calls, f"test left delayed calls: {leaked_calls}"
    assert not leaked_selectables, f"test left sockets open: {leaked_selectables}"


@implementer(ILogObserver)
class LoggedErrors:
    """
    The error and critical events Twisted's logger saw during one test.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if level is not None and level >= LogLevel.error:
            self.events.append(event)

    def take(self) -> list[str]:
        """
        The errors logged so far, as text; they count as expected from now.
        """
        taken = [formatEvent(event) for event in self.events]
        self.events.clear()
        return taken


@pytest.fixture
def logged_errors() -> Iterator[LoggedErrors]:
    """
    Errors logged during the test.  A test that expects one asks for this
    fixture and C{take()}s it; any other fails the test (L{no_errors_logged}).
    """
    recorder = LoggedErrors()
    globalLogPublisher.addObserver(recorder)
    try:
        yield recorder
    finally:
        globalLogPublisher.removeObserver(recorder)


@pytest.fixture(autouse=True)
def no_errors_logged(logged_errors: LoggedErrors) -> Iterator[None]:
    """
    Fail a test during which an error was logged that it did not expect: a
    swallowed failure is a bug even when the test's assertions pass.
    """
    yield
    unexpected = logged_errors.take()
    assert not unexpected, "errors were logged:\n" + "\n".join(unexpected)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonFactory]:
    """
    Start real C{twistd -n tempmail} processes; all are stopped (and must
    exit 0) at the end of the test.
    """
    factory = DaemonFactory(tmp_path, ROOT)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """
    One headless chromium per test module (see L{tests.browser}).  Not per
    session: while Playwright's sync API runs, an asyncio loop counts as
    running in this thread, and later tests that call C{asyncio.run} fail.
    """
    from tests.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def store_clock() -> Clock:
    """
    The clock the C{store} fixture's store reads "now" from, at L{T0}.
    """
    clock = Clock()
    clock.advance(T0.timestamp())
    return clock


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """
    One PostgreSQL server for the session (see L{tests.postgres}).
    """
    if not available():
        pytest.skip("no PostgreSQL: install Debian's postgresql or set TEMPMAIL_TEST_POSTGRES")
    with throwaway_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """
    The URL of a new, empty database on L{postgres_server}, dropped after
    the test.
    """
    url = postgres_server.new_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "memory", "publishing", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, store_clock: Clock
) -> Iterator[IMailStore]:
    """
    Each implementation of L{IMailStore} in turn, empty, on L{store_clock}.
    """
    opened: IMailStore
    if request.param == "sqlite":
        opened = open_store(StoreLocation("sqlite", str(tmp_path / "mail.db")), store_clock)
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        opened = open_store(StoreLocation("postgresql", url), store_clock)
    elif request.param == "memory":
        opened = MemoryMailStore(store_clock)
    else:
        opened = PublishingMailStore(MemoryMailStore(store_clock), EventHub(Clock()))
    try:
        yield opened
    finally:
        pytest_twisted.blockon(opened.close())
