"""
Storage: the only package that speaks SQL.

L{open_store} turns a parsed C{DATABASE_URL} into an L{IMailStore}; callers
never name a backend class.
"""

from __future__ import annotations

from tempmail.interfaces import IMailStore
from tempmail.storage.location import StoreLocation, parse_database_url
from tempmail.storage.schema import SchemaError
from tempmail.storage.sqlite import SQLiteMailStore

__all__ = ["SchemaError", "StoreLocation", "open_store", "parse_database_url"]


def open_store(location: StoreLocation) -> IMailStore:
    """
    Open, creating and migrating as needed, the store at C{location}.

    @raise SchemaError: if the database cannot be used by this release.
    """
    if location.scheme == "sqlite":
        return SQLiteMailStore(location)
    raise ValueError(f"no storage backend for {location.scheme!r}")
