"""
FETCH over Twisted's C{IMAP4Server}, in bounded batches and with every
body section cut from the stored bytes.

Twisted's own FETCH loads every message named before writing the first
response, re-serialises body sections (lower-case header names, one of
each repeated header, folding undone), ignores the length of a partial
fetch C{<a.b>}, drops the connection when a part that does not exist is
asked for, and never sets C{\\Seen}.  Here:

  - messages are read in batches of L{FETCH_BATCH} UIDs, and their bytes
    only when an item needs them, at most L{FETCH_BYTES} at once; the
    next batch waits while the client is not reading (backpressure), so
    a FETCH of a mailbox of any size holds only a batch in memory;
  - ENVELOPE, BODY and BODYSTRUCTURE come from L{structure};
  - C{BODY[section]<a.b>}, C{RFC822}, C{RFC822.HEADER} and
    C{RFC822.TEXT} are exact slices of the raw bytes (L{sections}); a part
    that does not exist is C{NIL};
  - C{BODY[...]}, C{RFC822} and C{RFC822.TEXT} (not C{BODY.PEEK}) set
    C{\\Seen} in a writeable mailbox, and the response then carries the
    new C{FLAGS} (RFC 3501 6.4.5);
  - a failure ends the FETCH with NO, with the connection kept.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.mail import imap4
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.imap.message import Message
from tempmail.imap.sections import section
from tempmail.imap.sequences import resolve
from tempmail.imap.structure import body_structure, encode, envelope

log = Logger()

# UIDs whose summaries one store call reads.
FETCH_BATCH = 500
# Message bytes read from the store at once (one larger message is read
# alone).
FETCH_BYTES = 4 * 1024 * 1024

# Items answered from the summary alone, without the message's bytes.
_SUMMARY_ITEMS = frozenset({"flags", "uid", "internaldate", "rfc822size"})
_KINDS = {"header": "HEADER", "text": "TEXT", "mime": "MIME"}


def _marks_seen(item: Any) -> bool:
    if item.type == "body":
        return not item.peek and (item.header or item.text or item.mime or item.empty)
    return bool(item.type in ("rfc822", "rfc822text"))


def _literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % (len(data),) + data


@implementer(IPushProducer)
class _Backpressure:
    """
    Tells a FETCH to wait while the transport's buffer is full.
    """

    def __init__(self) -> None:
        self._paused: Deferred[None] | None = None
        self.stopped = False

    def pauseProducing(self) -> None:
        if self._paused is None:
            self._paused = Deferred()

    def resumeProducing(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.callback(None)

    def stopProducing(self) -> None:
        # The connection is gone: nothing more is worth reading.
        self.stopped = True
        self.resumeProducing()

    async def wait(self) -> None:
        if self._paused is not None:
            await self._paused


class FetchCommands(imap4.IMAP4Server):
    """
    FETCH and UID FETCH for one session.
    """

    mbox: Any
    transport: Any
    _oldTimeout: Any

    def do_FETCH(
        self, tag: bytes, messages: imap4.MessageSet, query: list[Any], uid: int = 0
    ) -> None:
        if not query:
            self.sendBadResponse(tag, b"FETCH needs the items to fetch")
            return
        wanted = resolve(self.mbox.uids, messages, bool(uid))
        self._oldTimeout = self.setTimeout(None)
        Deferred.fromCoroutine(self._fetch(wanted, query, bool(uid))).addCallbacks(
            self._fetched, self._fetch_failed, callbackArgs=(tag,), errbackArgs=(tag,)
        )

    select_FETCH = (do_FETCH, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_fetchatt)  # type: ignore[assignment]

    async def _fetch(self, wanted: list[tuple[int, int]], query: list[Any], uid: bool) -> None:
        needs_raw = any(item.type not in _SUMMARY_ITEMS for item in query)
        marks_seen = self.mbox.isWriteable() and any(_marks_seen(item) for item in query)
        # What a message this FETCH marked seen is answered with: its new
        # flags too, unless they were asked for.
        with_flags = query
        if not any(item.type == "flags" for item in query):
            with_flags = [*query, imap4._FetchParser.Flags()]
        pressure = _Backpressure()
        self.transport.registerProducer(pressure, True)
        try:
            for start in range(0, len(wanted), FETCH_BATCH):
                batch = wanted[start : start + FETCH_BATCH]
                loaded = await self.mbox.summaries(batch)
                if marks_seen:
                    loaded = await self.mbox.mark_seen(loaded)
                for group in _by_size(loaded, FETCH_BYTES) if needs_raw else [loaded]:
                    if needs_raw:
                        group = await self.mbox.read_bodies(group)
                    self.transport.write(
                        b"".join(
                            self._response(seq, message, with_flags if seen else query, uid)
                            for seq, message, seen in group
                        )
                    )
                    await pressure.wait()
                    if pressure.stopped:
                        return
        finally:
            self.transport.unregisterProducer()

    def _response(self, seq: int, message: Message, query: list[Any], uid: bool) -> bytes:
        """
        One message's FETCH response (every item is written at once: none
        of them needs to wait).
        """
        items: list[bytes] = []
        for item in query:
            if item.type == "body":
                self.spew_body(item, seq, message, items.append)
            else:
                getattr(self, "spew_" + item.type)(seq, message, items.append, None)
        if uid and not any(item.type == "uid" for item in query):
            self.spew_uid(seq, message, items.append, None)
        return b"* %d FETCH (" % (seq,) + b" ".join(items) + b")\r\n"

    def _fetched(self, _: None, tag: bytes) -> None:
        self._end_fetch()
        self.sendPositiveResponse(tag, b"FETCH completed")

    def _fetch_failed(self, failure: Failure, tag: bytes) -> None:
        self._end_fetch()
        log.failure("IMAP FETCH failed", failure)
        self.sendNegativeResponse(tag, b"FETCH failed: the messages could not be read; try again")

    def _end_fetch(self) -> None:
        self.setTimeout(self._oldTimeout)
        del self._oldTimeout

    # The items Twisted gets wrong

    def spew_body(self, part: Any, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        write = _w or self.transport.write
        if not (part.header or part.text or part.mime or part.empty):
            write(b"BODY " + encode(body_structure(msg.entity, extended=False)))
            return
        kind, names = "", []
        if part.header:
            kind = "HEADER"
            if part.header.fields:
                kind = "HEADER.FIELDS.NOT" if part.header.negate else "HEADER.FIELDS"
                names = part.header.fields
        elif part.text or part.mime:
            kind = "TEXT" if part.text else "MIME"
        begin, length = part.partialBegin, part.partialLength
        part.partialBegin = None
        label = part.getBytes()
        part.partialBegin = begin
        try:
            data = section(msg.entity, tuple(part.part), kind, names)
        except LookupError:
            write(label + b" NIL")
            return
        if begin is not None:
            label += b"<%d>" % (begin,)
            data = data[begin : begin + length]
        write(label + b" " + _literal(data))

    def spew_envelope(self, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        (_w or self.transport.write)(b"ENVELOPE " + encode(envelope(msg.entity)))

    def spew_bodystructure(self, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        structure = body_structure(msg.entity, extended=True)
        (_w or self.transport.write)(b"BODYSTRUCTURE " + encode(structure))

    def spew_rfc822(self, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        (_w or self.transport.write)(b"RFC822 " + _literal(msg.raw))

    def spew_rfc822header(self, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        (_w or self.transport.write)(b"RFC822.HEADER " + _literal(msg.entity.header))

    def spew_rfc822text(self, id: int, msg: Message, _w: Any = None, _f: Any = None) -> None:
        (_w or self.transport.write)(b"RFC822.TEXT " + _literal(msg.entity.body))


def _by_size(
    loaded: list[tuple[int, Message, bool]], limit: int
) -> list[list[tuple[int, Message, bool]]]:
    """
    Consecutive groups of messages whose sizes add up to at most C{limit}
    (a larger message is a group of its own).
    """
    groups: list[list[tuple[int, Message, bool]]] = []
    total = limit
    for entry in loaded:
        size = entry[1].summary.size
        if total + size > limit:
            groups.append([])
            total = 0
        groups[-1].append(entry)
        total += size
    return groups
