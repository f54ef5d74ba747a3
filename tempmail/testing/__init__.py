"""
Test doubles for code that uses tempmail, shipped as treq ships StubTreq.

  - L{MemoryMailStore}: every storage role (L{IMessageStore},
    L{IMailboxLocks}, L{IWebhookStore}) in dictionaries.  It passes the same
    contract tests as the SQLite store, so a test written against it holds
    for the real thing.
  - L{RecordingEventHub}: an L{IEventHub} that records what is published
    and tells subscribers when the test calls C{flush()}.
  - L{InlinePasswordHasher} and L{inline_access}: the lock check without
    thread pools.
"""

from tempmail.testing._access import InlinePasswordHasher, inline_access
from tempmail.testing._hub import RecordingEventHub
from tempmail.testing._store import MemoryMailStore

__all__ = ["InlinePasswordHasher", "MemoryMailStore", "RecordingEventHub", "inline_access"]
