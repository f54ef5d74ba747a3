"""
Line framing and ordered replies for a line-based server session.

L{LineQueue} stands between a transport and the session reading it.  It
splits the byte stream into CRLF lines and hands them on one at a time.  A
line over the length limit is reported where it stands, and the bytes after
its CRLF start the next line, so the session never loses its place in the
stream.  While a reply waits on a L{Deferred}, the lines already received
stay queued and the transport is paused, so commands a client pipelines are
answered in the order they were sent (twisted#8126).

For a message's data (L{LineQueue.read_data}) it does not hand on lines one
by one: it scans whole buffers for the final CRLF . CRLF, undoes the dot
stuffing on whole blocks of complete lines, and still reports a line over
the limit, so a megabyte of message costs a few calls, not one per line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from twisted.internet.defer import Deferred

_T = TypeVar("_T")


class PausableTransport(Protocol):
    """
    What L{LineQueue} needs of its transport: a TCP transport and
    L{twisted.internet.testing.StringTransport} both have it.

    @ivar disconnecting: true once the connection is being closed.
    """

    disconnecting: bool

    def pauseProducing(self) -> None:
        """
        Stop reading from the connection.
        """

    def resumeProducing(self) -> None:
        """
        Read from the connection again.
        """


class MessageData(Protocol):
    """
    Where L{LineQueue.read_data} hands a message's data.
    """

    def received(self, block: bytes) -> None:
        """
        Take complete lines of data, each ending in CRLF, dot-unstuffed.
        """

    def ended(self) -> None:
        """
        The final dot has been read.
        """


class LineQueue:
    """
    Splits a transport's bytes into lines and hands them on in order,
    holding them back while a reply is pending.

    @ivar max_length: the longest line accepted, in bytes, without CRLF.
    """

    def __init__(
        self,
        transport: PausableTransport,
        max_length: int,
        line_received: Callable[[bytes], object],
        line_too_long: Callable[[], object],
    ) -> None:
        """
        @param transport: the connection the bytes come from; it is paused
            while a reply is pending.
        @param max_length: the longest line accepted, in bytes, without CRLF.
        @param line_received: called with each line, without its CRLF.
        @param line_too_long: called instead of C{line_received} for a line
            longer than C{max_length}; the line itself is dropped.
        """
        self.max_length = max_length
        self._transport = transport
        self._line_received = line_received
        self._line_too_long = line_too_long
        # None stands for a line that was too long.
        self._pending: deque[bytes | None] = deque()
        self._buffer = b""
        self._overlong = False
        self._waiting: Deferred[None] | None = None
        self._paused = False
        self._processing = False
        self._stopped = False
        # Set while a message's data is read (see read_data).
        self._data: MessageData | None = None
        self._at_line_start = True

    def data_received(self, data: bytes) -> None:
        """
        Take bytes from the transport; hand on the complete lines they end,
        unless a reply is pending.

        @param data: the bytes as read, split anywhere.
        """
        if self._stopped:
            return
        if self._data is not None:
            self._scan_data(data)
        else:
            self._split(data)
        self._process()
        if self._waiting is not None and not self._paused and (self._pending or self._buffer):
            # The client sends ahead of a pending reply: queue what came
            # and read no more until the reply is sent.  A client that waits
            # for its reply costs no pause at all.
            self._paused = True
            self._transport.pauseProducing()

    def read_data(self, data: MessageData) -> None:
        """
        Read what follows as a message's data, up to the final dot, handing
        it to C{data}; then go back to lines.  Called by the session for its
        C{DATA} command; lines already received after that one count as
        data (a client should wait for 354, but need not).
        """
        self._data = data
        self._at_line_start = True
        pending = list(self._pending)
        self._pending.clear()
        overlong, self._overlong = self._overlong, False
        buffered, self._buffer = self._buffer, b""
        for index, line in enumerate(pending):
            if self._data is None:
                # The data ended: the rest are commands again.
                self._pending.extend(pending[index:])
                break
            if line is None:
                self._line_too_long()
            else:
                self._scan_data(line + b"\r\n")
        if self._data is None:
            self._overlong = overlong
            self._split(buffered)
            return
        if overlong:
            # The partial line being dropped is message data.
            self._line_too_long()
            self._at_line_start = False
        self._scan_data(buffered)

    def _scan_data(self, data: bytes) -> None:
        assert self._data is not None
        buffer = self._buffer + data
        if self._at_line_start and buffer.startswith(b".\r\n"):
            end, after = 0, 3
        else:
            end = buffer.find(b"\r\n.\r\n")
            end, after = (end + 2, end + 5) if end >= 0 else (-1, -1)
        if end >= 0:
            self._data_block(buffer[:end])
            data_ended, self._data = self._data, None
            self._buffer, self._overlong, self._at_line_start = b"", False, True
            data_ended.ended()
            self._split(buffer[after:])
            return
        last = buffer.rfind(b"\r\n")
        cut = last + 2 if last >= 0 else 0
        self._data_block(buffer[:cut])
        tail = buffer[cut:]
        if len(tail.removesuffix(b"\r")) > self.max_length:
            # Reported once, when it first goes over; then its bytes are
            # dropped as they come, up to its CRLF.
            if self._at_line_start:
                self._line_too_long()
            self._at_line_start = False
            tail = tail[-1:] if tail.endswith(b"\r") else b""
        self._buffer = tail

    def _data_block(self, block: bytes) -> None:
        """
        Hand on C{block}, complete lines of data, unstuffed.
        """
        if not block:
            return
        assert self._data is not None
        if not self._at_line_start:
            # The end of a line that was too long: its start is gone.
            block = block[block.find(b"\r\n") + 2 :]
            self._at_line_start = True
            if not block:
                return
        if len(block) > self.max_length and any(
            len(line) > self.max_length for line in block.split(b"\r\n")
        ):
            self._line_too_long()
            return
        if block.startswith(b"."):
            block = block[1:]
        self._data.received(block.replace(b"\r\n.", b"\r\n"))

    def _split(self, data: bytes) -> None:
        lines = (self._buffer + data).split(b"\r\n")
        self._buffer = lines.pop()
        for line in lines:
            if self._overlong or len(line) > self.max_length:
                self._overlong = False
                self._pending.append(None)
            else:
                self._pending.append(line)
        if len(self._buffer.removesuffix(b"\r")) > self.max_length:
            # Drop the overlong line as it comes, so it cannot fill memory,
            # but keep a trailing CR: it may be the first half of the CRLF.
            self._overlong = True
            self._buffer = self._buffer[-1:] if self._buffer.endswith(b"\r") else b""

    def hold_until(self, reply: Deferred[_T]) -> None:
        """
        Hand on no further line until C{reply} fires, pausing the transport
        if more input comes meanwhile; then carry on with the lines queued.

        @param reply: fires once the reply to the current line is sent.
        """
        held: Deferred[None] = Deferred()
        self._waiting = held

        def release(result: _T) -> _T:
            self._waiting = None
            if not self._transport.disconnecting:
                if self._paused:
                    self._paused = False
                    self._transport.resumeProducing()
                self._process()
            held.callback(None)
            return result

        reply.addBoth(release)

    def stop(self) -> Deferred[None]:
        """
        Drop the queued lines and hand on no more.

        @return: fires once the pending reply, if any, has been sent (at
            once if there is none), so the caller can say goodbye after it.
        """
        self._stopped = True
        self._pending.clear()
        done: Deferred[None] = Deferred()
        if self._waiting is None:
            done.callback(None)
        else:
            self._waiting.addCallback(done.callback)
        return done

    def _process(self) -> None:
        # A reply that has already fired re-enters here through release; the
        # outer loop carries on instead, so the stack does not grow per line.
        if self._processing:
            return
        self._processing = True
        try:
            self._process_queue()
        finally:
            self._processing = False

    def _process_queue(self) -> None:
        while self._pending and self._waiting is None and not self._stopped:
            if self._transport.disconnecting:
                # After QUIT or a 421 nothing more may be answered.
                self._pending.clear()
                return
            line = self._pending.popleft()
            if line is None:
                self._line_too_long()
            else:
                self._line_received(line)
