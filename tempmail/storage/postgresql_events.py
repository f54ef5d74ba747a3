"""
Events across nodes: every change is recorded in the database in the
transaction that makes it, and every node (its own included) reads the
record and feeds its hub.

A write stores its events in C{mail_events} and calls C{pg_notify} with
the id of its last one; PostgreSQL delivers the notification only after
the commit, and never one of a rolled-back transaction.  The event ids are
taken under a transaction advisory lock held until the commit, so they are
committed in the order they were numbered: a node that has read id I
has seen every event before it, and the events reach every node in commit
order.  Each node has one listener connection (L{EventFeed}), watched by
the reactor (no thread per event).  A notification, or a reconnect after
the connection was lost, reads the events after the last id seen, so a
notification missed while disconnected loses nothing, and each event
reaches each hub once.  Events are kept for L{KEEP_EVENTS_FOR}: a node
disconnected for longer misses those that went.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.main import CONNECTION_LOST
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.interfaces import IEventHub
from tempmail.models import MessageSummary
from tempmail.storage.timestamps import from_micros, to_micros

CHANNEL = "tempmail_events"
# Taken by each transaction that records events, until its commit.
EVENTS_LOCK = 0x74656D706D657674
# How long an event stays readable by a node that reconnects.
KEEP_EVENTS_FOR = 3600 * 1_000_000
# Events read at once while catching up.
BATCH = 500
# Reconnecting waits this long at first, doubling up to the maximum.
FIRST_RETRY, MAX_RETRY = 0.2, 5.0

log = Logger()


def encode(event: MailEvent) -> str:
    """An event as JSON text."""
    body: dict[str, Any] = {
        "kind": event.kind.value,
        "mailbox": event.mailbox,
        "reason": None if event.reason is None else event.reason.value,
    }
    s = event.summary
    if s is not None:
        body["summary"] = [
            s.id,
            s.mailbox,
            s.uid,
            s.from_address,
            s.subject,
            to_micros(s.received_at),
            s.size,
            s.seen,
            s.attachment_count,
            s.preview,
            list(s.flags),
        ]
    return json.dumps(body)


def decode(text: str) -> MailEvent:
    """The inverse of L{encode}."""
    body = json.loads(text)
    summary = None
    if "summary" in body:
        (id, mailbox, uid, sender, subject, received, size, seen, count, preview, flags) = body[
            "summary"
        ]
        summary = MessageSummary(
            id,
            mailbox,
            uid,
            sender,
            subject,
            from_micros(received),
            size,
            seen,
            count,
            preview,
            tuple(flags),
        )
    reason = body["reason"]
    return MailEvent(
        EventKind(body["kind"]),
        body["mailbox"],
        summary,
        None if reason is None else DeletionReason(reason),
    )


def write_events(cursor: Any, events: Sequence[MailEvent], now_us: int) -> None:
    """
    Record C{events} in the caller's transaction and notify every node of
    them at its commit.  C{cursor} takes SQLite-style SQL.
    """
    cursor.execute("SELECT pg_advisory_xact_lock(?)", (EVENTS_LOCK,))
    last = 0
    for event in events:
        cursor.execute(
            "INSERT INTO mail_events (at, body) VALUES (?, ?) RETURNING id",
            (now_us, encode(event)),
        )
        last = int(cursor.fetchone()[0])
    cursor.execute(
        "DELETE FROM mail_events WHERE id IN "
        "(SELECT id FROM mail_events WHERE at < ? ORDER BY id LIMIT ?)",
        (now_us - KEEP_EVENTS_FOR, BATCH),
    )
    cursor.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(last)))


def latest_event_id(cursor: Any) -> int:
    """The id of the newest event recorded, 0 if none."""
    cursor.execute("SELECT coalesce(max(id), 0) FROM mail_events")
    return int(cursor.fetchone()[0])


def events_after(cursor: Any, after: int) -> list[tuple[int, MailEvent]]:
    """At most L{BATCH} events after id C{after}, oldest first."""
    cursor.execute(
        "SELECT id, body FROM mail_events WHERE id > ? ORDER BY id LIMIT ?", (after, BATCH)
    )
    return [(int(id), decode(body)) for id, body in cursor.fetchall()]


@implementer(IReadDescriptor)
class _Notifications:
    """
    The listener connection's socket, watched by the reactor.
    """

    def __init__(self, connection: Any, notified: Callable[[], None]) -> None:
        self.connection = connection
        # The reactor watches a duplicate of the socket's descriptor: libpq
        # closes its own as soon as it sees the connection broken, before
        # the reactor could stop watching it.  The duplicate stays open
        # until close().
        self._fd = os.dup(connection.fileno())
        self._notified = notified
        self.lost: Callable[[], None] = lambda: None

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> Failure | None:
        try:
            self.connection.poll()
        except psycopg2.Error:
            # Returning it makes the reactor drop the descriptor and call
            # connectionLost, as Twisted's own sockets do (the interface's
            # annotation says Failure; the reactor takes the exception).
            return CONNECTION_LOST  # type: ignore[return-value]
        if self.connection.notifies:
            self.connection.notifies.clear()
            self._notified()
        return None

    def connectionLost(self, reason: Failure) -> None:
        self.lost()

    def close(self) -> None:
        """Close the connection and the duplicate descriptor."""
        self.connection.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def logPrefix(self) -> str:
        return "tempmail-events"


class EventFeed(Service):
    """
    Feeds a hub with every event recorded in the database, from every node.

    @param run: the store's transaction runner (L{SQLMailStore._run}).
    """

    def __init__(
        self,
        url: str,
        run: Callable[..., Deferred[Any]],
        hub: IEventHub,
        reactor: Any,
        connect: Callable[[str], Any],
    ) -> None:
        self._url = url
        self._run = run
        self._hub = hub
        self._reactor = reactor
        self._connect = connect
        self._last: int | None = None
        self._reader: _Notifications | None = None
        self._reading = False
        self._again = False
        self._retry = FIRST_RETRY
        self._pending_retry: Any = None
        self._fetching: Deferred[None] = succeed(None)
        self._caught_up = False
        self._waiting: list[Deferred[None]] = []

    def listening(self) -> Deferred[None]:
        """
        Fire once the listener is connected and has read the log up to
        where it stood when it connected.
        """
        if self._caught_up:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d

    def startService(self) -> None:
        super().startService()
        self._open()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self._pending_retry is not None and self._pending_retry.active():
            self._pending_retry.cancel()
        self._pending_retry = None
        self._close()
        return self._fetching

    def _open(self) -> None:
        self._pending_retry = None
        # Connecting may wait for a server that does not answer: not on the
        # reactor thread.
        d = deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self._listen)
        d.addCallbacks(self._listening, self._failed)

    def _listen(self) -> Any:
        connection = self._connect(self._url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        return connection

    def _listening(self, connection: Any) -> None:
        if not self.running:
            connection.close()
            return
        reader = _Notifications(connection, self._catch_up)
        reader.lost = self._lost
        self._reader = reader
        self._reactor.addReader(reader)
        self._retry = FIRST_RETRY
        self._catch_up()

    def _failed(self, failure: Failure) -> None:
        log.warn("tempmail: event listener cannot connect: {error}", error=failure.value)
        self._schedule_retry()

    def _lost(self) -> None:
        log.warn("tempmail: event listener lost its connection; reconnecting")
        self._caught_up = False
        self._close()
        self._schedule_retry()

    def _close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self._reactor.removeReader(reader)
            reader.close()

    def _schedule_retry(self) -> None:
        pending = self._pending_retry
        if not self.running or (pending is not None and pending.active()):
            return
        self._pending_retry = self._reactor.callLater(self._retry, self._open)
        self._retry = min(self._retry * 2, MAX_RETRY)

    def _catch_up(self) -> None:
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._again = False
        self._fetching = self._read_new().addBoth(self._read_done)

    def _read_new(self) -> Deferred[None]:
        if self._last is None:
            return self._run(latest_event_id).addCallback(self._start_from)
        return self._run(events_after, self._last).addCallback(self._publish)

    def _start_from(self, last: int) -> None:
        self._last = last

    def _publish(self, events: list[tuple[int, MailEvent]]) -> None:
        for id, event in events:
            self._hub.publish(event)
            self._last = id
        if len(events) == BATCH:
            self._again = True

    def _read_done(self, result: Failure | None) -> None:
        self._reading = False
        if isinstance(result, Failure):
            log.warn("tempmail: cannot read events: {error}", error=result.value)
            if self._reader is not None:
                self._lost()
            return
        if self._again and self.running:
            self._catch_up()
            return
        if self._reader is not None and not self._caught_up:
            self._caught_up = True
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)
