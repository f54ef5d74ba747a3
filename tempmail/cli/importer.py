"""
C{tempmail-import}: read an mbox file or a Maildir into one mailbox.

    tempmail-import bob@example.com ~/old-mail.mbox
    tempmail-import --database-url sqlite:/var/lib/tempmail/emails.db bob ~/Maildir

Each message is stored with exactly the bytes the source holds (an mbox is
read as mboxrd: C{>From } quoting is undone, as L{tempmail.mbox} writes it),
through the same delivery path as SMTP, so listings, IMAP, webhooks and
retention treat it as mail that arrived now.  It writes to the database
named by the daemon's own settings (C{DATABASE_URL} from the environment or
C{./.env}, or C{--database-url}); the daemon may be running.  A progress bar
shows on a terminal.
"""

from __future__ import annotations

import argparse
import mailbox
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import react

from tempmail import mbox
from tempmail.config import ConfigError, Settings, load_from_process
from tempmail.interfaces import StorageUnavailable
from tempmail.models import Envelope, ParsedMessage
from tempmail.parsing import parse_message
from tempmail.smtp.delivery import MailDelivery, RecipientRefused
from tempmail.storage import SchemaError, open_store


def read_source(path: Path) -> tuple[int, Iterator[bytes]]:
    """
    How many messages C{path} holds, and their bytes in the source's order.

    @raise ValueError: if C{path} is neither a Maildir nor an mbox file.
    """
    if path.is_dir():
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise ValueError(f"{path} is a directory but not a Maildir (no cur/ and new/)")
        maildir = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(maildir.keys())
        return len(keys), (maildir.get_bytes(key) for key in keys)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    with path.open("rb") as f:
        if f.read(5) not in (b"From ", b""):
            raise ValueError(f"{path} is not an mbox file (it must start with 'From ')")
    box = mailbox.mbox(path, factory=None, create=False)
    keys = list(box.keys())
    return len(keys), (mbox.unquote(box.get_bytes(key)) for key in keys)


def _parse_now(raw: bytes) -> Deferred[ParsedMessage]:
    return succeed(parse_message(raw))


async def import_messages(
    reactor: Any, settings: Settings, address: str, count: int, messages: Iterator[bytes]
) -> int:
    """
    Store C{messages} in C{address}; return how many were stored.
    """
    store = open_store(settings.database_url, reactor)
    try:
        delivery = MailDelivery(store, settings.domain_name, parse=_parse_now)
        mailbox_address = delivery.accept_recipient(address)
        stored = 0
        with tqdm(total=count, unit="msg", desc=mailbox_address, disable=None) as progress:
            for raw in messages:
                envelope = Envelope("", (mailbox_address,), datetime.now(UTC))
                await delivery.deliver(envelope, raw)
                stored += 1
                progress.update()
        return stored
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    The C{tempmail-import} console script; exits 0 once every message is
    stored, 1 with one line on standard error otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="tempmail-import",
        description="Import an mbox file or a Maildir into a tempmail mailbox, byte for byte.",
    )
    parser.add_argument("address", help="the mailbox, e.g. bob@example.com (or bob)")
    parser.add_argument("source", type=Path, help="an mbox file or a Maildir directory")
    parser.add_argument("--database-url", help="overrides DATABASE_URL")
    options = parser.parse_args(argv)
    try:
        settings = load_from_process({"DATABASE_URL": options.database_url})
        count, messages = read_source(options.source)
    except (ConfigError, ValueError) as e:
        raise SystemExit(f"tempmail-import: {e}") from None

    async def run(reactor: Any) -> None:
        try:
            stored = await import_messages(reactor, settings, options.address, count, messages)
        except RecipientRefused as e:
            raise SystemExit(f"tempmail-import: {e.text}") from None
        except (SchemaError, StorageUnavailable) as e:
            raise SystemExit(f"tempmail-import: {settings.database_url}: {e}") from None
        print(f"tempmail-import: {stored} messages stored in {options.address}", file=sys.stderr)

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
