"""
Group commit: messages that arrive while a transaction commits go into the
next one together.

A commit to disk (an fsync) costs about the same for one message as for
twenty, so under load L{GroupCommit} files whatever has queued up since the
last transaction began in one transaction.  Each caller's Deferred still
fires only after the transaction holding its item has committed.  A
transaction that storage could not commit (L{StorageUnavailable}) fails
every item in it; one that failed otherwise (a bug, which one item may
have caused) is tried again one item at a time, so the others are not
failed with it.  It knows nothing of SQL: a backend gives it the function
that stores a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure

from tempmail.interfaces import StorageUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """
    Batches items for C{commit}, one transaction at a time.

    @ivar most: the largest batch; more waits for the next transaction, so
        one transaction's size (and the memory it holds) stays bounded.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], Deferred[list[Result]]],
        most: int = 200,
    ) -> None:
        """
        @param commit: stores a batch in one transaction and fires, once
            committed, with one result per item in order; or fails, and then
            every item in the batch fails with it.
        """
        self._commit = commit
        self.most = most
        self._waiting: list[tuple[Item, Deferred[Result]]] = []
        # Items of a batch that failed with a bug, each to be tried alone.
        self._alone: list[tuple[Item, Deferred[Result]]] = []
        self._running = False

    def submit(self, item: Item) -> Deferred[Result]:
        """
        Queue C{item} for the next transaction (starting one now if none is
        running); fires with its result once that transaction committed.
        """
        done: Deferred[Result] = Deferred()
        self._waiting.append((item, done))
        if not self._running:
            self._next()
        return done

    def idle(self) -> Deferred[None]:
        """
        Fires once every item submitted so far has been answered.
        """
        queued = self._alone + self._waiting
        pending = DeferredList([done for _, done in queued], consumeErrors=True)
        return pending.addCallback(lambda _: None)

    def _next(self) -> None:
        if self._alone:
            batch = [self._alone.pop(0)]
        else:
            batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
        if not batch:
            self._running = False
            return
        self._running = True
        try:
            committed = self._commit([item for item, _ in batch])
        except BaseException:
            committed = Deferred()
            committed.errback(Failure())

        def answer(result: list[Result] | Failure) -> None:
            if (
                isinstance(result, Failure)
                and len(batch) > 1
                and not result.check(StorageUnavailable)
            ):
                self._alone.extend(batch)
                self._next()
                return
            # Start the next transaction before answering this one, so that
            # whoever waits for these answers finds the next one under way.
            self._next()
            if isinstance(result, Failure):
                for _, done in batch:
                    done.errback(result)
            else:
                for (_, done), each in zip(batch, result, strict=True):
                    done.callback(each)

        committed.addBoth(answer)
