"""
The dictionaries behind L{tempmail.testing.MemoryMailStore}, and what its
role mixins share: refusing writes like a full disk, the lock check that
guards a write, and the outbox.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime

from tempmail.events import MailEvent
from tempmail.interfaces import LockChanged, StorageUnavailable
from tempmail.models import (
    AttachmentContent,
    DeliveryAttempt,
    MailboxGrant,
    NewDelivery,
    StoredMessage,
    Webhook,
)
from tempmail.outbox import deliveries_for
from tempmail.times import clock_now

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class MemoryMailbox:
    """
    One mailbox's state.
    """

    uid_validity: int
    created_at: datetime
    uid_next: int = 1
    copies: dict[str, StoredMessage] = field(default_factory=dict)
    password_hash: str | None = None
    lock_version: int = 0
    tokens: dict[str, datetime] = field(default_factory=dict)


@dataclass
class MemoryDelivery:
    """
    One stored delivery: its row, attempts made, when it is next due
    (C{None} once finished) and its lease.
    """

    new: NewDelivery
    attempts: int = 0
    next_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


class MemoryState:
    """
    What every role of the in-memory store reads and writes.

    @ivar fail_writes: set to C{True} to make every write fail with
        L{StorageUnavailable}, as a full disk would.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.fail_writes = False
        self._closed = False
        self._mailboxes: dict[str, MemoryMailbox] = {}
        self._raw: dict[str, bytes] = {}
        self._attachments: dict[str, tuple[AttachmentContent, ...]] = {}
        self._where: dict[str, str] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._deliveries: dict[str, MemoryDelivery] = {}
        self._attempts: list[tuple[str, DeliveryAttempt]] = []

    def _now(self) -> datetime:
        return clock_now(self.clock)

    def _mailbox(self, address: str) -> MemoryMailbox:
        if address not in self._mailboxes:
            now = self._now()
            self._mailboxes[address] = MemoryMailbox(int(now.timestamp()), now)
        return self._mailboxes[address]

    def _granted(self, grant: MailboxGrant) -> MemoryMailbox | None:
        """
        The grant's mailbox (C{None} if it does not exist), if its lock is
        still the one the grant was given for.

        @raise LockChanged: if it is not.
        """
        box = self._mailboxes.get(grant.mailbox)
        version = 0 if box is None else box.lock_version
        if grant.lock_version is not None and version != grant.lock_version:
            raise LockChanged(grant.mailbox)
        return box

    def _forget_webhook(self, id: str) -> bool:
        """
        Delete a webhook with its deliveries and log (a claim does it too).
        """
        existed = self._webhooks.pop(id, None) is not None
        for delivery_id in [d for d, row in self._deliveries.items() if row.new.webhook_id == id]:
            del self._deliveries[delivery_id]
        self._attempts = [(hook, a) for hook, a in self._attempts if hook != id]
        return existed

    def _write_outbox(self, events: Sequence[MailEvent]) -> None:
        now = self._now()
        for event in events:
            hooks = [h for h in self._webhooks.values() if h.mailbox == event.mailbox]
            for delivery in deliveries_for(event, hooks, now):
                self._deliveries[delivery.id] = MemoryDelivery(delivery, next_at=now)


S = TypeVar("S", bound=MemoryState)


def write(
    method: Callable[Concatenate[S, P], Deferred[R]],
) -> Callable[Concatenate[S, P], Deferred[R]]:
    """
    Make a method a write: refused, as a full disk would, while
    C{fail_writes} is set or after C{close}; a L{LockChanged} it raises
    becomes a failed Deferred, as a real store's would.
    """

    @functools.wraps(method)
    def guarded(self: S, *args: P.args, **kwargs: P.kwargs) -> Deferred[R]:
        if self.fail_writes or self._closed:
            return fail(StorageUnavailable("the store refuses writes"))
        try:
            return method(self, *args, **kwargs)
        except LockChanged as e:
            return fail(e)

    return guarded
