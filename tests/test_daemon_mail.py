"""
End to end: mail in over real SMTP (smtplib, raw sockets), out over the
real REST API, against C{twistd -n tempmail} in a subprocess.
"""

from __future__ import annotations

import smtplib
import socket
import sqlite3
from email.message import EmailMessage

import pytest

from tests.daemon import Daemon, DaemonFactory

pytestmark = pytest.mark.daemon


def send(daemon: Daemon, sender: str, recipients: list[str], data: bytes | str) -> dict:
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        return client.sendmail(sender, recipients, data)


def listing(daemon: Daemon, address: str) -> dict:
    return daemon.get_json(f"/api/emails/{address}")


def test_each_envelope_recipient_gets_its_own_copy(daemon: DaemonFactory) -> None:
    server = daemon.start()
    message = EmailMessage()
    message["From"] = "Alice <alice@sender.test>"
    message["To"] = "someone-else@example.com"
    message["Subject"] = "three ways"
    message.set_content("hello all")

    refused = send(
        server,
        "alice@sender.test",
        ["one@example.com", "two@example.com", "three@other.test"],
        message.as_bytes(),
    )

    assert refused == {}
    ids = set()
    for address in ["one@example.com", "two@example.com", "three@other.test"]:
        page = listing(server, address)
        assert page["total"] == 1
        (entry,) = page["emails"]
        assert entry["to"] == address
        assert entry["from"] == "alice@sender.test"
        assert entry["subject"] == "three ways"
        assert entry["preview"] == "hello all"
        ids.add(entry["id"])
    assert len(ids) == 3
    # The To: header names a mailbox that got nothing: filing is by envelope.
    assert listing(server, "someone-else@example.com")["total"] == 0


def test_lookup_ignores_case_and_bare_names_use_the_domain(daemon: DaemonFactory) -> None:
    server = daemon.start(DOMAIN_NAME="Mail.Example.COM")
    send(server, "a@b.test", ["MiXeD@mail.example.com"], b"Subject: case\r\n\r\nbody\r\n")

    for variant in ["mixed@mail.example.com", "MIXED@MAIL.EXAMPLE.COM", "Mixed", "%20mixed%20"]:
        assert listing(server, variant)["total"] == 1, variant


def test_message_over_size_is_refused_at_mail_from_and_at_data(daemon: DaemonFactory) -> None:
    server = daemon.start(MAX_MESSAGE_SIZE="10K")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("size")
        assert int(client.esmtp_features["size"]) == 10 * 1024
        code, text = client.mail("a@b.test", ["SIZE=20000"])
        assert code == 552
        assert text.startswith(b"5.3.4")

        client.rset()
        # No SIZE= declared: the limit is enforced while reading DATA.
        assert client.mail("a@b.test")[0] == 250
        assert client.rcpt("big@example.com")[0] == 250
        code, text = client.data(
            b"Subject: big\r\n\r\n" + b"x" * 100 + (b"\r\n" + b"y" * 100) * 200
        )
        assert code == 552
        assert client.noop()[0] == 250
    assert listing(server, "big@example.com")["total"] == 0


def test_recipients_past_the_limit_get_452(daemon: DaemonFactory) -> None:
    server = daemon.start(MAX_RECIPIENTS="3")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail("a@b.test")
        codes = [client.rcpt(f"r{i}@example.com")[0] for i in range(5)]
        assert codes == [250, 250, 250, 452, 452]
        assert client.data(b"Subject: limited\r\n\r\nhi\r\n")[0] == 250
    assert [listing(server, f"r{i}@example.com")["total"] for i in range(5)] == [1, 1, 1, 0, 0]


def _read_replies(sock: socket.socket, count: int) -> list[bytes]:
    """
    Read C{count} complete (possibly multi-line) SMTP replies.
    """
    data = b""
    replies: list[bytes] = []
    while len(replies) < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {replies!r}"
        data += chunk
        while b"\r\n" in data and len(replies) < count:
            line, data = data.split(b"\r\n", 1)
            if line[3:4] == b" ":
                replies.append(line)
    return replies


