"""
Unit tests of L{LineQueue}, on a L{StringTransport}.
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import StringTransport

from tempmail.smtp.lines import LineQueue

TOO_LONG = "too long"


class Reader:
    """
    A L{LineQueue} on a L{StringTransport} that records what it hands on.
    A line C{WAIT} holds the queue until the test fires L{reply}; C{QUIT}
    closes the connection.

    @ivar got: the lines handed on, and L{TOO_LONG} for each overlong one.
    """

    def __init__(self, max_length: int = 10) -> None:
        self.transport = StringTransport()
        self.got: list[bytes | str] = []
        self.reply: Deferred[str] = Deferred()
        self.queue = LineQueue(self.transport, max_length, self.line, self.too_long)

    def line(self, line: bytes) -> None:
        self.got.append(line)
        if line == b"WAIT":
            self.queue.hold_until(self.reply)
        elif line == b"QUIT":
            self.transport.loseConnection()

    def too_long(self) -> None:
        self.got.append(TOO_LONG)

    def send(self, data: bytes, chunk: int | None = None) -> None:
        step = chunk or len(data) or 1
        for i in range(0, len(data), step):
            self.queue.data_received(data[i : i + step])


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_lines_in_any_chunks(chunk: int | None) -> None:
    reader = Reader()
    reader.send(b"one\r\ntwo\r\n\r\nthree\r\n", chunk)
    assert reader.got == [b"one", b"two", b"", b"three"]


def test_partial_line_waits_for_its_crlf() -> None:
    reader = Reader()
    reader.send(b"par")
    reader.send(b"tial\r")
    assert reader.got == []
    reader.send(b"\n")
    assert reader.got == [b"partial"]


def test_only_crlf_ends_a_line() -> None:
    """
    A bare LF or a bare CR is part of the line it is in.
    """
    reader = Reader(max_length=100)
    reader.send(b"a\nb\rc\r\n.\n\r\n")
    assert reader.got == [b"a\nb\rc", b".\n"]


@pytest.mark.parametrize("chunk", [None, 1, 3, 7])
def test_overlong_line_reported_once_and_next_line_intact(chunk: int | None) -> None:
    reader = Reader(max_length=10)
    reader.send(b"x" * 35 + b"\r\nnext\r\n", chunk)
    assert reader.got == [TOO_LONG, b"next"]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"0123456789\r\n"],
        [b"0123456789", b"\r\n"],
        [b"0123456789\r", b"\n"],
    ],
)
def test_line_of_exactly_max_length(chunks: list[bytes]) -> None:
    reader = Reader(max_length=10)
    for piece in chunks:
        reader.send(piece)
    assert reader.got == [b"0123456789"]


def test_line_one_over_max_length_split_between_cr_and_lf() -> None:
    reader = Reader(max_length=10)
    reader.send(b"0123456789A\r")
    reader.send(b"\n")
    reader.send(b"ok\r\n")
    assert reader.got == [TOO_LONG, b"ok"]


def test_overlong_line_is_not_kept() -> None:
    """
    An overlong line is dropped as it arrives, so a client cannot fill
    memory by never sending CRLF.
    """
    reader = Reader(max_length=10)
    for _ in range(1000):
        reader.send(b"y" * 1000)
    reader.send(b"\r\nafter\r\n")
    assert reader.got == [TOO_LONG, b"after"]


def test_hold_queues_lines_and_pauses_until_the_reply() -> None:
    reader = Reader()
    reader.send(b"WAIT\r\none\r\n")
    assert reader.got == [b"WAIT"]
    assert reader.transport.producerState == "paused"
    # Bytes already read when the transport paused are queued too.
    reader.send(b"two\r\n")
    assert reader.got == [b"WAIT"]
    reader.reply.callback("sent")
    assert reader.got == [b"WAIT", b"one", b"two"]
    assert reader.transport.producerState == "producing"


def test_hold_passes_the_reply_result_on() -> None:
    reader = Reader()
    reader.send(b"WAIT\r\n")
    results: list[str] = []
    reader.reply.addCallback(results.append)
    reader.reply.callback("sent")
    assert results == ["sent"]


def test_reply_that_fired_already_does_not_recurse() -> None:
    """
    A reply that has fired when it is held on (a store that answers at
    once) lets the loop carry on, without a stack frame per line.
    """
    transport = StringTransport()
    got: list[bytes] = []

    def line(line: bytes) -> None:
        got.append(line)
        queue.hold_until(succeed(None))

    queue = LineQueue(transport, 10, line, lambda: None)
    queue.data_received(b"n\r\n" * 5000)
    assert len(got) == 5000
    assert transport.producerState == "producing"


def test_no_line_after_the_connection_closes() -> None:
    reader = Reader()
    reader.send(b"QUIT\r\nafter\r\n")
    assert reader.got == [b"QUIT"]
    reader.send(b"later\r\n")
    assert reader.got == [b"QUIT"]


def test_stop_when_idle() -> None:
    reader = Reader()
    reader.send(b"one\r\ntw")
    stopped = reader.queue.stop()
    assert stopped.called
    reader.send(b"o\r\nthree\r\n")
    assert reader.got == [b"one"]


def test_stop_while_a_reply_is_pending() -> None:
    """
    L{LineQueue.stop} fires only once the pending reply has been sent, and
    the lines queued behind it are never handed on.
    """
    reader = Reader()
    reader.send(b"WAIT\r\nqueued\r\n")
    stopped = reader.queue.stop()
    assert not stopped.called
    reader.reply.callback("sent")
    assert stopped.called
    reader.send(b"later\r\n")
    assert reader.got == [b"WAIT"]


class DataReader(Reader):
    """
    A L{Reader} whose line C{DATA} starts reading a message's data; the
    data comes out as one C{("data", bytes)} entry at its final dot, and a
    line too long inside it as L{TOO_LONG}.
    """

    def __init__(self, max_length: int = 10) -> None:
        super().__init__(max_length)
        self.blocks: list[bytes] = []

    def line(self, line: bytes) -> None:
        super().line(line)
        if line == b"DATA":
            self.queue.read_data(self)

    def received(self, block: bytes) -> None:
        assert block.endswith(b"\r\n")
        self.blocks.append(block)

    def ended(self) -> None:
        self.got.append(b"data:" + b"".join(self.blocks))
        self.blocks = []


# (what the client sends after DATA, what the message's data is).
MESSAGES = [
    (b".\r\n", b""),
    (b"a\r\n.\r\n", b"a\r\n"),
    (b"\r\n.\r\n", b"\r\n"),
    (b"..dot\r\n.x\r\n...\r\n.\r\n", b".dot\r\nx\r\n..\r\n"),
    # Only CRLF . CRLF ends the data: smuggling attempts are body content.
    (b"a\n.\nb\r.\r\nc\r\n.\r\n", b"a\n.\nb\r.\r\nc\r\n"),
    (b"end.\r\n.\r\n", b"end.\r\n"),
]


@pytest.mark.parametrize(("sent", "data"), MESSAGES)
@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 4, 7])
def test_data_is_read_in_blocks_up_to_the_final_dot(sent: bytes, data: bytes, chunk: int) -> None:
    reader = DataReader(max_length=10)
    reader.send(b"DATA\r\n" + sent + b"NEXT\r\n", chunk)
    assert reader.got == [b"DATA", b"data:" + data, b"NEXT"]


@pytest.mark.parametrize("chunk", [None, 1, 3, 11])
def test_data_sent_with_the_command_is_data(chunk: int | None) -> None:
    # Lines already split off before DATA was handled are data too.
    reader = DataReader(max_length=10)
    reader.send(b"WAIT\r\nDATA\r\n.a\r\nb\r\n.\r\nNEXT\r\n", chunk)
    reader.reply.callback("sent")
    assert reader.got == [b"WAIT", b"DATA", b"data:a\r\nb\r\n", b"NEXT"]


@pytest.mark.parametrize("chunk", [None, 1, 5, 10, 301, 3010])
def test_overlong_data_line_is_reported_once_and_the_session_stays_in_step(
    chunk: int | None,
) -> None:
    reader = DataReader(max_length=10)
    # With a chunk of 10 or 3010 bytes a chunk starts with ".\r\n", in the
    # middle of the overlong line: that is not the final dot.
    body = b"ok\r\n" + b"y" * 3000 + b".\r\nNOT A CMD\r\n.\r\n"
    reader.send(b"DATA\r\n" + body + b"NEXT\r\n", chunk)
    assert reader.got == [b"DATA", TOO_LONG, b"data:ok\r\nNOT A CMD\r\n", b"NEXT"]


def test_a_line_of_exactly_max_length_is_data() -> None:
    reader = DataReader(max_length=10)
    reader.send(b"DATA\r\n" + b"x" * 10 + b"\r\n.\r\n", 1)
    assert reader.got == [b"DATA", b"data:" + b"x" * 10 + b"\r\n"]
