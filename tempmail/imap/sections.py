"""
MIME entities as byte ranges of the stored message, and the FETCH body
sections of RFC 3501 6.4.5 cut from them.

Every section is a slice of the raw bytes, never a re-serialisation, so
C{BODY[1]}, C{BODY[HEADER]} or C{BODY[2.MIME]} give exactly what the
sender sent.  Part numbers follow the RFC: part 1 of a single-part message
is its body, and the parts of a C{message/rfc822} part are those of the
message it encloses.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import re
from collections.abc import Iterable
from functools import cached_property


def unfold(value: str) -> str:
    """
    A header parameter's value folded across lines, as one line (RFC 5322
    2.2.3: the line break goes, the space after it stays).
    """
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def _header_length(raw: bytes) -> int:
    """
    Where the body of C{raw} starts: after the blank line that ends its
    header (the whole of C{raw} if it has none).
    """
    if raw.startswith(b"\r\n"):
        return 2
    if raw.startswith(b"\n"):
        return 1
    ends = [at + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (at := raw.find(sep)) >= 0]
    return min(ends) if ends else len(raw)


class Entity:
    """
    One MIME entity (a message or a part): its header and body bytes.
    """

    def __init__(self, raw: bytes, in_digest: bool = False) -> None:
        """
        @param in_digest: whether the entity is a part of a
            C{multipart/digest}, where a part without C{Content-Type} is a
            C{message/rfc822} (RFC 2046 5.1.5), not C{text/plain}.
        """
        self.raw = raw
        self.in_digest = in_digest
        self._split = _header_length(raw)

    @property
    def header(self) -> bytes:
        """
        The header, with the blank line that ends it.
        """
        return self.raw[: self._split]

    @property
    def body(self) -> bytes:
        """
        Everything after the header.
        """
        return self.raw[self._split :]

    @cached_property
    def fields(self) -> email.message.Message:
        """
        The header parsed (values as sent, unfolded by the reader).
        """
        parsed = email.message_from_bytes(self.header, policy=email.policy.compat32)
        if self.in_digest:
            parsed.set_default_type("message/rfc822")
        return parsed

    @property
    def content_type(self) -> str:
        """
        The lower-case C{type/subtype}; C{text/plain} when absent.
        """
        return self.fields.get_content_type()

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/") and self.boundary is not None

    @property
    def is_message(self) -> bool:
        """
        Whether the entity encloses a whole message (C{message/rfc822}).
        """
        return self.content_type in ("message/rfc822", "message/global")

    @property
    def boundary(self) -> bytes | None:
        value = self.fields.get_param("boundary")
        if not isinstance(value, str) or not value:
            return None
        return unfold(email.utils.collapse_rfc2231_value(value)).encode("utf-8", "surrogateescape")

    @cached_property
    def parts(self) -> list[Entity]:
        """
        The parts of a multipart entity, as byte ranges of its body.
        """
        boundary = self.boundary
        if not self.is_multipart or boundary is None:
            return []
        delimiter = re.compile(
            rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)", re.MULTILINE
        )
        body, start = self.body, None
        digest = self.content_type == "multipart/digest"
        parts: list[Entity] = []
        position = 0
        while (found := delimiter.search(body, position)) is not None:
            if start is not None:
                parts.append(Entity(body[start : found.start()], digest))
            if found.group(1):
                return parts
            start = position = found.end()
            # A delimiter's line break may also open the next delimiter.
            if body[found.end() - 1 : found.end()] == b"\n":
                position = found.end() - 1
        if start is not None:
            parts.append(Entity(body[start:], digest))
        return parts

    def enclosed(self) -> Entity:
        """
        The message a C{message/rfc822} entity encloses.
        """
        return Entity(self.body)


def _child(entity: Entity, index: int) -> Entity:
    if entity.is_multipart:
        parts = entity.parts
        if not 0 <= index < len(parts):
            raise LookupError(index)
        return parts[index]
    if index != 0:
        raise LookupError(index)
    return entity


def find_part(message: Entity, path: Iterable[int]) -> Entity:
    """
    The entity at a section's part path (0-based numbers).

    @raise LookupError: if there is no such part.
    """
    current = message
    for depth, index in enumerate(path):
        if depth and current.is_message:
            current = current.enclosed()
        current = _child(current, index)
    return current


def header_fields(header: bytes, names: Iterable[bytes], negate: bool) -> bytes:
    """
    The header fields named (or, with C{negate}, all others) as sent, in
    order, ending with a blank line.
    """
    wanted = {name.strip().lower() for name in names}
    lines = header.splitlines(keepends=True)
    kept: list[bytes] = []
    keep = False
    for line in lines:
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] not in (b" ", b"\t"):
            keep = (line.split(b":", 1)[0].strip().lower() in wanted) != negate
        if keep:
            kept.append(line)
    return b"".join(kept) + b"\r\n"


def section(
    message: Entity,
    path: tuple[int, ...],
    kind: str,
    names: Iterable[bytes] = (),
) -> bytes:
    """
    The bytes of a body section.

    @param path: the part numbers, 0-based (C{BODY[2.1]} is C{(1, 0)}).
    @param kind: C{""} (the part itself), C{"HEADER"}, C{"TEXT"},
        C{"MIME"}, C{"HEADER.FIELDS"} or C{"HEADER.FIELDS.NOT"}.
    @param names: the field names of C{HEADER.FIELDS (...)}.
    @raise LookupError: if there is no such part.
    """
    part = find_part(message, path)
    if kind == "":
        return part.raw if not path else part.body
    if kind == "MIME":
        return part.header
    # HEADER and TEXT of a part are those of the message it encloses.
    target = part.enclosed() if path and part.is_message else part
    if kind == "HEADER":
        return target.header
    if kind == "TEXT":
        return target.body
    return header_fields(target.header, names, negate=kind == "HEADER.FIELDS.NOT")
