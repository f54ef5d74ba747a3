"""
The IMAP commands that add to or name mailboxes, over Twisted's
C{IMAP4Server}: APPEND (with C{APPENDUID}), COPY (with C{COPYUID}),
UID EXPUNGE (UIDPLUS, RFC 4315), STATUS, LIST and NAMESPACE.

  - Only C{INBOX} exists: APPEND and COPY elsewhere answer
    C{NO [TRYCREATE]}, STATUS of another name C{NO [NONEXISTENT]}.
  - APPEND is held to the SMTP message size limit, advertised as
    C{APPENDLIMIT} (RFC 7889); a larger literal is refused with
    C{NO [TOOBIG]} before the client sends it.
  - STATUS reads counts from the store without opening a session view.
  - C{LIST "" ""} answers the hierarchy delimiter, as RFC 3501 asks.
  - Failures answer NO, never BAD, and never drop the connection.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.mail import imap4
from twisted.python.failure import Failure

from tempmail.flags import InvalidFlag
from tempmail.imap.account import INBOX
from tempmail.imap.append import Appender, format_set
from tempmail.imap.sequences import resolve
from tempmail.interfaces import StorageUnavailable

log = Logger()

_LITERAL = re.compile(rb"^\{(\d+)\}$")


class MessageTooBig(Exception):
    """
    An APPEND literal is larger than the message size limit.
    """


def _is_inbox(name: bytes) -> bool:
    try:
        return str(imap4._parseMbox(name)).upper() == INBOX
    except imap4.IllegalMailboxEncoding:
        return False


def _internal_date(text: bytes | None) -> datetime | None:
    """
    An APPEND date-time (C{"05-Dec-2026 10:00:00 +0100"}), in UTC.

    @raise imap4.IllegalClientResponse: if it is not one.
    """
    if text is None:
        return None
    try:
        when = datetime.strptime(text.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except (UnicodeDecodeError, ValueError):
        raise imap4.IllegalClientResponse("malformed APPEND date-time") from None
    return when.astimezone(UTC)


class MailboxCommands(imap4.IMAP4Server):
    """
    APPEND, COPY, UID EXPUNGE, STATUS, LIST and NAMESPACE for one session.

    @ivar appender: files appended and copied messages.
    @ivar max_append: the largest message APPEND accepts, in bytes.
    """

    appender: Appender
    max_append: int = 25 * 1024 * 1024
    account: Any
    mbox: Any

    def _store_failed(self, failure: Failure, tag: bytes, command: bytes) -> None:
        if failure.check(InvalidFlag):
            why = str(failure.value).encode("ascii", "replace")
            self.sendNegativeResponse(tag, command + b" refused: " + why)
        elif failure.check(StorageUnavailable):
            self.sendNegativeResponse(tag, b"[UNAVAILABLE] " + command + b" failed; try again")
        else:
            log.failure("IMAP {command} failed", failure, command=command.decode())
            self.sendNegativeResponse(tag, command + b" failed; try again")

    # APPEND

    def arg_append_literal(self, line: bytes) -> Any:
        """
        The message literal, refused before it is sent if too large.
        """
        size = _LITERAL.match(line)
        if size is not None and int(size.group(1)) > self.max_append:
            raise MessageTooBig()
        return self.arg_literal(line)

    def opt_append_date(self, line: bytes) -> tuple[datetime | None, bytes]:
        """
        The optional date-time, checked before the literal is asked for.
        """
        text, rest = self.opt_datetime(line)
        return _internal_date(text), rest

    def _IMAP4Server__ebDispatch(self, failure: Failure, tag: bytes) -> None:
        if failure.check(MessageTooBig):
            self.sendNegativeResponse(
                tag, b"[TOOBIG] messages are limited to %d bytes" % (self.max_append,)
            )
            return
        imap4.IMAP4Server._IMAP4Server__ebDispatch(self, failure, tag)  # type: ignore[attr-defined]

    def do_APPEND(
        self,
        tag: bytes,
        mailbox: bytes,
        flags: list[bytes] | None,
        date: datetime | None,
        message: Any,
    ) -> None:
        if not _is_inbox(mailbox):
            self.sendNegativeResponse(tag, b"[TRYCREATE] only INBOX exists here")
            return
        names = [flag.decode("utf-8", "replace") for flag in flags or ()]
        Deferred.fromCoroutine(self._append(message.read(), names, date)).addCallbacks(
            lambda done: self.sendPositiveResponse(tag, done),
            self._store_failed,
            errbackArgs=(tag, b"APPEND"),
        )

    async def _append(self, raw: bytes, flags: list[str], when: datetime | None) -> bytes:
        uid = await self.appender.append(self.account, raw, flags, when)
        validity = await self.account.uid_validity()
        return b"[APPENDUID %d %d] APPEND completed" % (validity, uid)

    auth_APPEND = (  # type: ignore[assignment]
        do_APPEND,
        imap4.IMAP4Server.arg_astring,
        imap4.IMAP4Server.opt_plist,
        opt_append_date,
        arg_append_literal,
    )
    select_APPEND = auth_APPEND  # type: ignore[assignment]

    # COPY

    def do_COPY(self, tag: bytes, messages: imap4.MessageSet, mailbox: bytes, uid: int = 0) -> None:
        if not _is_inbox(mailbox):
            self.sendNegativeResponse(tag, b"[TRYCREATE] only INBOX exists here")
            return
        wanted = resolve(self.mbox.uids, messages, bool(uid))
        Deferred.fromCoroutine(self._copy(wanted)).addCallbacks(
            lambda done: self.sendPositiveResponse(tag, done),
            self._store_failed,
            errbackArgs=(tag, b"COPY"),
        )

    async def _copy(self, wanted: list[tuple[int, int]]) -> bytes:
        pairs = await self.appender.copy(self.account, wanted)
        if not pairs:
            return b"COPY completed"
        sources = format_set([old for old, _ in pairs])
        targets = format_set([new for _, new in pairs])
        validity = await self.account.uid_validity()
        return b"[COPYUID %d %s %s] COPY completed" % (validity, sources, targets)

    select_COPY = (do_COPY, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]

    # UID EXPUNGE

    def do_UID(self, tag: bytes, command: bytes, line: bytes) -> None:
        if command.upper() != b"EXPUNGE":
            super().do_UID(tag, command, line)
            return
        try:
            messages = imap4.parseIdList(line.strip())
        except (imap4.IllegalIdentifierError, ValueError):
            self.sendBadResponse(tag, b"UID EXPUNGE needs a set of UIDs")
            return
        if not self.mbox.isWriteable():
            self.sendNegativeResponse(tag, b"EXPUNGE refused: the mailbox was opened with EXAMINE")
            return
        uids = [u for _, u in resolve(self.mbox.uids, messages, True)]
        self.mbox.expunge(uids).addCallbacks(
            self._expunged, self._store_failed, callbackArgs=(tag,), errbackArgs=(tag, b"EXPUNGE")
        )

    def _expunged(self, seqs: list[int], tag: bytes) -> None:
        for seq in seqs:
            self.sendUntaggedResponse(b"%d EXPUNGE" % (seq,))
        self.sendPositiveResponse(tag, b"EXPUNGE completed")

    select_UID = (do_UID, imap4.IMAP4Server.arg_atom, imap4.IMAP4Server.arg_line)  # type: ignore[assignment]

    # STATUS, LIST, NAMESPACE

    def do_STATUS(self, tag: bytes, mailbox: bytes, names: list[bytes]) -> None:
        if not _is_inbox(mailbox):
            self.sendNegativeResponse(tag, b"[NONEXISTENT] only INBOX exists here")
            return
        wanted = [name.decode("ascii", "replace").upper() for name in names]
        Deferred.fromCoroutine(self.account.status(wanted)).addCallbacks(
            self._status, self._store_failed, callbackArgs=(tag,), errbackArgs=(tag, b"STATUS")
        )

    def _status(self, values: dict[str, int], tag: bytes) -> None:
        items = " ".join(f"{name} {value}" for name, value in values.items()).encode()
        self.sendUntaggedResponse(b"STATUS INBOX (" + items + b")")
        self.sendPositiveResponse(tag, b"STATUS completed")

    auth_STATUS = (do_STATUS, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_plist)  # type: ignore[assignment]
    select_STATUS = auth_STATUS  # type: ignore[assignment]

    def _listWork(self, tag: bytes, ref: bytes, mbox: bytes, sub: int, cmdName: bytes) -> None:
        if mbox == b"" and not sub:
            # RFC 3501 6.3.8: the hierarchy delimiter and the root.
            self.sendUntaggedResponse(cmdName + b' (\\Noselect) "/" ""')
            self.sendPositiveResponse(tag, cmdName + b" completed")
            return
        super()._listWork(tag, ref, mbox, sub, cmdName)

    auth_LIST = (
        _listWork,
        imap4.IMAP4Server.arg_astring,
        imap4.IMAP4Server.arg_astring,
        0,
        b"LIST",
    )  # type: ignore[assignment]
    select_LIST = auth_LIST  # type: ignore[assignment]
    auth_LSUB = (
        _listWork,
        imap4.IMAP4Server.arg_astring,
        imap4.IMAP4Server.arg_astring,
        1,
        b"LSUB",
    )  # type: ignore[assignment]
    select_LSUB = auth_LSUB  # type: ignore[assignment]

    def do_NAMESPACE(self, tag: bytes) -> None:
        self.sendUntaggedResponse(b'NAMESPACE (("" "/")) NIL NIL')
        self.sendPositiveResponse(tag, b"NAMESPACE completed")

    auth_NAMESPACE = (do_NAMESPACE,)  # type: ignore[assignment]
    select_NAMESPACE = auth_NAMESPACE  # type: ignore[assignment]
