"""
Reading message fields, best effort.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tempmail.parsing import parse_message, read_content


def test_fields_attachments_and_folded_headers() -> None:
    raw = (
        b'From: "Al" <al@x.test>\r\nTo: b@y.test, C <c@y.test>\r\nCc: d@y.test\r\n'
        b"Subject: =?utf-8?q?h=C3=A9llo?= and\r\n very folded\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <abc@x>\r\n"
        b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nhi th\xc3\xa9re\r\nline two\r\n--BB\r\n"
        b"Content-Type: image/png; name=a.png\r\nContent-ID: <img1>\r\n"
        b"Content-Disposition: inline; filename=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--BB--\r\n"
    )
    parsed = parse_message(raw)
    content = read_content(raw)
    assert parsed.from_address == "al@x.test"
    assert parsed.to == ("b@y.test", "c@y.test")
    assert parsed.cc == ("d@y.test",)
    assert parsed.subject == "héllo and very folded"
    assert parsed.date == datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    assert parsed.message_id == "<abc@x>"
    assert content.text == "hi thére\nline two"
    assert content.html == ""
    assert dict(content.headers)["Subject"] == "héllo and very folded"
    assert parsed.attachment_count == 1
    (attachment,) = content.attachments
    assert (attachment.filename, attachment.content_type) == ("a.png", "image/png")
    assert (attachment.content_id, attachment.inline) == ("img1", True)
    assert attachment.content == b"\x89PNG\r\n\x1a\n"
    assert parsed.preview == "hi thére line two"


def test_garbage_still_gives_usable_fields() -> None:
    raw = b"\xff\xfe\x00 not a message at all"
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.attachment_count) == ("", 0)
    content = read_content(raw)
    assert content.attachments == ()
    assert isinstance(content.text, str)


def test_empty_message() -> None:
    parsed = parse_message(b"")
    assert (parsed.from_address, parsed.subject, parsed.preview) == ("", "", "")
    assert read_content(b"").text == ""


@pytest.mark.parametrize(
    ("header", "addresses"),
    [
        (b"To: <a@x.test>", ("a@x.test",)),
        (b"To: a@x.test", ("a@x.test",)),
        (b'To: "Doe, J" <j@x.test>', ("j@x.test",)),
        (b"To: =?utf-8?q?J=C3=B6?= <j@x.test>", ("j@x.test",)),
        (b"To: a@x.test, B <b@x.test>", ("a@x.test", "b@x.test")),
        (b"To: a@x.test,\r\n b@x.test", ("a@x.test", "b@x.test")),
        (b"To: undisclosed-recipients:;", ()),
        (b'To: "quoted local"@x.test', ('"quoted local"@x.test',)),
        (b"To: a@x.test (a comment)", ("a@x.test",)),
    ],
)
def test_addresses(header: bytes, addresses: tuple[str, ...]) -> None:
    assert parse_message(header + b"\r\n\r\nbody\r\n").to == addresses


@pytest.mark.parametrize(
    ("headers", "body", "preview", "attachments"),
    [
        (b"", b"plain\r\n  text\r\n", "plain text", 0),
        (b"MIME-Version: 1.0\r\n", b"gr\xc3\xbc\xc3\x9fe\r\n", "grüße", 0),
        (b"Content-Type: text/plain; charset=latin-1\r\n", b"caf\xe9\r\n", "café", 0),
        (
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
            b"aMOpbGxv\r\n",
            "héllo",
            0,
        ),
        (
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"soft=\r\nbreak =3D\r\n",
            "softbreak =",
            0,
        ),
        (b"Content-Type: text/html\r\n", b"<p>x</p>\r\n", "", 0),
        (b"Content-Type: image/png\r\n", b"\x89PNG\r\n", "", 1),
        (b"Content-Disposition: attachment; filename=a.txt\r\n", b"file\r\n", "", 1),
        (b"Content-Type: text/plain\r\n", b"x" * 300 + b"\r\n", "x" * 160, 0),
    ],
)
def test_single_part_previews(headers: bytes, body: bytes, preview: str, attachments: int) -> None:
    raw = b"Subject: s\r\n" + headers + b"\r\n" + body
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.preview, parsed.attachment_count) == ("s", preview, attachments)
    # What is derived on reading agrees with what was read on arrival.
    content = read_content(raw)
    assert len(content.attachments) == attachments
    assert " ".join(content.text.split())[:160] == preview


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@x.test\r\nSubject: folded\r\n\tsubject\r\nTo: b@x.test\r\n\r\nbody\r\n",
        b"Subject : spaced name\r\nFrom: a@x.test\r\n\r\nbody\r\n",
        b"not a header\r\nSubject: s\r\n\r\nbody\r\n",
        b" continuation first\r\nSubject: s\r\n\r\nbody\r\n",
        b"Subject: =?utf-8?b?aMOpbGxv?=\r\nMessage-ID:\r\n <x@y>\r\n\r\nbody\r\n",
        b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\n\r\nin\r\n--b--\r\n",
    ],
)
def test_header_block_reads_as_the_full_parser_does(raw: bytes) -> None:
    # Parsing the header block alone (the fast path for plain messages)
    # gives what the standard parser gives for the whole message.
    parsed = parse_message(raw)
    first: dict[str, str] = {}
    for name, value in read_content(raw).headers:
        first.setdefault(name.lower(), value)
    assert parsed.subject == first.get("subject", "").strip()
    assert parsed.message_id == (first.get("message-id", "").strip() or None)
    assert parsed.from_address == first.get("from", "")
    assert parsed.to == tuple(filter(None, [first.get("to")]))
