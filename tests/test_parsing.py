"""
Reading message fields, best effort.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
