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
    ) -> None:
        """
        @param parse: reads a message's fields off the reactor thread (in
            the daemon, L{tempmail.parsing.parse_message} in a thread pool
            of its own), so a large message does not stall other sessions.
        """
        self.store = store
        self.domain = domain
        self.reject_non_domain = reject_non_domain
        self._parse = parse

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

    async def deliver(self, envelope: Envelope, raw: bytes) -> list[DeliveredCopy]:
        """
        Parse and store a message; return once it is committed.

        @raise tempmail.interfaces.StorageUnavailable: if it was not stored.
        """
        parsed = await self._parse(raw)
        return await self.store.deliver(IncomingMessage(envelope, raw, parsed))
