"""
The SQL that IMAP needs beyond reading messages: a mailbox's UIDVALIDITY and
UIDNEXT, messages by UID and by sequence number, many raw messages at once,
flag writes, and expunge.
The REST API's seen flag is written here too, as the flag C{\\Seen}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tempmail import outbox
from tempmail.events import DeletionReason
from tempmail.flags import DELETED, SEEN, FlagMode, flag_update
from tempmail.models import FlagUpdate, MailboxGrant, MailboxState, MessageSummary
from tempmail.storage.sqlite_mailboxes import ensure_mailbox, granted_mailbox
from tempmail.storage.sqlite_messages import (
    FROM_COPIES,
    SUMMARY_COLUMNS,
    chunks,
    delete_copies,
    summary,
)
from tempmail.storage.sqlite_webhooks import write_outbox

ALL_ROWS = 2**62


def open_mailbox(cursor: Any, mailbox: str, now_us: int) -> MailboxState:
    mailbox_id = ensure_mailbox(cursor, mailbox, now_us)
    cursor.execute(
        "SELECT mb.uid_validity, mb.uid_next, count(mm.id), "
        "count(mm.id) - coalesce(sum(mm.seen), 0) "
        "FROM mailboxes mb LEFT JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
        "WHERE mb.id = ? GROUP BY mb.id",
        (mailbox_id,),
    )
    uid_validity, uid_next, exists, unseen = cursor.fetchone()
    return MailboxState(mailbox, uid_validity, uid_next, exists, unseen)


def list_uids(cursor: Any, mailbox: str) -> list[int]:
    cursor.execute(
        "SELECT mm.uid FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id "
        "WHERE mb.address = ? ORDER BY mm.uid",
        (mailbox,),
    )
    return [row[0] for row in cursor.fetchall()]


def messages_by_uid(
    cursor: Any, mailbox: str, first: int, last: int | None
) -> list[MessageSummary]:
    cursor.execute(
        f"SELECT {SUMMARY_COLUMNS} {FROM_COPIES} "
        "WHERE mb.address = ? AND mm.uid >= ? AND (? IS NULL OR mm.uid <= ?) ORDER BY mm.uid",
        (mailbox, first, last, last),
    )
    return [summary(row) for row in cursor.fetchall()]


def messages_by_sequence(
    cursor: Any, mailbox: str, first: int, last: int | None
) -> list[MessageSummary]:
    # No last: to the end (a bound both SQLite and PostgreSQL take; -1 is
    # SQLite's own "no limit").
    count = ALL_ROWS if last is None else max(last - first + 1, 0)
    cursor.execute(
        f"SELECT {SUMMARY_COLUMNS} {FROM_COPIES} "
        "WHERE mb.address = ? ORDER BY mm.uid LIMIT ? OFFSET ?",
        (mailbox, count, max(first - 1, 0)),
    )
    return [summary(row) for row in cursor.fetchall()]


def raws_by_id(cursor: Any, ids: Sequence[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in chunks(list(ids)):
        cursor.execute(
            "SELECT mm.id, m.raw FROM mailbox_messages mm JOIN messages m "
            f"ON m.id = mm.message_id WHERE mm.id IN ({','.join('?' * len(part))})",
            tuple(part),
        )
        found.update((id, bytes(raw)) for id, raw in cursor.fetchall())
    return found


def _write_flags(
    cursor: Any, found: list[MessageSummary], flags: frozenset[str], mode: FlagMode, now_us: int
) -> list[FlagUpdate]:
    """
    Apply a flag write to messages already read; write the C{read}
    deliveries of those it marks seen.
    """
    updates = [flag_update(before, flags, mode) for before in found]
    for update in updates:
        if not update.changed:
            continue
        after = update.summary
        cursor.execute(
            "UPDATE mailbox_messages SET seen = ? WHERE id = ?", (int(after.seen), after.id)
        )
        cursor.execute("DELETE FROM message_flags WHERE entry_id = ?", (after.id,))
        cursor.executemany(
            "INSERT INTO message_flags (entry_id, flag) VALUES (?, ?)",
            [(after.id, flag) for flag in after.flags],
        )
    write_outbox(cursor, [outbox.read(u.summary) for u in updates if u.became_seen], now_us)
    return updates


def store_flags(
    cursor: Any,
    grant: MailboxGrant,
    uids: Sequence[int],
    flags: frozenset[str],
    mode: FlagMode,
    now_us: int,
) -> list[FlagUpdate]:
    mailbox_id = granted_mailbox(cursor, grant)
    found: list[MessageSummary] = []
    for part in chunks(sorted(set(uids))):
        cursor.execute(
            f"SELECT {SUMMARY_COLUMNS} {FROM_COPIES} WHERE mm.mailbox_id = ? "
            f"AND mm.uid IN ({','.join('?' * len(part))}) ORDER BY mm.uid",
            (mailbox_id, *part),
        )
        found.extend(summary(row) for row in cursor.fetchall())
    return _write_flags(cursor, found, flags, mode, now_us)


def set_seen(
    cursor: Any, grant: MailboxGrant, id: str, seen: bool, now_us: int
) -> FlagUpdate | None:
    mailbox_id = granted_mailbox(cursor, grant)
    cursor.execute(
        f"SELECT {SUMMARY_COLUMNS} {FROM_COPIES} WHERE mm.id = ? AND mm.mailbox_id = ?",
        (id, mailbox_id),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    mode = FlagMode.ADD if seen else FlagMode.REMOVE
    (update,) = _write_flags(cursor, [summary(row)], frozenset({SEEN}), mode, now_us)
    return update


def expunge(
    cursor: Any, grant: MailboxGrant, uids: Sequence[int] | None, now_us: int
) -> list[MessageSummary]:
    mailbox_id = granted_mailbox(cursor, grant)
    cursor.execute(
        "SELECT mm.id, mm.uid FROM mailbox_messages mm JOIN message_flags f "
        "ON f.entry_id = mm.id AND f.flag = ? WHERE mm.mailbox_id = ? ORDER BY mm.uid",
        (DELETED, mailbox_id),
    )
    wanted = None if uids is None else set(uids)
    ids = [id for id, uid in cursor.fetchall() if wanted is None or uid in wanted]
    deleted = delete_copies(cursor, ids, DeletionReason.EXPUNGED, now_us)
    return sorted(deleted, key=lambda s: s.uid)
