"""
What only a server database adds: several stores (nodes) on one
PostgreSQL database at once, the shared failure limiter, connection loss
and its recovery, and the schema checks.  The storage contract itself runs
on PostgreSQL through the C{store} fixture (tests/test_store_contract*.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, gatherResults, maybeDeferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from tempmail.events import EventKind, MailEvent
from tempmail.flags import FlagMode
from tempmail.hub import EventHub
from tempmail.interfaces import ISharedFailureLimits, LockChanged, StorageUnavailable
from tempmail.models import TokenGrant
from tempmail.storage import SchemaError, StoreLocation, open_store
from tempmail.storage.postgresql import PostgreSQLMailStore
from tests.conftest import LoggedErrors
from tests.support import T0, incoming, open_grant

LATER = T0 + timedelta(days=1)


def _open(url: str, clock: Clock) -> PostgreSQLMailStore:
    store = open_store(StoreLocation("postgresql", url), clock)
    assert isinstance(store, PostgreSQLMailStore)
    return store


@pytest.fixture
def nodes(postgres_url: str, store_clock: Clock) -> Iterator[list[PostgreSQLMailStore]]:
    """
    Three stores on one database, as three nodes would have.
    """
    opened = [_open(postgres_url, store_clock) for _ in range(3)]
    try:
        yield opened
    finally:
        for store in opened:
            pytest_twisted.blockon(store.close())


def _execute(url: str, statement: str) -> list[tuple]:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@pytest_twisted.ensureDeferred
async def test_nodes_delivering_at_once_get_distinct_increasing_uids(
    nodes: list[PostgreSQLMailStore],
) -> None:
    sent = [nodes[n % 3].deliver(incoming("many@x.test", "other@x.test")) for n in range(90)]
    results = await gatherResults(sent)
    uids = sorted(
        copy.uid for copies in results for copy in copies if copy.mailbox == "many@x.test"
    )
    assert uids == list(range(1, 91))
    listed = await nodes[1].list_uids("many@x.test")
    assert listed == list(range(1, 91))
    state = await nodes[2].open_mailbox("many@x.test")
    assert (state.uid_next, state.exists) == (91, 90)


@pytest_twisted.ensureDeferred
async def test_a_claim_on_one_node_holds_on_the_others(
    nodes: list[PostgreSQLMailStore],
) -> None:
    a, b, c = nodes
    claims = await gatherResults(
        [
            store.claim_mailbox("race@x.test", f"hash-{n}", TokenGrant(f"t{n}", LATER))
            for n, store in enumerate(nodes)
        ]
    )
    assert sorted(claims) == [False, False, True]
    winner = claims.index(True)
    state = await b.lock_state("race@x.test")
    assert state.password_hash == f"hash-{winner}"
    assert await c.token_mailbox(f"t{winner}", T0) == "race@x.test"
    # A write checked before the claim is refused on every node.
    (copy,) = await a.deliver(incoming("race@x.test"))
    for store in nodes:
        with pytest.raises(LockChanged):
            await store.set_seen(open_grant("race@x.test"), copy.id, True)


@pytest_twisted.ensureDeferred
async def test_each_delivery_is_leased_to_one_node(nodes: list[PostgreSQLMailStore]) -> None:
    hook = await nodes[0].create_webhook(
        open_grant("hooked@x.test"), "https://a.test/", ("arrival",), "s", 20
    )
    assert hook is not None
    for _ in range(30):
        await nodes[1].deliver(incoming("hooked@x.test"))
    lease = T0 + timedelta(minutes=1)
    ids: list[str] = []
    # Nodes claiming at once may lose a delivery to each other (and claim
    # it no more); whoever polls next takes what is left.
    for _ in range(30):
        results = await gatherResults(
            [
                store.claim_deliveries(f"node-{n}", T0, lease, 5, 100)
                for n, store in enumerate(nodes)
            ]
        )
        ids.extend(d.id for batch in results for d in batch)
        if not any(results):
            break
    assert len(ids) == len(set(ids)) == 30


@pytest_twisted.ensureDeferred
async def test_retention_on_several_nodes_deletes_each_copy_once(
    nodes: list[PostgreSQLMailStore],
) -> None:
    for _ in range(40):
        await nodes[0].deliver(incoming("old@x.test"))
    results = await gatherResults(
        [store.expire_messages(T0 + timedelta(seconds=1), 15) for store in nodes * 2]
    )
    deleted = [s.id for batch in results for s in batch]
    assert len(deleted) == len(set(deleted))
    rest = await nodes[0].expire_messages(T0 + timedelta(seconds=1), 100)
    assert len(deleted) + len(rest) == 40


@pytest_twisted.ensureDeferred
async def test_the_failure_limiter_is_shared(
    nodes: list[PostgreSQLMailStore], store_clock: Clock
) -> None:
    one, two = (
        ISharedFailureLimits(store).failure_limiter(store_clock, 2, 8) for store in nodes[:2]
    )
    delays = []
    for n in range(7):
        await (one if n % 2 else two).record_failure(["k", "other"])
        delays.append(await one.retry_after(["k"]))
    assert delays == [0, 1, 2, 4, 8, 8, 8]
    store_clock.advance(8)
    assert await two.retry_after(["k"]) == 0
    await one.record_failure(["k"])
    assert await two.retry_after(["k"]) == 8
    await two.record_success(["k"])
    assert await one.retry_after(["k"]) == 0
    # Success under one key forgets nothing of another.
    await two.record_failure(["other"])
    assert await one.retry_after(["other", "k"]) == 8
    store_clock.advance(one.forget_after + 1)  # type: ignore[attr-defined]
    assert await two.retry_after(["other"]) == 0
    await one.record_failure(["other"])
    assert await two.retry_after(["other"]) == 0


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_is_unavailable_then_the_pool_reconnects(
    postgres_url: str, nodes: list[PostgreSQLMailStore], logged_errors: LoggedErrors
) -> None:
    store = nodes[0]
    await store.deliver(incoming("before@x.test"))
    _execute(
        postgres_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    outcomes = await DeferredList([store.check_health() for _ in range(5)], consumeErrors=True)
    failures = [result for ok, result in outcomes if not ok]
    assert all(isinstance(f, Failure) and f.check(StorageUnavailable) for f in failures)
    # Each pooled connection notices its loss once; after that, all is well.
    for _ in range(10):
        try:
            await store.check_health()
        except StorageUnavailable:
            continue
        break
    (copy,) = await store.deliver(incoming("after@x.test"))
    assert await store.get_raw(copy.id) is not None
    # adbapi logs each dead connection it drops.
    assert all(error.startswith("Rollback failed") for error in logged_errors.take())


def test_an_unreachable_server_stops_startup(store_clock: Clock, postgres_url: str) -> None:
    with pytest.raises(StorageUnavailable):
        open_store(StoreLocation("postgresql", "postgresql://nobody@127.0.0.1:1/none"), store_clock)


def test_another_programs_database_is_refused(postgres_url: str, store_clock: Clock) -> None:
    _execute(postgres_url, "CREATE TABLE emails (id integer)")
    with pytest.raises(SchemaError, match=r"not tempmail's \(emails\)"):
        open_store(StoreLocation("postgresql", postgres_url), store_clock)
    assert _execute(postgres_url, "SELECT count(*) FROM emails") == [(0,)]


@pytest_twisted.ensureDeferred
async def test_a_newer_schema_is_refused(postgres_url: str, store_clock: Clock) -> None:
    store = _open(postgres_url, store_clock)
    await store.close()
    _execute(postgres_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaError, match="schema version 99, newer"):
        open_store(StoreLocation("postgresql", postgres_url), store_clock)


class Heard:
    """The events one node's hub passed on, and a wait for the n-th."""

    def __init__(self, hub: EventHub) -> None:
        self.events: list[MailEvent] = []
        self._waiting: list[tuple[int, Deferred[None]]] = []
        self.subscription = hub.subscribe(None, self._heard)

    def _heard(self, event: MailEvent) -> None:
        self.events.append(event)
        for count, d in list(self._waiting):
            if len(self.events) >= count:
                self._waiting.remove((count, d))
                d.callback(None)

    def until(self, count: int, timeout: float = 10) -> Deferred[None]:
        if len(self.events) >= count:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append((count, d))
        return d.addTimeout(timeout, reactor)


