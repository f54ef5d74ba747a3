"""
C{/api/ws/{address}}: a mailbox's events as WebSocket frames.

Autobahn's L{WebSocketResource} is mounted inside the Klein tree, on the API
port.  Each socket keeps one L{MailboxWatch} of its mailbox and sends its
events as the JSON text frames of L{tempmail.api.frames}.

A locked mailbox needs a token: C{?token=}, an C{Authorization: Bearer}
header, or (since browsers cannot set headers) a first message
C{{"token": "..."}}.  The
socket fails closed: a refused check closes it with 4001, a limited one
with 4029, and a check that could not be made (the store unavailable) with
1011.  C{Origin} must be the API's own or one of C{ALLOWED_ORIGINS}.  The
server pings; a client that stops reading is closed with code 4000 so that
it resyncs over REST, rather than losing events silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from zope.interface import implementer

from tempmail.access import Credentials, MailboxAccess
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.frames import connected_frame, encoded_frame
from tempmail.authorization import MalformedAuthorization, parse_authorization
from tempmail.events import MailEvent
from tempmail.interfaces import IEventHub
from tempmail.proxies import ClientView, TrustedProxies
from tempmail.watch import EndReason, MailboxWatch, WatchEnded

CLOSE_RESYNC = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_TOO_MANY_FAILURES = 4029
# RFC 6455's "internal error": the server could not check the lock.
CLOSE_SERVER_ERROR = 1011
# How long a socket to a locked mailbox may wait for its token message.
TOKEN_WAIT = 10.0

_CLOSES = {
    EndReason.DENIED: (CLOSE_UNAUTHORIZED, "this mailbox is locked: send its token"),
    EndReason.TOO_MANY_FAILURES: (CLOSE_TOO_MANY_FAILURES, "too many failed attempts"),
    EndReason.SERVER_ERROR: (CLOSE_SERVER_ERROR, "internal error: try again later"),
}


@dataclass
class SocketLimits:
    """
    WebSocket limits.

    @ivar max_connections: sockets open at once, in all.
    @ivar max_per_client: sockets open at once from one client address.
    @ivar ping_interval: seconds between server pings; a peer that does not
        answer within the same time is dropped.
    @ivar max_backlog: frames sent to a client that has stopped reading
        before it is closed with 4000.
    """

    max_connections: int = 1000
    max_per_client: int = 250
    ping_interval: float = 30.0
    max_backlog: int = 1000


@dataclass
class _Counts:
    total: int = 0
    by_client: dict[str, int] = field(default_factory=dict)


@implementer(IPushProducer)
class _Backpressure:
    """
    Told by the transport when its send buffer is full or drained.
    """

    def __init__(self) -> None:
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True


class MailboxSocket(WebSocketServerProtocol):
    """
    One client watching one mailbox.
    """

    factory: MailboxSocketFactory

    def __init__(self) -> None:
        super().__init__()
        self.mailbox = ""
        self.client_address = ""
        self.credentials = Credentials()
        self._watch: MailboxWatch | None = None
        self._token_timeout: IDelayedCall | None = None
        self._token_message_seen = False
        self._backpressure = _Backpressure()
        self._backlog = 0
        self._counted = False

    # Handshake

    def onConnect(self, request: ConnectionRequest) -> None:
        factory = self.factory
        assert self.transport is not None
        client = factory.proxies.client(
            str(getattr(self.transport.getPeer(), "host", "unknown")), request.headers.get
        )
        self.client_address = client.address
        # The raw Host header: autobahn's request.host drops the port.
        if not factory.origin_allowed(request.origin, request.headers.get("host", ""), client):
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "origin not allowed")
        address = unquote(request.path.rstrip("/").rsplit("/", 1)[-1])
        try:
            self.mailbox = normalise_address(address, factory.access.domain)
        except InvalidAddress as e:
            raise ConnectionDeny(ConnectionDeny.BAD_REQUEST, f"invalid address: {e}") from None
        if not factory.admit(self.client_address):
            raise ConnectionDeny(503, "too many WebSocket connections")
        self._counted = True
        token = (request.params.get("token") or [None])[-1]
        try:
            bearer = parse_authorization(request.headers.get("authorization")).bearer
        except MalformedAuthorization:
            bearer = None
        # Only tokens open a socket: a password (Basic) would be re-checked,
        # with scrypt and the failure limiter, at every lock change.
        self.credentials = Credentials(bearer=bearer or token or None, client=self.client_address)

    def onOpen(self) -> None:
        # Twisted Web's channel was the transport's producer; the socket is
        # ours now, and we want to know when the client stops reading.
        transport: Any = self.transport
        transport.unregisterProducer()
        transport.registerProducer(self._backpressure, True)
        self._watch_with(self.credentials)

    def _watch_with(self, credentials: Credentials) -> None:
        if self._watch is not None:
            self._watch.stop()
        self.credentials = credentials
        self._watch = MailboxWatch(
            self.factory.access,
            self.factory.hub,
            self.mailbox,
            credentials,
            on_event=self._on_event,
            on_end=self._on_end,
            on_open=self._on_open,
        )
        self._watch.start()

    def _on_open(self) -> None:
        self._cancel_token_timeout()
        self._send_frame(connected_frame(self.mailbox))

    def _on_end(self, ended: WatchEnded) -> None:
        if (
            ended.reason is EndReason.DENIED
            and not ended.was_open
            and self.credentials.bearer is None
        ):
            # Locked, and nothing presented yet: a browser sends its token as
            # the first message.  A token message stops this watch, so its
            # own check decides from then on.
            if self._token_timeout is None:
                self._token_timeout = self.factory.clock.callLater(
                    TOKEN_WAIT, self._refuse, CLOSE_UNAUTHORIZED, "no token sent"
                )
            return
        self._refuse(*_CLOSES[ended.reason])

    def _refuse(self, code: int, reason: str) -> None:
        if self._watch is not None:
            self._watch.stop()
        # Autobahn's sendClose takes only 1000 and 3000-4999, the codes an
        # application may choose; 1011 is a server's own, so the close frame
        # is sent directly.
        self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"), isReply=False)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if (self._watch is not None and self._watch.is_open) or self._token_message_seen:
            return  # Clients have nothing else to say.
        try:
            message = json.loads(payload)
            token = message.get("token") if isinstance(message, dict) else None
        except (ValueError, RecursionError):  # Not JSON, or nested too deep to read.
            token = None
        if not isinstance(token, str) or not token:
            return  # Not a token: a locked mailbox's socket still closes on time.
        # A socket that is not open yet takes its token from the first
        # message carrying one, whether or not the first check has answered.
        self._token_message_seen = True
        self._cancel_token_timeout()
        self._watch_with(Credentials(bearer=token, client=self.client_address))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._cancel_token_timeout()
        if self._watch is not None:
            self._watch.stop()
        if self._counted:
            self._counted = False
            self.factory.release(self.client_address)

    def _cancel_token_timeout(self) -> None:
        if self._token_timeout is not None and self._token_timeout.active():
            self._token_timeout.cancel()

    # Events

    def _on_event(self, event: MailEvent) -> None:
        frame = encoded_frame(event)
        if frame is not None:
            self._send_frame(frame)

    def _send_frame(self, frame: bytes) -> None:
        if self._backpressure.paused:
            self._backlog += 1
            if self._backlog > self.factory.limits.max_backlog:
                self._refuse(CLOSE_RESYNC, "too slow: reload the mailbox over REST")
                return
        else:
            self._backlog = 0
        self.sendMessage(frame)


class MailboxSocketFactory(WebSocketServerFactory):
    """
    Builds L{MailboxSocket}s and keeps the connection counts.
    """

    protocol = MailboxSocket  # type: ignore[assignment]  # autobahn's factory is untyped

    def __init__(
        self,
        hub: IEventHub,
        access: MailboxAccess,
        clock: IReactorTime,
        allowed_origins: frozenset[str] = frozenset(),
        limits: SocketLimits | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        """
        @param proxies: whose forwarding headers name the client, for the
            per-client cap and the origin check.
        """
        super().__init__()
        self.proxies = proxies or TrustedProxies()
        self.hub = hub
        self.access = access
        self.clock = clock
        self.allowed_origins = allowed_origins
        self.limits = limits or SocketLimits()
        self.counts = _Counts()
        self.setProtocolOptions(
            autoPingInterval=self.limits.ping_interval,
            autoPingTimeout=self.limits.ping_interval,
            maxMessagePayloadSize=4096,
            maxFramePayloadSize=4096,
            openHandshakeTimeout=10,
            closeHandshakeTimeout=5,
        )

    def origin_allowed(
        self, origin: str | None, host: str, client: ClientView | None = None
    ) -> bool:
        """
        Browsers send C{Origin}; it must be this API's own or an allowed
        one (cross-site WebSocket hijacking, as in Mailpit's CVE-2026-22689).
        Clients that send none are not browsers and are let through.  Behind
        a trusted proxy, the API's own origin is also the scheme and host the
        proxy says the client used.
        """
        if not origin:
            return True
        own = {f"http://{host}", f"https://{host}"}
        if client is not None and client.host is not None:
            schemes = [client.scheme] if client.scheme else ["http", "https"]
            own.update(f"{scheme}://{client.host}" for scheme in schemes)
        return origin in own or origin in self.allowed_origins

    def admit(self, client: str) -> bool:
        """
        Count a new socket from C{client}, unless a limit is reached.
        """
        counts = self.counts
        per_client = counts.by_client.get(client, 0)
        if counts.total >= self.limits.max_connections or per_client >= self.limits.max_per_client:
            return False
        counts.total += 1
        counts.by_client[client] = per_client + 1
        return True

    def release(self, client: str) -> None:
        """
        Forget a closed socket of C{client}.
        """
        counts = self.counts
        counts.total -= 1
        left = counts.by_client.get(client, 1) - 1
        if left:
            counts.by_client[client] = left
        else:
            counts.by_client.pop(client, None)

    def web_resource(self) -> WebSocketResource:
        """
        The twisted.web resource that upgrades requests to this factory.
        """
        return WebSocketResource(self)
