"""
What happens to mail SMTP accepts: recipient policy, parsing and storing.

L{MailDelivery} is the one object the SMTP protocol talks to.  It decides
which recipients are accepted and files each accepted message, firing only
once the store has committed it.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred

from tempmail.addresses import InvalidAddress, domain_of, normalise_address
from tempmail.interfaces import IMessageStore
from tempmail.models import DeliveredCopy, Envelope, IncomingMessage, ParsedMessage
from tempmail.parsing import parse_message

# Messages up to this size (bytes) are parsed on the reactor thread.
INLINE_PARSE_LIMIT = 32 * 1024


class RecipientRefused(Exception):
    """
    A recipient is not accepted; C{code} and C{text} are the SMTP reply.
    """

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class MailDelivery:
    """
    Accepts recipients and files messages in an L{IMessageStore}.

    @ivar domain: C{DOMAIN_NAME}, appended to bare names.
    @ivar reject_non_domain: refuse recipients in other domains.
    """

    def __init__(
        self,
        store: IMessageStore,
        domain: str,
        reject_non_domain: bool = False,
        *,
        parse: Callable[[bytes], Deferred[ParsedMessage]],
        inline_limit: int = INLINE_PARSE_LIMIT,
    ) -> None:
        """
        @param parse: reads a large message's fields off the reactor thread
            (in the daemon, L{parse_message} in a thread pool of its own),
            so a large message does not stall other sessions.
        @param inline_limit: messages up to this many bytes are parsed on
            the calling thread instead.
        """
        self.store = store
        self.domain = domain
        self.reject_non_domain = reject_non_domain
        self._parse = parse
        self.inline_limit = inline_limit

    def accept_recipient(self, text: str) -> str:
        """
        Return the mailbox for a RCPT TO path.

        @raise RecipientRefused: with the reply to send instead of 250.
        """
        try:
            address = normalise_address(text, self.domain)
        except InvalidAddress as e:
            raise RecipientRefused(553, f"5.1.3 Bad recipient address syntax: {e}") from None
        if self.reject_non_domain and domain_of(address) != self.domain:
            raise RecipientRefused(
                550, f"5.1.1 <{address}>: this server only accepts mail for {self.domain}"
            )
        return address

    def deliver(self, envelope: Envelope, raw: bytes) -> Deferred[list[DeliveredCopy]]:
        """
        Parse and store a message; fire once it is committed.

        A message of up to C{inline_limit} bytes is parsed at once, on
        the calling (reactor) thread: that takes well under a millisecond,
        less than the two thread hops it would cost.  A larger one goes to
        the C{parse} function, off the reactor thread.

        @raise tempmail.interfaces.StorageUnavailable: (in the Deferred) if
            it was not stored.
        """
        if len(raw) <= self.inline_limit:
            return self.store.deliver(IncomingMessage(envelope, raw, parse_message(raw)))
        parsed = self._parse(raw)
        return parsed.addCallback(
            lambda fields: self.store.deliver(IncomingMessage(envelope, raw, fields))
        )
