"""
Time: how it is written in JSON, and how an injected clock becomes a
C{datetime}.

Everything that needs "now" takes an L{IReactorTime} (the reactor in the
daemon, a L{twisted.internet.task.Clock} in tests) and reads it through
L{clock_now}, so tests decide what time it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.interfaces import IReactorTime


def rfc3339(moment: datetime) -> str:
    """
    Format a time as RFC 3339 in UTC with microseconds and a C{Z}.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clock_now(clock: IReactorTime) -> datetime:
    """
    The time C{clock} says it is, in UTC.
    """
    return datetime.fromtimestamp(clock.seconds(), tz=UTC)
