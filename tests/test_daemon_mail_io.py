"""
End to end: mail in with C{tempmail-sendmail} and C{tempmail-import}, and
out with C{GET /api/emails/{address}/export}, against the real daemon.
"""

from __future__ import annotations

import mailbox
import subprocess
import sys
from pathlib import Path

import pytest

from tempmail import mbox
from tests.daemon import Daemon, DaemonFactory

pytestmark = pytest.mark.daemon

PASSWORD = "s3cret-pass"


def run_script(
    daemon: DaemonFactory, module: str, *args: str, stdin: bytes = b"", **settings: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        env=daemon.environment(**settings),
        cwd=daemon.workdir,
        timeout=60,
    )


def sendmail(
    daemon: DaemonFactory, server: Daemon, *args: str, stdin: bytes
) -> subprocess.CompletedProcess[bytes]:
    return run_script(
        daemon,
        "tempmail.cli.sendmail",
        *args,
        stdin=stdin,
        SMTP_PORT=str(server.smtp_port),
    )


def raw_messages(server: Daemon, address: str) -> list[bytes]:
    listing = server.get_json(f"/api/emails/{address}")
    return [server.http("GET", f"/api/email/{e['id']}/raw").body for e in listing["emails"]]


def test_sendmail_reads_recipients_from_headers_and_hides_bcc(daemon: DaemonFactory) -> None:
    server = daemon.start()
    message = (
        b"From: app@example.com\nTo: Bob <bob@example.com>\nCc: carol@example.com\n"
        b"Bcc: dave@example.com,\n  erin@example.com\nSubject: sent by sendmail\n\n"
        b"first line\n.\nafter a lone dot\n"
    )
    done = sendmail(daemon, server, "-t", "-i", "-f", "app@example.com", "frank", stdin=message)
    assert done.returncode == 0, done.stderr
    for address in (
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
        "frank",
    ):
        (raw,) = raw_messages(server, address)
        assert b"Bcc" not in raw
        assert b"Subject: sent by sendmail\r\n" in raw
        # -i: the lone dot is part of the message.
        assert raw.endswith(b"first line\r\n.\r\nafter a lone dot\r\n")
    email = server.get_json("/api/emails/bob@example.com?full=true")["emails"][0]
    assert email["envelope_from"] == "app@example.com"


def test_sendmail_without_i_stops_at_a_lone_dot_and_reports_failures(
    daemon: DaemonFactory,
) -> None:
    server = daemon.start(DOMAIN_NAME="example.com", REJECT_NON_DOMAIN_EMAILS="true")
    done = sendmail(
        daemon, server, "-oi", "x@example.com", stdin=b"Subject: a\n\nkept\n.\nkept too\n"
    )
    assert done.returncode == 0
    assert raw_messages(server, "x@example.com")[0].endswith(b"kept\r\n.\r\nkept too\r\n")
    done = sendmail(daemon, server, "y@example.com", stdin=b"Subject: b\n\nkept\n.\ndropped\n")
    assert done.returncode == 0
    assert raw_messages(server, "y@example.com")[0].endswith(b"\r\nkept\r\n")
    assert sendmail(daemon, server, stdin=b"Subject: c\n\n").returncode == 64
    refused = sendmail(daemon, server, "z@elsewhere.test", stdin=b"Subject: d\n\n")
    assert refused.returncode == 65
    assert b"z@elsewhere.test: 550" in refused.stderr


def test_export_streams_an_mbox_that_imports_byte_for_byte(
    daemon: DaemonFactory, tmp_path: Path
) -> None:
    server = daemon.start()
    bodies = [
        b"Subject: one\r\n\r\nFrom the start of a line\r\n>From quoted already\r\n",
        b"Subject: two\r\nX-Long: " + b"x" * 5000 + b"\r\n\r\nno final line end",
        b"Subject: three\r\n\r\n" + b"line\r\n" * 20000,
    ]
    for body in bodies:
        done = sendmail(daemon, server, "-i", "-f", "a@example.com", "source", stdin=body)
        assert done.returncode == 0, done.stderr
    stored = raw_messages(server, "source")
    exported = server.http("GET", "/api/emails/source/export")
    assert exported.status == 200
    assert exported.headers["Content-Type"] == "application/mbox"
    assert 'filename="source@tempmail.local.mbox"' in exported.headers["Content-Disposition"]
    path = tmp_path / "export.mbox"
    path.write_bytes(exported.body)
    # Python's own mbox reader finds every message; ours undoes the quoting.
    box = mailbox.mbox(path, create=False)
    assert [mbox.unquote(box.get_bytes(key)) for key in box.iterkeys()] == stored
    imported = run_script(daemon, "tempmail.cli.importer", "copy", str(path))
    assert imported.returncode == 0, imported.stderr
    assert b"3 messages stored" in imported.stderr
    assert sorted(raw_messages(server, "copy")) == sorted(stored)


def test_export_is_locked_like_the_mailbox(daemon: DaemonFactory) -> None:
    server = daemon.start()
    assert sendmail(daemon, server, "locked", stdin=b"Subject: s\n\nsecret\n").returncode == 0
    claimed = server.send_json("POST", "/api/mailbox/locked/claim", {"password": PASSWORD})
    token = claimed.json()["token"]
    refused = server.http("GET", "/api/emails/locked/export")
    assert refused.status == 401
    assert "error" in refused.json()
    opened = server.http(
        "GET", "/api/emails/locked/export", headers={"Authorization": f"Bearer {token}"}
    )
    assert opened.status == 200
    assert b"secret" in opened.body


def test_import_reads_a_maildir_and_refuses_what_is_not_mail(
    daemon: DaemonFactory, tmp_path: Path
) -> None:
    server = daemon.start()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    originals = [b"Subject: md %d\r\n\r\nbody %d\r\n" % (n, n) for n in range(3)]
    for original in originals:
        maildir.add(original)
    imported = run_script(daemon, "tempmail.cli.importer", "md", str(tmp_path / "Maildir"))
    assert imported.returncode == 0, imported.stderr
    assert sorted(raw_messages(server, "md")) == sorted(originals)
    (tmp_path / "notes.txt").write_text("hello\n")
    refused = run_script(daemon, "tempmail.cli.importer", "md", str(tmp_path / "notes.txt"))
    assert refused.returncode == 1
    assert b"is not an mbox file" in refused.stderr
    missing = run_script(daemon, "tempmail.cli.importer", "md", str(tmp_path / "nothing"))
    assert missing.returncode == 1
    assert b"does not exist" in missing.stderr
