"""
A session's view of its selected mailbox, as Twisted's C{IMailbox}.

The session keeps the mailbox's UIDs as it last told the client of them,
so sequence numbers follow RFC 3501 whatever happens elsewhere: arrivals
are appended at once, while deletions made elsewhere wait in
L{SessionMailbox.pending} until the server may announce them
(C{* N EXPUNGE} is not allowed during FETCH, STORE or SEARCH).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred
from twisted.mail import imap4
from zope.interface import implementer

from tempmail.events import EventKind, MailEvent
from tempmail.flags import SEEN, SYSTEM_FLAGS, FlagMode, InvalidFlag, normalise_flags
from tempmail.imap.account import MailAccount
from tempmail.imap.message import Message
from tempmail.imap.recent import SessionRecent
from tempmail.imap.search import parse_search
from tempmail.imap.sequences import resolve, runs
from tempmail.models import FlagUpdate, MailboxGrant, MailboxState, MessageSummary
from tempmail.search import Criterion, HasFlag, Not

# A message being fetched: its sequence number, the message, and whether
# this FETCH is what marked it seen.
Loaded = tuple[int, Message, bool]

_MODES = {1: FlagMode.ADD, -1: FlagMode.REMOVE, 0: FlagMode.REPLACE}
# How many UIDs one store call searches: a mailbox of any size is searched
# in slices, so no call holds all of it.
SEARCH_BATCH = 2000
# How many messages one flag write changes (a STORE of 1:* is several).
STORE_BATCH = 1000


async def open_session_mailbox(account: MailAccount, writeable: bool) -> SessionMailbox:
    """
    Open the account's mailbox with its current UIDs.
    """
    state = await account.store.open_mailbox(account.mailbox)
    uids = await account.store.list_uids(account.mailbox)
    upto = uids[-1] if uids else 0
    # SELECT takes the messages no session has taken as \Recent; EXAMINE
    # shows them recent without taking them.
    if writeable:
        above = account.recent.claim(account.mailbox, upto)
    else:
        above = account.recent.claimed(account.mailbox)
    return SessionMailbox(account, state, uids, writeable, SessionRecent(above, upto))


@implementer(imap4.IMailbox, imap4.ICloseableMailbox, imap4.ISearchableMailbox)
class SessionMailbox:
    """
    C{INBOX} as one session sees it.

    @ivar uids: the UIDs the client knows, ascending.
    @ivar pending: UIDs deleted elsewhere, not yet announced.
    @ivar recent: the UIDs that are C{\\Recent} in this session.
    """

    def __init__(
        self,
        account: MailAccount,
        state: MailboxState,
        uids: list[int],
        writeable: bool,
        recent: SessionRecent | None = None,
    ) -> None:
        self.account = account
        self.state = state
        self.uids = uids
        self.writeable = writeable
        self.recent = recent or SessionRecent(0, 0)
        self.pending: set[int] = set()
        # Flags this session wrote: their echo from the hub is not news.
        self._written: set[tuple[int, frozenset[str]]] = set()
        self._listeners: list[Any] = []

    # Counts and identity

    def getFlags(self) -> list[str]:
        return list(SYSTEM_FLAGS)

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    def getUIDValidity(self) -> int:
        return self.state.uid_validity

    def getUIDNext(self) -> int:
        return max(self.state.uid_next, self.uids[-1] + 1 if self.uids else 1)

    def getUID(self, message: int) -> int:
        return self.uids[message - 1]

    def getMessageCount(self) -> int:
        return len(self.uids)

    def getRecentCount(self) -> int:
        return self.recent.count(self.uids)

    def getUnseenCount(self) -> int:
        return self.state.unseen

    def isWriteable(self) -> bool:
        return self.writeable

    def destroy(self) -> None:
        raise imap4.MailboxException("INBOX cannot be deleted")

    def requestStatus(self, names: list[str]) -> Deferred[dict[str, int]]:
        return Deferred.fromCoroutine(self.account.status([name.upper() for name in names]))

    # Listeners and events

    def addListener(self, listener: Any) -> None:
        self._listeners.append(listener)
        if self._heard not in self.account.listeners:
            self.account.listeners.append(self._heard)

    def removeListener(self, listener: Any) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        if not self._listeners and self._heard in self.account.listeners:
            self.account.listeners.remove(self._heard)

    def close(self) -> None:
        self._listeners.clear()
        if self._heard in self.account.listeners:
            self.account.listeners.remove(self._heard)

    def _heard(self, event: MailEvent) -> None:
        summary = event.summary
        if summary is None:
            return
        if event.kind is EventKind.ARRIVAL:
            if not self.uids or summary.uid > self.uids[-1]:
                self.uids.append(summary.uid)
                # The first selected session to hear of it takes it.
                if (
                    self.writeable
                    and self.account.recent.claim(self.account.mailbox, summary.uid) < summary.uid
                ):
                    self.recent.arrivals.add(summary.uid)
                for listener in self._listeners:
                    listener.newMessages(len(self.uids), self.getRecentCount())
        elif event.kind is EventKind.DELETION:
            if self._position(summary.uid) is not None and summary.uid not in self.pending:
                self.pending.add(summary.uid)
                for listener in self._listeners:
                    listener.expungePending()
        elif event.kind is EventKind.FLAGS_CHANGED:
            position = self._position(summary.uid)
            if position is None:
                return
            flags = self._message(summary).getFlags()
            written = (summary.uid, frozenset(flags))
            if written in self._written:
                self._written.discard(written)
                return
            for listener in self._listeners:
                listener.flagsChanged({position + 1: flags})

    def _position(self, uid: int) -> int | None:
        """
        Where C{uid} is in the session's list (its sequence number less
        one), if it is there.
        """
        at = bisect_left(self.uids, uid)
        return at if at < len(self.uids) and self.uids[at] == uid else None

    def _message(self, summary: MessageSummary, raw: bytes = b"") -> Message:
        """
        A message as this session sees it (C{\\Recent} or not).
        """
        return Message(summary, raw, summary.uid in self.recent)

    def take_pending(self) -> list[int]:
        """
        Drop the messages deleted elsewhere from the session's view; return
        the sequence numbers to announce, in order.
        """
        gone = sorted(self.pending)
        self.pending = set()
        positions = [at for uid in gone if (at := self._position(uid)) is not None]
        if len(positions) == 1:
            del self.uids[positions[0]]
        elif positions:
            dropped = set(gone)
            self.uids = [uid for uid in self.uids if uid not in dropped]
        # Each EXPUNGE is numbered after the ones announced before it.
        return [at - earlier + 1 for earlier, at in enumerate(positions)]

    # Reads and writes

    def fetch(self, messages: imap4.MessageSet, uid: bool) -> Deferred[list[tuple[int, Message]]]:
        # IMailbox asks for it; the server's FETCH reads in batches instead
        # (tempmail.imap.fetching).
        return Deferred.fromCoroutine(self._fetch(resolve(self.uids, messages, bool(uid))))

    async def _fetch(self, wanted: list[tuple[int, int]]) -> list[tuple[int, Message]]:
        loaded = await self.read_bodies(await self.summaries(wanted))
        return [(seq, message) for seq, message, _ in loaded]

    async def summaries(self, wanted: list[tuple[int, int]]) -> list[Loaded]:
        """
        The messages at those C{(sequence number, UID)} pairs (ascending)
        that still exist, from their summaries alone.
        """
        found = {}
        for run in runs(wanted):
            for summary in await self.account.store.messages_by_uid(
                self.account.mailbox, run[0][1], run[-1][1]
            ):
                found[summary.uid] = summary
        return [(seq, self._message(found[uid]), False) for seq, uid in wanted if uid in found]

    async def read_bodies(self, loaded: list[Loaded]) -> list[Loaded]:
        """
        The same messages with their bytes (those deleted meanwhile left out).
        """
        raws = await self.account.store.raws_by_id([m.summary.id for _, m, _ in loaded])
        return [
            (seq, self._message(message.summary, raws[message.summary.id]), seen)
            for seq, message, seen in loaded
            if message.summary.id in raws
        ]

    async def mark_seen(self, loaded: list[Loaded]) -> list[Loaded]:
        """
        Set C{\\Seen} on those not seen yet (a FETCH of their content);
        those it was set on come back marked C{True}.
        """
        unseen = [
            (seq, message.summary.uid) for seq, message, _ in loaded if not message.summary.seen
        ]
        if not unseen:
            return loaded
        stored = await self._store(unseen, [SEEN], FlagMode.ADD)
        return [
            (seq, self._message(replace(message.summary, seen=True), message.raw), True)
            if seq in stored and not message.summary.seen
            else (seq, message, seen)
            for seq, message, seen in loaded
        ]

    def search(self, query: list[Any], uid: bool) -> Deferred[list[int]]:
        """
        The sequence numbers of the messages C{query} matches (Twisted maps
        them to UIDs for C{UID SEARCH}).

        @raise tempmail.imap.search.BadSearch: if the keys are not valid.
        """
        criterion = parse_search(query, self.uids, self.recent.criterion())
        return Deferred.fromCoroutine(self._search(criterion))

    async def _search(self, criterion: Criterion, first_only: bool = False) -> list[int]:
        uids = list(self.uids)
        found: list[int] = []
        for start in range(0, len(uids), SEARCH_BATCH):
            batch = uids[start : start + SEARCH_BATCH]
            matched = await self.account.store.search_uids(
                self.account.mailbox, criterion, batch[0], batch[-1]
            )
            # A UID the session does not know (yet) is not reported.
            for uid in matched:
                at = bisect_left(batch, uid)
                if at < len(batch) and batch[at] == uid:
                    found.append(start + at + 1)
            if first_only and found:
                return found[:1]
        return found

    async def first_unseen(self) -> int | None:
        """
        The sequence number of the first message not seen, if any.
        """
        found = await self._search(Not(HasFlag(SEEN)), first_only=True)
        return found[0] if found else None

    def store(
        self, messages: imap4.MessageSet, flags: list[str], mode: int, uid: bool
    ) -> Deferred[dict[int, list[str]]]:
        return Deferred.fromCoroutine(
            self._store(resolve(self.uids, messages, bool(uid)), flags, _MODES[mode])
        )

    async def _store(
        self, wanted: list[tuple[int, int]], flags: list[str], mode: FlagMode
    ) -> dict[int, list[str]]:
        if not self.writeable:
            raise imap4.ReadOnlyMailbox("the mailbox was opened with EXAMINE")
        try:
            normalised = normalise_flags(flags)
        except InvalidFlag as invalid:
            raise imap4.IllegalClientResponse(str(invalid)) from None
        stored: dict[int, list[str]] = {}
        for start in range(0, len(wanted), STORE_BATCH):
            seqs = {uid: seq for seq, uid in wanted[start : start + STORE_BATCH]}
            updates = await self.account.write(
                partial(self._write_flags, list(seqs), normalised, mode)
            )
            for update in updates:
                now = self._message(update.summary).getFlags()
                stored[seqs[update.summary.uid]] = now
                if update.changed:
                    self._written.add((update.summary.uid, frozenset(now)))
        return stored

    def _write_flags(
        self, uids: list[int], flags: frozenset[str], mode: FlagMode, grant: MailboxGrant
    ) -> Deferred[list[FlagUpdate]]:
        return self.account.store.store_flags(grant, uids, flags, mode)

    def expunge(self, uids: list[int] | None = None) -> Deferred[list[int]]:
        return Deferred.fromCoroutine(self._expunge(uids))

    async def _expunge(self, uids: list[int] | None) -> list[int]:
        if not self.writeable:
            raise imap4.ReadOnlyMailbox("the mailbox was opened with EXAMINE")
        gone = await self.account.write(lambda grant: self.account.store.expunge(grant, uids))
        self.pending.update(summary.uid for summary in gone)
        return self.take_pending()

    def addMessage(self, message: object, flags: object = (), date: object = None) -> None:
        # APPEND and COPY go through tempmail.imap.commands, never here.
        raise imap4.MailboxException("messages are added with APPEND")
