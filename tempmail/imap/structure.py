"""
ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2), built from the stored
bytes.

Twisted's versions lower-case parameter values (a multipart boundary
among them), crash on a C{Content-Type} ending in C{;} (twisted#3950),
give a single part without C{Content-Type} all-C{NIL} fields, mangle
group addresses and report a missing From as C{((NIL NIL NIL))}.  Here a
part without C{Content-Type} is C{text/plain; charset=us-ascii} in
C{7BIT}, parameters are kept as sent, groups follow the RFC, and
C{Sender} and C{Reply-To} default to C{From} as the RFC asks.  An address
written C{user@domain (Real Name)} has the comment as its name, and a
source route (C{<@route:user@domain>}) is kept in the route field.
"""

from __future__ import annotations

import email.header
import email.utils
import re
from email import _header_value_parser as address_parser
from email.message import Message as EmailMessage

from tempmail.imap.sections import Entity, unfold

Item = None | int | str | bytes | list["Item"]

_DEFAULT_PARAMS: list[Item] = ["charset", "us-ascii"]


def encode(item: Item) -> bytes:
    """
    An IMAP representation of C{item}: C{NIL}, a number, a quoted string
    (a literal if it needs one) or a parenthesised list.
    """
    if item is None:
        return b"NIL"
    if isinstance(item, int):
        return b"%d" % (item,)
    if isinstance(item, list):
        return b"(" + b" ".join(encode(sub) for sub in item) + b")"
    data = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
    if data.isascii() and b"\r" not in data and b"\n" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % (len(data),) + data


def _value(fields: EmailMessage, name: str) -> bytes | None:
    """
    The first C{name} header's value as sent (8-bit bytes included), with
    its folding undone.
    """
    for key, value in fields.raw_items():
        if key.lower() == name:
            raw = str(value).encode("ascii", "surrogateescape")
            return re.sub(rb"\r?\n(?=[ \t])", b"", raw).strip()
    return None


def _ascii_name(name: str | None) -> str | None:
    if not name:
        return None
    return name if name.isascii() else email.header.Header(name, "utf-8").encode()


def _addresses(fields: EmailMessage, name: str) -> Item:
    value = _value(fields, name)
    if not value:
        return None
    raw = value.decode("utf-8", "replace")
    try:
        # The header parser email.headerregistry itself uses: its tokens
        # keep the comments and source routes that its Address drops.
        address_list, _ = address_parser.get_address_list(raw)
        return _address_items(address_list) or None
    except (ValueError, IndexError, TypeError, AttributeError):
        pairs = email.utils.getaddresses([raw])
        return [_address(display, address) for display, address in pairs if address] or None


def _address_items(address_list: address_parser.AddressList) -> list[Item]:
    result: list[Item] = []
    for address in address_list.addresses:
        group = address[0] if isinstance(address[0], address_parser.Group) else None
        if group is not None:
            result.append([None, None, group.display_name, None])
        for mailbox in address.all_mailboxes:
            # "user@domain (Real Name)": the comment is the name, as in
            # RFC 822 (and as Dovecot reads it).
            name = mailbox.display_name or next(iter(mailbox.comments), None)
            route = ",".join("@" + hop for hop in mailbox.route or [])
            result.append(
                [_ascii_name(name), route or None, mailbox.local_part, mailbox.domain or None]
            )
        if group is not None:
            result.append([None, None, None, None])
    return result


def _address(display: str, address: str) -> Item:
    mailbox, _, host = address.rpartition("@")
    return [_ascii_name(display), None, mailbox or address, host or None]


def envelope(message: Entity) -> Item:
    """
    The ENVELOPE of a message.
    """
    fields = message.fields
    sender = _addresses(fields, "from")
    return [
        _value(fields, "date"),
        _value(fields, "subject"),
        sender,
        _addresses(fields, "sender") or sender,
        _addresses(fields, "reply-to") or sender,
        _addresses(fields, "to"),
        _addresses(fields, "cc"),
        _addresses(fields, "bcc"),
        _value(fields, "in-reply-to"),
        _value(fields, "message-id"),
    ]


def _params(fields: EmailMessage, header: str) -> Item:
    found = fields.get_params(header=header, failobj=None)
    if not found:
        return None
    pairs: list[Item] = []
    for key, value in found[1:]:
        if not key:
            continue
        text = unfold(email.utils.collapse_rfc2231_value(value)) if value else ""
        pairs += [key, text]
    return pairs or None


def _disposition(fields: EmailMessage) -> Item:
    value = _value(fields, "content-disposition")
    if value is None:
        return None
    kind = value.split(b";", 1)[0].strip()
    return [kind, _params(fields, "content-disposition")] if kind else None


def _extension(fields: EmailMessage) -> list[Item]:
    return [
        _disposition(fields),
        _value(fields, "content-language"),
        _value(fields, "content-location"),
    ]


def _lines(body: bytes) -> int:
    """
    How many lines C{body} has, a last one without a line break included.
    """
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def body_structure(entity: Entity, extended: bool) -> Item:
    """
    The BODYSTRUCTURE (C{extended}) or BODY of an entity.
    """
    fields = entity.fields
    declared = fields.get("content-type") is not None
    maintype, _, subtype = fields.get_content_type().partition("/")
    if entity.is_multipart:
        structure: list[Item] = [body_structure(part, extended) for part in entity.parts]
        structure.append(subtype)
        if extended:
            structure += [_params(fields, "content-type"), *_extension(fields)]
        return structure
    if declared:
        params = _params(fields, "content-type")
    else:
        # The default type: text/plain; charset=us-ascii, or a digest's
        # message/rfc822 (without parameters).
        params = list(_DEFAULT_PARAMS) if maintype == "text" else None
    body = entity.body
    structure = [
        maintype,
        subtype,
        params,
        _value(fields, "content-id"),
        _value(fields, "content-description"),
        (_value(fields, "content-transfer-encoding") or b"7BIT").upper(),
        len(body),
    ]
    if entity.is_message:
        enclosed = entity.enclosed()
        structure += [envelope(enclosed), body_structure(enclosed, extended), _lines(body)]
    elif maintype == "text":
        structure.append(_lines(body))
    if extended:
        structure += [_value(fields, "content-md5"), *_extension(fields)]
    return structure
