"""
Line framing and ordered replies for a line-based server session.

L{LineQueue} stands between a transport and the session reading it.  It
splits the byte stream into CRLF lines and hands them on one at a time.  A
line over the length limit is reported where it stands, and the bytes after
its CRLF start the next line, so the session never loses its place in the
stream.  While a reply waits on a L{Deferred}, the lines already received
stay queued and the transport is paused, so commands a client pipelines are
answered in the order they were sent (twisted#8126).
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
        self._processing = False
        self._stopped = False

    def data_received(self, data: bytes) -> None:
        """
        Take bytes from the transport; hand on the complete lines they end,
        unless a reply is pending.

        @param data: the bytes as read, split anywhere.
        """
        if self._stopped:
            return
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
        self._process()

    def hold_until(self, reply: Deferred[_T]) -> None:
        """
        Hand on no further line, and pause the transport, until C{reply}
        fires; then carry on with the lines queued meanwhile.

        @param reply: fires once the reply to the current line is sent.
        """
        held: Deferred[None] = Deferred()
        self._waiting = held
        self._transport.pauseProducing()

        def release(result: _T) -> _T:
            self._waiting = None
            if not self._transport.disconnecting:
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