def test_pipelined_transactions_are_answered_in_order(daemon: DaemonFactory) -> None:
    server = daemon.start()
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=30) as sock:
        assert _read_replies(sock, 1)[0].startswith(b"220 ")
        sock.sendall(b"EHLO pipeliner\r\n")
        (ehlo,) = _read_replies(sock, 1)
        assert ehlo.startswith(b"250 ")
        # Two whole transactions and QUIT in one write, as RFC 2920 allows;
        # the second must not be read before the first is committed.
        burst = b"".join(
            b"MAIL FROM:<p@sender.test>\r\nRCPT TO:<pipe%d@example.com>\r\nDATA\r\n"
            b"Subject: piped %d\r\n\r\nbody\r\n.\r\n" % (n, n)
            for n in (1, 2)
        )
        sock.sendall(burst + b"QUIT\r\n")
        codes = [reply[:3] for reply in _read_replies(sock, 9)]
    assert codes == [b"250", b"250", b"354", b"250"] * 2 + [b"221"]
    assert listing(server, "pipe1@example.com")["emails"][0]["subject"] == "piped 1"
    assert listing(server, "pipe2@example.com")["emails"][0]["subject"] == "piped 2"


def test_raw_download_is_byte_exact_for_8bit_mail(daemon: DaemonFactory) -> None:
    server = daemon.start()
    body = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@sender.test>\r\n"
        b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Gr\xfc\xdfe aus K\xf6ln \xff\x80\r\n"
        b".leading dot survives\r\n"
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("8bitmime")
        client.sendmail(
            "j@sender.test", ["eight@example.com"], body, mail_options=["BODY=8BITMIME"]
        )

    (entry,) = listing(server, "eight@example.com")["emails"]
    raw = server.http("GET", f"/api/email/{entry['id']}/raw")
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "message/rfc822"
    # Our Received: header comes first; everything after it is as sent.
    assert raw.body.startswith(b"Received: from ")
    assert raw.body.endswith(body)
    message = server.get_json(f"/api/email/{entry['id']}")
    assert message["subject"] == "grüße"
    assert message["size"] == len(raw.body)


def large_message(size: int) -> tuple[bytes, bytes]:
    """
    A message with a binary attachment of C{size} bytes, CRLF line endings;
    and the attachment.
    """
    attachment = bytes(range(256)) * (size // 256)
    message = EmailMessage()
    message["From"] = "big@sender.test"
    message["To"] = "big@example.com"
    message["Subject"] = "large"
    message.set_content("a large one\n.a line with a dot\n")
    message.add_attachment(attachment, maintype="application", subtype="octet-stream")
    return message.as_bytes().replace(b"\n", b"\r\n"), attachment


def test_large_messages_are_spooled_and_held_within_the_memory_budget(
    daemon: DaemonFactory,
) -> None:
    # Over 1 MiB the data goes to a spool file beside the database and the
    # row is written in pieces; neither may change a byte.
    server = daemon.start(SMTP_MEMORY_BUDGET="6M")
    data, attachment = large_message(2_500_000)
    assert 3_000_000 < len(data) < 6_000_000
    send(server, "big@sender.test", ["big@example.com"], data)
    (entry,) = listing(server, "big@example.com")["emails"]
    raw = server.http("GET", f"/api/email/{entry['id']}/raw")
    assert raw.body.startswith(b"Received: from ")
    assert raw.body.endswith(data)
    full = server.get_json(f"/api/email/{entry['id']}")
    assert full["text"] == "a large one\n.a line with a dot\n"
    assert server.http("GET", full["attachments"][0]["url"]).body == attachment

    # A message the budget cannot hold is refused with 452 (try again
    # later), and nothing of it is kept.
    too_big, _ = large_message(5_000_000)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, "big@sender.test", ["big@example.com"], too_big)
    assert refused.value.args == (452, b"4.3.1 Insufficient system storage; try again later")
    assert listing(server, "big@example.com")["total"] == 1
    assert [p.name for p in server.workdir.iterdir() if "spool" in p.name] == []


