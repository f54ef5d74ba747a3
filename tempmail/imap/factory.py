"""
The IMAP listener's factory: builds sessions on one portal, caps how many
run at once (in total and per client address), and applies the timeouts
and the literal size limit.

It takes an optional TLS context factory, which the sessions receive for
STARTTLS once TLS for IMAP is configured.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger

from tempmail.imap.append import Appender
from tempmail.imap.server import TempmailIMAPServer
from tempmail.service import Refusal

log = Logger()


@dataclass(frozen=True)
class IMAPLimits:
    """
    @ivar max_connections: sessions at once, from all clients.
    @ivar max_connections_per_ip: sessions at once from one address.
    @ivar login_timeout: seconds a client has to log in.
    @ivar idle_timeout: seconds of silence allowed after login (RFC 3501
        asks for at least 30 minutes).
    @ivar max_literal: the largest literal accepted, in bytes.
    @ivar max_line_length: the longest command line accepted, in bytes.
    @ivar max_append: the largest message APPEND accepts, in bytes (the
        SMTP limit, C{MAX_MESSAGE_SIZE}).
    """

    max_connections: int = 500
    max_connections_per_ip: int = 20
    login_timeout: float = 60.0
    idle_timeout: float = 1800.0
    max_literal: int = 10 * 1024 * 1024
    max_line_length: int = 64 * 1024
    max_append: int = 25 * 1024 * 1024


class IMAPServerFactory(ServerFactory):
    """
    Builds L{TempmailIMAPServer} sessions for one listener.
    """

    noisy = False

    def __init__(
        self,
        portal: Portal,
        limits: IMAPLimits,
        clock: IReactorTime,
        appender: Appender,
        context_factory: Any = None,
    ) -> None:
        """
        @param appender: files the messages of APPEND and COPY.
        """
        self.portal = portal
        self.appender = appender
        self.limits = limits
        self.clock = clock
        self.context_factory = context_factory
        self.sessions: Counter[str] = Counter()
        self._open: set[_CountedSession] = set()

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        host = str(getattr(addr, "host", "unknown"))
        total = sum(self.sessions.values())
        if (
            total >= self.limits.max_connections
            or self.sessions[host] >= self.limits.max_connections_per_ip
        ):
            log.warn("IMAP connection from {peer} refused: {n} sessions open", peer=host, n=total)
            return Refusal(b"* BYE [UNAVAILABLE] too many connections, try again later")
        session = _CountedSession(self, host, contextFactory=self.context_factory)
        session.portal = self.portal
        session.factory = self
        session.callLater = self.clock.callLater  # type: ignore[method-assign,assignment]
        session.timeOut = int(self.limits.login_timeout)
        session.POSTAUTH_TIMEOUT = int(self.limits.idle_timeout)
        session._literalStringLimit = self.limits.max_literal
        session.MAX_LENGTH = self.limits.max_line_length
        session.max_append = self.limits.max_append
        session.appender = self.appender
        self.sessions[host] += 1
        self._open.add(session)
        return session

    def shutdown(self) -> Deferred[None]:
        """
        Say goodbye to every open session and close it (the daemon is
        stopping); IMAP clients reconnect and resynchronise.
        """
        for session in list(self._open):
            if session.transport is not None:
                session.sendUntaggedResponse(b"BYE the server is shutting down")
                session.transport.loseConnection()
        return succeed(None)

    def closed(self, session: _CountedSession, host: str) -> None:
        """
        A session from C{host} ended.
        """
        self._open.discard(session)
        self.sessions[host] -= 1
        if self.sessions[host] <= 0:
            del self.sessions[host]


class _CountedSession(TempmailIMAPServer):
    """
    A session that tells its factory when it ends, so the limits count
    only open ones.
    """

    def __init__(self, owner: IMAPServerFactory, host: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner
        self._host = host

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        self._owner.closed(self, self._host)
