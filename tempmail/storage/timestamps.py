"""
How times are stored: whole microseconds since the epoch, UTC.

Integers compare as times (the original compared RFC 3339 text), and the
same column type works in SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def to_micros(moment: datetime) -> int:
    """
    A time as microseconds since the epoch.
    """
    return int(moment.timestamp() * 1_000_000)


def from_micros(micros: int) -> datetime:
    """
    The inverse of L{to_micros}, in UTC.
    """
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def now_micros() -> int:
    """
    The current time as microseconds since the epoch.
    """
    return time.time_ns() // 1000
