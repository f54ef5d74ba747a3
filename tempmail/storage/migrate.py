"""
C{tempmail-migrate --from sqlite:emails.db --to postgresql://...}: copy a
SQLite database into a PostgreSQL one.

Every mailbox (with its claim, UIDVALIDITY and UID counter), message (its
raw bytes exactly), mailbox copy (its id, UID and flags), token, webhook and
webhook delivery (with its attempts) is copied in one PostgreSQL
transaction: all of it or nothing.  Running it again is safe: what is
already there (by id, address or digest) is left as it is, so a second run
copies only what arrived since.  A mailbox that already exists in the
target keeps its UIDVALIDITY and claim; its UID counter is raised past the
copied UIDs, and a copied message whose UID is taken there gets the next
free one.  Leases on deliveries are not copied: the target's dispatchers
take them afresh.  Stop the daemons on the SQLite file first, so nothing
arrives there while it is copied.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from tempmail.interfaces import StorageUnavailable
from tempmail.storage import postgresql_schema, schema
from tempmail.storage.location import StoreLocation, parse_database_url
from tempmail.storage.postgresql import QmarkCursor, connect, one_line
from tempmail.storage.schema import SchemaError

# Messages read from SQLite at once.
BATCH = 200


@dataclass
class Copied:
    """How many rows of each kind the run added to the target."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + count

    def __str__(self) -> str:
        kinds = ("mailboxes", "messages", "copies", "tokens", "webhooks", "deliveries")
        return ", ".join(f"{self.counts.get(kind, 0)} {kind}" for kind in kinds)


def _rows(source: sqlite3.Connection, query: str, *params: Any) -> Iterator[tuple[Any, ...]]:
    cursor = source.execute(query, params)
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def _mailboxes(source: sqlite3.Connection, target: Any, copied: Copied) -> dict[int, int]:
    """Copy the mailboxes; return source id -> target id."""
    ids = {}
    for row in _rows(
        source,
        "SELECT id, address, uid_validity, uid_next, created_at, password_hash, claimed_at, "
        "lock_version FROM mailboxes",
    ):
        source_id, address, *fields = row
        target.execute(
            "INSERT INTO mailboxes (address, uid_validity, uid_next, created_at, password_hash, "
            "claimed_at, lock_version) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (address) DO UPDATE SET "
            "uid_next = greatest(mailboxes.uid_next, excluded.uid_next) "
            "RETURNING id, xmax = 0",
            (address, *fields),
        )
        target_id, inserted = target.fetchone()
        ids[source_id] = target_id
        if inserted:
            copied.add("mailboxes")
    return ids


def _free_uid(target: Any, mailbox_id: int, uid: int) -> int:
    target.execute(
        "SELECT 1 FROM mailbox_messages WHERE mailbox_id = ? AND uid = ?", (mailbox_id, uid)
    )
    if target.fetchone() is None:
        return uid
    target.execute(
        "UPDATE mailboxes SET uid_next = uid_next + 1 WHERE id = ? RETURNING uid_next - 1",
        (mailbox_id,),
    )
    return int(target.fetchone()[0])


def _messages(
    source: sqlite3.Connection, target: Any, mailboxes: dict[int, int], copied: Copied
) -> None:
    for row in _rows(
        source,
        "SELECT id, size, received_at, envelope_from, envelope_to, from_address, to_addresses, "
        "cc_addresses, subject, date, message_id, preview, attachment_count, raw "
        "FROM messages ORDER BY id",
    ):
        source_id, *fields, raw = row
        copies = source.execute(
            "SELECT id, mailbox_id, uid, seen, received_at FROM mailbox_messages "
            "WHERE message_id = ? ORDER BY mailbox_id, uid",
            (source_id,),
        ).fetchall()
        ids = [copy[0] for copy in copies]
        if not ids:
            continue
        target.execute(
            f"SELECT id FROM mailbox_messages WHERE id IN ({','.join('?' * len(ids))})", ids
        )
        present = {id for (id,) in target.fetchall()}
        missing = [copy for copy in copies if copy[0] not in present]
        if not missing:
            continue
        if present:
            # Some copies came over before: the body is already there.
            target.execute("SELECT message_id FROM mailbox_messages WHERE id = ?", (ids[0],))
            message_id = target.fetchone()[0]
        else:
            target.execute(
                "INSERT INTO messages (size, received_at, envelope_from, envelope_to, "
                "from_address, to_addresses, cc_addresses, subject, date, message_id, preview, "
                "attachment_count, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (*fields, bytes(raw)),
            )
            message_id = target.fetchone()[0]
            copied.add("messages")
        for id, mailbox_id, uid, seen, received_at in missing:
            mailbox = mailboxes[mailbox_id]
            target.execute(
                "INSERT INTO mailbox_messages (id, mailbox_id, message_id, uid, seen, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (id, mailbox, message_id, _free_uid(target, mailbox, uid), seen, received_at),
            )
            flags = source.execute(
                "SELECT flag FROM message_flags WHERE entry_id = ?", (id,)
            ).fetchall()
            target.executemany(
                "INSERT INTO message_flags (entry_id, flag) VALUES (?, ?)",
                [(id, flag) for (flag,) in flags],
            )
            copied.add("copies")


