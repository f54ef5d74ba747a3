"""
Real IMAP clients from Debian against the real daemon: fetchmail, mbsync
(isync) and curl each download a mailbox of 200 messages (plain, 8-bit and
with attachments), byte for byte; mbsync syncs incrementally and follows a
deletion made over REST.

The mailbox is seeded with APPEND, so what the server stores is exactly
what the test sent.  Maildir (mbsync) and MDA delivery (fetchmail) write
lines ending in LF, so those copies are compared with CRLF turned to LF;
fetchmail adds a Received header and mbsync an X-TUID header, which are
left out of the comparison.
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon, DaemonFactory

USER = "bob@tempmail.local"
COUNT = 200

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("fetchmail", "mbsync", "curl")),
    reason="scripts/test installs fetchmail, isync and curl",
)


def message(n: int) -> bytes:
    """
    Message C{n}: every third is 8-bit, every third has a binary
    attachment, the rest are plain ASCII.
    """
    head = f"From: sender{n}@example.test\r\nTo: {USER}\r\nX-Seq: {n}\r\n".encode()
    if n % 3 == 1:
        return (
            head
            + (
                "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                f"Grüße aus Köln, Nachricht {n} — ünïcödé\r\n"
            ).encode()
        )
    if n % 3 == 2:
        blob = bytes(range(256)).hex().encode()
        return head + (
            b"Subject: attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
            b'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="data.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + b"\r\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
            + b"\r\n--b--\r\n"
        )
    return head + f"Subject: plain {n}\r\n\r\nplain body {n}\r\n".encode()


def seq_of(raw: bytes) -> int:
    header = raw.split(b"X-Seq: ", 1)[1]
    return int(header.split(b"\n", 1)[0].strip())


@pytest.fixture
def seeded(daemon: DaemonFactory) -> Iterator[Daemon]:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    try:
        client.login(USER, "anything")
        for n in range(COUNT):
            typ, _ = client.append("INBOX", "", None, message(n))
            assert typ == "OK"
    finally:
        client.logout()
    yield server


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})},
        capture_output=True,
        timeout=120,
        check=False,
        text=True,
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_curl_downloads_every_message_exactly(seeded: Daemon, tmp_path: Path) -> None:
    url = f"imap://127.0.0.1:{seeded.ports['imap']}/INBOX;UID=[1-{COUNT}]"
    run(["curl", "-s", "-S", "--user", f"{USER}:anything", url, "-o", "uid_#1"], tmp_path)
    for n in range(COUNT):
        assert (tmp_path / f"uid_{n + 1}").read_bytes() == message(n)


def test_fetchmail_downloads_every_message_exactly(seeded: Daemon, tmp_path: Path) -> None:
    inbox = tmp_path / "delivered"
    inbox.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"set no syslog\n"
        f"poll 127.0.0.1 service {seeded.ports['imap']} protocol IMAP auth password\n"
        f'  user "{USER}" there with password "anything" is root here\n'
        f"  keep fetchall sslproto '' no idle\n"
        f"  mda \"/bin/sh -c 'cat > {inbox}/msg.$$'\"\n"
    )
    rc.chmod(0o600)
    run(
        [
            "fetchmail",
            "-f",
            str(rc),
            "--pidfile",
            str(tmp_path / "pid"),
            "-i",
            str(tmp_path / "ids"),
        ],
        tmp_path,
        {"FETCHMAILHOME": str(tmp_path)},
    )
    delivered = {}
    for path in inbox.iterdir():
        raw = path.read_bytes()
        # fetchmail puts its own Received header first.
        assert raw.startswith(b"Received: from 127.0.0.1")
        delivered[seq_of(raw)] = raw[raw.index(b"\nFrom: ") + 1 :]
    assert sorted(delivered) == list(range(COUNT))
    for n, raw in delivered.items():
        assert raw == message(n).replace(b"\r\n", b"\n")


def mbsync_config(server: Daemon, root: Path, sync: str = "Pull") -> Path:
    (root / "mail").mkdir(exist_ok=True)
    config = root / "mbsyncrc"
    config.write_text(
        f"IMAPAccount tm\nHost 127.0.0.1\nPort {server.ports['imap']}\nUser {USER}\n"
        "Pass anything\nSSLType None\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount tm\n\n"
        f"MaildirStore local\nPath {root}/mail/\nInbox {root}/mail/INBOX\n\n"
        f"Channel tm\nFar :remote:\nNear :local:\nPatterns INBOX\nSync {sync}\n"
        "Create Near\nExpunge Near\nSyncState *\n"
    )
    return config


def local_files(root: Path) -> set[str]:
    return {path.name for path in (root / "mail" / "INBOX").glob("*/*")}


def local_messages(root: Path) -> dict[int, bytes]:
    """
    The messages mbsync keeps, without the X-TUID header it adds to each
    for its own bookkeeping.
    """
    found = {}
    for folder in ("new", "cur"):
        for path in (root / "mail" / "INBOX" / folder).iterdir():
            raw = re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", path.read_bytes())
            found[seq_of(raw)] = raw
    return found


def test_mbsync_syncs_exactly_incrementally_and_follows_deletions(
    seeded: Daemon, tmp_path: Path
) -> None:
    config = mbsync_config(seeded, tmp_path)
    sync = ["mbsync", "-c", str(config), "-V", "tm"]
    run(sync, tmp_path)
    local = local_messages(tmp_path)
    assert sorted(local) == list(range(COUNT))
    for n, raw in local.items():
        assert raw == message(n).replace(b"\r\n", b"\n")

    files = local_files(tmp_path)
    run(sync, tmp_path)
    # Nothing downloaded again: the same files, no new ones.
    assert local_files(tmp_path) == files

    listing = seeded.get_json(f"/api/emails/{USER}?limit=500")
    victim = next(e for e in listing["emails"] if e["subject"] == "plain 3")
    assert seeded.http("DELETE", f"/api/email/{victim['id']}").status == 200
    run(sync, tmp_path)
    after = local_messages(tmp_path)
    assert sorted(after) == [n for n in range(COUNT) if n != 3]
    assert len(local_files(tmp_path)) == COUNT - 1


def test_mbsync_pushes_flags_and_new_mail_back(seeded: Daemon, tmp_path: Path) -> None:
    sync = ["mbsync", "-c", str(mbsync_config(seeded, tmp_path)), "tm"]
    run(sync, tmp_path)
    inbox = tmp_path / "mail" / "INBOX"
    # Mark message 3 seen and flagged locally; write a new message locally.
    (path,) = [p for p in inbox.glob("*/*") if seq_of(p.read_bytes()) == 3]
    path.rename(inbox / "cur" / (path.name.split(":")[0] + ":2,FS"))
    (inbox / "new" / "1.local.tempmail").write_bytes(
        b"Subject: saved locally\nX-Seq: 999\n\nmine\n"
    )
    run(["mbsync", "-c", str(mbsync_config(seeded, tmp_path, "All")), "tm"], tmp_path)
    emails = seeded.get_json(f"/api/emails/{USER}?limit=500")["emails"]
    assert len(emails) == COUNT + 1
    assert [e["seen"] for e in emails if e["subject"] == "plain 3"] == [True]
    assert [e["subject"] for e in emails if e["subject"] == "saved locally"] == ["saved locally"]
    client = imaplib.IMAP4("127.0.0.1", seeded.ports["imap"], timeout=30)
    try:
        client.login(USER, "anything")
        client.select("INBOX")
        assert client.search(None, "FLAGGED") == ("OK", [b"4"])
        _, fetched = client.fetch(str(COUNT + 1), "(BODY.PEEK[TEXT])")
        assert isinstance(fetched[0], tuple) and fetched[0][1] == b"mine\r\n"
    finally:
        client.logout()
