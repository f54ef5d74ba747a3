"""
What happens to mail: the events that the store's publishing wrapper
(L{tempmail.publishing}) announces after each commit, and that the event hub
(L{tempmail.hub}) carries to the WebSocket, webhooks and IMAP IDLE.

They are plain frozen values, so a second source (another node's database)
can build the same events and feed them to the same hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tempmail.models import MessageSummary


class EventKind(Enum):
    """
    What happened.
    """

    ARRIVAL = "arrival"
    DELETION = "deletion"
    # The seen flag went from clear to set.
    READ = "read"
    # Any flag changed (seen included); the summary carries the new flags.
    FLAGS_CHANGED = "flags_changed"
    # The mailbox was claimed, released or had its password changed: every
    # open subscription must check its credentials again.
    LOCK_CHANGED = "lock_changed"


class DeletionReason(Enum):
    """
    Why a message went.
    """

    DELETED = "deleted"
    RETENTION = "retention"
    EXPUNGED = "expunged"


@dataclass(frozen=True)
class MailEvent:
    """
    One thing that happened to a mailbox.

    @ivar summary: the message concerned (C{None} for L{EventKind.LOCK_CHANGED}).
    @ivar reason: for deletions, why.
    """

    kind: EventKind
    mailbox: str
    summary: MessageSummary | None = None
    reason: DeletionReason | None = None
