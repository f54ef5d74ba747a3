"""
The server store: PostgreSQL through L{twisted.enterprise.adbapi} and
psycopg2, for one or several tempmail nodes on one database.

It runs the same SQL as SQLite (L{SQLMailStore} and the C{sqlite_*}
modules, written in what both engines accept), through a cursor that
rewrites SQLite's C{?} placeholders as psycopg2's and its one function
PostgreSQL spells differently (L{QmarkCursor}).  psycopg2 binds parameters
on the client, so a parameter in C{? IS NULL} needs no declared type, as in
SQLite.  Each operation is one transaction on one pooled connection (READ
COMMITTED); the writes that must not interleave across nodes lock the rows
they depend on (the mailbox row for UIDs and lock checks, the delivery row
for a lease).  Deliveries are grouped into one transaction per commit
(L{GroupCommit}), as on SQLite.

A lost connection (the server restarted or unreachable) is passing trouble:
the operation fails with L{StorageUnavailable} (SMTP 451, HTTP 503) and the
pool opens a new connection for the next one (C{cp_reconnect}).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg2
from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail import publishing
from tempmail.events import MailEvent
from tempmail.interfaces import (
    IEventHub,
    IEventSource,
    IFailureLimiter,
    IMailStore,
    ISharedFailureLimits,
    StorageUnavailable,
)
from tempmail.models import DeliveredCopy, IncomingMessage, StoreStatistics
from tempmail.search import Criterion
from tempmail.storage import postgresql_search, sqlite_statistics
from tempmail.storage import sqlite_messages as messages
from tempmail.storage import sqlite_webhooks as webhooks
from tempmail.storage.group_commit import GroupCommit
from tempmail.storage.location import StoreLocation
from tempmail.storage.postgresql_events import EventFeed, write_events
from tempmail.storage.postgresql_limiter import PostgreSQLFailureLimiter
from tempmail.storage.postgresql_schema import current_version, migrate
from tempmail.storage.sql_store import Announce, SQLMailStore

T = TypeVar("T")

# Connections each node keeps at most.  Deliveries use one at a time (group
# commit); the rest serve reads and other writes side by side.
POOL_SIZE = 5
# How long opening a connection may take before the operation fails.
CONNECT_TIMEOUT = 5


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """
    SQLite's SQL as psycopg2 takes it: C{?} becomes C{%s} (and a literal
    C{%} is doubled), and C{group_concat} is C{string_agg}.
    """
    return sql.replace("%", "%%").replace("?", "%s").replace("group_concat(", "string_agg(")


class QmarkCursor:
    """
    A psycopg2 cursor (or adbapi transaction) that takes SQLite's SQL.

    @cvar locks_rows: PostgreSQL locks rows, not the database: the shared
        SQL locks what it must (L{sqlite_mailboxes.lock_rows}).
    """

    locks_rows = True

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        self._cursor.execute(translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        if rows:
            self._cursor.executemany(translate(sql), [tuple(row) for row in rows])

    def fetchone(self) -> Any:
        """The next row, or C{None}."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        return list(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        """How many rows the last statement changed."""
        return int(self._cursor.rowcount)


def is_transient(error: BaseException) -> bool:
    """
    Whether a PostgreSQL error is passing trouble rather than a bug: a lost
    or refused connection, a server shutting down, out of resources, or a
    transaction the server rolled back to break a deadlock or a conflict.
    """
    return isinstance(
        error,
        psycopg2.OperationalError
        | psycopg2.InterfaceError
        | psycopg2.extensions.TransactionRollbackError
        | adbapi.ConnectionLost,
    )


def one_line(error: BaseException) -> str:
    """
    An error's message on one line (libpq's span several), or its type.
    """
    return " ".join(str(error).split()) or type(error).__name__


def _interaction_failed(failure: Failure) -> Failure:
    if is_transient(failure.value):
        raise StorageUnavailable(one_line(failure.value))
    return failure


def connect(url: str) -> Any:
    """
    A new psycopg2 connection to C{url}.

    @raise StorageUnavailable: if the server cannot be reached.
    """
    try:
        return psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT, application_name="tempmail")
    except psycopg2.Error as e:
        raise StorageUnavailable(one_line(e)) from None


@implementer(IMailStore, ISharedFailureLimits, IEventSource)
class PostgreSQLMailStore(SQLMailStore):
    """
    L{IMailStore} on a PostgreSQL database that several nodes may share.
    """

    def __init__(self, location: StoreLocation, clock: IReactorTime) -> None:
        """
        Connect to the database at C{location} and apply the missing
        migrations (synchronously, so a database this release cannot use
        stops startup with a clear error).

        @raise tempmail.storage.schema.SchemaError: if it cannot be used.
        @raise StorageUnavailable: if it cannot be reached.
        """
        self.clock = clock
        self.url = location.target
        connection = connect(self.url)
        try:
            with connection, connection.cursor() as cursor:
                current_version(cursor)
            migrate(connection)
        except psycopg2.Error as e:
            raise StorageUnavailable(one_line(e)) from None
        finally:
            connection.close()
        self._pool = adbapi.ConnectionPool(
            "psycopg2",
            self.url,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="tempmail",
            cp_min=1,
            cp_max=POOL_SIZE,
            cp_reconnect=True,
            cp_noisy=False,
        )
        self._in_flight: set[Deferred[Any]] = set()
        # No cheap "did another node commit" probe exists here, so the set
        # is read again in each delivery transaction (one indexed query per
        # group commit, not per message).
        self._hooked = webhooks.HookedMailboxes(version_query=None)
        self._deliveries: GroupCommit[IncomingMessage, list[DeliveredCopy]] = GroupCommit(
            self._deliver_batch
        )

    def _run(
        self,
        work: Callable[..., T],
        *args: Any,
        write: bool = False,
        announce: Announce[T] | None = None,
    ) -> Deferred[T]:
        now_us = self._now_us()

        def transaction(cursor: Any, *args: Any) -> T:
            if write and work is not messages.deliver_all:
                self._hooked.forget()
            qmark = QmarkCursor(cursor)
            result = work(qmark, *args)
            # The events go in with the change, so every node hears of it
            # exactly when it commits.
            events = [] if announce is None else announce(result)
            if events:
                write_events(qmark, events, now_us)
            return result

        d: Deferred[T] = self._pool.runInteraction(transaction, *args)
        return self._tracked(d.addErrback(_interaction_failed))

    def _deliver_batch(
        self, batch: Sequence[IncomingMessage]
    ) -> Deferred[list[list[DeliveredCopy]]]:
        messages_in = list(batch)

        def arrivals(filed: list[list[DeliveredCopy]]) -> list[MailEvent]:
            return [
                event
                for message, copies in zip(messages_in, filed, strict=True)
                for event in publishing.arrivals(message, copies)
            ]

        return self._run(
            messages.deliver_all,
            messages_in,
            self._now_us(),
            self._hooked,
            False,
            write=True,
            announce=arrivals,
        )

    def search_uids(
        self, mailbox: str, criterion: Criterion, first: int, last: int
    ) -> Deferred[list[int]]:
        return self._run(postgresql_search.search_uids, mailbox, criterion, first, last)

    def failure_limiter(
        self, clock: IReactorTime, free_failures: int, max_delay: float
    ) -> IFailureLimiter:
        return PostgreSQLFailureLimiter(
            self._run, clock, free_failures=free_failures, max_delay=max_delay
        )

    def event_feed(self, hub: IEventHub, reactor: Any) -> EventFeed:
        return EventFeed(self.url, self._run, hub, reactor, connect)

    def statistics(self) -> Deferred[StoreStatistics]:
        return self._run(sqlite_statistics.statistics, _database_size)

    def check_health(self) -> Deferred[None]:
        return self._run(messages.ping)

    def close(self) -> Deferred[None]:
        """
        Wait for the operations already asked for (and the deliveries
        waiting for the next group commit), then close the pool.
        """

        def shut(_: object) -> None:
            self._pool.close()

        return self._idle().addCallback(shut)


def _database_size(cursor: Any) -> int:
    """
    The bytes the database takes on the server, tables and indexes together.
    """
    cursor.execute("SELECT pg_database_size(current_database())")
    (size,) = cursor.fetchone()
    return int(size)
