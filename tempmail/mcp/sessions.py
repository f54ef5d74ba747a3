"""
MCP sessions of the handshake era: what one C{initialize} starts and the
C{Mcp-Session-Id} names, until C{DELETE}, idle expiry or shutdown.

A session holds the negotiated protocol version, the server-to-client
streams a client opened with C{GET}, its resource subscriptions, and its
requests still being answered (so that C{notifications/cancelled} and the
end of the session can stop them).  Requests themselves carry their own
credentials; a session grants nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.iweb import IRequest

from tempmail.mcp.jsonrpc import RequestId, sse_event


class TooManySessions(Exception):
    """
    C{MCP_MAX_SESSIONS} sessions are open already.
    """


class Session:
    """
    One client's session.

    @ivar id: the C{Mcp-Session-Id}.
    @ivar protocol_version: the version C{initialize} agreed on.
    @ivar subscriptions: the stop function of each subscribed resource URI.
    @ivar in_flight: the requests being answered, by id.
    """

    def __init__(self, id: str, protocol_version: str, on_idle: Callable[[Session], None]) -> None:
        self.id = id
        self.protocol_version = protocol_version
        self.subscriptions: dict[str, Callable[[], None]] = {}
        self.in_flight: dict[RequestId, Deferred[Any]] = {}
        # Each open GET stream, with what fires when the session ends.
        self.streams: list[tuple[IRequest, Deferred[None]]] = []
        self.ended = False
        self._on_idle = on_idle
        self.timer: IDelayedCall | None = None

    def send(self, message: dict[str, Any]) -> bool:
        """
        Send a server-to-client message on the newest open C{GET} stream;
        return whether there was one (without one, the message is dropped,
        as the transport allows).
        """
        if not self.streams:
            return False
        self.streams[-1][0].write(sse_event(message))
        return True

    def add_stream(self, request: IRequest) -> Deferred[None]:
        """
        Remember an open C{GET} stream; the result fires when the session
        ends (the stream should then be finished) or is cancelled when the
        connection ends.
        """
        closing: Deferred[None] = Deferred(lambda d: self._forget(request))
        self.streams.append((request, closing))
        return closing

    def _forget(self, request: IRequest) -> None:
        self.streams = [(r, d) for r, d in self.streams if r is not request]

    def end(self) -> None:
        """
        Stop everything the session runs: subscriptions, requests being
        answered, and its streams.  Ending twice does nothing.
        """
        if self.ended:
            return
        self.ended = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        for stop in list(self.subscriptions.values()):
            stop()
        self.subscriptions.clear()
        for pending in list(self.in_flight.values()):
            pending.cancel()
        self.in_flight.clear()
        streams, self.streams = self.streams, []
        for _, closing in streams:
            closing.callback(None)

    def idle_expired(self) -> None:
        """
        The idle timer ran out.
        """
        self._on_idle(self)


class SessionRegistry:
    """
    The open sessions, each ended after C{idle_timeout} seconds without a
    request, unless a stream or a request of its own is still open.
    """

    def __init__(self, clock: IReactorTime, idle_timeout: float, max_sessions: int) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, protocol_version: str) -> Session:
        """
        Start a session.

        @raise TooManySessions: if C{max_sessions} are open.
        """
        if len(self._sessions) >= self.max_sessions:
            raise TooManySessions()
        session = Session(secrets.token_urlsafe(24), protocol_version, self._idle)
        self._sessions[session.id] = session
        self.touch(session)
        return session

    def get(self, id: str) -> Session | None:
        """
        The open session C{id}, its idle timer restarted; C{None} if there
        is none (never was, ended, or expired).
        """
        session = self._sessions.get(id)
        if session is not None:
            self.touch(session)
        return session

    def touch(self, session: Session) -> None:
        """
        Restart the session's idle timer.
        """
        if session.timer is not None and session.timer.active():
            session.timer.reset(self.idle_timeout)
        else:
            session.timer = self.clock.callLater(self.idle_timeout, session.idle_expired)

    def end(self, session: Session) -> None:
        """
        End a session and forget it.
        """
        self._sessions.pop(session.id, None)
        session.end()

    def end_all(self) -> None:
        """
        End every session (at shutdown).
        """
        for session in list(self._sessions.values()):
            self.end(session)

    def _idle(self, session: Session) -> None:
        if session.streams or session.in_flight:
            session.timer = self.clock.callLater(self.idle_timeout, session.idle_expired)
            return
        self.end(session)
