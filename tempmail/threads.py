"""
Bounded thread pools of our own for CPU work: scrypt and MIME parsing.

The reactor's default thread pool also resolves host names and runs the
database.  Giving slow CPU work its own small pools keeps a flood of
password guesses (or of large messages) from queueing ahead of everyone
else's DNS lookups and commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from tempmail.interfaces import IPasswordHasher
from tempmail.passwords import hash_password, verify_password

T = TypeVar("T")


class WorkerPool(Service):
    """
    A named pool of at most C{size} threads, running while the daemon runs.
    """

    def __init__(self, name: str, size: int, reactor: IReactorFromThreads) -> None:
        self.setName(name)
        self.reactor = reactor
        self.pool = ThreadPool(minthreads=0, maxthreads=size, name=name)

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        # Work already handed over finishes first; the threads then end.
        self.pool.stop()

    def run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        """
        Run C{work(*args)} in one of this pool's threads.
        """
        return deferToThreadPool(self.reactor, self.pool, work, *args)


@implementer(IPasswordHasher)
class ThreadedPasswordHasher:
    """
    scrypt in a L{WorkerPool} of its own.
    """

    def __init__(self, workers: WorkerPool) -> None:
        self.workers = workers

    def hash(self, password: str) -> Deferred[str]:
        return self.workers.run(hash_password, password)

    def verify(self, password: str, encoded: str) -> Deferred[bool]:
        return self.workers.run(verify_password, password, encoded)
