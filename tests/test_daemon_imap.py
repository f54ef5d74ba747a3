"""
IMAP end to end: imaplib against the real daemon, with mail sent over SMTP.
"""

from __future__ import annotations

import imaplib
import smtplib
import subprocess
from base64 import b64encode

from tests.daemon import DaemonFactory

RAW = b"From: a@sender.test\r\nTo: bob@tempmail.local\r\nSubject: over SMTP\r\n\r\nhello\r\n"


def test_imaplib_logs_in_selects_fetches_stores_and_expunges(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        assert client.login("bob", "anything")[0] == "OK"
        status, data = client.select("INBOX")
        assert (status, data) == ("OK", [b"1"])
        assert client.response("UIDNEXT")[1] == [b"2"]
        _, fetched = client.fetch("1", "(BODY.PEEK[] FLAGS)")
        # The stored bytes: the daemon's Received line, then the message.
        part = fetched[0]
        assert isinstance(part, tuple)
        assert part[1].startswith(b"Received: ") and part[1].endswith(RAW)
        client.store("1", "+FLAGS", "(\\Seen \\Deleted)")
        assert client.expunge()[1] == [b"1"]
        assert client.select("INBOX")[1] == [b"0"]
    finally:
        client.logout()


def test_authenticate_plain_with_initial_response(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0")
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        typ, _ = client._simple_command("AUTHENTICATE", "PLAIN", b64encode(b"\0bob\0pw").decode())
        assert typ == "OK"
        # imaplib only tracks its own login methods' state.
        client.state = "AUTH"
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.logout()


def test_curl_reads_a_message_by_uid(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
    url = f"imap://127.0.0.1:{server.ports['imap']}/INBOX;UID=1"
    done = subprocess.run(
        ["curl", "-s", "--user", "bob@tempmail.local:anything", url],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(RAW)


def test_idle_hears_an_smtp_arrival(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    try:
        client.login("bob", "anything")
        client.select("INBOX")
        # imaplib has no idle() before Python 3.14: speak it by hand.
        client.send(b"i1 IDLE\r\n")
        assert client.readline().startswith(b"+")
        with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
            smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
        assert client.readline() == b"* 1 EXISTS\r\n"
        # The only selected session takes the arrival as \\Recent.
        assert client.readline() == b"* 1 RECENT\r\n"
        client.send(b"DONE\r\n")
        assert client.readline() == b"i1 OK IDLE terminated\r\n"
    finally:
        client.logout()


def test_search_copy_append_and_seen_reaches_rest(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    try:
        client.login("bob", "anything")
        client.select("INBOX")
        typ, data = client.append("INBOX", "(\\Flagged)", None, b"Subject: saved\r\n\r\nmine\r\n")
        assert typ == "OK" and b"[APPENDUID " in data[0]
        assert client.uid("SEARCH", "SUBJECT", '"over SMTP"') == ("OK", [b"1"])
        assert client.search(None, "FLAGGED", "BODY", "mine") == ("OK", [b"2"])
        assert client.search("UTF-8", "NOT", "FROM", "a@sender") == ("OK", [b"2"])
        # imaplib's uid() answers with FETCH responses; the tagged line holds COPYUID.
        typ, data = client._simple_command("UID", "COPY", "1", "INBOX")
        assert typ == "OK" and data[0].endswith(b" 1 3] COPY completed")
        # Reading the body sets \Seen, which REST reports as seen.
        client.fetch("1", "(BODY[TEXT])")
        emails = server.get_json("/api/emails/bob@tempmail.local")["emails"]
        assert len(emails) == 3
        assert [e["seen"] for e in emails if e["subject"] == "saved"] == [False]
        assert sorted(e["seen"] for e in emails if e["subject"] == "over SMTP") == [False, True]
    finally:
        client.logout()


def test_curl_searches_and_asks_status(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW.replace(b"SMTP", b"else"))
    base = f"imap://127.0.0.1:{server.ports['imap']}/"

    def curl(*args: str) -> bytes:
        done = subprocess.run(
            ["curl", "-s", "--user", "bob@tempmail.local:anything", *args],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert curl(base + "INBOX?SUBJECT%20else") == b"* SEARCH 2\r\n"
    status = curl(base, "-X", "STATUS INBOX (MESSAGES UNSEEN)")
    assert status == b"* STATUS INBOX (MESSAGES 2 UNSEEN 2)\r\n"


def test_a_claimed_mailbox_over_imap(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    password = "a long enough password"
    claimed = server.send_json(
        "POST", "/api/mailbox/bob@tempmail.local/claim", {"password": password}
    )
    assert claimed.status == 200, claimed.body
    token = claimed.json()["token"]
    port = server.ports["imap"]
    for secret in (password, token):
        client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        assert client.login("bob", secret)[0] == "OK"
        client.logout()
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        answers = []
        for _ in range(8):
            try:
                client.login("bob", "wrong")
            except imaplib.IMAP4.error as refused:
                answers.append(str(refused))
        assert "[AUTHENTICATIONFAILED]" in answers[0]
        assert "[UNAVAILABLE]" in answers[-1]
        # The REST API counts the same failures.
        assert server.http("GET", "/api/emails/bob@tempmail.local?password=wrong").status == 429
    finally:
        client.logout()


def test_idle_hears_a_rest_deletion(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="tempmail.local")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
        smtp.sendmail("a@sender.test", ["bob@tempmail.local"], RAW)
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    try:
        client.login("bob", "anything")
        client.select("INBOX")
        client.send(b"i1 IDLE\r\n")
        assert client.readline().startswith(b"+")
        oldest = server.get_json("/api/emails/bob@tempmail.local")["emails"][-1]["id"]
        assert server.http("DELETE", f"/api/email/{oldest}").status == 200
        assert client.readline() == b"* 1 EXPUNGE\r\n"
        client.send(b"DONE\r\n")
        assert client.readline() == b"i1 OK IDLE terminated\r\n"
    finally:
        client.logout()
