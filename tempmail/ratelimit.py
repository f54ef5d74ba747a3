"""
Limiting password guesses: a growing delay after a few failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from tempmail.interfaces import IFailureLimiter


@dataclass
class _Record:
    failures: int
    last_failure: float
    blocked_until: float


@implementer(IFailureLimiter)
class MemoryFailureLimiter:
    """
    An in-process L{IFailureLimiter}.

    After C{free_failures} failures under a key, the key is blocked for
    C{base_delay}; each further failure doubles the block, up to
    C{max_delay}.  A key with no failure for C{forget_after} seconds starts
    again from zero.
    """

    def __init__(
        self,
        clock: IReactorTime,
        free_failures: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 900.0,
        forget_after: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.clock = clock
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        # A key must outlive its longest block, or the block would be cut short.
        self.forget_after = max(forget_after, 2 * max_delay)
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure > self.forget_after:
            del self._records[key]
            return None
        return record

    def retry_after(self, keys: Sequence[str]) -> Deferred[float]:
        now = self.clock.seconds()
        waits = [r.blocked_until - now for k in keys if (r := self._live(k, now)) is not None]
        return succeed(max([0.0, *waits]))

    def record_failure(self, keys: Sequence[str]) -> Deferred[None]:
        now = self.clock.seconds()
        if len(self._records) >= self.max_keys:
            self._forget_stale(now)
        for key in keys:
            record = self._live(key, now) or _Record(0, now, now)
            record.failures += 1
            record.last_failure = now
            over = record.failures - self.free_failures + 1
            if over > 0:
                delay = self.base_delay * 2 ** min(over - 1, 40)
                record.blocked_until = now + min(delay, self.max_delay)
            self._records[key] = record
        return succeed(None)

    def record_success(self, keys: Sequence[str]) -> Deferred[None]:
        for key in keys:
            self._records.pop(key, None)
        return succeed(None)

    def _forget_stale(self, now: float) -> None:
        """
        Bound memory: drop keys with no recent failure, then, if a flood of
        fresh keys still fills the table, the oldest half.
        """
        for key in [
            k for k, r in self._records.items() if now - r.last_failure > self.forget_after
        ]:
            del self._records[key]
        if len(self._records) >= self.max_keys:
            by_age = sorted(self._records, key=lambda k: self._records[k].last_failure)
            for key in by_age[: len(by_age) // 2]:
                del self._records[key]
