"""
The SQL for C{/metrics}: what the database holds.
"""

from __future__ import annotations

from typing import Any

from tempmail.models import StoreStatistics
from tempmail.storage.timestamps import from_micros


def statistics(cursor: Any) -> StoreStatistics:
    cursor.execute("SELECT count(*) FROM mailboxes")
    (mailboxes,) = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM mailbox_messages")
    (messages,) = cursor.fetchone()
    cursor.execute(
        "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'"
    )
    pending, oldest = cursor.fetchone()
    cursor.execute("PRAGMA page_count")
    (pages,) = cursor.fetchone()
    cursor.execute("PRAGMA page_size")
    (page_size,) = cursor.fetchone()
    return StoreStatistics(
        mailboxes,
        messages,
        pages * page_size,
        pending,
        None if oldest is None else from_micros(oldest),
    )
