"""
The SQL for mail: delivering, listing, reading and deleting, run by
L{SQLiteMailStore} in its pool thread.  Each function gets a cursor inside
an open transaction; a change that webhooks hear of writes its deliveries
in that same transaction (L{sqlite_webhooks.write_outbox}).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from tempmail import outbox
from tempmail.events import DeletionReason
from tempmail.interfaces import UnknownCursor
from tempmail.models import (
    AttachmentContent,
    AttachmentInfo,
    DeliveredCopy,
    IncomingMessage,
    MailboxGrant,
    MessagePage,
    MessageSummary,
    StoredMessage,
)
from tempmail.parsing import read_content
from tempmail.storage.sqlite_mailboxes import granted_mailbox, lock_rows
from tempmail.storage.sqlite_webhooks import HookedMailboxes, write_outbox
from tempmail.storage.timestamps import from_micros, to_micros

# The flags other than \Seen travel as one space-separated text: a flag is
# an IMAP atom, which has no spaces.
SUMMARY_COLUMNS = """
    mm.id, mb.address, mm.uid, m.from_address, m.subject, mm.received_at,
    m.size, mm.seen, m.attachment_count, m.preview,
    (SELECT group_concat(f.flag, ' ') FROM message_flags f WHERE f.entry_id = mm.id)
"""
FROM_COPIES = """
    FROM mailbox_messages mm
    JOIN mailboxes mb ON mb.id = mm.mailbox_id
    JOIN messages m ON m.id = mm.message_id
