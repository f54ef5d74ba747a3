"""
C{tempmail-sendmail}: a C{sendmail}-compatible command that hands a message
to a tempmail server over SMTP.

Applications under test that send mail by running C{sendmail} (PHP's
C{mail()}, cron, many frameworks) can point their sendmail path at it:

    echo "Subject: hi" | tempmail-sendmail -t -i -f app@example.com bob@example.com

The server is C{SMTP_HOST} (default C{127.0.0.1}) and C{SMTP_PORT} (default
2525) from the environment, or C{--smtp-host} and C{--smtp-port}.  Exit
codes follow sendmail's (C{sysexits.h}): 0 sent, 64 bad usage, 65 bad
message, 69 server unreachable, 75 refused for now (retry).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import smtplib
import socket
import sys
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.utils import getaddresses

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RECIPIENT_HEADERS = ("to", "cc", "bcc")
_LINE_END = re.compile(rb"\r?\n")


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """
    The header block (with its line ends) and the rest (the empty line and
    the body).
    """
    end = _HEADER_END.search(raw)
    if end is None:
        return raw, b""
    return raw[: end.start() + 1], raw[end.start() + 1 :]


def without_bcc(header_block: bytes) -> bytes:
    """
    The header block without its C{Bcc} fields (continuation lines included):
    with C{-t}, blind copies must not show in what every recipient gets.
    """
    kept: list[bytes] = []
    dropping = False
    for line in header_block.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() == b"bcc"
        if not dropping:
            kept.append(line)
    return b"".join(kept)


def header_recipients(header_block: bytes) -> list[str]:
    """
    The addresses in C{To}, C{Cc} and C{Bcc}.
    """
    headers = BytesHeaderParser().parsebytes(header_block + b"\n")
    values = [str(v) for name in _RECIPIENT_HEADERS for v in headers.get_all(name) or []]
    return [address for _, address in getaddresses(values) if address]


def read_message(stream: bytes, ignore_dots: bool) -> bytes:
    """
    The message from standard input: all of it with C{-i}, else up to a
    line holding only a dot, as sendmail does.
    """
    if ignore_dots:
        return stream
    lines = stream.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip(b"\r\n") == b".":
            return b"".join(lines[:index])
    return stream


def parser() -> argparse.ArgumentParser:
    """
    The options, sendmail's spelling; those that change nothing here are
    accepted and ignored so existing command lines keep working.
    """
    p = argparse.ArgumentParser(
        prog="tempmail-sendmail",
        description="Send a message read from standard input to a tempmail server over SMTP.",
    )
    p.add_argument("-t", action="store_true", help="also send to the To, Cc and Bcc headers")
    p.add_argument("-i", action="store_true", help="a line with only a dot does not end input")
    p.add_argument("-f", "-r", dest="sender", help="the envelope sender")
    p.add_argument("-o", action="append", default=[], help="sendmail options (-oi means -i)")
    p.add_argument("-F", dest="full_name", help="ignored")
    p.add_argument("-B", dest="body_type", help="ignored")
    p.add_argument("-N", dest="dsn", help="ignored")
    p.add_argument("-R", dest="ret", help="ignored")
    p.add_argument("-V", dest="envid", help="ignored")
    p.add_argument("-v", action="store_true", help="ignored")
    p.add_argument("-b", dest="mode", default="m", help="only -bm (the default) is supported")
    p.add_argument("--smtp-host", default=os.environ.get("SMTP_HOST", "127.0.0.1"))
    p.add_argument("--smtp-port", type=int, default=int(os.environ.get("SMTP_PORT", "2525")))
    p.add_argument("recipients", nargs="*", help="recipient addresses")
    return p


def default_sender() -> str:
    return f"{getpass.getuser()}@{socket.getfqdn()}"


def main(argv: Sequence[str] | None = None, stdin: bytes | None = None) -> int:
    """
    The C{tempmail-sendmail} console script.
    """
    options = parser().parse_args(argv)
    if options.mode != "m":
        print(f"tempmail-sendmail: -b{options.mode} is not supported", file=sys.stderr)
        return EX_USAGE
    ignore_dots = options.i or "i" in options.o
    raw = read_message(sys.stdin.buffer.read() if stdin is None else stdin, ignore_dots)
    recipients = list(options.recipients)
    if options.t:
        headers, rest = split_message(raw)
        recipients += header_recipients(headers)
        raw = without_bcc(headers) + rest
    recipients = list(dict.fromkeys(recipients))
    # SMTP frames lines with CRLF; input from a pipe usually has bare LFs.
    raw = _LINE_END.sub(b"\r\n", raw)
    if not recipients:
        print("tempmail-sendmail: no recipients (give addresses, or -t)", file=sys.stderr)
        return EX_USAGE
    sender = default_sender() if options.sender is None else options.sender
    try:
        with smtplib.SMTP(options.smtp_host, options.smtp_port, timeout=60) as client:
            refused = client.sendmail(sender, recipients, raw)
    except smtplib.SMTPRecipientsRefused as e:
        return _report("every recipient was refused", e.recipients)
    except smtplib.SMTPResponseException as e:
        print(f"tempmail-sendmail: {e.smtp_code} {e.smtp_error!r}", file=sys.stderr)
        return EX_TEMPFAIL if 400 <= e.smtp_code < 500 else EX_DATAERR
    except (OSError, smtplib.SMTPException) as e:
        print(
            f"tempmail-sendmail: cannot reach {options.smtp_host}:{options.smtp_port}: {e}",
            file=sys.stderr,
        )
        return EX_UNAVAILABLE
    if refused:
        return _report("some recipients were refused", refused)
    return EX_OK


def _report(what: str, refused: dict[str, tuple[int, bytes]]) -> int:
    print(f"tempmail-sendmail: {what}:", file=sys.stderr)
    for address, (code, text) in refused.items():
        print(f"  {address}: {code} {text.decode('utf-8', 'replace')}", file=sys.stderr)
    temporary = all(400 <= code < 500 for code, _ in refused.values())
    return EX_TEMPFAIL if temporary else EX_DATAERR


if __name__ == "__main__":
    sys.exit(main())
