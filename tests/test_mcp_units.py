"""
The MCP server's pure parts and its session registry, on Twisted's
doubles: JSON-RPC parsing, version negotiation, Origin rules, idle expiry
on a C{Clock}, and what ending a session stops.
"""

from __future__ import annotations

from typing import cast

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.web.iweb import IRequest
from twisted.web.test.requesthelper import DummyRequest

from tempmail.mcp.jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    JsonRpcError,
    Kind,
    parse_message,
    sse_event,
)
from tempmail.mcp.server import negotiate
from tempmail.mcp.sessions import SessionRegistry, TooManySessions
from tempmail.mcp.transport import origin_allowed


def test_messages_are_told_apart() -> None:
    request = parse_message(b'{"jsonrpc":"2.0","id":"a","method":"ping"}')
    assert (request.kind, request.id, request.method, request.params) == (
        Kind.REQUEST,
        "a",
        "ping",
        {},
    )
    note = parse_message(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert note.kind is Kind.NOTIFICATION and note.id is None
    response = parse_message(b'{"jsonrpc":"2.0","id":3,"result":{}}')
    assert response.kind is Kind.RESPONSE


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{", PARSE_ERROR),
        (b"\xff", PARSE_ERROR),
        (b'{"a":' * 100_000, PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"t":NaN}}', PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"t":-Infinity}}', PARSE_ERROR),
        (b"[]", INVALID_REQUEST),
        (b'{"id":1,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', INVALID_REQUEST),
    ],
)
def test_bad_messages_get_their_codes(raw: bytes, code: int) -> None:
    with pytest.raises(JsonRpcError) as error:
        parse_message(raw)
    assert error.value.code == code


def test_events_are_one_sse_frame() -> None:
    assert sse_event({"a": "é"}) == 'event: message\ndata: {"a":"é"}\n\n'.encode()


def test_versions_are_negotiated() -> None:
    assert negotiate({"protocolVersion": "2025-03-26"}) == "2025-03-26"
    assert negotiate({"protocolVersion": "2024-11-05"}) == "2025-11-25"
    with pytest.raises(JsonRpcError):
        negotiate({})


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost:3000", True),
        ("http://[::1]:8080", True),
        ("https://app.example", True),
        ("http://localhost.evil.example", False),
        ("null", False),
        ("file://", False),
    ],
)
def test_origins(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, frozenset({"https://app.example"})) is allowed


def test_idle_sessions_expire_unless_a_stream_is_open() -> None:
    clock = Clock()
    registry = SessionRegistry(clock, idle_timeout=60, max_sessions=10)
    idle = registry.create("2025-11-25")
    busy = registry.create("2025-11-25")
    stream = busy.add_stream(cast(IRequest, DummyRequest([b""])))
    clock.advance(59)
    assert registry.get(idle.id) is idle  # a request restarts the timer
    clock.advance(59)
    assert registry.get(idle.id) is idle
    clock.advance(61)
    assert registry.get(idle.id) is None and idle.ended
    assert registry.get(busy.id) is busy
    clock.advance(61)
    assert registry.get(busy.id) is busy
    stream.addErrback(lambda failure: failure.trap(CancelledError))
    stream.cancel()  # the client went away
    assert busy.streams == []
    clock.advance(61)
    assert registry.get(busy.id) is None
    assert clock.getDelayedCalls() == []


def test_the_limit_and_what_ending_stops() -> None:
    clock = Clock()
    registry = SessionRegistry(clock, idle_timeout=60, max_sessions=1)
    session = registry.create("2025-11-25")
    with pytest.raises(TooManySessions):
        registry.create("2025-11-25")
    stopped: list[str] = []
    session.subscriptions["mailbox://a"] = lambda: stopped.append("a")
    pending: Deferred[None] = Deferred()
    pending.addErrback(lambda failure: stopped.append(failure.type.__name__))
    session.in_flight[1] = pending
    stream = session.add_stream(cast(IRequest, DummyRequest([b""])))
    registry.end_all()
    assert stopped == ["a", "CancelledError"]
    assert stream.called and session.streams == []
    assert len(registry) == 0 and clock.getDelayedCalls() == []
    registry.create("2025-11-25")
