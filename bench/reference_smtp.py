"""
A trivial Twisted ESMTP server, the yardstick for C{bench/smtp_ingest.py}.

It is what a minimal server on the same framework costs: Twisted's own
L{ESMTP} with L{IMessageDelivery}, every recipient accepted, no parsing.
C{--store memory} keeps each message in a list; C{--store sqlite} commits
each one in its own transaction to a SQLite file in WAL mode with
C{synchronous=FULL}, on the reactor thread, before the 250.

It listens on 127.0.0.1 (port 0 unless C{--port}), prints C{port <n>} on
standard output once listening, and on SIGTERM prints C{stored <count>}
and exits::

    python bench/reference_smtp.py --store sqlite --database /tmp/ref.db
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.mail import smtp
from zope.interface import implementer


class Stored:
    """
    Where the reference server puts messages: a list, or a SQLite file.
    """

    def __init__(self, database: str | None) -> None:
        self.count = 0
        self.kept: list[bytes] = []
        self.connection: sqlite3.Connection | None = None
        if database is not None:
            self.connection = sqlite3.connect(database, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = FULL")
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS messages "
                "(id INTEGER PRIMARY KEY, sender TEXT, recipient TEXT, raw BLOB)"
            )

    def add(self, sender: str, recipient: str, raw: bytes) -> None:
        """Keep one message; with SQLite, committed before this returns."""
        if self.connection is None:
            self.kept.append(raw)
        else:
            self.connection.execute("BEGIN")
            self.connection.execute(
                "INSERT INTO messages (sender, recipient, raw) VALUES (?, ?, ?)",
                (sender, recipient, raw),
            )
            self.connection.execute("COMMIT")
        self.count += 1


@implementer(smtp.IMessage)
class Message:
    """One message being received, for one recipient."""

    def __init__(self, stored: Stored, sender: str, recipient: str) -> None:
        self.stored = stored
        self.sender = sender
        self.recipient = recipient
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> defer.Deferred[None]:
        self.lines.append(b"")
        self.stored.add(self.sender, self.recipient, b"\r\n".join(self.lines))
        return defer.succeed(None)

    def connectionLost(self) -> None:
        self.lines = []


@implementer(smtp.IMessageDelivery)
class Delivery:
    """Accept every sender and recipient."""

    def __init__(self, stored: Stored) -> None:
        self.stored = stored
        self.sender = ""

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> None:
        return None

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        self.sender = str(origin)
        return origin

    def validateTo(self, user: Any) -> Any:
        recipient = str(user.dest)
        return lambda: Message(self.stored, self.sender, recipient)


class Factory(protocol.ServerFactory):
    """One L{smtp.ESMTP} per connection, all storing in one place."""

    def __init__(self, stored: Stored) -> None:
        self.stored = stored

    def buildProtocol(self, addr: Any) -> smtp.ESMTP:
        server = smtp.ESMTP()
        server.delivery = Delivery(self.stored)  # type: ignore[assignment]
        server.factory = self
        server.noisy = False
        return server


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM; print the port, then the count stored."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--database", help="the SQLite file (with --store sqlite)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.store == "sqlite" and not args.database:
        parser.error("--store sqlite needs --database")
    stored = Stored(args.database if args.store == "sqlite" else None)
    port = reactor.listenTCP(args.port, Factory(stored), interface="127.0.0.1")
    print(f"port {port.getHost().port}", flush=True)  # type: ignore[attr-defined]
    reactor.run()
    print(f"stored {stored.count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
