"""
Reading a message's fields with mail-parser, best effort.

L{parse_message} never raises: a message mail-parser cannot make sense of is
still stored raw, with whatever fields could be read, so a sender is never
refused because of what its message looks like.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import re
from datetime import UTC, datetime
from typing import Any

import mailparser
from twisted.logger import Logger

from tempmail.models import ParsedAttachment, ParsedMessage

log = Logger()

_FOLD = re.compile(r"\r?\n[ \t]+")


def _decode_header(value: Any) -> str:
    """
    Decode an RFC 2047 header value to text, keeping undecodable parts as-is.
    """
    # Unfold first: a folded header is one logical line (RFC 5322 2.2.3).
    text = _FOLD.sub(" ", str(value))
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (LookupError, ValueError, binascii.Error, UnicodeError):
        return text


def _header_list(message: email.message.Message) -> tuple[tuple[str, str], ...]:
    return tuple((name, _decode_header(value)) for name, value in message.items())


def _addresses(pairs: Any) -> tuple[str, ...]:
    return tuple(addr for _name, addr in pairs or () if addr)


def _content_id(raw: str) -> str | None:
    stripped = raw.strip().removeprefix("<").removesuffix(">").strip()
    return stripped or None


def _attachment(part: dict[str, Any]) -> ParsedAttachment:
    payload = part.get("payload") or ""
    if part.get("binary"):
        try:
            content = base64.b64decode(payload)
        except (binascii.Error, ValueError):
            content = payload.encode("utf-8", "surrogateescape")
    else:
        content = payload.encode("utf-8", "surrogateescape")
    disposition = (part.get("content-disposition") or "").strip().lower()
    content_id = _content_id(part.get("content-id") or "")
    inline = disposition.startswith("inline") or (
        content_id is not None and not disposition.startswith("attachment")
    )
    return ParsedAttachment(
        filename=part.get("filename") or "attachment",
        content_type=(part.get("mail_content_type") or "application/octet-stream").lower(),
        content_id=content_id,
        inline=inline,
        content=content,
    )


def _lines(text: str) -> str:
    """
    Bodies are served with Unix line endings; the raw message keeps CRLF.
    """
    return text.replace("\r\n", "\n")


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return None


def parse_message(raw: bytes) -> ParsedMessage:
    """
    Read the fields of C{raw}; never raises.
    """
    try:
        parsed = mailparser.parse_from_bytes(raw)
        return ParsedMessage(
            from_address=next(iter(_addresses(parsed.from_)), ""),
            to=_addresses(parsed.to),
            cc=_addresses(parsed.cc),
            subject=_decode_header(parsed.subject or "").strip(),
            date=_date(parsed.date),
            message_id=(parsed.message_id or "").strip() or None,
            text=_lines("\n".join(parsed.text_plain)),
            html=_lines("\n".join(parsed.text_html)),
            headers=_header_list(parsed.message) if parsed.message is not None else (),
            attachments=tuple(_attachment(a) for a in parsed.attachments),
        )
    except Exception:
        # mail-parser raises a variety of errors on hostile input; the message
        # is kept regardless, with the fields the standard library can read.
        log.failure("mail-parser could not parse a message; storing it with basic fields")
        return _fallback(raw)


def _fallback(raw: bytes) -> ParsedMessage:
    try:
        message = email.message_from_bytes(raw)
        headers = _header_list(message)
    except Exception:
        log.failure("the standard library could not read a message's headers either")
        headers = ()
    first = {name.lower(): value for name, value in reversed(headers)}
    return ParsedMessage(
        subject=first.get("subject", "").strip(),
        message_id=first.get("message-id"),
        text=raw.decode("utf-8", "replace"),
        headers=headers,
    )
