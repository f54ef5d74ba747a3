"""
Where a message's data waits while it arrives: in memory while it is small
and the global budget allows, otherwise in a temporary file (the spool).

L{MemoryBudget} counts the message bytes every SMTP session holds in
memory: data being received and whole messages waiting for their commit.
A message that outgrows L{SPOOL_AFTER}, or that the budget cannot hold, is
moved to an unnamed temporary file, so a large message costs its size in
memory only once, when it is read back whole to be stored.  If the budget
cannot hold even that, the message is refused with 452 (the sender tries
again later) instead of growing the process without bound.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO

# Data beyond this many bytes goes to the spool.
SPOOL_AFTER = 1024 * 1024
# Room left at the start of a spool file for the Received: header, so the
# whole message is read back with one read into one buffer.
HEADER_ROOM = 2048


class MemoryBudget:
    """
    The bytes of message data all sessions may hold in memory at once.

    @ivar limit: C{SMTP_MEMORY_BUDGET}.
    @ivar held: bytes held now.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reserve(self, size: int) -> bool:
        """Count C{size} more bytes as held, if they fit; say whether they did."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def hold(self, size: int) -> None:
        """Count C{size} more bytes as held, whether or not they fit."""
        self.held += size

    def release(self, size: int) -> None:
        """Count C{size} bytes as no longer held."""
        self.held -= size

    @property
    def exhausted(self) -> bool:
        """Whether nothing more fits."""
        return self.held >= self.limit


class MessageBuffer:
    """
    One message's data as it arrives, in memory or spooled to a file.

    @ivar size: bytes added so far.
    """

    def __init__(self, budget: MemoryBudget, spool_directory: str | None) -> None:
        """
        @param spool_directory: where spool files go (C{None}: the system's
            temporary directory).
        """
        self._budget = budget
        self._directory = spool_directory
        self._blocks: list[bytes] = []
        self._held = 0
        self._file: IO[bytes] | None = None
        self.size = 0

    @property
    def spooled(self) -> bool:
        """Whether the data is in a file."""
        return self._file is not None

    def add(self, block: bytes) -> None:
        """Append C{block} (in memory if it fits, else to the spool file)."""
        self.size += len(block)
        if self._file is None:
            if self.size <= SPOOL_AFTER and self._budget.reserve(len(block)):
                self._blocks.append(block)
                self._held += len(block)
                return
            self._spool()
        assert self._file is not None
        self._file.write(block)

    def _spool(self) -> None:
        # Unnamed where the system allows: the file disappears with the
        # process, even after a crash.  It lives until take or discard.
        self._file = tempfile.TemporaryFile(  # noqa: SIM115
            dir=self._directory, prefix="tempmail-spool-"
        )
        self._file.write(bytes(HEADER_ROOM))
        self._file.writelines(self._blocks)
        self._blocks = []
        self.release()

    def take(self, header: bytes) -> bytes | None:
        """
        The whole message, C{header} first, held against the budget until
        L{release}; C{None} (and nothing held) if the budget cannot hold it.
        """
        if self._file is None:
            # Already counted, apart from the header (a few hundred bytes).
            self._budget.hold(len(header))
            self._held += len(header)
            raw = b"".join([header, *self._blocks])
            self._blocks = []
            return raw
        wanted = len(header) + self.size
        if not self._budget.reserve(wanted):
            self.discard()
            return None
        self._held = wanted
        spool, self._file = self._file, None
        with spool:
            if len(header) <= HEADER_ROOM:
                offset = HEADER_ROOM - len(header)
                spool.seek(offset)
                spool.write(header)
                spool.flush()
                return os.pread(spool.fileno(), wanted, offset)
            spool.seek(HEADER_ROOM)
            return header + spool.read()

    def release(self) -> None:
        """Stop counting what this message held."""
        self._budget.release(self._held)
        self._held = 0

    def discard(self) -> None:
        """Drop the data (and its spool file) and stop counting it."""
        self._blocks = []
        if self._file is not None:
            self._file.close()
            self._file = None
        self.release()
