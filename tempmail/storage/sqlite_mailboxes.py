"""
The SQL for mailbox rows that every part of the SQLite store shares: making
a mailbox on first use, and the lock check that guards a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tempmail.interfaces import LockChanged
from tempmail.models import LockState, MailboxGrant


def ensure_mailbox(cursor: Any, address: str, now_us: int) -> int:
    """
    The id of mailbox C{address}, created if it does not exist (its
    UIDVALIDITY is the creation time in seconds, and its first UID 1).
    """
    cursor.execute(
        """
        INSERT INTO mailboxes (address, uid_validity, uid_next, created_at) VALUES (?, ?, 1, ?)
        ON CONFLICT (address) DO UPDATE SET address = excluded.address
        RETURNING id
        """,
        (address, now_us // 1_000_000, now_us),
    )
    return int(cursor.fetchone()[0])


def lock_rows(cursor: Any, table: str, ids: Sequence[int]) -> None:
    """
    Lock these rows until the commit, on a connection that locks rows (a
    cursor with C{locks_rows}, such as PostgreSQL's); SQLite's write
    transaction holds the whole database already.  In id order, so two
    transactions never wait for each other in a circle.
    """
    if not getattr(cursor, "locks_rows", False):
        return
    for part in range(0, len(ids), 500):
        chunk = sorted(ids)[part : part + 500]
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE id IN ({','.join('?' * len(chunk))}) "
            "ORDER BY id FOR UPDATE",
            chunk,
        )


def lock_state(cursor: Any, mailbox: str) -> LockState:
    cursor.execute(
        "SELECT password_hash, lock_version FROM mailboxes WHERE address = ?", (mailbox,)
    )
    row = cursor.fetchone()
    if row is None:
        return LockState(mailbox, None, 0)
    return LockState(mailbox, row[0], int(row[1]))


def granted_mailbox(cursor: Any, grant: MailboxGrant) -> int | None:
    """
    The id of the grant's mailbox (C{None} if it does not exist), after
    checking, inside the write's transaction, that its lock is still the one
    the grant was given for.

    @raise LockChanged: if it is not.
    """
    # An update that changes nothing, rather than a read, so that on a
    # database server the row stays locked until the write commits: a claim
    # on another node cannot slip in between this check and the write.
    cursor.execute(
        "UPDATE mailboxes SET lock_version = lock_version WHERE address = ? "
        "RETURNING id, lock_version",
        (grant.mailbox,),
    )
    row = cursor.fetchone()
    version = 0 if row is None else int(row[1])
    if grant.lock_version is not None and version != grant.lock_version:
        raise LockChanged(grant.mailbox)
    return None if row is None else int(row[0])
