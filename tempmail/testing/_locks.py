"""
The lock role (L{IMailboxLocks}) of L{tempmail.testing.MemoryMailStore}.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.defer import Deferred, succeed

from tempmail.models import LockState, MailboxInfo, MailboxPage, TokenGrant
from tempmail.testing._state import MemoryMailbox, MemoryState, write


class MemoryLocks(MemoryState):
    """
    Claims and tokens in dictionaries.
    """

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        box = self._mailboxes.get(mailbox)
        if box is None:
            return succeed(LockState(mailbox, None, 0))
        return succeed(LockState(mailbox, box.password_hash, box.lock_version))

    def _claimed(self, mailbox: str) -> MemoryMailbox | None:
        box = self._mailboxes.get(mailbox)
        return box if box is not None and box.password_hash is not None else None

    @write
    def claim_mailbox(self, mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        box = self._mailbox(mailbox)
        if box.password_hash is not None:
            return succeed(False)
        box.password_hash = password_hash
        box.lock_version += 1
        box.tokens[token.digest] = token.expires_at
        for id in [h.id for h in self._webhooks.values() if h.mailbox == mailbox]:
            self._forget_webhook(id)
        return succeed(True)

    @write
    def change_password(
        self, mailbox: str, password_hash: str, token: TokenGrant
    ) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.password_hash = password_hash
        box.lock_version += 1
        box.tokens = {token.digest: token.expires_at}
        return succeed(True)

    @write
    def release_mailbox(self, mailbox: str) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.password_hash = None
        box.lock_version += 1
        box.tokens = {}
        return succeed(True)

    @write
    def add_token(self, mailbox: str, token: TokenGrant) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.tokens[token.digest] = token.expires_at
        return succeed(True)

    def token_mailbox(self, digest: str, now: datetime) -> Deferred[str | None]:
        for address, box in self._mailboxes.items():
            expires = box.tokens.get(digest)
            if box.password_hash is not None and expires is not None and expires > now:
                return succeed(address)
        return succeed(None)

    def list_mailboxes(self, limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        ordered = sorted(self._mailboxes.items())
        return succeed(
            MailboxPage(
                tuple(
                    MailboxInfo(
                        address, len(box.copies), box.password_hash is not None, box.created_at
                    )
                    for address, box in ordered[offset : offset + limit]
                ),
                len(ordered),
            )
        )
