"""
C{tempmail-migrate}: a SQLite database copied into PostgreSQL, byte for
byte, and a second run that copies nothing twice.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tempmail.flags import FlagMode
from tempmail.models import TokenGrant
from tempmail.storage import StoreLocation, open_store
from tempmail.storage.migrate import main
from tests.support import T0, incoming, open_grant

LATER = T0 + timedelta(days=1)


@pytest_twisted.ensureDeferred
async def test_everything_is_copied_once(
    tmp_path: Path, postgres_url: str, store_clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "emails.db"
    source = open_store(StoreLocation("sqlite", str(path)), store_clock)
    hook = await source.create_webhook(
        open_grant("hooked@x.test"), "https://a.test/", ("arrival",), "s", 20
    )
    assert hook is not None
    copies = await source.deliver(incoming("hooked@x.test", "kept@x.test", attachments=1))
    await source.deliver(incoming("kept@x.test"))
    await source.store_flags(open_grant("kept@x.test"), [2], frozenset({"\\Flagged"}), FlagMode.ADD)
    assert await source.claim_mailbox("kept@x.test", "hash", TokenGrant("digest", LATER))
    originals = {c.id: await source.get_raw(c.id) for c in copies}
    await source.close()

    assert main(["--from", f"sqlite:{path}", "--to", postgres_url]) == 0
    assert "2 mailboxes, 2 messages, 3 copies, 1 tokens, 1 webhooks, 1 deliveries" in (
        capsys.readouterr().out
    )
    # A message that arrives later is copied by the next run; nothing else is.
    source = open_store(StoreLocation("sqlite", str(path)), store_clock)
    (late,) = await source.deliver(incoming("kept@x.test", subject="late"))
    await source.close()
    assert main(["--from", f"sqlite:{path}", "--to", postgres_url]) == 0
    assert "0 mailboxes, 1 messages, 1 copies, 0 tokens, 0 webhooks, 0 deliveries" in (
        capsys.readouterr().out
    )

    target = open_store(StoreLocation("postgresql", postgres_url), store_clock)
    try:
        for id, raw in originals.items():
            assert await target.get_raw(id) == raw
        assert await target.list_uids("kept@x.test") == [1, 2, 3]
        (flagged,) = await target.messages_by_uid("kept@x.test", 2, 2)
        assert flagged.flags == ("\\Flagged",)
        assert (await target.messages_by_uid("kept@x.test", 3, 3))[0].id == late.id
        state = await target.lock_state("kept@x.test")
        assert state.password_hash == "hash"
        assert await target.token_mailbox("digest", T0) == "kept@x.test"
        assert [w.id for w in await target.list_webhooks("hooked@x.test")] == [hook.id]
        due = await target.claim_deliveries("me", T0, LATER, 10, 10)
        assert [d.webhook_id for d in due] == [hook.id]
        (message,) = await target.get_messages([copies[0].id])
        assert message.attachments[0].filename == "f0.bin"
    finally:
        await target.close()


def test_bad_arguments_and_unreachable_targets_are_one_line(tmp_path: Path) -> None:
    script = [sys.executable, "-m", "tempmail.storage.migrate"]
    wrong = subprocess.run(
        [*script, "--from", "postgresql://h/db", "--to", "postgresql://h/db"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "expected a sqlite URL" in wrong.stderr
    down = subprocess.run(
        [*script, "--from", f"sqlite:{tmp_path / 'x.db'}", "--to", "postgresql://u@127.0.0.1:1/d"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 1
    assert down.stderr.startswith("tempmail-migrate: ") and down.stderr.count("\n") == 1
