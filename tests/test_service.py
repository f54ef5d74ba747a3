"""
Listeners from endpoint descriptions, and endpoints whose C{listen} fires
later: the ready event waits for every listener, a failure known at once
stops startup, and one that comes later stops the daemon.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import ILogObserver, globalLogPublisher
from zope.interface import implementer

from tempmail.config import ConfigError
from tempmail.readiness import READY_KEY
from tempmail.service import ListeningService, TempmailService
from tempmail.tap import endpoint_description, listen_endpoint, listener


@implementer(IStreamServerEndpoint)
class LaterEndpoint:
    """
    An endpoint whose C{listen} answers when the test says.
    """

    def __init__(self) -> None:
        self.answer: Deferred[Any] = Deferred()

    def listen(self, factory: Any) -> Deferred[Any]:
        return self.answer


class Port:
    def __init__(self, number: int) -> None:
        self.number = number

    def getHost(self) -> Any:
        class Address:
            port = self.number

        return Address()

    def stopListening(self) -> None:
        pass


def test_descriptions_of_tcp_ports() -> None:
    assert endpoint_description(2525, "0.0.0.0") == "tcp:2525:interface=0.0.0.0"
    assert endpoint_description(25, "::1") == "tcp6:25:interface=\\:\\:1"
    reactor = MemoryReactorClock()
    endpoint = listener(reactor, "SMTP_PORT", endpoint_description(0, "::1"))
    endpoint.listen(Factory.forProtocol(Protocol))
    assert reactor.tcpServers[0][0] == 0
    assert reactor.tcpServers[0][3] == "::1"


def test_a_description_twisted_cannot_read_is_a_setting_error() -> None:
    with pytest.raises(ConfigError, match=r"^SMTP_ENDPOINT='nonsense:1'"):
        listener(MemoryReactorClock(), "SMTP_ENDPOINT", "nonsense:1")


def test_an_endpoint_setting_wins_over_port_and_address() -> None:
    reactor = MemoryReactorClock()
    factory = Factory.forProtocol(Protocol)
    listen_endpoint(reactor, "SMTP", None, 2525, "127.0.0.1").listen(factory)
    listen_endpoint(reactor, "API", "tcp:4000:interface=\\:\\:1", 3000, "127.0.0.1").listen(factory)
    assert [(s[0], s[3]) for s in reactor.tcpServers] == [(2525, "127.0.0.1"), (4000, "::1")]
    with pytest.raises(ConfigError, match=r"^API_ENDPOINT='tcp:port=nope'"):
        listen_endpoint(reactor, "API", "tcp:port=nope", 3000, "127.0.0.1")


def test_ready_waits_for_a_listener_that_answers_later() -> None:
    ready: list[Any] = []

    @implementer(ILogObserver)
    def observe(event: Any) -> None:
        if READY_KEY in event:
            ready.append(event[READY_KEY])

    globalLogPublisher.addObserver(observe)
    try:
        later = LaterEndpoint()
        daemon = TempmailService()
        ListeningService("smtp", later, Factory()).setServiceParent(daemon)
        daemon.privilegedStartService()
        daemon.startService()
        assert ready == []
        later.answer.callback(Port(2525))
        assert ready == [{"smtp": 2525}]
    finally:
        globalLogPublisher.removeObserver(observe)


def test_a_failure_known_at_once_stops_startup() -> None:
    class Refusing:
        def listen(self, factory: Any) -> Deferred[Any]:
            return fail(OSError("address in use"))

    service = ListeningService("smtp", Refusing(), Factory())  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match="cannot listen for smtp: address in use"):
        service.privilegedStartService()


def test_a_later_failure_stops_the_daemon(logged_errors: Any) -> None:
    stopped: list[bool] = []
    later = LaterEndpoint()
    service = ListeningService("http", later, Factory(), listen_failed=lambda: stopped.append(True))
    service.privilegedStartService()
    service.startService()
    assert stopped == []
    later.answer.errback(OSError("socket activation failed"))
    assert stopped == [True]
    assert service.port is None
    assert logged_errors.take() == ["tempmail: cannot listen for http: socket activation failed"]
    assert service.listening is not None
    service.listening.addErrback(lambda f: None)
