"""
Lock checks without threads: password hashing in the calling thread, and a
L{MailboxAccess} built on it for in-memory tests.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from zope.interface import implementer

from tempmail.access import MailboxAccess
from tempmail.interfaces import IMailboxLocks, IPasswordHasher
from tempmail.passwords import hash_password, verify_password
from tempmail.ratelimit import MemoryFailureLimiter


@implementer(IPasswordHasher)
class InlinePasswordHasher:
    """
    Hashes and checks passwords at once, in the calling thread: the same
    scrypt, with no thread pool for a test to wait on.
    """

    def hash(self, password: str) -> Deferred[str]:
        return succeed(hash_password(password))

    def verify(self, password: str, encoded: str) -> Deferred[bool]:
        return succeed(verify_password(password, encoded))


def inline_access(
    store: IMailboxLocks,
    clock: IReactorTime | None = None,
    admin_token: str | None = None,
    free_failures: int = 3,
    domain: str = "tempmail.local",
) -> MailboxAccess:
    """
    A L{MailboxAccess} over C{store} that hashes in the calling thread, with
    an in-memory failure limiter that allows C{free_failures} wrong
    passwords before it delays.
    """
    clock = clock or Clock()
    return MailboxAccess(
        store,
        MemoryFailureLimiter(clock, free_failures=free_failures),
        clock,
        domain,
        InlinePasswordHasher(),
        admin_token=admin_token,
    )
