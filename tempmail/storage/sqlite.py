"""
The embedded default store: SQLite through L{twisted.enterprise.adbapi}.

One connection in one pool thread does all the work, so SQLite's single
writer never waits on itself and operations run in the order they were
asked; only the health check reads on a connection of its own.  The
database is in WAL mode with C{synchronous=FULL}: a delivery's Deferred
fires only after its transaction is on disk, and deliveries that arrive
while one commits share the next transaction (L{GroupCommit}).  The SQL is
in the C{sqlite_*} modules beside this one; this class runs each operation
as one transaction and tells passing trouble (L{StorageUnavailable}) from
bugs.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.interfaces import IMailStore, StorageUnavailable
from tempmail.models import (
    DeliveredCopy,
    IncomingMessage,
    StoreStatistics,
)
from tempmail.search import Criterion
from tempmail.storage import sqlite_messages as messages
from tempmail.storage import sqlite_search, sqlite_statistics
from tempmail.storage import sqlite_webhooks as webhooks
from tempmail.storage.group_commit import GroupCommit
from tempmail.storage.location import MEMORY, StoreLocation
from tempmail.storage.schema import current_version, migrate
from tempmail.storage.sql_store import Announce, SQLMailStore

T = TypeVar("T")

# SQLite's primary result codes for trouble that can pass or that an
# operator must fix (busy, locked, out of memory, read-only, interrupted,
# I/O error, corrupt, full, cannot open, protocol, not a database): the
# sender should retry.  Any other code (a syntax error, a constraint, misuse)
# is a bug in tempmail, and retrying it forever would help nobody.
_TRANSIENT = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})

PAGE_SIZE = 8192


def _configure(connection: sqlite3.Connection) -> None:
    # Counts only for a new file.  Rows of small messages (1-3 KB) waste a
    # fifth of 4 KiB pages; 8 KiB pages hold them with a few percent spare,
    # while a large message's overflow chain still wastes at most one page.
    connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 5000")
    sqlite_search.register(connection)


def is_transient(error: BaseException) -> bool:
    """
    Whether a SQLite error is passing trouble rather than a bug.
    """
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _TRANSIENT


def _interaction_failed(failure: Failure) -> Failure:
    """
    Report passing database trouble as L{StorageUnavailable}; let bugs (and
    our own errors) through as what they are.
    """
    if is_transient(failure.value):
        raise StorageUnavailable(str(failure.value))
    return failure


@implementer(IMailStore)
class SQLiteMailStore(SQLMailStore):
    """
    L{IMailStore} on a SQLite file (or a private in-memory database).
    """

    def __init__(self, location: StoreLocation, clock: IReactorTime) -> None:
        """
        Open (creating and migrating if needed) the database at C{location}.

        Migration runs here, synchronously, so a database this release
        cannot use stops startup with a clear error.

        @param clock: what "now" is for the times the store writes.
        @raise tempmail.storage.schema.SchemaError: if it cannot be used.
        @raise StorageUnavailable: if it cannot be opened.
        """
        self.clock = clock
        if location.target == MEMORY:
            # Every connection to ":memory:" is a new empty database, so use
            # a named shared-cache one and keep a connection open for its life.
            database = f"file:tempmail-{uuid.uuid4().hex}?mode=memory&cache=shared"
            uri = True
        else:
            database, uri = location.target, False
        try:
            self._keeper: sqlite3.Connection | None = sqlite3.connect(
                database, uri=uri, isolation_level=None, check_same_thread=False
            )
            # Refuse a foreign database before changing anything in it (even
            # its journal mode).
            current_version(self._keeper)
            _configure(self._keeper)
            migrate(self._keeper)
        except sqlite3.Error as e:
            raise StorageUnavailable(str(e)) from None
        if not uri:
            self._keeper.close()
            self._keeper = None
        self._pool = self._one_connection(database, uri)
        # The health check reads on a connection of its own: in WAL mode a
        # reader does not wait for the writer, so a long write (a large
        # message) does not make the daemon look unhealthy.  A private
        # in-memory database has no WAL; it shares the one connection.
        self._health = self._pool if uri else self._one_connection(database, uri)
        self._in_flight: set[Deferred[Any]] = set()
        self._hooked = webhooks.HookedMailboxes()
        self._deliveries: GroupCommit[IncomingMessage, list[DeliveredCopy]] = GroupCommit(
            self._deliver_batch
        )

    @staticmethod
    def _one_connection(database: str, uri: bool) -> adbapi.ConnectionPool:
        return adbapi.ConnectionPool(
            "sqlite3",
            database,
            uri=uri,
            isolation_level=None,
            check_same_thread=False,
            cp_min=1,
            cp_max=1,
            cp_noisy=False,
            cp_openfun=_configure,
        )

    def _run(
        self,
        work: Callable[..., T],
        *args: Any,
        write: bool = False,
        announce: Announce[T] | None = None,
    ) -> Deferred[T]:
        """
        Run C{work(cursor, *args)} in one transaction in the pool thread.
        (Events are published after the commit by the publishing wrapper,
        so C{announce} is not needed here.)
        """

        def transaction(cursor: Any, *args: Any) -> T:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            if write and work is not messages.deliver_all:
                # Any other write may change which mailboxes have webhooks
                # (a mailbox's webhooks go with it, a failing one is
                # disabled): the next delivery reads them again.  This runs
                # in the pool thread, in order with the deliveries.
                self._hooked.forget()
            return work(cursor, *args)

        d: Deferred[T] = self._pool.runInteraction(transaction, *args)
        return self._tracked(d.addErrback(_interaction_failed))

    def _deliver_batch(
        self, batch: Sequence[IncomingMessage]
    ) -> Deferred[list[list[DeliveredCopy]]]:
        return self._run(
            messages.deliver_all, list(batch), self._now_us(), self._hooked, write=True
        )

    def search_uids(
        self, mailbox: str, criterion: Criterion, first: int, last: int
    ) -> Deferred[list[int]]:
        return self._run(sqlite_search.search_uids, mailbox, criterion, first, last)

    # Lifecycle

    def statistics(self) -> Deferred[StoreStatistics]:
        return self._run(sqlite_statistics.statistics)

    def check_health(self) -> Deferred[None]:
        d: Deferred[None] = self._health.runInteraction(messages.ping)
        return d.addErrback(_interaction_failed)

    def close(self) -> Deferred[None]:
        """
        Wait for the operations already asked for (and the deliveries
        waiting for the next group commit), then close the pool.
        """

        def shut(_: object) -> None:
            self._pool.close()
            if self._health is not self._pool:
                self._health.close()
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None

        return self._idle().addCallback(shut)
