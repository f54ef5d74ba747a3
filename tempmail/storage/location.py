"""
Where the mail store lives: the parsed form of C{DATABASE_URL}.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MEMORY = ":memory:"


@dataclass(frozen=True)
class StoreLocation:
    """
    A parsed C{DATABASE_URL}: which backend, and where its data is.

    @ivar scheme: the backend, e.g. C{sqlite}; it picks the store class.
    @ivar target: the backend's own address: for SQLite an absolute file
        path or C{:memory:}; for a database server, its connection URL.
    """

    scheme: str
    target: str

    def __str__(self) -> str:
        if self.scheme == "sqlite":
            return f"sqlite:{self.target}"
        return _without_password(self.target)

    @property
    def data_directory(self) -> str | None:
        """
        The local directory the data lives in (where large incoming messages
        may be spooled beside it), or C{None} when it is not on this host's
        disk: an in-memory database or a database server.
        """
        if self.scheme != "sqlite" or self.target == MEMORY:
            return None
        return os.path.dirname(os.path.abspath(self.target))


def _without_password(url: str) -> str:
    # A server URL may carry a password; messages and logs show it masked.
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, credentials = head.partition("://")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{tail}"


def parse_database_url(text: str) -> StoreLocation:
    """
    Parse C{sqlite:PATH}, C{sqlite://PATH} or C{sqlite::memory:}, with an
    optional C{?mode=rwc} (create if missing, which SQLite does anyway), or
    a PostgreSQL connection URL (C{postgresql://...} or C{postgres://...}),
    which is handed to libpq as it is.

    A relative SQLite path is taken from the working directory at startup.
    """
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if scheme.lower() in ("postgres", "postgresql"):
        if not rest.startswith("//"):
            raise ValueError("expected postgresql://[user[:password]@]host[:port]/database")
        # libpq takes either scheme, in lower case only.
        return StoreLocation("postgresql", f"{scheme.lower()}{sep}{rest}")
    if not sep or scheme.lower() != "sqlite":
        raise ValueError("expected sqlite:PATH, sqlite::memory: or postgresql://...")
    if rest.startswith("//"):
        rest = rest[2:]
    rest, _, options = rest.partition("?")
    if options not in ("", "mode=rwc"):
        raise ValueError(f"unsupported option {options!r} (only mode=rwc is accepted)")
    if not rest:
        raise ValueError("expected a file path after sqlite:")
    if rest == MEMORY:
        return StoreLocation("sqlite", MEMORY)
    return StoreLocation("sqlite", str(Path(rest).expanduser().absolute()))
