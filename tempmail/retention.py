"""
Retention: old mail goes on a schedule, in small batches.

Every C{RETENTION_INTERVAL} a sweep deletes messages older than
C{EMAIL_RETENTION_HOURS} and, with C{MAX_EMAILS_PER_MAILBOX}, all but the
newest N of each mailbox.  It deletes at most L{BATCH} messages per
transaction and yields to the reactor between batches, so a sweep of 100k
messages never holds the database (and so SMTP and HTTP) for long.  Each
deleted message is announced as a C{deletion} with reason C{retention} by
the publishing store it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger

from tempmail.interfaces import IMessageStore
from tempmail.times import clock_now

log = Logger()

BATCH = 200


class RetentionService(Service):
    """
    Runs retention sweeps while the daemon runs.

    @ivar max_age: delete mail older than this (C{None}: no age limit).
    @ivar keep_per_mailbox: keep only this many newest messages per mailbox
        (C{None}: no count limit).
    """

    def __init__(
        self,
        store: IMessageStore,
        clock: IReactorTime,
        interval: float,
        max_age: timedelta | None = None,
        keep_per_mailbox: int | None = None,
    ) -> None:
        self.setName("retention")
        self.store = store
        self.clock = clock
        self.interval = interval
        self.max_age = max_age
        self.keep_per_mailbox = keep_per_mailbox
        self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self._sweep_logging_errors()))
        self._loop.clock = clock
        self._stopped: Deferred[Any] | None = None

    def startService(self) -> None:
        super().startService()
        # The first sweep runs at startup, so a daemon that was down for a
        # while catches up at once.
        self._stopped = self._loop.start(self.interval, now=True)

    def stopService(self) -> Deferred[Any]:
        """
        Stop sweeping; fire once a sweep under way has finished its batch.
        """
        super().stopService()
        if not self._loop.running or self._stopped is None:
            return succeed(None)
        self._loop.stop()
        return self._stopped

    async def _sweep_logging_errors(self) -> None:
        try:
            deleted = await self.sweep()
        except Exception:
            # The next interval tries again.
            log.failure("retention sweep failed")
            return
        if deleted:
            log.info("retention deleted {count} messages", count=deleted)

    async def sweep(self) -> int:
        """
        Delete everything retention asks for now; return how many went.
        """
        deleted = 0
        if self.max_age is not None:
            cutoff = clock_now(self.clock) - self.max_age
            deleted += await self._in_batches(lambda: self.store.expire_messages(cutoff, BATCH))
        if self.keep_per_mailbox is not None:
            keep = self.keep_per_mailbox
            deleted += await self._in_batches(lambda: self.store.trim_mailboxes(keep, BATCH))
        return deleted

    async def _in_batches(self, batch: Callable[[], Deferred[list[Any]]]) -> int:
        deleted = 0
        while self.running:
            went = len(await batch())
            deleted += went
            if went < BATCH:
                break
            # Let queued SMTP and HTTP work reach the database between batches.
            await deferLater(self.clock, 0, lambda: None)
        return deleted
