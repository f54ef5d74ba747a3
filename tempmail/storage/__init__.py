"""
Storage: the only package that speaks SQL.

L{open_store} turns a parsed C{DATABASE_URL} into an L{IMailStore}; callers
never name a backend class.  Each backend is imported only when its scheme
is asked for, so a daemon on SQLite never loads a PostgreSQL driver (and
the reverse).
"""

from __future__ import annotations

from importlib import import_module

from twisted.internet.interfaces import IReactorTime

from tempmail.interfaces import IMailStore
from tempmail.storage.location import StoreLocation, parse_database_url
from tempmail.storage.schema import SchemaError

__all__ = ["SchemaError", "StoreLocation", "open_store", "parse_database_url"]

# Scheme -> (module, class) of its store.
_BACKENDS = {
    "sqlite": ("tempmail.storage.sqlite", "SQLiteMailStore"),
    "postgresql": ("tempmail.storage.postgresql", "PostgreSQLMailStore"),
}


def open_store(location: StoreLocation, clock: IReactorTime) -> IMailStore:
    """
    Open, creating and migrating as needed, the store at C{location}.

    @param clock: what "now" is for the times the store writes.
    @raise SchemaError: if the database cannot be used by this release.
    @raise tempmail.interfaces.StorageUnavailable: if it cannot be opened.
    """
    try:
        module_name, class_name = _BACKENDS[location.scheme]
    except KeyError:
        raise ValueError(f"no storage backend for {location.scheme!r}") from None
    store: IMailStore = getattr(import_module(module_name), class_name)(location, clock)
    return store
