"""
The embedded default store: SQLite through L{twisted.enterprise.adbapi}.

One connection in one pool thread does all the work, so SQLite's single
writer never waits on itself and operations run in the order they were asked
(see twisted-notes B.4).  The database is in WAL mode with C{synchronous=FULL}:
a delivery's Deferred fires only after its transaction is on disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.interfaces import IMailStore, StorageUnavailable, UnknownCursor
from tempmail.models import (
    AttachmentContent,
    AttachmentInfo,
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
from tempmail.storage import sqlite_claims, sqlite_webhooks
from tempmail.storage.location import MEMORY, StoreLocation
from tempmail.storage.schema import current_version, migrate
from tempmail.storage.timestamps import from_micros, to_micros

T = TypeVar("T")

_SUMMARY_COLUMNS = """
    mm.id, mb.address, mm.uid, m.from_address, m.subject, mm.received_at,
    m.size, mm.seen, m.attachment_count, m.preview
"""
_FROM_COPIES = """
    FROM mailbox_messages mm
    JOIN mailboxes mb ON mb.id = mm.mailbox_id
    JOIN messages m ON m.id = mm.message_id
"""


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 5000")


def _summary(row: Sequence[Any]) -> MessageSummary:
    return MessageSummary(
        id=row[0],
        mailbox=row[1],
        uid=row[2],
        from_address=row[3],
        subject=row[4],
        received_at=from_micros(row[5]),
        size=row[6],
        seen=bool(row[7]),
        attachment_count=row[8],
        preview=row[9],
    )


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
        return self._run(self._deliver, message, write=True)

    @staticmethod
    def _deliver(cursor: Any, message: IncomingMessage) -> list[DeliveredCopy]:
        parsed, envelope = message.parsed, message.envelope
        received = to_micros(envelope.received_at)
        cursor.execute(
            """
            INSERT INTO messages (
                raw, size, received_at, envelope_from, envelope_to,
                from_address, to_addresses, cc_addresses, subject, date,
                message_id, text_body, html_body, headers, preview,
                attachment_count
            ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                message.raw,
                len(message.raw),
                received,
                envelope.mail_from,
                json.dumps(envelope.recipients),
                parsed.from_address,
                json.dumps(parsed.to),
                json.dumps(parsed.cc),
                parsed.subject,
                None if parsed.date is None else to_micros(parsed.date),
                parsed.message_id,
                parsed.text,
                parsed.html,
                json.dumps(parsed.headers),
                parsed.preview,
                len(parsed.attachments),
            ),
        )
        row_id = cursor.lastrowid
        cursor.executemany(
            """
            INSERT INTO attachments (
                message_id, idx, filename, content_type, size, content_id,
                inline, content
            ) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                (
                    row_id,
                    index,
                    a.filename,
                    a.content_type,
                    len(a.content),
                    a.content_id,
                    int(a.inline),
                    a.content,
                )
                for index, a in enumerate(parsed.attachments)
            ],
        )
        copies = []
        for address in envelope.recipients:
            cursor.execute(
                """
                INSERT INTO mailboxes (address, uid_validity, uid_next, created_at)
                VALUES (?, ?, 2, ?)
                ON CONFLICT (address) DO UPDATE SET uid_next = uid_next + 1
                RETURNING id, uid_next - 1
                """,
                (address, int(time.time()), received),
            )
            mailbox_id, uid = cursor.fetchone()
            copy = DeliveredCopy(id=str(uuid.uuid4()), mailbox=address, uid=uid)
            cursor.execute(
                """
                INSERT INTO mailbox_messages (id, mailbox_id, message_id, uid, received_at)
                VALUES (?, ?, ?, ?, ?)
                """,
                (copy.id, mailbox_id, row_id, uid, received),
            )
            copies.append(copy)
        return copies

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        return self._run(self._list_messages, mailbox, limit, offset, before)

    @staticmethod
    def _list_messages(
        cursor: Any, mailbox: str, limit: int, offset: int, before: str | None
    ) -> MessagePage:
        cursor.execute(
            "SELECT count(*) FROM mailbox_messages mm JOIN mailboxes mb "
            "ON mb.id = mm.mailbox_id WHERE mb.address = ?",
            (mailbox,),
        )
        (total,) = cursor.fetchone()
        below = None
        if before is not None:
            cursor.execute(
                "SELECT mm.uid FROM mailbox_messages mm JOIN mailboxes mb "
                "ON mb.id = mm.mailbox_id WHERE mb.address = ? AND mm.id = ?",
                (mailbox, before),
            )
            row = cursor.fetchone()
            if row is None:
                raise UnknownCursor(before)
            below, offset = row[0], 0
        cursor.execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM_COPIES} "
            "WHERE mb.address = ? AND (? IS NULL OR mm.uid < ?) "
            "ORDER BY mm.uid DESC LIMIT ? OFFSET ?",
            (mailbox, below, below, limit + 1, offset),
        )
        rows = cursor.fetchall()
        summaries = tuple(_summary(row) for row in rows[:limit])
        more = len(rows) > limit and summaries
        return MessagePage(summaries, total, summaries[-1].id if more else None)

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        return self._run(self._get_messages, list(ids))

    @staticmethod
    def _get_messages(cursor: Any, ids: list[str]) -> list[StoredMessage]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        cursor.execute(
            f"SELECT {_SUMMARY_COLUMNS}, m.id, m.to_addresses, m.cc_addresses, "
            "m.date, m.message_id, m.text_body, m.html_body, m.headers, "
            f"m.envelope_from, m.envelope_to {_FROM_COPIES} WHERE mm.id IN ({marks})",
            ids,
        )
        rows = cursor.fetchall()
        row_ids = sorted({row[10] for row in rows})
        attachments: dict[int, list[AttachmentInfo]] = {}
        if row_ids:
            cursor.execute(
                "SELECT message_id, idx, filename, content_type, size, content_id, "
                f"inline FROM attachments WHERE message_id IN ({','.join('?' * len(row_ids))}) "
                "ORDER BY message_id, idx",
                row_ids,
            )
            for a in cursor.fetchall():
                attachments.setdefault(a[0], []).append(
                    AttachmentInfo(a[1], a[2], a[3], a[4], a[5], bool(a[6]))
                )
        found = {
            row[0]: StoredMessage(
                summary=_summary(row),
                to=tuple(json.loads(row[11])),
                cc=tuple(json.loads(row[12])),
                date=None if row[13] is None else from_micros(row[13]),
                message_id=row[14],
                text=row[15],
                html=row[16],
                headers=tuple((name, value) for name, value in json.loads(row[17])),
                envelope_from=row[18],
                envelope_to=tuple(json.loads(row[19])),
                attachments=tuple(attachments.get(row[10], ())),
            )
            for row in rows
        }
        return [found[i] for i in ids if i in found]

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return self._run(self._get_raw, id)

    @staticmethod
    def _get_raw(cursor: Any, id: str) -> bytes | None:
        cursor.execute(
            "SELECT m.raw FROM mailbox_messages mm JOIN messages m "
            "ON m.id = mm.message_id WHERE mm.id = ?",
            (id,),
        )
        row = cursor.fetchone()
        return None if row is None else bytes(row[0])

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        return self._run(self._get_attachment, id, index)

    @staticmethod
    def _get_attachment(cursor: Any, id: str, index: int) -> AttachmentContent | None:
        cursor.execute(
            "SELECT a.idx, a.filename, a.content_type, a.size, a.content_id, "
            "a.inline, a.content FROM mailbox_messages mm JOIN attachments a "
            "ON a.message_id = mm.message_id WHERE mm.id = ? AND a.idx = ?",
            (id, index),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        info = AttachmentInfo(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
        return AttachmentContent(info, bytes(row[6]))

    def set_seen(self, id: str, seen: bool) -> Deferred[bool | None]:
        return self._run(self._set_seen, id, seen, write=True)

    @staticmethod
    def _set_seen(cursor: Any, id: str, seen: bool) -> bool | None:
        cursor.execute("SELECT seen FROM mailbox_messages WHERE id = ?", (id,))
        row = cursor.fetchone()
        if row is None:
            return None
        if bool(row[0]) == seen:
            return False
        cursor.execute("UPDATE mailbox_messages SET seen = ? WHERE id = ?", (int(seen), id))
        return True

    def delete_message(self, id: str) -> Deferred[MessageSummary | None]:
        return self._run(self._delete_message, id, write=True)

    @staticmethod
    def _delete_message(cursor: Any, id: str) -> MessageSummary | None:
        deleted = SQLiteMailStore._delete_where(cursor, "mm.id = ?", (id,))
        return deleted[0] if deleted else None

    @staticmethod
    def _delete_where(cursor: Any, condition: str, params: Sequence[Any]) -> list[MessageSummary]:
        """
        Delete the mailbox copies matching C{condition}, and the bodies no
        copy refers to any more; return what was deleted.
        """
        cursor.execute(
            f"SELECT {_SUMMARY_COLUMNS}, mm.message_id {_FROM_COPIES} WHERE {condition} "
            "ORDER BY mm.received_at, mm.uid",
            params,
        )
        rows = cursor.fetchall()
        cursor.executemany("DELETE FROM mailbox_messages WHERE id = ?", [(row[0],) for row in rows])
        cursor.executemany(
            "DELETE FROM messages WHERE id = ? AND NOT EXISTS "
            "(SELECT 1 FROM mailbox_messages WHERE message_id = ?)",
            [(row_id, row_id) for row_id in sorted({row[10] for row in rows})],
        )
        return [_summary(row) for row in rows]

    def empty_mailbox(self, mailbox: str) -> Deferred[list[MessageSummary]]:
        return self._run(self._delete_where, "mb.address = ?", (mailbox,), write=True)

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            self._delete_where,
            "mm.id IN (SELECT id FROM mailbox_messages WHERE received_at < ? "
            "ORDER BY received_at LIMIT ?)",
            (to_micros(older_than), limit),
            write=True,
        )

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            self._delete_where,
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
        return self._run(self._ping)

    @staticmethod
    def _ping(cursor: Any) -> None:
        cursor.execute("SELECT 1")
        cursor.fetchone()

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
