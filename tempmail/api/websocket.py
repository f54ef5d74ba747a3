"""
C{/api/ws/{address}}: a mailbox's events as WebSocket frames.

Autobahn's L{WebSocketResource} is mounted inside the Klein tree, on the API
port.  Each socket subscribes to one mailbox on the L{IEventHub} and sends
JSON text frames with the original's C{type} tags: C{Connected}, C{Email},
C{EmailDeleted} and the new C{EmailRead}.

A locked mailbox needs a token: C{?token=}, an C{Authorization} header, or
(since browsers cannot set headers) a first message C{{"token": "..."}}.
C{Origin} must be the API's own or one of C{ALLOWED_ORIGINS}.  The server
pings; a client that stops reading is closed with code 4000 so that it
resyncs over REST, rather than losing events silently.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from tempmail.access import AccessDenied, Credentials, MailboxAccess, TooManyFailures
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.serialise import summary_json
from tempmail.authorization import MalformedAuthorization, parse_authorization
from tempmail.events import EventKind, MailEvent
from tempmail.interfaces import IEventHub, ISubscription

log = Logger()

CLOSE_RESYNC = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_TOO_MANY_FAILURES = 4029
# RFC 6455's "internal error".
CLOSE_SERVER_ERROR = 1011
# How long a socket to a locked mailbox may wait for its token message.
TOKEN_WAIT = 10.0


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


@functools.lru_cache(maxsize=64)
def encoded_frame(event: MailEvent) -> bytes | None:
    """
    The frame's bytes, built once per event however many sockets send it.
    """
    frame = event_frame(event)
    return None if frame is None else json.dumps(frame, ensure_ascii=False).encode("utf-8")


def event_frame(event: MailEvent) -> dict[str, Any] | None:
    """
    The frame for an event, or C{None} if clients are not told of it.
    """
    summary = event.summary
    if summary is None:
        return None
    if event.kind is EventKind.ARRIVAL:
        return {"type": "Email", **summary_json(summary)}
    if event.kind is EventKind.DELETION:
        reason = event.reason.value if event.reason else None
        return {
            "type": "EmailDeleted",
            "id": summary.id,
            "address": event.mailbox,
            "reason": reason,
        }
    if event.kind is EventKind.READ:
        return {"type": "EmailRead", "id": summary.id, "address": event.mailbox}
    return None


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
        self._subscription: ISubscription | None = None
        self._token_timeout: IDelayedCall | None = None
        self._token_message_seen = False
        self._backpressure = _Backpressure()
        self._backlog = 0
        self._counted = False

    # Handshake

    def onConnect(self, request: ConnectionRequest) -> None:
        factory = self.factory
        assert self.transport is not None
        self.client_address = str(getattr(self.transport.getPeer(), "host", "unknown"))
        # The raw Host header: autobahn's request.host drops the port.
        if not factory.origin_allowed(request.origin, request.headers.get("host", "")):
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
            bearer = parse_authorization(request.headers.get("authorization")).bearer or token
        except MalformedAuthorization:
            # Basic credentials are no use to a socket; a token may follow.
            bearer = token
        self.credentials = Credentials(bearer=bearer or None, client=self.client_address)

    def onOpen(self) -> None:
        # Twisted Web's channel was the transport's producer; the socket is
        # ours now, and we want to know when the client stops reading.
        transport: Any = self.transport
        transport.unregisterProducer()
        transport.registerProducer(self._backpressure, True)
        Deferred.fromCoroutine(self._authorize(first=True))

    async def _authorize(self, first: bool = False) -> None:
        try:
            await self.factory.access.authorize(self.mailbox, self.credentials)
        except AccessDenied:
            if self._subscription is not None and first:
                return  # A token message overtook this check and opened the socket.
            if first and self.credentials.bearer is None:
                if not self._token_message_seen:
                    self._token_timeout = self.factory.clock.callLater(
                        TOKEN_WAIT, self._refuse, CLOSE_UNAUTHORIZED, "no token sent"
                    )
                return  # The token message's own check decides.
            self._refuse(CLOSE_UNAUTHORIZED, "this mailbox is locked: send its token")
            return
        except TooManyFailures:
            self._refuse(CLOSE_TOO_MANY_FAILURES, "too many failed attempts")
            return
        except Exception:
            # Fail closed: a check that could not be made (storage down, a
            # bug) must never leave the socket subscribed to a mailbox that
            # may now be locked.
            log.failure("a WebSocket lock check failed; closing the socket")
            self._refuse(CLOSE_SERVER_ERROR, "server error; reconnect later")
            return
        if self._token_timeout is not None and self._token_timeout.active():
            self._token_timeout.cancel()
        if self._subscription is None:
            self._subscription = self.factory.hub.subscribe(self.mailbox, self._on_event)
            connected = {"type": "Connected", "address": self.mailbox}
            self._send_frame(json.dumps(connected, ensure_ascii=False).encode("utf-8"))

    def _refuse(self, code: int, reason: str) -> None:
        self._unsubscribe()
        self.sendClose(code, reason)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self._subscription is not None or self._token_message_seen:
            return  # Clients have nothing else to say; the original ignored it too.
        try:
            message = json.loads(payload)
            token = message.get("token") if isinstance(message, dict) else None
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            return  # Not a token: a locked mailbox's socket still closes on time.
        # A socket that is not open yet takes its token from the first
        # message carrying one, whether or not the first check has answered.
        self._token_message_seen = True
        if self._token_timeout is not None and self._token_timeout.active():
            self._token_timeout.cancel()
        self.credentials = Credentials(bearer=token, client=self.client_address)
        Deferred.fromCoroutine(self._authorize())

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._token_timeout is not None and self._token_timeout.active():
            self._token_timeout.cancel()
        self._unsubscribe()
        if self._counted:
            self._counted = False
            self.factory.release(self.client_address)

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    # Events

    def _on_event(self, event: MailEvent) -> None:
        if event.kind is EventKind.LOCK_CHANGED:
            # Claimed, released or re-keyed: the credentials must still fit.
            Deferred.fromCoroutine(self._authorize())
            return
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
    ) -> None:
        super().__init__()
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

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """
        Browsers send C{Origin}; it must be this API's own or an allowed
        one (cross-site WebSocket hijacking, as in Mailpit's CVE-2026-22689).
        Clients that send none are not browsers and are let through.
        """
        if not origin:
            return True
        own = {f"http://{host}", f"https://{host}"}
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
