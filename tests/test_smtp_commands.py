"""
Unit tests of the C{MAIL} and C{RCPT} argument parsers.
"""

from __future__ import annotations

import pytest

from tempmail.smtp.commands import TOO_BIG, Reply, parse_mail, parse_rcpt

LIMIT = 1000
MAIL_SYNTAX = Reply(501, b"5.5.4 Syntax: MAIL FROM:<address>")
RCPT_SYNTAX = Reply(501, b"5.5.4 Syntax: RCPT TO:<address>")
BAD_SIZE = Reply(501, b"5.5.4 SIZE needs a number of bytes")
BAD_BODY = Reply(501, b"5.5.4 BODY must be 7BIT or 8BITMIME")


# MAIL FROM


@pytest.mark.parametrize(
    ("rest", "sender"),
    [
        (b"FROM:<alice@example.org>", "alice@example.org"),
        (b"FROM:alice@example.org", "alice@example.org"),
        (b"from: <alice@example.org>", "alice@example.org"),
        (b"FROM:<alice@example.org>  ", "alice@example.org"),
        (b"FROM:<>", ""),
        (b"FROM:<j\xc3\xbcrgen@example.org>", "j\u00fcrgen@example.org"),
        (b"FROM:<\xff@example.org>", "\ufffd@example.org"),
    ],
)
def test_mail_sender(rest: bytes, sender: str) -> None:
    assert parse_mail(rest, LIMIT) == sender


@pytest.mark.parametrize(
    "rest",
    [
        b"",
        b"FROM:",
        b"FROM:<>>",
        b"TO:<alice@example.org>",
        b"FROM:<alice@example.org",
        b"FROM:<a b@example.org>",
        b"FROM <alice@example.org>",
    ],
)
def test_mail_syntax_error(rest: bytes) -> None:
    assert parse_mail(rest, LIMIT) == MAIL_SYNTAX


@pytest.mark.parametrize(
    ("param", "result"),
    [
        (b"SIZE=0", "a@b.example"),
        (b"SIZE=1000", "a@b.example"),
        (b"SIZE=0001000", "a@b.example"),
        (b"size=10", "a@b.example"),
        (b"SIZE=1001", TOO_BIG),
        (b"SIZE=" + b"9" * 20, TOO_BIG),
        (b"SIZE=" + b"9" * 5000, TOO_BIG),
        (b"SIZE=" + b"0" * 5000 + b"1", "a@b.example"),
        (b"SIZE=abc", BAD_SIZE),
        (b"SIZE=", BAD_SIZE),
        (b"SIZE", BAD_SIZE),
        (b"SIZE=-1", BAD_SIZE),
        (b"SIZE=1.5", BAD_SIZE),
        (b"SIZE=\xd9\xa3", BAD_SIZE),
    ],
)
def test_mail_size(param: bytes, result: str | Reply) -> None:
    assert parse_mail(b"FROM:<a@b.example> " + param, LIMIT) == result


@pytest.mark.parametrize(
    ("param", "result"),
    [
        (b"BODY=7BIT", "a@b.example"),
        (b"BODY=8BITMIME", "a@b.example"),
        (b"body=8bitmime", "a@b.example"),
        (b"BODY=BINARYMIME", BAD_BODY),
        (b"BODY=", BAD_BODY),
        (b"BODY", BAD_BODY),
    ],
)
def test_mail_body(param: bytes, result: str | Reply) -> None:
    assert parse_mail(b"FROM:<a@b.example> " + param, LIMIT) == result


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (b"SMTPUTF8", b"SMTPUTF8"),
        (b"foo=bar", b"FOO"),
        (b"SIZE=10 BODY=8BITMIME RET=HDRS", b"RET"),
    ],
)
def test_mail_unknown_parameter(params: bytes, name: bytes) -> None:
    assert parse_mail(b"FROM:<a@b.example> " + params, LIMIT) == Reply(
        555, b"5.5.4 Unsupported MAIL parameter " + name
    )


def test_mail_size_checked_before_other_parameters() -> None:
    """
    A message too big is refused as such, whatever else is wrong with it.
    """
    assert parse_mail(b"FROM:<a@b.example> BODY=BINARYMIME FOO SIZE=5000", LIMIT) == TOO_BIG


def test_mail_repeated_parameter_keeps_the_last() -> None:
    assert parse_mail(b"FROM:<a@b.example> SIZE=5000 SIZE=10", LIMIT) == "a@b.example"


# RCPT TO


@pytest.mark.parametrize(
    ("rest", "recipient"),
    [
        (b"TO:<bob@tmp.test>", "bob@tmp.test"),
        (b"TO:bob@tmp.test", "bob@tmp.test"),
        (b"to: <Bob@TMP.test>", "Bob@TMP.test"),
        (b"TO:bob", "bob"),
        (b"TO:<>", ""),
        (b"TO:<j\xc3\xbcrgen@tmp.test>", "j\u00fcrgen@tmp.test"),
    ],
)
def test_rcpt_recipient(rest: bytes, recipient: str) -> None:
    assert parse_rcpt(rest) == recipient


@pytest.mark.parametrize(
    "rest",
    [b"", b"TO:", b"FROM:<bob@tmp.test>", b"TO:<bob@tmp.test", b"TO:<b b@tmp.test>"],
)
def test_rcpt_syntax_error(rest: bytes) -> None:
    assert parse_rcpt(rest) == RCPT_SYNTAX


@pytest.mark.parametrize("param", [b"NOTIFY=NEVER", b"ORCPT=rfc822;bob@tmp.test", b"X"])
def test_rcpt_parameters_refused(param: bytes) -> None:
    assert parse_rcpt(b"TO:<bob@tmp.test> " + param) == Reply(
        555, b"5.5.4 RCPT parameters are not supported"
    )


@pytest.mark.parametrize("path", [b"<\xff@tmp.test>", b"\xc3@tmp.test", b"<bob@tmp.\xe9>"])
def test_rcpt_not_utf8(path: bytes) -> None:
    assert parse_rcpt(b"TO:" + path) == Reply(553, b"5.1.3 The address is not valid UTF-8")
