"""
The SQLite schema, as an append-only list of migrations.

A database records the number of migrations applied in C{schema_version}.
Opening an older file applies the missing ones in place, each in its own
transaction, so mail survives upgrades.  Never edit a released migration:
add a new one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: mailboxes, messages stored once, one row per mailbox copy.
    """
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (0);
    CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE,
        uid_validity INTEGER NOT NULL,
        uid_next INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        raw BLOB NOT NULL,
        size INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        envelope_from TEXT NOT NULL,
        envelope_to TEXT NOT NULL,
        from_address TEXT NOT NULL,
        to_addresses TEXT NOT NULL,
        cc_addresses TEXT NOT NULL,
        subject TEXT NOT NULL,
        date INTEGER,
        message_id TEXT,
        text_body TEXT NOT NULL,
        html_body TEXT NOT NULL,
        headers TEXT NOT NULL,
        preview TEXT NOT NULL,
        attachment_count INTEGER NOT NULL
    );
    CREATE TABLE attachments (
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_id TEXT,
        inline INTEGER NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (message_id, idx)
    );
    CREATE TABLE mailbox_messages (
        id TEXT PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
        message_id INTEGER NOT NULL REFERENCES messages (id),
        uid INTEGER NOT NULL,
        seen INTEGER NOT NULL DEFAULT 0,
        received_at INTEGER NOT NULL,
        UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX mailbox_messages_by_message ON mailbox_messages (message_id);
    """,
    # 2: IMAP flags other than \\Seen, and retention's scan by age.
    """
    CREATE TABLE message_flags (
        entry_id TEXT NOT NULL REFERENCES mailbox_messages (id) ON DELETE CASCADE,
        flag TEXT NOT NULL,
        PRIMARY KEY (entry_id, flag)
    );
    CREATE INDEX mailbox_messages_by_age ON mailbox_messages (received_at);
    """,
    # 3: mailbox claims (a password hash) and the bearer tokens they issue.
    """
    ALTER TABLE mailboxes ADD COLUMN password_hash TEXT;
    ALTER TABLE mailboxes ADD COLUMN claimed_at INTEGER;
    CREATE TABLE mailbox_tokens (
        digest TEXT PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX mailbox_tokens_by_mailbox ON mailbox_tokens (mailbox_id);
    """,
    # 4: webhooks, their stored deliveries (so a restart loses none) and the
    # log of attempts.
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX webhooks_by_mailbox ON webhooks (mailbox_id);
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        next_attempt_at INTEGER
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
    CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id);
    CREATE TABLE webhook_attempts (
        delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        at INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    );
    """,
    # 5: lock versions (a write checks the lock it was allowed under) and
    # delivery leases (a dispatcher claims what it sends).
    """
    ALTER TABLE mailboxes ADD COLUMN lock_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE webhook_deliveries ADD COLUMN lease_owner TEXT;
    ALTER TABLE webhook_deliveries ADD COLUMN lease_until INTEGER;
    CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (webhook_id, lease_until);
    """,
    # 6: slim rows.  The raw message is stored once and its text, HTML,
    # headers and attachments are derived from it when read, so the copies
    # of them go.  The table is rebuilt (not altered) so that raw is its
    # last column: SQLite can then write a large message's row as trailing
    # zeros and fill it piece by piece, instead of building the whole row
    # in memory twice.
    """
    CREATE TABLE messages_slim (
        id INTEGER PRIMARY KEY,
        size INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        envelope_from TEXT NOT NULL,
        envelope_to TEXT NOT NULL,
        from_address TEXT NOT NULL,
        to_addresses TEXT NOT NULL,
        cc_addresses TEXT NOT NULL,
        subject TEXT NOT NULL,
        date INTEGER,
        message_id TEXT,
        preview TEXT NOT NULL,
        attachment_count INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    INSERT INTO messages_slim (
        id, size, received_at, envelope_from, envelope_to, from_address,
        to_addresses, cc_addresses, subject, date, message_id, preview,
        attachment_count, raw
    )
    SELECT
        id, size, received_at, envelope_from, envelope_to, from_address,
        to_addresses, cc_addresses, subject, date, message_id, preview,
        attachment_count, raw
    FROM messages;
    DROP TABLE attachments;
    DROP TABLE messages;
    ALTER TABLE messages_slim RENAME TO messages;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """
    The database cannot be used by this release.
    """


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def current_version(connection: sqlite3.Connection) -> int:
    """
    Return how many migrations C{connection}'s database has applied.

    @raise SchemaError: for a database that is not tempmail's.
    """
    tables = _tables(connection)
    if "schema_version" in tables:
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            raise SchemaError("the database's schema_version table is empty")
        return int(row[0])
    if tables:
        raise SchemaError(
            "the database holds tables that are not tempmail's "
            f"({', '.join(sorted(tables))}); point DATABASE_URL at a new file"
        )
    return 0


def migrate(connection: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """
    Apply the missing migrations up to C{target}; return the version reached.

    C{connection} must be in autocommit mode (C{isolation_level=None}): each
    migration runs in its own explicit transaction.
    """
    version = current_version(connection)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has schema version {version}, newer than this "
            f"release's {SCHEMA_VERSION}; upgrade tempmail"
        )
    # A migration that rebuilds a table drops the old one while other tables
    # still refer to it; references are checked at the end instead (the
    # procedure SQLite documents for ALTER TABLE).  The setting cannot change
    # inside a transaction.
    (enforced,) = connection.execute("PRAGMA foreign_keys").fetchone()
    connection.execute("PRAGMA foreign_keys = OFF")
    try:
        for number in range(version, target):
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                broken = connection.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise SchemaError(f"migration {number + 1} broke a reference: {broken}")
                connection.execute("UPDATE schema_version SET version = ?", (number + 1,))
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
    finally:
        connection.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")
    return max(version, target)
