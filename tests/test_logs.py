"""
The log observer: level filtering and the two formats.
"""

from __future__ import annotations

import io
import json

from twisted.logger import Logger, LogPublisher

from tempmail.logs import make_observer


def emit_all(level: str, fmt: str) -> str:
    out = io.StringIO()
    publisher = LogPublisher(make_observer(level, fmt, out))
    log = Logger(namespace="tempmail.test", observer=publisher)
    log.debug("debug {n}", n=1)
    log.info("info {n}", n=2)
    log.warn("warn {n}", n=3)
    log.error("error {n}", n=4)
    return out.getvalue()


def test_level_filters_lower_levels() -> None:
    text = emit_all("warn", "text")
    assert "debug 1" not in text and "info 2" not in text
    assert "warn 3" in text and "error 4" in text
    assert "info 2" in emit_all("info", "text")
    assert "debug 1" in emit_all("debug", "text")


def test_json_format_writes_one_object_per_line() -> None:
    lines = emit_all("info", "json").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["n"] for e in events] == [2, 3, 4]
    assert {e["log_namespace"] for e in events} == {"tempmail.test"}
