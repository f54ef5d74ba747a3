"""
One webhook attempt: a signed POST through treq, to the checked address,
under one timeout that covers the whole exchange.

treq's own C{timeout} stops at the response headers, so the attempt as a
whole, body read included, runs under
L{Deferred.addTimeout}.  Redirects are not followed, and the response body
is read only up to L{MAX_RESPONSE_BODY}.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import optionsForClientTLS
from twisted.web.client import Agent, HTTPConnectionPool, ResponseNeverReceived
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from tempmail.webhooks.targets import Target, TargetChecker, TargetRefused, TargetUnresolved

MAX_RESPONSE_BODY = 64 * 1024
USER_AGENT = b"tempmail-webhooks/1"


class _BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class AttemptResult:
    """
    How one attempt went.

    @ivar status: the HTTP status, or C{None} without a response.
    @ivar error: what went wrong, or C{None}.
    @ivar refused: the target was not allowed (never retried).
    """

    status: int | None
    error: str | None
    duration_ms: int
    refused: bool = False


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """
    The C{X-Tempmail-Signature} value: C{t=<unix>,v1=<hex HMAC-SHA256 of
    "t.body">}.
    """
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@implementer(IAgentEndpointFactory)
class _PinnedEndpoints:
    """
    Connects to the address that was checked, whatever the URL's host
    resolves to now; TLS still verifies the host name.
    """

    def __init__(self, reactor: Any, target: Target) -> None:
        self.reactor = reactor
        self.target = target

    def endpointForURI(self, uri: Any) -> IStreamClientEndpoint:
        target = self.target
        tcp: IStreamClientEndpoint
        if ipaddress.ip_address(target.address).version == 6:
            tcp = TCP6ClientEndpoint(self.reactor, target.address, target.port)
        else:
            tcp = TCP4ClientEndpoint(self.reactor, target.address, target.port)
        if target.scheme == "https":
            return wrapClientTLS(optionsForClientTLS(target.host), tcp)
        return tcp


def pinned_client(reactor: Any) -> Callable[[Target], HTTPClient]:
    """
    Make treq clients that connect only to a target's checked address.
    """

    def client_for(target: Target) -> HTTPClient:
        pool = HTTPConnectionPool(reactor, persistent=False)
        agent = Agent.usingEndpointFactory(reactor, _PinnedEndpoints(reactor, target), pool=pool)
        return HTTPClient(agent)

    return client_for


class WebhookSender:
    """
    Makes single attempts.

    @ivar client_for: builds the treq client for a checked target
        (L{pinned_client} in the daemon, a C{StubTreq} in tests).
    """

    def __init__(
        self,
        clock: Any,
        checker: TargetChecker,
        client_for: Callable[[Target], Any],
        timeout: float = 10.0,
    ) -> None:
        self.clock = clock
        self.checker = checker
        self.client_for = client_for
        self.timeout = timeout

    def send(
        self, url: str, secret: str, event: str, delivery_id: str, payload: bytes
    ) -> Deferred[AttemptResult]:
        """
        POST C{payload} once; never fails, the result says what happened.
        """
        started = self.clock.seconds()

        def finished(status: int | None, error: str | None, refused: bool = False) -> AttemptResult:
            duration = round((self.clock.seconds() - started) * 1000)
            return AttemptResult(status, error, duration, refused)

        async def attempt() -> AttemptResult:
            try:
                target = await self.checker.check(url)
            except TargetUnresolved as e:
                return finished(None, str(e))
            except TargetRefused as e:
                return finished(None, str(e), refused=True)
            headers = {
                b"Content-Type": [b"application/json"],
                b"User-Agent": [USER_AGENT],
                b"X-Tempmail-Event": [event.encode()],
                b"X-Tempmail-Delivery": [delivery_id.encode()],
                b"X-Tempmail-Signature": [
                    signature(secret, int(self.clock.seconds()), payload).encode()
                ],
            }
            response = await self.client_for(target).post(
                url, data=payload, headers=headers, allow_redirects=False
            )
            received = 0

            def collect(chunk: bytes) -> None:
                nonlocal received
                received += len(chunk)
                if received > MAX_RESPONSE_BODY:
                    raise _BodyTooLarge()

            # The status is what counts; stop reading a flood.
            with contextlib.suppress(_BodyTooLarge):
                await treq.collect(response, collect)
            ok = 200 <= response.code < 300
            return finished(response.code, None if ok else f"HTTP {response.code}")

        def failed(failure: Any) -> AttemptResult:
            if failure.check(TimeoutError, CancelledError):
                return finished(None, f"timed out after {self.timeout:g} s")
            if failure.check(ResponseNeverReceived):
                if any(reason.check(CancelledError) for reason in failure.value.reasons):
                    return finished(None, f"timed out after {self.timeout:g} s")
                return finished(None, "the connection closed without a response")
            return finished(None, failure.getErrorMessage() or failure.type.__name__)

        d = Deferred.fromCoroutine(attempt())
        d.addTimeout(self.timeout, self.clock)
        return d.addErrback(failed)
