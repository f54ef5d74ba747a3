"""
Reading a message with the standard library's C{email} package, best effort.

Two readings, for two moments:

- L{parse_message}, at arrival: the fields that are stored and indexed
  (addresses, subject, date, message id), the preview and the number of
  attachments.  It decodes only the text part the preview comes from;
  attachments are counted, not decoded.
- L{read_content}, when a message is read: its text and HTML bodies, its
  headers and its attachments, derived from the stored raw bytes.

Neither raises: a message the parser cannot make sense of is still stored
raw, with whatever fields could be read, so a sender is never refused
because of what its message looks like.
"""

from __future__ import annotations

import binascii
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from twisted.logger import Logger

from tempmail.models import PREVIEW_LENGTH, MessageContent, ParsedAttachment, ParsedMessage

log = Logger()

_FOLD = re.compile(r"\r?\n[ \t]+")
# compat32 is the fastest policy and keeps header values as the text sent.
_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
# One plain address, bare or in angle brackets after a simple display name:
# by far the most common header value, read without the general parser.
_ATOMS = r"[^<>\s@\",;:()\[\]\\]+"
_ONE_ADDRESS = re.compile(
    rf"\s*(?:(?:\"[^\"\\]*\"|[^<>\",;:()\\@]*)<({_ATOMS}@{_ATOMS})>|({_ATOMS}@{_ATOMS}))\s*"
)
# Header values by lower-case name, in order.
_Headers = dict[str, list[str]]
# A header line as the parser accepts it: printable name, colon, value.
_HEADER_LINE = re.compile(r"([!-9;-~]+):[ \t]*(.*)", re.DOTALL)
# Enough of a plain body for the preview, however much white space it has.
_PREVIEW_SCAN = 64 * PREVIEW_LENGTH


def unicode_text(value: object) -> str:
    """
    C{value} as text that can be stored and sent: the parser keeps
    undecodable 8-bit header bytes as lone surrogates, which no database or
    JSON encoder takes; they are read as UTF-8 (which 8-bit headers mostly
    are), and what is not UTF-8 becomes U+FFFD.
    """
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode_header(value: object) -> str:
    """
    Decode an RFC 2047 header value to text, keeping undecodable parts as-is.
    """
    # Unfold first: a folded header is one logical line (RFC 5322 2.2.3).
    text = _FOLD.sub(" ", str(value))
    if "=?" not in text:
        # No encoded word: nothing to decode.
        return text
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (LookupError, ValueError, binascii.Error, UnicodeError):
        return text


def _addresses(headers: _Headers, name: str) -> tuple[str, ...]:
    values = [_FOLD.sub(" ", v) for v in headers.get(name, ())]
    if len(values) == 1:
        simple = _ONE_ADDRESS.fullmatch(values[0])
        if simple is not None:
            return (simple.group(1) or simple.group(2),)
    return tuple(address for _, address in email.utils.getaddresses(values) if address)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_FOLD.sub(" ", value))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _is_attachment(part: email.message.Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).strip().lower()
    if disposition.startswith("attachment") or part.get_filename():
        return True
    return part.get_content_maintype() != "text"


def _leaves(message: email.message.Message) -> Iterator[email.message.Message]:
    for part in message.walk():
        if not part.is_multipart():
            yield part


