"""
The services the daemon is made of, and the order they stop in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import IServiceCollection, MultiService, Service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.internet.protocol import Protocol
from twisted.logger import ILogObserver, Logger
from twisted.python.failure import Failure

from tempmail.interfaces import IMailStore
from tempmail.readiness import READY_KEY

log = Logger()


class Refusal(Protocol):
    """
    Answers a client one line and hangs up: what a listener says to a
    connection over its limit (SMTP C{421}, IMAP C{* BYE}).
    """

    def __init__(self, line: bytes) -> None:
        self.line = line

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.line + b"\r\n")
        self.transport.loseConnection()


class ListeningService(Service):
    """
    Listens on one endpoint while running.

    Unlike L{StreamServerEndpointService}, it knows the port it got (so a
    configured port 0 can be reported), copes with an endpoint whose
    C{listen} fires later (systemd, Tor and the like), and, on stop, can end
    the sessions it still has after it stops listening.

    @ivar port: the listening port, once listening.
    @ivar listening: fires once the port is open; C{None} before C{listen}
        is asked.
    """

    def __init__(
        self,
        name: str,
        endpoint: IStreamServerEndpoint,
        factory: IProtocolFactory,
        end_sessions: Callable[[], Deferred[Any]] | None = None,
        listen_failed: Callable[[], None] = lambda: None,
    ) -> None:
        """
        @param listen_failed: called when listening fails after startup
            (the daemon stops then); a failure known at once stops startup.
        """
        self.setName(name)
        self.endpoint = endpoint
        self.factory = factory
        self.end_sessions = end_sessions
        self.listen_failed = listen_failed
        self.port: IListeningPort | None = None
        self.listening: Deferred[None] | None = None
        self._early_failures: list[Failure] | None = None

    def privilegedStartService(self) -> None:
        """
        Listen before the reactor runs, so a port in use stops startup.
        """
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        super().startService()
        if self.listening is None:
            self._listen()

    def _listen(self) -> None:
        self._early_failures = []
        d = self.endpoint.listen(self.factory)
        listening: Deferred[None] = d.addCallback(self._listening)
        listening.addErrback(self._not_listening)
        early, self._early_failures = self._early_failures, None
        if early:
            raise SystemExit(f"tempmail: cannot listen for {self.name}: {early[0].value}")
        self.listening = listening

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        log.info("{name} listening on {address}", name=self.name, address=port.getHost())

    def _not_listening(self, failure: Failure) -> Failure | None:
        if self._early_failures is not None:
            self._early_failures.append(failure)
            return None
        log.critical(
            "tempmail: cannot listen for {name}: {error}", name=self.name, error=failure.value
        )
        self.listen_failed()
        return failure


class StoreService(Service):
    """
    Owns the mail store and closes it last, after pending writes.
    """

    def __init__(self, store: IMailStore) -> None:
        self.setName("storage")
        self.store = store

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.store.close()


class TempmailService(MultiService):
    """
    The daemon: a L{MultiService} of listeners over the store.

    Children stop one at a time in reverse order of addition, so the
    listeners finish their sessions (and commit what they accepted) before
    the store they write to is closed.
    """

    def __init__(self, log_observer: ILogObserver | None = None) -> None:
        super().__init__()
        self.log_observer = log_observer

    def setServiceParent(self, parent: IServiceCollection) -> None:
        """
        Attach to a twistd application, giving it our log observer: twistd
        reads the observer from the application it runs.
        """
        super().setServiceParent(parent)
        set_component = getattr(parent, "setComponent", None)
        if self.log_observer is not None and set_component is not None:
            set_component(ILogObserver, self.log_observer)

    def startService(self) -> None:
        super().startService()
        listeners = [child for child in self if isinstance(child, ListeningService)]
        waiting = [child.listening for child in listeners if child.listening is not None]

        def ready(_: object) -> None:
            ports = {
                child.name: getattr(child.port.getHost(), "port", None)
                for child in listeners
                if child.port is not None
            }
            log.info("tempmail ready: {ports}", ports=ports, **{READY_KEY: ports})

        # Ready only once every listener listens (one that fails has said
        # so itself, and the daemon stops without a ready event), and only
        # once the reactor runs: its signal handlers are installed then, so
        # a SIGTERM sent as soon as the ready line appears is a clean stop.
        from twisted.internet import reactor

        gatherResults(waiting, consumeErrors=True).addCallbacks(
            lambda _: reactor.callWhenRunning(ready, None), lambda failure: None
        )

    async def _stop_in_order(self) -> None:
        for child in reversed(list(self)):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                log.failure("stopping {name} failed", name=child.name)

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_in_order())
