"""
The SMTP session: Twisted's L{ESMTP} with the fixes twisted-notes B.1 lists.

What changes from Twisted's server:
  - SIZE, 8BITMIME, PIPELINING and ENHANCEDSTATUSCODES are advertised and
    honoured; C{MAIL FROM ... SIZE=} over the limit gets 552 at once.
  - Line splitting is ours: an overlong line is refused where it stands
    (a command gets 500, a body line fails the message at its final dot)
    and the session stays in step, instead of Twisted's switch back to
    command mode that reads the rest of the body as commands.
  - While a reply depends on a Deferred (the commit after DATA), input is
    queued and the transport paused, so pipelined commands are answered in
    order (twisted#8126).
  - One transaction is collected once, however many recipients it has, and
    250 is sent only after the store has committed it; 451 if it failed.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure

from tempmail.models import DeliveredCopy, Envelope
from tempmail.smtp.delivery import MailDelivery, RecipientRefused

log = Logger()

_OVERLONG = object()
_PATH = rb"<(?P<path>[^<>\s]*)>|(?P<bare>[^<>\s]+)"
_HELO_UNSAFE = re.compile(rb"[^\x21-\x7e]")
_MAIL_RE = re.compile(rb"^FROM:\s*(?:" + _PATH + rb")(?P<params>(?:\s+\S+)*)\s*$", re.I)
_RCPT_RE = re.compile(rb"^TO:\s*(?:" + _PATH + rb")(?P<params>(?:\s+\S+)*)\s*$", re.I)


@dataclass(frozen=True)
class SMTPLimits:
    """
    The limits one SMTP session enforces.

    @ivar max_message_size: bytes of message data accepted after DATA.
    @ivar max_recipients: RCPT TO commands accepted per transaction.
    @ivar max_line_length: bytes in one line, without CRLF.
    @ivar timeout: seconds of silence before the session is closed.
    """

    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 100
    max_line_length: int = 16384
    timeout: float = 300.0


def _path(match: re.Match[bytes], strict: bool = False) -> str:
    """
    The address in a MAIL or RCPT path.  A recipient must be valid UTF-8
    (it names a mailbox); a sender is only recorded, so bad bytes are
    replaced.
    """
    raw = match.group("path")
    if raw is None:
        raw = match.group("bare")
    try:
        return str(raw.decode("utf-8", "strict" if strict else "replace"))
    except UnicodeDecodeError:
        raise RecipientRefused(553, "5.1.3 The address is not valid UTF-8") from None


def _params(match: re.Match[bytes]) -> dict[bytes, bytes | None]:
    params: dict[bytes, bytes | None] = {}
    for token in match.group("params").split():
        key, sep, value = token.partition(b"=")
        params[key.upper()] = value if sep else None
    return params


class TempmailESMTP(smtp.ESMTP):
    """
    One SMTP session that files mail through a L{MailDelivery}.
    """

    # Twisted logs each recipient with str(), which is ASCII-only.
    noisy = False

    def __init__(
        self,
        delivery: MailDelivery,
        limits: SMTPLimits,
        clock: IReactorTime,
    ) -> None:
        super().__init__()
        self.mail_delivery = delivery
        self.limits = limits
        self.clock = clock
        self.host = delivery.domain.encode("idna")
        self.timeout = math.ceil(limits.timeout)
        self.MAX_LENGTH = limits.max_line_length
        self._from: str | None = None
        self._to: list[str] = []
        self._pending: deque[Any] = deque()
        self._buffer = b""
        self._overlong = False
        self._waiting: Deferred[None] | None = None
        self._close_waiters: list[Deferred[None]] = []
        self._closed = False
        self._processing = False
        self._stopping = False
        self._lines: list[bytes] = []
        self._size = 0
        self._data_error: tuple[int, bytes] | None = None

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

    # Connection and line handling

    def greeting(self) -> bytes:
        return self.host + b" ESMTP tempmail"

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self._pending.clear()
        self._lines = []
        self._closed = True
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def whenClosed(self) -> Deferred[None]:
        """
        A Deferred that fires when the connection has closed.
        """
        if self._closed:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._close_waiters.append(d)
        return d

    def shutdown(self) -> Deferred[None]:
        """
        End the session for a server shutdown: a transaction whose commit is
        under way gets its reply first, then the client is told 421.
        """

        # Read nothing more: a queued transaction must not start now.
        self._stopping = True

        def close(_: object = None) -> None:
            if not self._wire().disconnecting:
                self.sendCode(421, b"4.3.2 " + self.host + b" Service shutting down")
                self._wire().loseConnection()

        if self._waiting is not None:
            self._waiting.addCallback(close)
        else:
            close()
        return self.whenClosed()

    def dataReceived(self, data: bytes) -> None:
        lines = (self._buffer + data).split(b"\r\n")
        self._buffer = lines.pop()
        for line in lines:
            if self._overlong or len(line) > self.MAX_LENGTH:
                self._overlong = False
                self._pending.append(_OVERLONG)
            else:
                self._pending.append(line)
        if len(self._buffer.removesuffix(b"\r")) > self.MAX_LENGTH:
            # Drop the overlong line as it comes, but keep a trailing CR: it
            # may be the first half of the line's CRLF.
            self._overlong = True
            self._buffer = self._buffer[-1:] if self._buffer.endswith(b"\r") else b""
        self._process()

    def _process(self) -> None:
        # A store that answers at once re-enters here from _wait_for; the
        # outer loop carries on instead, so the stack does not grow per line.
        if self._processing:
            return
        self._processing = True
        try:
            self._process_queue()
        finally:
            self._processing = False

    def _process_queue(self) -> None:
        while self._pending and self._waiting is None and not self._stopping:
            if self._wire().disconnecting:
                self._pending.clear()
                return
            line = self._pending.popleft()
            if line is _OVERLONG:
                self.resetTimeout()
                self._line_too_long()
            else:
                self.lineReceived(line)

    def _wait_for(self, d: Deferred[None]) -> None:
        """
        Hold further input until C{d} fires, so replies keep their order.
        """
        self._waiting = d
        self._wire().pauseProducing()
        # The client is waiting for us, not idle: no timeout until we answer.
        self.setTimeout(None)

        def release(result: object) -> object:
            self._waiting = None
            if not self._closed:
                self.setTimeout(self.timeout)
            if not self._wire().disconnecting:
                self._wire().resumeProducing()
                self._process()
            return result

        d.addBoth(release)

    def _line_too_long(self) -> None:
        if self.mode == smtp.DATA:
            if self._data_error is None:
                self._data_error = (500, b"5.5.2 Line too long; message refused")
                self._lines = []
        else:
            self.sendCode(500, b"5.5.2 Line too long")

    def timeoutConnection(self) -> None:
        self.sendCode(421, b"4.4.2 " + self.host + b" Idle for too long, closing connection")
        self._wire().loseConnection()

    # Commands

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        ext: dict[bytes, list[bytes] | None] = super().extensions()
        ext[b"SIZE"] = [str(self.limits.max_message_size).encode()]
        ext[b"8BITMIME"] = None
        ext[b"PIPELINING"] = None
        ext[b"ENHANCEDSTATUSCODES"] = None
        return ext

    def lookupMethod(self, command: bytes) -> Any:
        """
        Find the handler for a command word; a word that is not ASCII is
        simply unknown (Twisted's lookup raised on it and dropped the client).
        """
        try:
            command.decode("ascii")
        except UnicodeDecodeError:
            return None
        return super().lookupMethod(command)

    def ext_AUTH(self, rest: bytes) -> None:
        # Not advertised: this server takes mail from anyone without AUTH.
        self.sendCode(502, b"5.5.1 AUTH is not supported here")

    def ext_STARTTLS(self, rest: bytes) -> None:
        if self.ctx is None:
            self.sendCode(454, b"4.7.0 TLS not available")
        else:
            super().ext_STARTTLS(rest)

    def sendSyntaxError(self) -> None:
        self.sendCode(500, b"5.5.2 Syntax error, command unrecognized")

    def do_UNKNOWN(self, rest: bytes) -> None:
        self.sendCode(502, b"5.5.1 Command not implemented")

    def do_NOOP(self, rest: bytes) -> None:
        self.sendCode(250, b"2.0.0 OK")

    def do_VRFY(self, rest: bytes) -> None:
        self.sendCode(252, b"2.5.2 Cannot VRFY user, but will accept message")

    def do_HELP(self, rest: bytes) -> None:
        self.sendCode(214, b"2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT")

    def do_QUIT(self, rest: bytes) -> None:
        self.sendCode(221, b"2.0.0 Bye")
        self._wire().loseConnection()

    def do_RSET(self, rest: bytes) -> None:
        self._from = None
        self._to = []
        self.sendCode(250, b"2.0.0 Reset")

    def do_MAIL(self, rest: bytes) -> None:
        if self._from is not None:
            self.sendCode(503, b"5.5.1 Sender already given")
            return
        match = _MAIL_RE.match(rest)
        if match is None:
            self.sendCode(501, b"5.5.4 Syntax: MAIL FROM:<address>")
            return
        params = _params(match)
        size = params.pop(b"SIZE", b"0") or b""
        # Compare digit counts first: int() of thousands of digits raises.
        digits = size.lstrip(b"0") or b"0"
        body = (params.pop(b"BODY", b"7BIT") or b"").upper()
        if not size.isdigit():
            self.sendCode(501, b"5.5.4 SIZE needs a number of bytes")
        elif len(digits) > 20 or int(digits) > self.limits.max_message_size:
            self.sendCode(552, b"5.3.4 Message size exceeds fixed maximum message size")
        elif body not in (b"7BIT", b"8BITMIME"):
            self.sendCode(501, b"5.5.4 BODY must be 7BIT or 8BITMIME")
        elif params:
            self.sendCode(555, b"5.5.4 Unsupported MAIL parameter " + next(iter(params)))
        else:
            self._from = _path(match)
            self._to = []
            self.sendCode(250, b"2.1.0 Sender OK")

    def do_RCPT(self, rest: bytes) -> None:
        if self._from is None:
            self.sendCode(503, b"5.5.1 Need MAIL before RCPT")
            return
        match = _RCPT_RE.match(rest)
        if match is None:
            self.sendCode(501, b"5.5.4 Syntax: RCPT TO:<address>")
            return
        if _params(match):
            self.sendCode(555, b"5.5.4 RCPT parameters are not supported")
            return
        if len(self._to) >= self.limits.max_recipients:
            self.sendCode(452, b"4.5.3 Too many recipients")
            return
        try:
            address = self.mail_delivery.accept_recipient(_path(match, strict=True))
        except RecipientRefused as e:
            self.sendCode(e.code, e.text.encode("utf-8"))
            return
        if address not in self._to:
            self._to.append(address)
        self.sendCode(250, b"2.1.5 Recipient OK")

    def do_DATA(self, rest: bytes) -> None:
        if self._from is None:
            self.sendCode(503, b"5.5.1 Need MAIL before DATA")
            return
        if not self._to:
            self.sendCode(503, b"5.5.1 Need RCPT before DATA")
            return
        self.mode = smtp.DATA
        self._lines = []
        self._size = 0
        self._data_error = None
        self.sendCode(354, b"End data with <CR><LF>.<CR><LF>")

    def dataLineReceived(self, line: bytes) -> None:
        if line == b".":
            self._end_of_data()
            return
        if line.startswith(b"."):
            line = line[1:]
        if self._data_error is not None:
            return
        self._size += len(line) + 2
        if self._size > self.limits.max_message_size:
            self._data_error = (552, b"5.3.4 Message size exceeds fixed maximum message size")
            self._lines = []
            return
        # Bare LFs inside a line are line breaks too; store them as CRLF.
        self._lines.append(line.replace(b"\n", b"\r\n") if b"\n" in line else line)

    state_DATA = dataLineReceived

    def _end_of_data(self) -> None:
        self.mode = smtp.COMMAND
        mail_from, recipients = self._from or "", tuple(self._to)
        self._from, self._to = None, []
        lines, self._lines = self._lines, []
        if self._data_error is not None:
            code, text = self._data_error
            self.sendCode(code, text)
            return
        now = datetime.fromtimestamp(self.clock.seconds(), tz=UTC)
        lines.append(b"")
        raw = self._received_header(recipients, now) + b"\r\n".join(lines)
        envelope = Envelope(mail_from, recipients, now)
        delivered = ensureDeferred(self.mail_delivery.deliver(envelope, raw))
        self._wait_for(delivered.addCallbacks(self._stored, self._not_stored))

    def _stored(self, copies: list[DeliveredCopy]) -> None:
        ids = " ".join(copy.id for copy in copies)
        self.sendCode(250, f"2.0.0 Ok: stored as {ids}".encode())

    def _not_stored(self, failure: Failure) -> None:
        log.failure("a message could not be stored; the sender was told to retry", failure)
        self.sendCode(451, b"4.3.0 Message not stored; try again later")

    def _received_header(self, recipients: tuple[str, ...], now: datetime) -> bytes:
        # The HELO name is the client's text: keep it to one printable token
        # so it cannot break the header or add one.
        helo_name = _HELO_UNSAFE.sub(b"?", self._helo[0] or b"unknown")[:255].decode("ascii")
        peer = self._helo[1]
        peer_text = peer.decode("ascii", "replace") if isinstance(peer, bytes) else str(peer)
        for_clause = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
        return (
            f"Received: from {helo_name} ([{peer_text}])\r\n"
            f"\tby {self.host.decode('ascii')} (tempmail) with ESMTP{for_clause};\r\n"
            f"\t{format_datetime(now)}\r\n"
        ).encode()
