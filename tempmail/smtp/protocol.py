"""
The SMTP session: Twisted's L{ESMTP} with tempmail's commands, C{DATA}
collection and replies.

Lines come from a L{LineQueue}, which keeps the session in step after an
overlong line and answers pipelined commands in order (twisted#8126);
C{MAIL} and C{RCPT} are parsed by L{tempmail.smtp.commands}, which also
holds the limits on a command line and on a HELO name.  STARTTLS discards
whatever the client sent after it in plain text and starts the session
again (RFC 3207), so no command sent before the handshake runs after it.  A message's
data comes in blocks (the session is the queue's L{MessageData}) and waits
in a L{MessageBuffer}, in memory or spooled to a file, within the
listener's L{MemoryBudget}.  A transaction is collected once, however many
recipients it has, and 250 is sent only after the store has committed it.
A store that is unavailable gets 451, so the sender retries; any other
failure is a bug and gets 554, so the sender does not retry it forever.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime, ISSLTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure

from tempmail.interfaces import StorageUnavailable
from tempmail.metrics import SmtpMetrics
from tempmail.models import DeliveredCopy, Envelope
from tempmail.received import received_header
from tempmail.smtp.commands import (
    TOO_BIG,
    Reply,
    command_too_long,
    parse_mail,
    parse_rcpt,
    valid_helo,
)
from tempmail.smtp.delivery import MailDelivery, RecipientRefused
from tempmail.smtp.limits import SMTPLimits
from tempmail.smtp.lines import LineQueue
from tempmail.smtp.spool import MemoryBudget, MessageBuffer
from tempmail.times import clock_now
from tempmail.tls import tls_description

log = Logger()

_BARE_LF = re.compile(rb"(?<!\r)\n")
NO_MEMORY = Reply(452, b"4.3.1 Insufficient system storage; try again later")


class TempmailESMTP(smtp.ESMTP):
    """
    One SMTP session that files mail through a L{MailDelivery}.

    @ivar mail_delivery: accepts the recipients and stores the messages.
    @ivar limits: the limits this session enforces.
    @ivar clock: the idle timer's clock, and the time of C{Received:}.
    @ivar host: C{DOMAIN_NAME} in IDNA, for the greeting and C{Received:}.
    @ivar ctx: the TLS context factory STARTTLS uses, or C{None}: then
        STARTTLS is neither offered nor accepted.
    @ivar require_tls: refuse MAIL until the session is under TLS (the
        submission port).
    """

    # Twisted logs each recipient with str(), which is ASCII-only.
    noisy = False
    # Set by connectionMade, once there is a transport to pause.
    _input: LineQueue

    def __init__(
        self,
        delivery: MailDelivery,
        limits: SMTPLimits,
        clock: IReactorTime,
        budget: MemoryBudget | None = None,
        spool_directory: str | None = None,
        context_factory: Any = None,
        require_tls: bool = False,
        metrics: SmtpMetrics | None = None,
    ) -> None:
        """
        @param delivery: accepts the recipients and stores the messages.
        @param limits: the limits this session enforces.
        @param clock: the reactor in the daemon, a L{Clock} in tests.
        @param budget: the memory budget shared by all sessions (by default
            one of C{limits.memory_budget} for this session alone).
        @param spool_directory: where large messages are spooled (C{None}:
            the system's temporary directory).
        @param context_factory: the TLS context factory for STARTTLS.
        @param require_tls: refuse MAIL before STARTTLS with 530.
        @param metrics: counts messages received and replies refused.
        """
        super().__init__(contextFactory=context_factory)
        self.require_tls = require_tls
        # After STARTTLS the client must say EHLO again (RFC 3207 4.2).
        self._helo_needed = False
        self.mail_delivery = delivery
        self.limits = limits
        self.clock = clock
        self.host = delivery.domain.encode("idna")
        self.timeout = math.ceil(limits.timeout)
        self._close_waiters: list[Deferred[None]] = []
        self._closed = False
        self._from: str | None = None
        self._to: list[str] = []
        self.budget = budget or MemoryBudget(limits.memory_budget)
        self.spool_directory = spool_directory
        self._message = MessageBuffer(self.budget, spool_directory)
        self._size = 0
        self._data_error: Reply | None = None
        self.metrics = metrics

    def _wire(self) -> Any:
        """
        The TCP transport: writable, closable and pausable.
        """
        return self.transport

    def callLater(self, period: float, func: Callable[[], object]) -> Any:
        """
        Schedule the idle timeout on our clock (a L{Clock} in tests).
        """
        return self.clock.callLater(period, func)

    # The connection

    def greeting(self) -> bytes:
        """The 220 greeting's text: our domain, not the machine's DNS name."""
        return self.host + b" ESMTP tempmail"

    def connectionMade(self) -> None:
        """Start reading lines from the new connection, then greet the client."""
        self._input = LineQueue(
            self._wire(), self.limits.max_line_length, self._command, self._line_too_long
        )
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        """Hand the bytes to the L{LineQueue}, which calls L{lineReceived}."""
        self._input.data_received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Drop the queued input and the message being read; fire L{whenClosed}."""
        super().connectionLost(reason)
        self._input.stop()
        self._message.discard()
        self._closed = True
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def whenClosed(self) -> Deferred[None]:
        """
        @return: a Deferred that fires when the connection has closed.
        """
        if self._closed:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._close_waiters.append(d)
        return d

    def shutdown(self) -> Deferred[None]:
        """
        End the session for a server shutdown: a transaction whose commit is
        under way gets its reply first, then the client is told 421.  No
        queued command is read, so no new transaction starts.

        @return: fires when the connection has closed.
        """

        def close(_: None) -> None:
            if not self._wire().disconnecting:
                self.sendCode(421, b"4.3.2 " + self.host + b" Service shutting down")
                self._wire().loseConnection()

        self._input.stop().addCallback(close)
        return self.whenClosed()

    def timeoutConnection(self) -> None:
        """Tell an idle client 421 and close the connection."""
        self.sendCode(421, b"4.4.2 " + self.host + b" Idle for too long, closing connection")
        self._wire().loseConnection()

    def _command(self, line: bytes) -> None:
        if command_too_long(line, self.limits.max_command_length):
            self._line_too_long()
        else:
            self.lineReceived(line)

    def _line_too_long(self) -> None:
        # Twisted's lineReceived resets the idle timer; an overlong line does
        # not go through it, but it is activity too.
        self.resetTimeout()
        if self.mode != smtp.DATA:
            self.sendCode(500, b"5.5.2 Line too long")
        elif self._data_error is None:
            self._data_error = Reply(500, b"5.5.2 Line too long; message refused")
            self._message.discard()

    def sendCode(self, code: int, message: bytes = b"") -> None:
        """
        Send a reply; count a refusal (4xx, 5xx) by its enhanced status code.
        """
        if code >= 400 and self.metrics is not None:
            self.metrics.refusal(message.split(b" ", 1)[0].decode("ascii", "replace"))
        super().sendCode(code, message)

    def _reply(self, reply: Reply) -> None:
        self.sendCode(reply.code, reply.text)

    # Commands

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        """The EHLO keywords: Twisted's, and the extensions this session honours."""
        ext: dict[bytes, list[bytes] | None] = super().extensions()
        ext[b"SIZE"] = [str(self.limits.max_message_size).encode()]
        ext[b"8BITMIME"] = None
        ext[b"PIPELINING"] = None
        ext[b"ENHANCEDSTATUSCODES"] = None
        return ext

    def lookupMethod(self, command: bytes) -> Any:
        """
        Find the handler for a command word; a word that is not ASCII is
        simply unknown (Twisted's lookup raises on it and drops the client).
        """
        try:
            command.decode("ascii")
        except UnicodeDecodeError:
            return None
        return super().lookupMethod(command)

    def ext_AUTH(self, rest: bytes) -> None:
        """Refuse AUTH: it is not advertised, and mail is taken without it."""
        # Not advertised: this server takes mail from anyone without AUTH.
        self.sendCode(502, b"5.5.1 AUTH is not supported here")

    def ext_STARTTLS(self, rest: bytes) -> None:
        """
        Start TLS, or say 454 (with its enhanced code) when none is
        configured.  Once TLS starts, what the client sent after STARTTLS
        in plain text is discarded, and the session starts again.
        """
        if self.ctx is None or not self.canStartTLS or self._under_tls():
            self.sendCode(454, b"4.7.0 TLS not available")
            return
        self.sendCode(220, b"2.0.0 Ready to start TLS")
        # Anything pipelined after STARTTLS was sent before the handshake:
        # running it inside TLS would let a man in the middle inject it.
        self._input.discard_input()
        self._wire().startTLS(self.ctx)
        self.startedTLS = True
        self._helo = (None, self._helo[1])
        self._from = None
        self._to = []
        self._helo_needed = True

    def _under_tls(self) -> bool:
        return bool(self.startedTLS) or ISSLTransport.providedBy(self._wire())

    def do_HELO(self, rest: bytes) -> None:
        """Greet a client that names itself with a domain or address literal."""
        if self._helo_checked(rest):
            super().do_HELO(rest)

    def do_EHLO(self, rest: bytes) -> None:
        """Greet a client that names itself with a domain or address literal; list extensions."""
        if self._helo_checked(rest):
            super().do_EHLO(rest)

    def _helo_checked(self, name: bytes) -> bool:
        if not valid_helo(name):
            self.sendCode(501, b"5.5.4 Syntax: EHLO domain or address literal")
            return False
        self._helo_needed = False
        return True

    def sendSyntaxError(self) -> None:
        """Answer an empty command line."""
        self.sendCode(500, b"5.5.2 Syntax error, command unrecognized")

    def do_UNKNOWN(self, rest: bytes) -> None:
        """Answer a command that is not implemented."""
        self.sendCode(502, b"5.5.1 Command not implemented")

    def do_NOOP(self, rest: bytes) -> None:
        """Answer NOOP."""
        self.sendCode(250, b"2.0.0 OK")

    def do_VRFY(self, rest: bytes) -> None:
        """Answer VRFY without saying whether the mailbox exists."""
        self.sendCode(252, b"2.5.2 Cannot VRFY user, but will accept message")

    def do_HELP(self, rest: bytes) -> None:
        """List the commands."""
        self.sendCode(214, b"2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT")

    def do_QUIT(self, rest: bytes) -> None:
        """Say goodbye and close; nothing sent after QUIT is answered."""
        self.sendCode(221, b"2.0.0 Bye")
        self._wire().loseConnection()

    def do_RSET(self, rest: bytes) -> None:
        """Cancel the transaction."""
        self._from = None
        self._to = []
        self.sendCode(250, b"2.0.0 Reset")

    def do_MAIL(self, rest: bytes) -> None:
        """Start a transaction with a sender, after checking its parameters."""
        if self._helo_needed:
            self.sendCode(503, b"5.5.1 Send EHLO again after STARTTLS")
            return
        if self.require_tls and not self._under_tls():
            self.sendCode(530, b"5.7.0 Must issue a STARTTLS command first")
            return
        if self._from is not None:
            self.sendCode(503, b"5.5.1 Sender already given")
            return
        if self.budget.exhausted:
            self._reply(NO_MEMORY)
            return
        sender = parse_mail(rest, self.limits.max_message_size)
        if isinstance(sender, Reply):
            self._reply(sender)
            return
        self._from = sender
        self._to = []
        self.sendCode(250, b"2.1.0 Sender OK")

    def do_RCPT(self, rest: bytes) -> None:
        """Add a recipient, as L{MailDelivery.accept_recipient} normalises it."""
        if self._from is None:
            self.sendCode(503, b"5.5.1 Need MAIL before RCPT")
            return
        recipient = parse_rcpt(rest)
        if isinstance(recipient, Reply):
            self._reply(recipient)
            return
        if len(self._to) >= self.limits.max_recipients:
            self.sendCode(452, b"4.5.3 Too many recipients")
            return
        try:
            address = self.mail_delivery.accept_recipient(recipient)
        except RecipientRefused as e:
            self.sendCode(e.code, e.text.encode("utf-8"))
            return
        if address not in self._to:
            self._to.append(address)
        self.sendCode(250, b"2.1.5 Recipient OK")

    # DATA and delivery

    def do_DATA(self, rest: bytes) -> None:
        """Start reading the message, once there is a sender and a recipient."""
        if self._from is None:
            self.sendCode(503, b"5.5.1 Need MAIL before DATA")
            return
        if not self._to:
            self.sendCode(503, b"5.5.1 Need RCPT before DATA")
            return
        self.mode = smtp.DATA
        self._message = MessageBuffer(self.budget, self.spool_directory)
        self._size = 0
        self._data_error = None
        self.sendCode(354, b"End data with <CR><LF>.<CR><LF>")
        self._input.read_data(self)

    def received(self, block: bytes) -> None:
        """
        Collect complete lines of message data (L{MessageData}), as the
        L{LineQueue} hands them on, dot-unstuffed.
        """
        # Twisted's lineReceived resets the idle timer per line; data does
        # not go through it, but it is activity too.
        self.resetTimeout()
        if self._data_error is not None:
            return
        self._size += len(block)
        if self._size > self.limits.max_message_size:
            # Read the rest of the message, but keep none of it.
            self._data_error = TOO_BIG
            self._message.discard()
            return
        # Bare LFs inside a line are line breaks too; store them as CRLF.
        if block.count(b"\n") != block.count(b"\r\n"):
            block = _BARE_LF.sub(b"\r\n", block)
        try:
            self._message.add(block)
        except OSError as e:
            # The spool file cannot be made or written (a full disk, say):
            # read the rest of the message, keep none of it, and have the
            # sender try again later.
            self._spool_failed(e)

    def _spool_failed(self, error: OSError) -> None:
        log.warn("A message could not be spooled: {error}", error=error)
        self._data_error = NO_MEMORY
        self._message.discard()

    def ended(self) -> None:
        """The final dot (L{MessageData}): store the message."""
        self.resetTimeout()
        self._end_of_data()

    def _end_of_data(self) -> None:
        self.mode = smtp.COMMAND
        mail_from, recipients = self._from or "", tuple(self._to)
        self._from, self._to = None, []
        message = self._message
        if self._data_error is not None:
            message.discard()
            self._reply(self._data_error)
            return
        now = clock_now(self.clock)
        try:
            raw = message.take(self._received_header(recipients, now))
        except OSError as e:
            self._spool_failed(e)
            self._reply(NO_MEMORY)
            return
        if raw is None:
            log.warn(
                "A message of {size} bytes was refused: SMTP_MEMORY_BUDGET is in use",
                size=message.size,
            )
            self._reply(NO_MEMORY)
            return
        if self.metrics is not None:
            self.metrics.message_received(len(raw))
        envelope = Envelope(mail_from, recipients, now)
        delivered = self.mail_delivery.deliver(envelope, raw)
        answered = delivered.addCallbacks(self._stored, self._not_stored)

        def done(result: None) -> None:
            # The message's bytes are no longer held once it is answered.
            message.release()
            return result

        self._hold_input_until(answered.addBoth(done))

    def _hold_input_until(self, reply: Deferred[None]) -> None:
        # The client is waiting for us, not idle: no timeout until we answer.
        self.setTimeout(None)

        def answered(result: None) -> None:
            if not self._closed:
                self.setTimeout(self.timeout)
            return result

        reply.addBoth(answered)
        self._input.hold_until(reply)

    def _stored(self, copies: list[DeliveredCopy]) -> None:
        ids = " ".join(copy.id for copy in copies)
        self.sendCode(250, f"2.0.0 Ok: stored as {ids}".encode())

    def _not_stored(self, failure: Failure) -> None:
        if failure.check(StorageUnavailable):
            log.warn(
                "A message was not stored; the sender was told to retry: {error}",
                error=failure.getErrorMessage(),
            )
            self.sendCode(451, b"4.3.0 Message not stored; try again later")
        else:
            # Retrying would fail the same way: tell the sender to give up.
            log.failure("A message was not stored because of an internal error", failure)
            self.sendCode(554, b"5.3.0 Message not stored: internal error")

    def _received_header(self, recipients: tuple[str, ...], now: datetime) -> bytes:
        helo, peer = self._helo
        peer_text = peer.decode("ascii", "replace") if isinstance(peer, bytes) else str(peer)
        tls = tls_description(self._wire()) if self._under_tls() else None
        return received_header(
            (helo or b"unknown").decode("ascii"),
            peer_text,
            self.host.decode("ascii"),
            recipients,
            now,
            tls,
        )
