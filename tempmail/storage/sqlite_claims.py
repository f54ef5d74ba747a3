"""
The SQL for mailbox claims and tokens, and the operator's mailbox listing,
run by L{SQLiteMailStore} in its pool thread.  Each function gets a cursor
inside an open transaction.

Every claim, release and password change adds one to the mailbox's
C{lock_version}, so a write guarded by an older lock check is refused (see
L{sqlite_mailboxes.granted_mailbox}).
"""

from __future__ import annotations

from typing import Any

from tempmail.models import MailboxInfo, MailboxPage, TokenGrant
from tempmail.storage.sqlite_mailboxes import ensure_mailbox
from tempmail.storage.timestamps import from_micros, to_micros


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


def _store_token(cursor: Any, mailbox_id: int, token: TokenGrant, now_us: int) -> None:
    # Expired tokens are dropped whenever one is issued, which bounds the table.
    cursor.execute("DELETE FROM mailbox_tokens WHERE expires_at < ?", (now_us,))
    cursor.execute(
        "INSERT INTO mailbox_tokens (digest, mailbox_id, expires_at) VALUES (?, ?, ?)",
        (token.digest, mailbox_id, to_micros(token.expires_at)),
    )


def claim_mailbox(
    cursor: Any, mailbox: str, password_hash: str, token: TokenGrant, now_us: int
) -> bool:
    mailbox_id = ensure_mailbox(cursor, mailbox, now_us)
    cursor.execute(
        "UPDATE mailboxes SET password_hash = ?, claimed_at = ?, lock_version = lock_version + 1 "
        "WHERE id = ? AND password_hash IS NULL",
        (password_hash, now_us, mailbox_id),
    )
    if not cursor.rowcount:
        return False
    cursor.execute("DELETE FROM webhooks WHERE mailbox_id = ?", (mailbox_id,))
    _store_token(cursor, mailbox_id, token, now_us)
    return True


def _claimed_id(cursor: Any, mailbox: str) -> int | None:
    cursor.execute(
        "SELECT id FROM mailboxes WHERE address = ? AND password_hash IS NOT NULL", (mailbox,)
    )
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def change_password(
    cursor: Any, mailbox: str, password_hash: str, token: TokenGrant, now_us: int
) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    cursor.execute(
        "UPDATE mailboxes SET password_hash = ?, lock_version = lock_version + 1 WHERE id = ?",
        (password_hash, mailbox_id),
    )
    cursor.execute("DELETE FROM mailbox_tokens WHERE mailbox_id = ?", (mailbox_id,))
    _store_token(cursor, mailbox_id, token, now_us)
    return True


def release_mailbox(cursor: Any, mailbox: str) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    cursor.execute(
        "UPDATE mailboxes SET password_hash = NULL, claimed_at = NULL, "
        "lock_version = lock_version + 1 WHERE id = ?",
        (mailbox_id,),
    )
    cursor.execute("DELETE FROM mailbox_tokens WHERE mailbox_id = ?", (mailbox_id,))
    return True


def add_token(cursor: Any, mailbox: str, token: TokenGrant, now_us: int) -> bool:
    mailbox_id = _claimed_id(cursor, mailbox)
    if mailbox_id is None:
        return False
    _store_token(cursor, mailbox_id, token, now_us)
    return True


def token_mailbox(cursor: Any, digest: str, now_us: int) -> str | None:
    cursor.execute(
        "SELECT mb.address FROM mailbox_tokens t JOIN mailboxes mb ON mb.id = t.mailbox_id "
        "WHERE t.digest = ? AND t.expires_at > ? AND mb.password_hash IS NOT NULL",
        (digest, now_us),
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])
