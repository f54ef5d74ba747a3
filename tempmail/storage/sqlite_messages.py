"""
The SQL for messages and mailboxes' mail, run by L{SQLiteMailStore} in its
pool thread.  Each function gets a cursor inside an open transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from tempmail.interfaces import UnknownCursor
from tempmail.models import (
    AttachmentContent,
    AttachmentInfo,
    DeliveredCopy,
    IncomingMessage,
    MessagePage,
    MessageSummary,
    StoredMessage,
)
from tempmail.storage.timestamps import from_micros, to_micros

_SUMMARY_COLUMNS = """
    mm.id, mb.address, mm.uid, m.from_address, m.subject, mm.received_at,
    m.size, mm.seen, m.attachment_count, m.preview
"""
_FROM_COPIES = """
    FROM mailbox_messages mm
    JOIN mailboxes mb ON mb.id = mm.mailbox_id
    JOIN messages m ON m.id = mm.message_id
"""


def summary(row: Sequence[Any]) -> MessageSummary:
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


def deliver(cursor: Any, message: IncomingMessage) -> list[DeliveredCopy]:
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
    summaries = tuple(summary(row) for row in rows[:limit])
    more = len(rows) > limit and summaries
    return MessagePage(summaries, total, summaries[-1].id if more else None)


def get_messages(cursor: Any, ids: list[str]) -> list[StoredMessage]:
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
            summary=summary(row),
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


def get_raw(cursor: Any, id: str) -> bytes | None:
    cursor.execute(
        "SELECT m.raw FROM mailbox_messages mm JOIN messages m "
        "ON m.id = mm.message_id WHERE mm.id = ?",
        (id,),
    )
    row = cursor.fetchone()
    return None if row is None else bytes(row[0])


def get_attachment(cursor: Any, id: str, index: int) -> AttachmentContent | None:
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


def set_seen(cursor: Any, id: str, seen: bool) -> bool | None:
    cursor.execute("SELECT seen FROM mailbox_messages WHERE id = ?", (id,))
    row = cursor.fetchone()
    if row is None:
        return None
    if bool(row[0]) == seen:
        return False
    cursor.execute("UPDATE mailbox_messages SET seen = ? WHERE id = ?", (int(seen), id))
    return True


def delete_message(cursor: Any, id: str) -> MessageSummary | None:
    deleted = delete_where(cursor, "mm.id = ?", (id,))
    return deleted[0] if deleted else None


def delete_where(cursor: Any, condition: str, params: Sequence[Any]) -> list[MessageSummary]:
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
    return [summary(row) for row in rows]


def ping(cursor: Any) -> None:
    cursor.execute("SELECT 1")
    cursor.fetchone()
