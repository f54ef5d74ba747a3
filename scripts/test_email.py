"""
Send three test mails to a tempmail server over SMTP.

Run from the repository root against a running daemon::

    python scripts/test_email.py --host 127.0.0.1 --port 2525 --to test@tempmail.local

It sends a plain-text mail, an HTML mail with a plain-text alternative, and a
mail with a small generated PNG attached, then prints what it sent.  Read
them back with C{GET /api/emails/<address>} or in the web UI.
"""

from __future__ import annotations

import argparse
import smtplib
import struct
import sys
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """
    Return a valid PNG of a small red-to-blue gradient, made without Pillow.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00"  # filter type "none" for this scanline
        + b"".join(
            bytes((255 - x * 255 // max(width - 1, 1), 0, x * 255 // max(width - 1, 1)))
            for x in range(width)
        )
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _base(sender: str, recipient: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(tz=UTC))
    message["Message-ID"] = make_msgid(domain="tempmail-test.local")
    return message


def plain_message(sender: str, recipient: str) -> EmailMessage:
    """
    A plain-text mail with a non-ASCII subject and body.
    """
    message = _base(sender, recipient, "Test 1/3: plain text (grüße)")
    message.set_content(
        "Hello from scripts/test_email.py.\n\nThis is a plain-text message.\nGrüße, ✓\n"
    )
    return message


def alternative_message(sender: str, recipient: str) -> EmailMessage:
    """
    A multipart/alternative mail: a plain-text part and an HTML part.
    """
    message = _base(sender, recipient, "Test 2/3: HTML with a text alternative")
    message.set_content("Hello from scripts/test_email.py.\n\nThis is the plain-text part.\n")
    message.add_alternative(
        "<html><body><h1>Hello</h1>"
        "<p>This is the <b>HTML</b> part, sent by <code>scripts/test_email.py</code>.</p>"
        "</body></html>\n",
        subtype="html",
    )
    return message


def attachment_message(sender: str, recipient: str) -> EmailMessage:
    """
    A mail with a text body, a generated PNG and a small text file attached.
    """
    message = _base(sender, recipient, "Test 3/3: with attachments")
    message.set_content("Two files are attached: gradient.png and notes.txt.\n")
    message.add_attachment(tiny_png(), maintype="image", subtype="png", filename="gradient.png")
    message.add_attachment(
        b"line one\nline two\n", maintype="text", subtype="plain", filename="notes.txt"
    )
    return message


def describe(message: EmailMessage) -> str:
    """
    One line per part: its content type, and the file name of an attachment.
    """
    lines = []
    for part in message.walk():
        if part.is_multipart():
            lines.append(f"    {part.get_content_type()}")
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        name = part.get_filename()
        extra = f" attachment {name!r}" if name else ""
        lines.append(f"      {part.get_content_type()} ({size} bytes){extra}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """
    Parse the command line.
    """
    parser = argparse.ArgumentParser(description="Send three test mails to a tempmail server.")
    parser.add_argument("--host", default="localhost", help="SMTP host (default: localhost)")
    parser.add_argument("--port", type=int, default=2525, help="SMTP port (default: 2525)")
    parser.add_argument(
        "--to", default="test@tempmail.local", help="recipient (default: test@tempmail.local)"
    )
    parser.add_argument(
        "--from",
        dest="sender",
        default="sender@example.com",
        help="envelope and header sender (default: sender@example.com)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="socket timeout in seconds (default: 30)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Send the three mails in one SMTP session; return the exit status.
    """
    args = parse_args(argv)
    messages = [
        plain_message(args.sender, args.to),
        alternative_message(args.sender, args.to),
        attachment_message(args.sender, args.to),
    ]
    failed = 0
    try:
        with smtplib.SMTP(args.host, args.port, timeout=args.timeout) as client:
            for message in messages:
                data = message.as_bytes()
                try:
                    refused = client.sendmail(args.sender, [args.to], data)
                except smtplib.SMTPException as e:
                    failed += 1
                    print(f"FAILED {message['Subject']!r}: {e}", file=sys.stderr)
                    continue
                status = "sent" if not refused else f"refused for {refused}"
                print(f"{status}: {message['Subject']!r} ({len(data)} bytes)")
                print(f"  from {args.sender} to {args.to} via {args.host}:{args.port}")
                print(describe(message))
    except (OSError, smtplib.SMTPException) as e:
        print(f"cannot talk to {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    print(f"{len(messages) - failed} of {len(messages)} messages accepted")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