@pytest.fixture
def fed(nodes: list[PostgreSQLMailStore]) -> Iterator[list[Heard]]:
    """
    One hub per node, fed by the node's event listener.
    """
    feeds, heard = [], []
    for store in nodes:
        hub = EventHub(reactor)
        heard.append(Heard(hub))
        feed = store.event_feed(hub, reactor)
        feed.startService()
        feeds.append(feed)
    try:
        # Each listener has read where the log stands before the test acts.
        pytest_twisted.blockon(gatherResults([f.listening() for f in feeds]))
        yield heard
    finally:
        for h in heard:
            h.subscription.cancel()
        pytest_twisted.blockon(gatherResults([maybeDeferred(f.stopService) for f in feeds]))


@pytest_twisted.ensureDeferred
async def test_every_node_hears_each_change_once_in_commit_order(
    nodes: list[PostgreSQLMailStore], fed: list[Heard]
) -> None:
    sent = [nodes[n % 3].deliver(incoming("live@x.test")) for n in range(60)]
    await gatherResults(sent)
    await gatherResults([h.until(60) for h in fed])
    for heard in fed:
        assert [e.kind for e in heard.events] == [EventKind.ARRIVAL] * 60
        assert [e.summary.uid for e in heard.events if e.summary] == list(range(1, 61))
    # A flag set on one node, a claim on another: every node hears both.
    await nodes[1].store_flags(open_grant("live@x.test"), [3], frozenset({"\\Seen"}), FlagMode.ADD)
    await nodes[2].claim_mailbox("live@x.test", "h", TokenGrant("t", LATER))
    await gatherResults([h.until(63) for h in fed])
    for heard in fed:
        kinds = [e.kind for e in heard.events[60:]]
        assert kinds == [EventKind.FLAGS_CHANGED, EventKind.READ, EventKind.LOCK_CHANGED]
        assert len(heard.events) == 63


