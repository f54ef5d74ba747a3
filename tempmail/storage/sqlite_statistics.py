"""
The SQL for C{/metrics}: what the database holds.  The counts are the same
on every SQL backend; only how the database's size is asked differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tempmail.models import StoreStatistics
from tempmail.storage.timestamps import from_micros


def sqlite_size(cursor: Any) -> int:
    """
    The bytes of a SQLite database file: its pages.
    """
    cursor.execute("PRAGMA page_count")
    (pages,) = cursor.fetchone()
    cursor.execute("PRAGMA page_size")
    (page_size,) = cursor.fetchone()
    return int(pages * page_size)


def statistics(cursor: Any, size: Callable[[Any], int] = sqlite_size) -> StoreStatistics:
    """
    Count mailboxes, message copies and pending webhook deliveries, and ask
    the database's size with C{size}.
    """
    cursor.execute("SELECT count(*) FROM mailboxes")
    (mailboxes,) = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM mailbox_messages")
    (messages,) = cursor.fetchone()
    cursor.execute(
        "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'"
    )
    pending, oldest = cursor.fetchone()
    return StoreStatistics(
        mailboxes,
        messages,
        size(cursor),
        pending,
        None if oldest is None else from_micros(oldest),
    )