def test_attachments_are_listed_and_downloadable(daemon: DaemonFactory) -> None:
    server = daemon.start()
    message = EmailMessage()
    message["From"] = "a@sender.test"
    message["To"] = "files@example.com"
    message["Subject"] = "with files"
    message.set_content("see attached")
    message.add_alternative("<p>see <b>attached</b></p>", subtype="html")
    png = bytes(range(256)) * 4
    message.add_attachment(png, maintype="image", subtype="png", filename="pixel ü.png")
    message.add_attachment(b"a,b\r\n1,2\r\n", maintype="text", subtype="csv", filename="t.csv")
    send(server, "a@sender.test", ["files@example.com"], message.as_bytes())

    (entry,) = listing(server, "files@example.com")["emails"]
    assert entry["attachments"] == 2
    full = server.get_json(f"/api/email/{entry['id']}")
    assert full["text"].strip() == "see attached"
    assert full["html"].strip() == "<p>see <b>attached</b></p>"
    assert full["body"] == full["html"]
    names = [(a["filename"], a["content_type"], a["size"]) for a in full["attachments"]]
    assert names == [("pixel ü.png", "image/png", len(png)), ("t.csv", "text/csv", 10)]

    download = server.http("GET", full["attachments"][0]["url"])
    assert download.status == 200
    assert download.body == png
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''pixel%20%C3%BC.png" in download.headers["Content-Disposition"]
    assert "sandbox" in download.headers["Content-Security-Policy"]


def test_garbage_mime_is_stored_anyway(daemon: DaemonFactory) -> None:
    server = daemon.start()
    garbage = (
        b"Content-Type: multipart/mixed; boundary=\r\n"
        b"Subject: \xff\xfe broken\r\n"
        b"MIME-Version: 9\r\n\r\n"
        b"--\r\n\x00\x01\x02 not mime at all\r\n--\r\n"
    )
    assert send(server, "x@sender.test", ["junk@example.com"], garbage) == {}

    (entry,) = listing(server, "junk@example.com")["emails"]
    raw = server.http("GET", f"/api/email/{entry['id']}/raw")
    assert raw.body.endswith(garbage)
    assert server.http("GET", f"/api/email/{entry['id']}").status == 200


def test_full_listing_pagination_and_deletes(daemon: DaemonFactory) -> None:
    server = daemon.start()
    for n in range(5):
        send(server, "a@b.test", ["pages@example.com"], f"Subject: n{n}\r\n\r\nbody {n}\r\n")

    first = listing(server, "pages@example.com?limit=2")
    assert [e["subject"] for e in first["emails"]] == ["n4", "n3"]
    assert first["total"] == 5
    second = listing(server, f"pages@example.com?limit=2&before={first['next_before']}")
    assert [e["subject"] for e in second["emails"]] == ["n2", "n1"]
    by_offset = listing(server, "pages@example.com?limit=2&offset=4")
    assert [e["subject"] for e in by_offset["emails"]] == ["n0"]
    assert by_offset["next_before"] is None
    full = listing(server, "pages@example.com?full=true&limit=1")
    assert full["emails"][0]["body"] == "body 4\n"
    assert full["emails"][0]["envelope_to"] == ["pages@example.com"]

    victim = first["emails"][0]["id"]
    assert server.http("DELETE", f"/api/email/{victim}").status == 200
    # Gone: asked without credentials, an unknown id is refused like a locked one.
    assert server.http("GET", f"/api/email/{victim}").status == 401
    emptied = server.http("DELETE", "/api/emails/pages@example.com")
    assert emptied.json()["deleted"] == 4
    assert listing(server, "pages@example.com")["total"] == 0


def test_health_and_web_root(daemon: DaemonFactory) -> None:
    server = daemon.start()
    assert server.get_json("/api/health") == {"status": "ok", "storage": "ok"}
    index = server.http("GET", "/")
    assert index.status == 200
    assert b"tempmail" in index.body


def test_a_storage_failure_gets_451_and_the_retry_is_stored(daemon: DaemonFactory) -> None:
    server = daemon.start()
    message = b"Subject: retry me\r\n\r\nbody\r\n"
    # Another process holding the write lock past the busy timeout makes the
    # commit fail, as a full or broken disk would.
    blocker = sqlite3.connect(server.workdir / "mail.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as client:
            client.mail("a@b.test")
            client.rcpt("retry@example.com")
            code, text = client.data(message)
        assert (code, text[:5]) == (451, b"4.3.0")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert listing(server, "retry@example.com")["total"] == 0
    assert send(server, "a@b.test", ["retry@example.com"], message) == {}
    assert listing(server, "retry@example.com")["total"] == 1
