"""
How times are stored: whole microseconds since the epoch, UTC.

Integers compare as times, and the same column type works in SQLite and
PostgreSQL.  The conversions are integer arithmetic, so a stored time reads
back to the microsecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """
    A time as microseconds since the epoch.
    """
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """
    The inverse of L{to_micros}, in UTC.
    """
    return _EPOCH + timedelta(microseconds=micros)
