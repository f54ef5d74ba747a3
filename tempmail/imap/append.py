"""
APPEND and COPY: new messages in C{INBOX} from an IMAP client.

Both go through the store's ordinary delivery (L{IMessageStore.deliver}),
so a message a client saves is filed, counted and announced exactly like
one that arrived over SMTP (an C{arrival} event and its webhooks), then
given its flags with a guarded flag write.  The two are separate
transactions: a crash between them leaves the message without its flags.

COPY reads and files one message at a time, so copying a whole mailbox
never holds more than one message in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from tempmail.flags import SEEN, FlagMode, normalise_flags
from tempmail.imap.account import MailAccount
from tempmail.imap.sequences import runs
from tempmail.models import Envelope, IncomingMessage, ParsedMessage
from tempmail.times import clock_now

Parse = Callable[[bytes], Deferred[ParsedMessage]]

# How many UIDs COPY reads the summaries of at once.
COPY_BATCH = 100

_RECENT = "\\recent"


class Appender:
    """
    Files messages an IMAP session gives in its account's mailbox.

    @ivar parse: reads a message's fields (off the reactor thread in the
        daemon, as for SMTP).
    """

    def __init__(self, parse: Parse, clock: IReactorTime) -> None:
        self.parse = parse
        self.clock = clock

    async def _file(
        self, account: MailAccount, raw: bytes, flags: frozenset[str], received_at: datetime
    ) -> int:
        parsed = await self.parse(raw)
        envelope = Envelope("", (account.mailbox,), received_at)
        (copy,) = await account.store.deliver(IncomingMessage(envelope, raw, parsed))
        if flags:
            await account.write(
                lambda grant: account.store.store_flags(grant, [copy.uid], flags, FlagMode.REPLACE)
            )
        return copy.uid

    async def append(
        self, account: MailAccount, raw: bytes, flags: Sequence[str], when: datetime | None
    ) -> int:
        """
        File C{raw} with C{flags} (C{\\Recent} is ignored: it is not
        kept), received at C{when} (default now); return its UID.

        @raise tempmail.flags.InvalidFlag: for a flag that cannot be kept.
        """
        kept = normalise_flags(flag for flag in flags if flag.lower() != _RECENT)
        return await self._file(account, raw, kept, when or clock_now(self.clock))

    async def copy(
        self, account: MailAccount, wanted: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """
        Copy the messages at those C{(sequence number, UID)} pairs
        (ascending), keeping their flags and received time; return the
        C{(old UID, new UID)} pairs of those still there.
        """
        copied: list[tuple[int, int]] = []
        for start in range(0, len(wanted), COPY_BATCH):
            for run in runs(wanted[start : start + COPY_BATCH]):
                uids = {uid for _, uid in run}
                summaries = await account.store.messages_by_uid(
                    account.mailbox, run[0][1], run[-1][1]
                )
                for summary in summaries:
                    if summary.uid not in uids:
                        continue
                    raw = await account.store.get_raw(summary.id)
                    if raw is None:
                        continue
                    flags = frozenset(summary.flags) | ({SEEN} if summary.seen else set())
                    uid = await self._file(account, raw, flags, summary.received_at)
                    copied.append((summary.uid, uid))
        return copied


def format_set(numbers: Sequence[int]) -> bytes:
    """
    Numbers as an IMAP sequence set, runs joined (C{1:3,7}).
    """
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return b",".join(
        b"%d" % (low,) if low == high else b"%d:%d" % (low, high) for low, high in runs
    )
