"""
How times are written in JSON: RFC 3339, UTC, microseconds, C{Z}.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """
    Format a time as RFC 3339 in UTC with microseconds and a C{Z}.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