@pytest_twisted.ensureDeferred
async def test_a_listener_that_lost_its_connection_catches_up(
    postgres_url: str,
    nodes: list[PostgreSQLMailStore],
    fed: list[Heard],
    logged_errors: LoggedErrors,
) -> None:
    _execute(
        postgres_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    # Delivered while the listeners reconnect: their notifications are gone.
    for _ in range(5):
        while True:
            try:
                await nodes[0].deliver(incoming("gap@x.test"))
                break
            except StorageUnavailable:
                continue
    await gatherResults([h.until(5) for h in fed])
    for heard in fed:
        assert [e.summary.uid for e in heard.events if e.summary] == [1, 2, 3, 4, 5]
    logged_errors.take()


@pytest_twisted.ensureDeferred
async def test_deleting_the_last_copies_on_two_nodes_at_once_leaves_no_body(
    postgres_url: str, nodes: list[PostgreSQLMailStore]
) -> None:
    for _ in range(20):
        first, second = await nodes[0].deliver(incoming("one@x.test", "two@x.test"))
        await gatherResults(
            [
                nodes[1].delete_message(open_grant("one@x.test"), first.id),
                nodes[2].delete_message(open_grant("two@x.test"), second.id),
            ]
        )
    assert _execute(postgres_url, "SELECT count(*) FROM messages") == [(0,)]
