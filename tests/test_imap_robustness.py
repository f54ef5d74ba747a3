"""
Malformed and unsupported commands on a C{StringTransport}: each gets a
tagged BAD or NO, the session goes on, and nothing is logged as an error
(Twisted answers many of them "Server error" with a traceback).
"""

from __future__ import annotations

import pytest

from tests.imap_session import Session, selected

COMMANDS = [
    b"FETCH", b"FETCH x FLAGS", b"FETCH 1", b"FETCH 1 (BOGUS)", b"FETCH 1 (FLAGS",
    b"FETCH 1 BODY[HEADER.FIELDS]", b"FETCH 1 (BODY[]<x>)", b"FETCH 1 BODY[TEXT.FOO]",
    b"STORE", b"STORE 1", b"STORE 1 BOGUS (\\Seen)", b"STORE 1 FLAGS (\\Bogus)",
    b"SELECT", b"EXAMINE", b"SELECT &", b"SEARCH", b"SEARCH (", b"SEARCH CHARSET",
    b"SEARCH SENTBEFORE 31-Feb-2020", b"UID", b"UID BOGUS 1", b"UID FETCH", b"UID SEARCH",
    b"UID EXPUNGE", b"UID COPY 1", b"APPEND", b"APPEND INBOX", b"APPEND INBOX (\\Seen",
    b"COPY", b"COPY 1", b"COPY x INBOX", b"STATUS INBOX", b"STATUS & (MESSAGES)", b"LIST",
    b"LSUB", b"CREATE", b"DELETE", b"RENAME a", b"SUBSCRIBE", b"SUBSCRIBE Trash",
    b"AUTHENTICATE", b"LOGIN", b"ENABLE UTF8=ACCEPT", b"MOVE 1 INBOX", b"UID MOVE 1 INBOX",
    b"STARTTLS", b"COMPRESS DEFLATE", b"GETQUOTAROOT INBOX",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_input_is_answered_and_the_session_goes_on(command: bytes) -> None:
    s = Session()
    try:
        s.deliver()
        selected(s, count=0)
        reply = s.send(b"t " + command)
        last = reply.rstrip(b"\r\n").split(b"\r\n")[-1]
        assert last.startswith((b"t BAD ", b"t NO ")), reply
        assert b"Server error" not in reply
        assert s.send(b"n NOOP").endswith(b"n OK NOOP completed\r\n")
    finally:
        s.close()
