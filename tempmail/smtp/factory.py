"""
The SMTP server factory: builds sessions, caps how many run at once, and
ends them cleanly when the daemon stops.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger

from tempmail.metrics import SmtpMetrics
from tempmail.service import Refusal
from tempmail.smtp.delivery import MailDelivery
from tempmail.smtp.protocol import SMTPLimits, TempmailESMTP
from tempmail.smtp.spool import MemoryBudget

log = Logger()


class SMTPServerFactory(ServerFactory):
    """
    Builds L{TempmailESMTP} sessions for one listener.

    @ivar max_connections: sessions allowed at once; the next is told 421.
    """

    # ListeningService logs the address; "Starting factory" adds nothing.
    noisy = False

    def __init__(
        self,
        delivery: MailDelivery,
        limits: SMTPLimits,
        clock: IReactorTime,
        max_connections: int = 200,
        spool_directory: str | None = None,
        context_factory: Any = None,
        require_tls: bool = False,
        budget: MemoryBudget | None = None,
        metrics: SmtpMetrics | None = None,
    ) -> None:
        """
        @param spool_directory: where sessions spool large messages
            (C{None}: the system's temporary directory).
        @param context_factory: offer STARTTLS with this TLS context
            factory (C{None}: no STARTTLS, as on an implicit-TLS listener).
        @param require_tls: refuse MAIL before STARTTLS (the submission port).
        @param budget: the memory budget, when listeners share one (by
            default this listener has its own, of C{limits.memory_budget}).
        @param metrics: counts sessions, messages received and refusals.
        """
        self.context_factory = context_factory
        self.require_tls = require_tls
        self.delivery = delivery
        self.limits = limits
        self.clock = clock
        self.max_connections = max_connections
        self.sessions: set[TempmailESMTP] = set()
        # One budget for every session of this listener (or of all SMTP listeners).
        self.budget = budget or MemoryBudget(limits.memory_budget)
        self.spool_directory = spool_directory
        self.metrics = metrics

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        domain = self.delivery.domain.encode("idna")
        if len(self.sessions) >= self.max_connections:
            log.warn(
                "SMTP connection from {peer} refused: {n} sessions open",
                peer=addr,
                n=len(self.sessions),
            )
            if self.metrics is not None:
                self.metrics.refusal("4.7.0")
            return Refusal(b"421 4.7.0 " + domain + b" Too many connections, try again later")
        if self.metrics is not None:
            self.metrics.session_started()
        session = TempmailESMTP(
            self.delivery,
            self.limits,
            self.clock,
            self.budget,
            self.spool_directory,
            self.context_factory,
            self.require_tls,
            self.metrics,
        )
        session.factory = self
        self.sessions.add(session)
        session.whenClosed().addCallback(lambda _: self.sessions.discard(session))
        return session

    def shutdown(self) -> Deferred[Any]:
        """
        End every open session (see L{TempmailESMTP.shutdown}); fire when all
        have closed.
        """
        return DeferredList([s.shutdown() for s in list(self.sessions)])
