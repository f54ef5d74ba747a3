"""
C{\\Recent} on a C{StringTransport}: the first session to select a mailbox,
or to hear of an arrival while selected, is the one it is recent in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.imap_session import Session


@pytest.fixture
def first() -> Iterator[Session]:
    s = Session()
    yield s
    s.close()


@pytest.fixture
def second(first: Session) -> Iterator[Session]:
    s = Session(beside=first)
    yield s
    s.close()


def test_first_select_takes_recent_and_status_counts_the_untaken(
    first: Session, second: Session
) -> None:
    first.deliver()
    first.deliver()
    first.send(b"a LOGIN bob x")
    second.send(b"a LOGIN bob x")
    assert b"RECENT 2)" in second.send(b"b STATUS INBOX (RECENT)")
    assert b"* 2 RECENT\r\n" in first.send(b"b SELECT INBOX")
    assert b"RECENT 0)" in second.send(b"c STATUS INBOX (RECENT)")
    assert b"* 0 RECENT\r\n" in second.send(b"d SELECT INBOX")
    assert b"* 1 FETCH (FLAGS (\\Recent))" in first.send(b"c FETCH 1 FLAGS")
    assert b"* 1 FETCH (FLAGS ())" in second.send(b"e FETCH 1 FLAGS")


def test_examine_shows_recent_without_taking_it(first: Session, second: Session) -> None:
    first.deliver()
    first.send(b"a LOGIN bob x")
    second.send(b"a LOGIN bob x")
    assert b"* 1 RECENT\r\n" in first.send(b"b EXAMINE INBOX")
    assert b"* 1 RECENT\r\n" in second.send(b"b SELECT INBOX")


def test_an_arrival_is_recent_in_one_selected_session(first: Session, second: Session) -> None:
    first.send(b"a LOGIN bob x")
    second.send(b"a LOGIN bob x")
    first.send(b"b SELECT INBOX")
    second.send(b"b SELECT INBOX")
    first.deliver()
    first.hub.flush()
    announced = first.read() + second.read()
    assert announced.count(b"* 1 EXISTS\r\n") == 2
    assert announced.count(b"* 1 RECENT\r\n") == 1
    assert announced.count(b"* 0 RECENT\r\n") == 1
    flags = first.send(b"c FETCH 1 FLAGS") + second.send(b"c FETCH 1 FLAGS")
    assert flags.count(b"\\Recent") == 1


def test_store_and_search_see_recent(first: Session) -> None:
    first.deliver()
    first.send(b"a LOGIN bob x")
    first.taken_elsewhere()
    first.deliver()
    first.deliver()
    first.send(b"b SELECT INBOX")
    first.send(b"c STORE 3 +FLAGS.SILENT (\\Seen)")
    assert first.send(b"d SEARCH RECENT") == b"* SEARCH 2 3\r\nd OK SEARCH completed\r\n"
    assert first.send(b"e SEARCH NEW") == b"* SEARCH 2\r\ne OK SEARCH completed\r\n"
    assert first.send(b"f SEARCH OLD") == b"* SEARCH 1\r\nf OK SEARCH completed\r\n"
    assert first.send(b"g UID SEARCH NOT RECENT") == b"* SEARCH 1\r\ng OK SEARCH completed\r\n"
    reply = first.send(b"h STORE 2 +FLAGS (\\Deleted)")
    assert reply == b"* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\nh OK STORE completed\r\n"
