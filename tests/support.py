"""
Helpers shared by the unit tests.
"""

from __future__ import annotations

from typing import TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from tempmail.access import MailboxAccess
from tempmail.interfaces import IMailStore
from tempmail.passwords import hash_password, verify_password
from tempmail.ratelimit import MemoryFailureLimiter

T = TypeVar("T")


def fired(d: Deferred[T]) -> T:
    """
    Return the result of a Deferred that must already have fired.
    """
    results: list[T] = []
    failures: list[Failure] = []
    d.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    assert results, "the Deferred has not fired"
    return results[0]


def synchronous_access(
    store: IMailStore, clock: Clock | None = None, admin_token: str | None = None
) -> MailboxAccess:
    """
    A L{MailboxAccess} that hashes in the calling thread, for in-memory tests.
    """
    return MailboxAccess(
        store,
        MemoryFailureLimiter(clock or Clock(), free_failures=3),
        clock or Clock(),
        "tempmail.local",
        admin_token=admin_token,
        verify=lambda password, encoded: succeed(verify_password(password, encoded)),
        hasher=lambda password: succeed(hash_password(password)),
    )
