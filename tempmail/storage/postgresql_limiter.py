"""
The password-guess limiter every node on one PostgreSQL database shares,
so that a guesser gains nothing by spreading guesses over nodes.

It counts as L{tempmail.ratelimit.MemoryFailureLimiter} does (the same
free failures, doubling block and forgetting), in the table
C{failure_limits}.  Times are the nodes' clocks in seconds: keep them in
step (NTP), as any two servers behind one name should be.  A key's row is
locked while a failure is counted, so failures counted at once on several
nodes all count.  Stale rows go a hundred at a time as failures are
counted, so the table stays bounded without a sweep of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from tempmail.interfaces import IFailureLimiter

T = TypeVar("T")
# Runs C{work(cursor, *args)} as one transaction (the store's own runner).
Runner = Callable[..., Deferred[Any]]

# Stale rows deleted at most per counted failure.
PRUNE_BATCH = 100


@implementer(IFailureLimiter)
class PostgreSQLFailureLimiter:
    """
    An L{IFailureLimiter} in the shared database.
    """

    def __init__(
        self,
        run: Runner,
        clock: IReactorTime,
        free_failures: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 900.0,
        forget_after: float = 3600.0,
    ) -> None:
        """
        @param run: runs a function of a cursor as one transaction.
        """
        self._run = run
        self.clock = clock
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        # A key must outlive its longest block, or the block would be cut short.
        self.forget_after = max(forget_after, 2 * max_delay)

    def retry_after(self, keys: Sequence[str]) -> Deferred[float]:
        d: Deferred[float] = self._run(self._retry_after, sorted(set(keys)), self.clock.seconds())
        return d

    def _retry_after(self, cursor: Any, keys: list[str], now: float) -> float:
        cursor.execute(
            "SELECT max(blocked_until) FROM failure_limits "
            "WHERE key = ANY(?) AND last_failure >= ?",
            (keys, now - self.forget_after),
        )
        (blocked,) = cursor.fetchone()
        return max(0.0, (blocked or now) - now)

    def record_failure(self, keys: Sequence[str]) -> Deferred[None]:
        d: Deferred[None] = self._run(self._record_failure, sorted(set(keys)), self.clock.seconds())
        return d

    def _record_failure(self, cursor: Any, keys: list[str], now: float) -> None:
        for key in keys:
            # Make the row if it is missing, then lock it: two nodes
            # counting the same key at once both count.
            cursor.execute(
                "INSERT INTO failure_limits (key, failures, last_failure, blocked_until) "
                "VALUES (?, 0, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, now, now),
            )
            cursor.execute(
                "SELECT failures, last_failure FROM failure_limits WHERE key = ? FOR UPDATE",
                (key,),
            )
            failures, last_failure = cursor.fetchone()
            if now - last_failure > self.forget_after:
                failures = 0
            failures += 1
            over = failures - self.free_failures + 1
            blocked_until = now
            if over > 0:
                blocked_until = now + min(self.base_delay * 2 ** min(over - 1, 40), self.max_delay)
            cursor.execute(
                "UPDATE failure_limits SET failures = ?, last_failure = ?, blocked_until = ? "
                "WHERE key = ?",
                (failures, now, blocked_until, key),
            )
        cursor.execute(
            "DELETE FROM failure_limits WHERE key IN (SELECT key FROM failure_limits "
            "WHERE last_failure < ? LIMIT ? FOR UPDATE SKIP LOCKED)",
            (now - self.forget_after, PRUNE_BATCH),
        )

    def record_success(self, keys: Sequence[str]) -> Deferred[None]:
        d: Deferred[None] = self._run(self._record_success, sorted(set(keys)))
        return d

    @staticmethod
    def _record_success(cursor: Any, keys: list[str]) -> None:
        cursor.execute("DELETE FROM failure_limits WHERE key = ANY(?)", (keys,))