"""
# How many columns SUMMARY_COLUMNS has; extra columns follow it.
SUMMARY_WIDTH = 11

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 500) -> list[Sequence[T]]:
    """
    C{items} in slices small enough for one statement's parameters.
    """
    return [items[start : start + size] for start in range(0, len(items), size)]


def summary(row: Sequence[Any]) -> MessageSummary:
    """
    A L{MessageSummary} from a row that starts with L{SUMMARY_COLUMNS}.
    """
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
        flags=tuple(sorted(row[10].split())) if row[10] else (),
    )


# A message larger than this is not bound whole (SQLite would copy it, then
# build its row in memory): its row is made with trailing zeros (raw is the
# last column, so they cost nothing) and filled in pieces this large.
BLOB_PIECE = 1024 * 1024


def _write_raw(cursor: Any, row_id: int, raw: bytes) -> None:
    view = memoryview(raw)
    with cursor.connection.blobopen("messages", "raw", row_id) as blob:
        for start in range(0, len(raw), BLOB_PIECE):
            blob.write(view[start : start + BLOB_PIECE])


def deliver_all(
    cursor: Any,
    incoming: Sequence[IncomingMessage],
    now_us: int,
    hooked: HookedMailboxes,
    blob_io: bool = True,
) -> list[list[DeliveredCopy]]:
    """
    File several messages in the caller's transaction (a group commit);
    return each one's copies, in order.

    @param hooked: which mailboxes have an enabled webhook; only their
        arrivals are written to the outbox, with no query for the others.
    @param blob_io: whether the connection writes large raw messages in
        pieces (SQLite's blob I/O); otherwise each is bound whole.
    """
    rows = [_insert_message(cursor, message, blob_io) for message in incoming]
    # Each mailbox takes all its new UIDs in one statement, which also makes
    # the mailbox on first use, so two deliveries never get the same UID.
    # On a database server the statement locks the mailbox's row until the
    # commit, so deliveries from several nodes take UIDs one after another;
    # mailboxes are taken in one order, so two of them never deadlock.
    wanted: dict[str, int] = {}
    for message in incoming:
        for address in message.envelope.recipients:
            wanted[address] = wanted.get(address, 0) + 1
    mailboxes: dict[str, list[int]] = {}
    for address, count in sorted(wanted.items()):
        cursor.execute(
            """
            INSERT INTO mailboxes (address, uid_validity, uid_next, created_at)
            VALUES (?, ?, ? + 1, ?)
            ON CONFLICT (address) DO UPDATE SET uid_next = mailboxes.uid_next + ?
            RETURNING id, uid_next - ?
            """,
            (address, now_us // 1_000_000, count, now_us, count, count),
        )
        mailboxes[address] = list(cursor.fetchone())
    with_hooks = hooked.current(cursor)
    filed, copy_rows, arrivals = [], [], []
    for message, row_id in zip(incoming, rows, strict=True):
        received = to_micros(message.envelope.received_at)
        copies = []
        for address in message.envelope.recipients:
            mailbox = mailboxes[address]
            copy = DeliveredCopy(id=str(uuid.uuid4()), mailbox=address, uid=mailbox[1])
            mailbox[1] += 1
            copy_rows.append((copy.id, mailbox[0], row_id, copy.uid, received))
            copies.append(copy)
            if address in with_hooks:
                arrivals.append(outbox.arrival(message.summary_for(copy)))
        filed.append(copies)
    cursor.executemany(
        "INSERT INTO mailbox_messages (id, mailbox_id, message_id, uid, received_at) "
        "VALUES (?, ?, ?, ?, ?)",
        copy_rows,
    )
    write_outbox(cursor, arrivals, now_us)
    return filed


def _insert_message(cursor: Any, message: IncomingMessage, blob_io: bool) -> int:
    parsed, envelope = message.parsed, message.envelope
    large = blob_io and len(message.raw) > BLOB_PIECE
    cursor.execute(
        f"""
        INSERT INTO messages (
            size, received_at, envelope_from, envelope_to,
            from_address, to_addresses, cc_addresses, subject, date,
            message_id, preview, attachment_count, raw
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {"zeroblob(?)" if large else "?"})
        RETURNING id
        """,
        (
            len(message.raw),
            to_micros(envelope.received_at),
            envelope.mail_from,
            json.dumps(envelope.recipients),
            parsed.from_address,
            json.dumps(parsed.to),
            json.dumps(parsed.cc),
            parsed.subject,
            None if parsed.date is None else to_micros(parsed.date),
            parsed.message_id,
            parsed.preview,
            parsed.attachment_count,
            len(message.raw) if large else message.raw,
        ),
    )
    row_id = int(cursor.fetchone()[0])
    if large:
        _write_raw(cursor, row_id, message.raw)
    return row_id


def list_messages(
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
        f"SELECT {SUMMARY_COLUMNS} {FROM_COPIES} "
        "WHERE mb.address = ? AND (? IS NULL OR mm.uid < ?) "
        "ORDER BY mm.uid DESC LIMIT ? OFFSET ?",
        (mailbox, below, below, limit + 1, offset),
    )
    rows = cursor.fetchall()
    summaries = tuple(summary(row) for row in rows[:limit])
    more = len(rows) > limit and summaries
    return MessagePage(summaries, total, summaries[-1].id if more else None)


def get_messages(cursor: Any, ids: list[str]) -> list[StoredMessage]:
    rows = []
    for part in chunks(ids):
        cursor.execute(
            f"SELECT {SUMMARY_COLUMNS}, m.to_addresses, m.cc_addresses, m.date, "
            "m.message_id, m.envelope_from, m.envelope_to, m.raw "
            f"{FROM_COPIES} WHERE mm.id IN ({','.join('?' * len(part))})",
            part,
        )
        rows.extend(cursor.fetchall())
    found = {}
    for row in rows:
        (to, cc, date, message_id, envelope_from, envelope_to, raw) = row[SUMMARY_WIDTH:]
        content = read_content(bytes(raw))
        found[row[0]] = StoredMessage(
            summary=summary(row),
            to=tuple(json.loads(to)),
            cc=tuple(json.loads(cc)),
            date=None if date is None else from_micros(date),
            message_id=message_id,
            text=content.text,
            html=content.html,
            headers=content.headers,
            envelope_from=envelope_from,
            envelope_to=tuple(json.loads(envelope_to)),
            attachments=tuple(
                AttachmentInfo(
                    index, a.filename, a.content_type, len(a.content), a.content_id, a.inline
                )
                for index, a in enumerate(content.attachments)
            ),
        )
    return [found[i] for i in ids if i in found]


def get_raw(cursor: Any, id: str) -> bytes | None:
    cursor.execute(
        "SELECT m.raw FROM mailbox_messages mm JOIN messages m "
        "ON m.id = mm.message_id WHERE mm.id = ?",
        (id,),
    )
    row = cursor.fetchone()
    return None if row is None else bytes(row[0])


def get_attachment(cursor: Any, id: str, index: int) -> AttachmentContent | None:
    raw = get_raw(cursor, id)
    if raw is None or index < 0:
        return None
    attachments = read_content(raw).attachments
    if index >= len(attachments):
        return None
    a = attachments[index]
    info = AttachmentInfo(index, a.filename, a.content_type, len(a.content), a.content_id, a.inline)
    return AttachmentContent(info, a.content)


def mailbox_of(cursor: Any, id: str) -> str | None:
    cursor.execute(
        "SELECT mb.address FROM mailbox_messages mm JOIN mailboxes mb "
        "ON mb.id = mm.mailbox_id WHERE mm.id = ?",
        (id,),
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])


# Deleting


def delete_copies(
    cursor: Any, ids: Sequence[str], reason: DeletionReason, now_us: int
) -> list[MessageSummary]:
    """
    Delete these mailbox copies, and the bodies no copy refers to any more;
    return what went (oldest first), with the deliveries its deletion owes
    the webhooks written.
    """
    rows = []
    for part in chunks(ids):
        cursor.execute(
            f"SELECT {SUMMARY_COLUMNS}, mm.message_id {FROM_COPIES} "
            f"WHERE mm.id IN ({','.join('?' * len(part))})",
            part,
        )
        rows.extend(cursor.fetchall())
    rows.sort(key=lambda row: (row[5], row[2]))
    bodies = sorted({row[SUMMARY_WIDTH] for row in rows})
    # On a database server, two transactions deleting the last two copies
    # of one message would each see the other's copy and keep the body:
    # locking the bodies first makes the second wait for the first.
    lock_rows(cursor, "messages", bodies)
    # Only the copies this transaction deleted count: on a database server
    # another node may have deleted some since they were read, and each
    # deletion is announced by the one that made it.
    gone: set[str] = set()
    for part in chunks([row[0] for row in rows]):
        cursor.execute(
            f"DELETE FROM mailbox_messages WHERE id IN ({','.join('?' * len(part))}) RETURNING id",
            part,
        )
        gone.update(id for (id,) in cursor.fetchall())
    rows = [row for row in rows if row[0] in gone]
    cursor.executemany(
        "DELETE FROM messages WHERE id = ? AND NOT EXISTS "
        "(SELECT 1 FROM mailbox_messages WHERE message_id = ?)",
        [(row_id, row_id) for row_id in bodies],
    )
    deleted = [summary(row) for row in rows]
    write_outbox(cursor, [outbox.deletion(s, reason) for s in deleted], now_us)
    return deleted


def delete_message(cursor: Any, grant: MailboxGrant, id: str, now_us: int) -> MessageSummary | None:
    mailbox_id = granted_mailbox(cursor, grant)
    cursor.execute(
        "SELECT id FROM mailbox_messages WHERE id = ? AND mailbox_id = ?", (id, mailbox_id)
    )
    if cursor.fetchone() is None:
        return None
    (deleted,) = delete_copies(cursor, [id], DeletionReason.DELETED, now_us)
    return deleted


def empty_mailbox(cursor: Any, grant: MailboxGrant, now_us: int) -> list[MessageSummary]:
    mailbox_id = granted_mailbox(cursor, grant)
    cursor.execute("SELECT id FROM mailbox_messages WHERE mailbox_id = ?", (mailbox_id,))
    ids = [row[0] for row in cursor.fetchall()]
    return delete_copies(cursor, ids, DeletionReason.DELETED, now_us)


def expire_messages(
    cursor: Any, older_than_us: int, limit: int, now_us: int
) -> list[MessageSummary]:
    cursor.execute(
        "SELECT id FROM mailbox_messages WHERE received_at < ? ORDER BY received_at LIMIT ?",
        (older_than_us, limit),
    )
    ids = [row[0] for row in cursor.fetchall()]
    return delete_copies(cursor, ids, DeletionReason.RETENTION, now_us)


def trim_mailboxes(cursor: Any, keep: int, limit: int, now_us: int) -> list[MessageSummary]:
    cursor.execute(
        "SELECT id FROM (SELECT id, row_number() OVER "
        "(PARTITION BY mailbox_id ORDER BY uid DESC) AS newer FROM mailbox_messages) AS ranked "
        "WHERE newer > ? LIMIT ?",
        (keep, limit),
    )
    ids = [row[0] for row in cursor.fetchall()]
    return delete_copies(cursor, ids, DeletionReason.RETENTION, now_us)


def ping(cursor: Any) -> None:
    # Reads a page of the database, not just the engine.
    cursor.execute("SELECT version FROM schema_version")
    cursor.fetchone()