def _copy_simple(
    source: sqlite3.Connection,
    target: Any,
    kind: str | None,
    select: str,
    insert: str,
    conflict: str,
    copied: Copied,
    mailboxes: dict[int, int] | None = None,
) -> None:
    """Copy rows as they are (the first column a mailbox id if C{mailboxes})."""
    for row in _rows(source, select):
        values = (mailboxes[row[0]], *row[1:]) if mailboxes is not None else row
        target.execute(
            f"{insert} VALUES ({','.join('?' * len(values))}) "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING 1",
            values,
        )
        if target.fetchone() is not None and kind is not None:
            copied.add(kind)


def copy(source: sqlite3.Connection, target: Any) -> Copied:
    """
    Copy everything from a SQLite database at the current schema into a
    migrated PostgreSQL one, in the caller's transaction.
    """
    copied = Copied()
    mailboxes = _mailboxes(source, target, copied)
    _messages(source, target, mailboxes, copied)
    _copy_simple(
        source,
        target,
        "tokens",
        "SELECT mailbox_id, digest, expires_at FROM mailbox_tokens",
        "INSERT INTO mailbox_tokens (mailbox_id, digest, expires_at)",
        "digest",
        copied,
        mailboxes,
    )
    _copy_simple(
        source,
        target,
        "webhooks",
        "SELECT mailbox_id, id, url, events, secret, enabled, disabled_reason, "
        "consecutive_failures, created_at FROM webhooks",
        "INSERT INTO webhooks (mailbox_id, id, url, events, secret, enabled, disabled_reason, "
        "consecutive_failures, created_at)",
        "id",
        copied,
        mailboxes,
    )
    _copy_simple(
        source,
        target,
        "deliveries",
        "SELECT id, webhook_id, event, payload, created_at, attempts, state, next_attempt_at "
        "FROM webhook_deliveries",
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, attempts, "
        "state, next_attempt_at)",
        "id",
        copied,
    )
    _copy_simple(
        source,
        target,
        None,
        "SELECT delivery_id, attempt, at, status, error, duration_ms FROM webhook_attempts",
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms)",
        "delivery_id, attempt",
        copied,
    )
    return copied


def _location(text: str, scheme: str) -> StoreLocation:
    location = parse_database_url(text)
    if location.scheme != scheme:
        raise ValueError(f"expected a {scheme} URL")
    return location


def main(argv: Sequence[str] | None = None) -> int:
    """The console script."""
    parser = argparse.ArgumentParser(
        prog="tempmail-migrate",
        description="Copy a tempmail SQLite database into a PostgreSQL one (safe to re-run).",
    )
    parser.add_argument("--from", dest="source", required=True, help="sqlite:PATH")
    parser.add_argument("--to", dest="target", required=True, help="postgresql://...")
    arguments = parser.parse_args(argv)
    try:
        source_location = _location(arguments.source, "sqlite")
        target_location = _location(arguments.target, "postgresql")
    except ValueError as e:
        parser.error(str(e))
    try:
        source = sqlite3.connect(source_location.target, isolation_level=None)
        try:
            schema.migrate(source)
            target = connect(target_location.target)
            try:
                postgresql_schema.migrate(target)
                with target, target.cursor() as cursor:
                    result = copy(source, QmarkCursor(cursor))
            finally:
                target.close()
        finally:
            source.close()
    except (sqlite3.Error, psycopg2.Error, StorageUnavailable, SchemaError) as e:
        print(f"tempmail-migrate: {one_line(e)}", file=sys.stderr)
        return 1
    print(f"tempmail-migrate: copied {result} to {target_location}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
