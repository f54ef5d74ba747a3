"""
A throwaway PostgreSQL server for the tests and the benches, from Debian's C{postgresql}
package: C{initdb} in a temporary directory (as the C{postgres} user when
run as root, since PostgreSQL refuses to run as root), listening on a free
port on 127.0.0.1 with a socket directory of its own, stopped at the end.

C{TEMPMAIL_TEST_POSTGRES=dsn} points the tests at an existing server
instead.  Either way each test gets a fresh database of its own
(L{PostgresServer.new_database}).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ENVIRONMENT = "TEMPMAIL_TEST_POSTGRES"


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def available() -> bool:
    """Whether the tests can reach or start a PostgreSQL server."""
    return bool(os.environ.get(ENVIRONMENT)) or _binaries() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """
    A PostgreSQL server the tests may create databases on.

    @ivar dsn: the URL of its maintenance database.
    @ivar data: its data directory, if it is a server of our own.
    """

    def __init__(self, dsn: str, data: Path | None = None, bindir: Path | None = None) -> None:
        self.dsn = dsn
        self.data = data
        self._bindir = bindir

    def url_of(self, database: str) -> str:
        """The URL of another database on this server."""
        parts = urlsplit(self.dsn)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def _admin(self, statement: str) -> None:
        connection = psycopg2.connect(self.dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def new_database(self) -> str:
        """Create an empty database; return its URL."""
        name = f"tempmail_test_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        """Drop a database L{new_database} made, closing its connections."""
        name = urlsplit(url).path.lstrip("/")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _pg_ctl(self, *args: str) -> None:
        assert self._bindir is not None and self.data is not None
        _as_postgres([str(self._bindir / "pg_ctl"), "-D", str(self.data), "-w", *args])

    def stop(self) -> None:
        """Stop the server (a server of our own only), as a fast shutdown."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start the server again after L{stop}."""
        assert self.data is not None
        self._pg_ctl("-l", str(self.data / "log"), "start")


def _as_postgres(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@contextmanager
def throwaway_server(fsync: bool = False) -> Iterator[PostgresServer]:
    """
    A server of our own for the length of the block, or the one
    C{TEMPMAIL_TEST_POSTGRES} names.

    @param fsync: whether our own server syncs its writes to disk (for
        the benches; the tests need no durability across power loss).
    """
    existing = os.environ.get(ENVIRONMENT)
    if existing:
        yield PostgresServer(existing)
        return
    bindir = _binaries()
    assert bindir is not None, "PostgreSQL's binaries are not installed"
    base = Path(tempfile.mkdtemp(prefix="tempmail-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    _as_postgres(
        [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
    )
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\nfsync = {'on' if fsync else 'off'}\n"
            "max_connections = 200\n"
        )
    server = PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, bindir)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
