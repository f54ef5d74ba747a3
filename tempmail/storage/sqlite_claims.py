"""
The SQL for mailbox claims and tokens, run by L{SQLiteMailStore} in its
pool thread.  Each function gets a cursor inside an open transaction.
"""

from __future__ import annotations

import time
from typing import Any

from tempmail.models import MailboxInfo, MailboxPage, TokenGrant
from tempmail.storage.timestamps import from_micros, now_micros, to_micros


def mailbox_of(cursor: Any, id: str) -> str | None:
    cursor.execute(
        "SELECT mb.address FROM mailbox_messages mm JOIN mailboxes mb "
        "ON mb.id = mm.mailbox_id WHERE mm.id = ?",
        (id,),
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def list_mailboxes(cursor: Any, limit: int, offset: int) -> MailboxPage:
    cursor.execute("SELECT count(*) FROM mailboxes")
    (total,) = cursor.fetchone()
    cursor.execute(
        "SELECT mb.address, (SELECT count(*) FROM mailbox_messages mm "
        "WHERE mm.mailbox_id = mb.id), mb.password_hash IS NOT NULL, mb.created_at "
        "FROM mailboxes mb ORDER BY mb.address LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return MailboxPage(
        tuple(
            MailboxInfo(address, count, bool(locked), from_micros(created))
            for address, count, locked, created in cursor.fetchall()
        ),
        total,
    )


def password_hash(cursor: Any, mailbox: str) -> str | None:
    cursor.execute("SELECT password_hash FROM mailboxes WHERE address = ?", (mailbox,))
    row = cursor.fetchone()
    return None if row is None else row[0]


def _store_token(cursor: Any, mailbox_id: int, token: TokenGrant) -> None:
    # Expired tokens are dropped whenever one is issued, which bounds the table.
    cursor.execute("DELETE FROM mailbox_tokens WHERE expires_at < ?", (now_micros(),))
    cursor.execute(
        "INSERT INTO mailbox_tokens (digest, mailbox_id, expires_at) VALUES (?, ?, ?)",
        (token.digest, mailbox_id, to_micros(token.expires_at)),
    )


def claim_mailbox(cursor: Any, mailbox: str, password_hash: str, token: TokenGrant) -> bool:
    now = now_micros()
    cursor.execute(
        """
        INSERT INTO mailboxes (address, uid_validity, uid_next, created_at, password_hash,
                               claimed_at)
        VALUES (?, ?, 1, ?, ?, ?)
        ON CONFLICT (address) DO UPDATE
            SET password_hash = excluded.password_hash, claimed_at = excluded.claimed_at
            WHERE mailboxes.password_hash IS NULL
        RETURNING id
        """,
        (mailbox, int(time.time()), now, password_hash, now),
    )
    row = cursor.fetchone()
    if row is None:
        return False
    cursor.execute("DELETE FROM webhooks WHERE mailbox_id = ?", (row[0],))
    _store_token(cursor, row[0], token)
    return True


def _claimed_id(cursor: Any, mailbox: str) -> int | None:
    cursor.execute(
        "SELECT id FROM mailboxes WHERE address = ? AND password_hash IS NOT NULL", (mailbox,)
    )
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def change_password(cursor: Any, mailbox: str, password_hash: str, token: TokenGrant) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    cursor.execute(
        "UPDATE mailboxes SET password_hash = ? WHERE id = ?", (password_hash, mailbox_id)
    )
    cursor.execute("DELETE FROM mailbox_tokens WHERE mailbox_id = ?", (mailbox_id,))
    _store_token(cursor, mailbox_id, token)
    return True


def release_mailbox(cursor: Any, mailbox: str) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    cursor.execute(
        "UPDATE mailboxes SET password_hash = NULL, claimed_at = NULL WHERE id = ?", (mailbox_id,)
    )
    cursor.execute("DELETE FROM mailbox_tokens WHERE mailbox_id = ?", (mailbox_id,))
    return True


def add_token(cursor: Any, mailbox: str, token: TokenGrant) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    _store_token(cursor, mailbox_id, token)
    return True


def token_mailbox(cursor: Any, digest: str, now_us: int) -> str | None:
    cursor.execute(
        "SELECT mb.address FROM mailbox_tokens t JOIN mailboxes mb ON mb.id = t.mailbox_id "
        "WHERE t.digest = ? AND t.expires_at > ? AND mb.password_hash IS NOT NULL",
        (digest, now_us),
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])
