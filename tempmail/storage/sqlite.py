"""
The embedded default store: SQLite through L{twisted.enterprise.adbapi}.

One connection in one pool thread does all the work, so SQLite's single
writer never waits on itself and operations run in the order they were asked
(see twisted-notes B.4).  The database is in WAL mode with C{synchronous=FULL}:
a delivery's Deferred fires only after its transaction is on disk.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.interfaces import IMailStore, StorageUnavailable
from tempmail.models import (
    AttachmentContent,
    AttemptOutcome,
    DeliveredCopy,
    DeliveryAttempt,
    DueDelivery,
    IncomingMessage,
    MailboxPage,
    MessagePage,
    MessageSummary,
    NewDelivery,
    StoredMessage,
    TokenGrant,
    Webhook,
    WebhookChange,
)
from tempmail.storage import sqlite_claims, sqlite_messages, sqlite_webhooks
from tempmail.storage.location import MEMORY, StoreLocation
from tempmail.storage.schema import current_version, migrate
from tempmail.storage.timestamps import to_micros

T = TypeVar("T")


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 5000")


def _interaction_failed(failure: Failure) -> Failure:
    """
    Report database errors as L{StorageUnavailable}; let our own errors
    through.
    """
    if failure.check(sqlite3.Error):
        raise StorageUnavailable(str(failure.value))
    return failure


@implementer(IMailStore)
class SQLiteMailStore:
    """
    L{IMailStore} on a SQLite file (or a private in-memory database).
    """

    def __init__(self, location: StoreLocation) -> None:
        """
        Open (creating and migrating if needed) the database at C{location}.

        Migration runs here, synchronously, so a database this release
        cannot use stops startup with a clear error.

        @raise tempmail.storage.schema.SchemaError: if it cannot be used.
        @raise sqlite3.Error: if it cannot be opened.
        """
        if location.path == MEMORY:
            # Every connection to ":memory:" is a new empty database, so use
            # a named shared-cache one and keep a connection open for its life.
            database = f"file:tempmail-{uuid.uuid4().hex}?mode=memory&cache=shared"
            uri = True
        else:
            database, uri = location.path, False
        self._keeper: sqlite3.Connection | None = sqlite3.connect(
            database, uri=uri, isolation_level=None, check_same_thread=False
        )
        # Refuse a foreign database before changing anything in it (even
        # its journal mode).
        current_version(self._keeper)
        _configure(self._keeper)
        migrate(self._keeper)
        if not uri:
            self._keeper.close()
            self._keeper = None
        self._pool = adbapi.ConnectionPool(
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
        self._in_flight: set[Deferred[Any]] = set()

    def _run(self, work: Callable[..., T], *args: Any, write: bool = False) -> Deferred[T]:
        """
        Run C{work(cursor, *args)} in one transaction in the pool thread.
        """

        def transaction(cursor: Any, *args: Any) -> T:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            return work(cursor, *args)

        d: Deferred[T] = self._pool.runInteraction(transaction, *args)
        d.addErrback(_interaction_failed)
        self._in_flight.add(d)

        def finished(result: T | Failure) -> T | Failure:
            self._in_flight.discard(d)
            return result

        return d.addBoth(finished)

    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        return self._run(sqlite_messages.deliver, message, write=True)

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        return self._run(sqlite_messages.list_messages, mailbox, limit, offset, before)

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        return self._run(sqlite_messages.get_messages, list(ids))

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return self._run(sqlite_messages.get_raw, id)

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        return self._run(sqlite_messages.get_attachment, id, index)

    def set_seen(self, id: str, seen: bool) -> Deferred[bool | None]:
        return self._run(sqlite_messages.set_seen, id, seen, write=True)

    def delete_message(self, id: str) -> Deferred[MessageSummary | None]:
        return self._run(sqlite_messages.delete_message, id, write=True)

    def empty_mailbox(self, mailbox: str) -> Deferred[list[MessageSummary]]:
        return self._run(sqlite_messages.delete_where, "mb.address = ?", (mailbox,), write=True)

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            sqlite_messages.delete_where,
            "mm.id IN (SELECT id FROM mailbox_messages WHERE received_at < ? "
            "ORDER BY received_at LIMIT ?)",
            (to_micros(older_than), limit),
            write=True,
        )

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            sqlite_messages.delete_where,
            "mm.id IN (SELECT id FROM (SELECT id, row_number() OVER "
            "(PARTITION BY mailbox_id ORDER BY uid DESC) AS newer FROM mailbox_messages) "
            "WHERE newer > ? LIMIT ?)",
            (keep, limit),
            write=True,
        )

    def mailbox_of(self, id: str) -> Deferred[str | None]:
        return self._run(sqlite_claims.mailbox_of, id)

    def list_mailboxes(self, limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        return self._run(sqlite_claims.list_mailboxes, limit, offset)

    def password_hash(self, mailbox: str) -> Deferred[str | None]:
        return self._run(sqlite_claims.password_hash, mailbox)

    def claim_mailbox(self, mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        return self._run(sqlite_claims.claim_mailbox, mailbox, password_hash, token, write=True)

    def change_password(
        self, mailbox: str, password_hash: str, token: TokenGrant
    ) -> Deferred[bool]:
        return self._run(sqlite_claims.change_password, mailbox, password_hash, token, write=True)

    def release_mailbox(self, mailbox: str) -> Deferred[bool]:
        return self._run(sqlite_claims.release_mailbox, mailbox, write=True)

    def add_token(self, mailbox: str, token: TokenGrant) -> Deferred[bool]:
        return self._run(sqlite_claims.add_token, mailbox, token, write=True)

    def token_mailbox(self, digest: str, now: datetime) -> Deferred[str | None]:
        return self._run(sqlite_claims.token_mailbox, digest, to_micros(now))

    def create_webhook(
        self, mailbox: str, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        return self._run(
            sqlite_webhooks.create_webhook, mailbox, url, events, secret, limit, write=True
        )

    def list_webhooks(self, mailbox: str) -> Deferred[list[Webhook]]:
        return self._run(sqlite_webhooks.list_webhooks, mailbox)

    def get_webhook(self, id: str) -> Deferred[Webhook | None]:
        return self._run(sqlite_webhooks.get_webhook, id)

    def update_webhook(self, id: str, change: WebhookChange) -> Deferred[Webhook | None]:
        return self._run(sqlite_webhooks.update_webhook, id, change, write=True)

    def delete_webhook(self, id: str) -> Deferred[bool]:
        return self._run(sqlite_webhooks.delete_webhook, id, write=True)

    def webhooks_for(self, mailbox: str, event: str) -> Deferred[list[Webhook]]:
        return self._run(sqlite_webhooks.webhooks_for, mailbox, event)

    def add_deliveries(self, deliveries: Sequence[NewDelivery]) -> Deferred[None]:
        return self._run(sqlite_webhooks.add_deliveries, list(deliveries), write=True)

    def due_deliveries(
        self,
        now: datetime,
        limit: int,
        exclude: Sequence[str] = (),
        skip_webhooks: Sequence[str] = (),
    ) -> Deferred[list[DueDelivery]]:
        return self._run(
            sqlite_webhooks.due_deliveries,
            to_micros(now),
            limit,
            list(exclude),
            list(skip_webhooks),
        )

    def prune_deliveries(self, finished_before: datetime) -> Deferred[int]:
        return self._run(sqlite_webhooks.prune_deliveries, to_micros(finished_before), write=True)

    def record_attempt(
        self, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        return self._run(sqlite_webhooks.record_attempt, outcome, disable_after, write=True)

    def list_attempts(self, webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        return self._run(sqlite_webhooks.list_attempts, webhook_id, limit)

    def check_health(self) -> Deferred[None]:
        return self._run(sqlite_messages.ping)

    def close(self) -> Deferred[None]:
        """
        Wait for the operations already asked for, then close the pool.
        """
        pending = DeferredList(list(self._in_flight), consumeErrors=True)

        def shut(_: object) -> None:
            self._pool.close()
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None

        return pending.addCallback(shut)
