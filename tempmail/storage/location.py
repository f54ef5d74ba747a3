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
    A parsed C{DATABASE_URL}.

    @ivar scheme: the backend, e.g. C{sqlite}.
    @ivar path: for SQLite, an absolute file path or C{:memory:}.
    """

    scheme: str
    path: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.path}"


def parse_database_url(text: str) -> StoreLocation:
    """
    Parse C{sqlite:PATH}, C{sqlite://PATH} or C{sqlite::memory:}, with the
    original's optional C{?mode=rwc}.

    A relative path is taken from the working directory at startup.  Other
    schemes are refused until their backend exists.
    """
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() != "sqlite":
        raise ValueError(
            "expected sqlite:PATH or sqlite::memory: (other databases are not supported yet)"
        )
    if rest.startswith("//"):
        rest = rest[2:]
    rest, _, options = rest.partition("?")
    # sqlx's "create if missing" mode is what SQLite does here anyway.
    if options not in ("", "mode=rwc"):
        raise ValueError(f"unsupported option {options!r} (only mode=rwc is accepted)")
    if not rest:
        raise ValueError("expected a file path after sqlite:")
    if rest == MEMORY:
        return StoreLocation("sqlite", MEMORY)
    return StoreLocation("sqlite", str(Path(rest).expanduser().absolute()))
