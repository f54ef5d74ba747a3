"""
Logging through L{twisted.logger}: text or JSON lines, filtered by level.
"""

from __future__ import annotations

from typing import IO

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    jsonFileLogObserver,
    textFileLogObserver,
)

_LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
    "critical": LogLevel.critical,
}


def make_observer(level: str, fmt: str, out: IO[str]) -> ILogObserver:
    """
    Build the daemon's log observer.

    @param level: the lowest level written (see L{tempmail.values.parse_log_level}).
    @param fmt: C{text} for human-readable lines, C{json} for one JSON object
        per line, as journald and log shippers want.
    @param out: where to write, usually standard output.
    """
    if fmt == "json":
        writer = jsonFileLogObserver(out, recordSeparator="")
    else:
        writer = textFileLogObserver(out)
    predicate = LogLevelFilterPredicate(defaultLogLevel=_LEVELS[level])
    return FilteringLogObserver(writer, [predicate])