def _text(part: email.message.Message) -> str:
    """
    A text part's body as text, with Unix line endings (the raw message
    keeps CRLF).
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, "replace")
    except LookupError:
        text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def _content_id(raw: str) -> str | None:
    stripped = raw.strip().removeprefix("<").removesuffix(">").strip()
    return stripped or None


def _attachment(part: email.message.Message) -> ParsedAttachment:
    payload = part.get_payload(decode=True)
    disposition = str(part.get("Content-Disposition", "")).strip().lower()
    content_id = _content_id(str(part.get("Content-ID", "")))
    inline = disposition.startswith("inline") or (
        content_id is not None and not disposition.startswith("attachment")
    )
    return ParsedAttachment(
        filename=_decode_header(part.get_filename() or "attachment"),
        content_type=part.get_content_type().lower(),
        content_id=content_id,
        inline=inline,
        content=payload if isinstance(payload, bytes) else b"",
    )


def _header_block(block: bytes) -> list[tuple[str, str]] | None:
    """
    The headers of a plain header block, as the parser would read them, or
    C{None} for anything unusual (a line that is not a header), which the
    parser then reads in full.
    """
    pairs: list[tuple[str, str]] = []
    for line in block.decode("ascii", "surrogateescape").split("\r\n"):
        if line[:1] in (" ", "\t"):
            if not pairs:
                return None
            name, value = pairs[-1]
            pairs[-1] = (name, value + "\r\n" + line)
            continue
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            return None
        pairs.append((header.group(1), header.group(2)))
    return pairs


def _index(pairs: Iterable[tuple[str, object]]) -> _Headers:
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), []).append(str(value))
    return headers


def _fields(raw: bytes) -> tuple[_Headers, str, int]:
    """
    Parse C{raw} for L{parse_message}: its headers by lower-case name, the
    text the preview comes from, the attachment count.

    A message that is not multipart has its headers parsed on their own
    and its body read only as far as the preview needs.
    """
    head_end = raw.find(b"\r\n\r\n")
    pairs = _header_block(raw[:head_end]) if head_end > 0 else None
    if pairs is not None:
        headers = _index(pairs)
        start = head_end + 4
        if not any(name.startswith("content-") for name in headers):
            # No Content-* header: plain text (RFC 2045 5.2), read as UTF-8
            # like any text without a charset.
            text = raw[start : start + _PREVIEW_SCAN].decode("utf-8", "replace")
            return headers, text.replace("\r\n", "\n"), 0
        message = email.message.Message()
        for name, value in pairs:
            message[name] = value
        if message.get_content_maintype() != "multipart":
            if _is_attachment(message):
                return headers, "", 1
            if message.get_content_type() != "text/plain":
                return headers, "", 0
            # Slice once: a large plain body is not copied to read its preview.
            encoding = str(message.get("Content-Transfer-Encoding", "")).strip().lower()
            plain = encoding in ("", "7bit", "8bit", "binary")
            body = raw[start : start + _PREVIEW_SCAN] if plain else raw[start:]
            message.set_payload(body.decode("ascii", "surrogateescape"))
            return headers, _text(message), 0
    parsed = _PARSER.parsebytes(raw)
    preview_from = None
    attachments = 0
    for part in _leaves(parsed):
        if _is_attachment(part):
            attachments += 1
        elif preview_from is None and part.get_content_type() == "text/plain":
            preview_from = part
    text = _text(preview_from) if preview_from is not None else ""
    return _index(parsed.items()), text, attachments


def parse_message(raw: bytes) -> ParsedMessage:
    """
    Read the stored fields of C{raw}, its preview and its attachment count;
    never raises.
    """
    try:
        headers, text, attachments = _fields(raw)
        subject, date, message_id = (
            headers.get(name, ("",))[0] for name in ("subject", "date", "message-id")
        )
        return ParsedMessage(
            from_address=unicode_text(next(iter(_addresses(headers, "from")), "")),
            to=tuple(map(unicode_text, _addresses(headers, "to"))),
            cc=tuple(map(unicode_text, _addresses(headers, "cc"))),
            subject=unicode_text(_decode_header(subject).strip()),
            date=_date(date),
            message_id=unicode_text(_FOLD.sub(" ", message_id).strip()) or None,
            preview=unicode_text(" ".join(text.split())[:PREVIEW_LENGTH]),
            attachment_count=attachments,
        )
    except Exception:
        # The parser is lenient, but hostile input can still trip it; the
        # message is kept regardless.
        log.failure("could not read a message's fields; storing it without them")
        return ParsedMessage()


def read_content(raw: bytes) -> MessageContent:
    """
    Derive a stored message's bodies, headers and attachments from its raw
    bytes; never raises.
    """
    try:
        message = _PARSER.parsebytes(raw)
        texts, htmls, attachments = [], [], []
        for part in _leaves(message):
            if _is_attachment(part):
                attachments.append(_attachment(part))
            elif part.get_content_type() == "text/plain":
                texts.append(_text(part))
            elif part.get_content_type() == "text/html":
                htmls.append(_text(part))
        return MessageContent(
            text="\n".join(texts),
            html="\n".join(htmls),
            headers=tuple((name, _decode_header(value)) for name, value in message.items()),
            attachments=tuple(attachments),
        )
    except Exception:
        log.failure("could not read a message's content; serving it as text")
        return MessageContent(text=raw.decode("utf-8", "replace"))
