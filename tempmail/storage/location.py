"""
Where the mail store lives: the parsed form of C{DATABASE_URL}.
"""

from __future__ import annotations

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
        return self.target


def parse_database_url(text: str) -> StoreLocation:
    """
    Parse C{sqlite:PATH}, C{sqlite://PATH} or C{sqlite::memory:}, with an
    optional C{?mode=rwc} (create if missing, which SQLite does anyway).

    A relative path is taken from the working directory at startup.  Other
    schemes are refused until their backend exists.
    """
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if scheme.lower() in ("postgres", "postgresql"):
        raise ValueError("PostgreSQL is not supported by this release yet; use sqlite:PATH")
    if not sep or scheme.lower() != "sqlite":
        raise ValueError("expected sqlite:PATH or sqlite::memory:")
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
