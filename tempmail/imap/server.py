"""
The IMAP4rev1 protocol: Twisted's C{IMAP4Server}, with its gaps filled.

  - SELECT and EXAMINE also report C{UIDNEXT}, C{PERMANENTFLAGS} and
    C{UNSEEN} (twisted#3951).
  - LOGIN and AUTHENTICATE PLAIN (with an RFC 4959 initial response) pass
    the client's address to the limiter, and say why they failed
    (C{[AUTHENTICATIONFAILED]}, or C{[UNAVAILABLE]} while limited).
  - A failed STORE or EXPUNGE answers NO, not BAD, and logs nothing.
  - Deletions made elsewhere are announced only where RFC 3501 allows:
    during IDLE, on NOOP or CHECK, and with an EXPUNGE.
  - IDLE ends on C{DONE} only; UNSELECT and ID are served.
  - SEARCH runs in the store (the built-in one fails on Python 3), takes
    literals among its keys, refuses charsets other than UTF-8 and
    US-ASCII with C{NO [BADCHARSET]}, and answers bad keys with BAD.
  - When the credentials stop opening the mailbox (a claim, release or
    password change), the session ends with C{* BYE}.
  - A command line longer than C{MAX_LENGTH} is skipped to its end and
    answered BAD; Twisted would drop the connection.
  - Commands are answered in the order they were sent: while one waits
    for the store, the lines after it wait too (Twisted runs them at once,
    so a pipelined CHECK could be answered before the STORE sent ahead of
    it, which mbsync does not survive, and a SELECT pipelined after LOGIN
    would find the session not yet logged in).
  - Arguments that Twisted's parsers choke on (a missing argument, a
    malformed FETCH item) are answered BAD as a syntax error, not as a
    "Server error" with a traceback in the log.

FETCH is L{tempmail.imap.fetching}'s, and APPEND, COPY, UID EXPUNGE,
STATUS, LIST and NAMESPACE are L{tempmail.imap.commands}'.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.mail import imap4
from twisted.python.failure import Failure

from tempmail.flags import SYSTEM_FLAGS
from tempmail.imap.account import ClientLogin, LoginLimited, MailAccount
from tempmail.imap.commands import MailboxCommands, MessageTooBig
from tempmail.imap.fetching import FetchCommands
from tempmail.imap.search import CHARSETS, BadSearch
from tempmail.interfaces import LockChanged

log = Logger()

# A literal at the end of a line of search keys: the rest follows it.
_TRAILING_LITERAL = re.compile(rb"\{(\d+)\}$")


_STORE_MODES = frozenset(
    sign + b"FLAGS" + silent for sign in (b"", b"+", b"-") for silent in (b"", b".SILENT")
)

# What the argument parsers raise on purpose; anything else they raise is
# malformed input too, reported as a syntax error.
_PROTOCOL_ERRORS = (
    imap4.IllegalClientResponse,
    imap4.IllegalOperation,
    imap4.IllegalMailboxEncoding,
    MessageTooBig,
)


def _syntax_error(failure: Failure) -> Failure:
    if failure.check(*_PROTOCOL_ERRORS):
        return failure
    return Failure(imap4.IllegalClientResponse(f"malformed arguments: {failure.value}"))


def _checked(parse: Callable[[Any, bytes], Any]) -> Callable[[Any, bytes], Any]:
    """
    An argument parser whose unexpected failures are syntax errors.
    """
    if getattr(parse, "checked", False):
        return parse

    def checked(server: Any, line: bytes) -> Any:
        if line is None:
            raise imap4.IllegalClientResponse("missing arguments")
        try:
            result = parse(server, line)
        except Exception:
            _syntax_error(Failure()).raiseException()
        if isinstance(result, Deferred):
            result.addErrback(_syntax_error)
        return result

    checked.checked = True  # type: ignore[attr-defined]
    return checked


class _LineSkipper:
    """
    Stands in for a literal while the rest of an overlong line arrives:
    drops it, and hands back what follows the line's end.
    """

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done

    def write(self, data: bytes) -> bytes | None:
        end = data.find(b"\n")
        if end < 0:
            return None
        self._done()
        return data[end + 1 :]


class TempmailIMAPServer(MailboxCommands, FetchCommands):
    """
    One IMAP connection.
    """

    IDENT = b"tempmail IMAP4rev1 ready"

    account: Any
    # Twisted leaves these untyped; they are set on connection and login.
    portal: Any
    mbox: Any
    transport: Any
    _pendingLiteral: Any

    def _client(self) -> str:
        return str(getattr(self.transport.getPeer(), "host", "unknown"))

    def capabilities(self) -> dict[bytes, Any]:
        caps = super().capabilities()
        caps[b"AUTH"] = [b"PLAIN"]
        caps[b"SASL-IR"] = None
        caps[b"UNSELECT"] = None
        caps[b"ID"] = None
        caps[b"UIDPLUS"] = None
        caps[b"APPENDLIMIT"] = [b"%d" % (self.max_append,)]
        return caps

    # Login

    def do_LOGIN(self, tag: bytes, user: bytes, passwd: bytes) -> None:
        self._login(tag, user, passwd)

    unauth_LOGIN = (  # type: ignore[assignment]
        do_LOGIN,
        imap4.IMAP4Server.arg_astring,
        imap4.IMAP4Server.arg_finalastring,
    )

    def _login(self, tag: bytes, user: bytes, password: bytes) -> None:
        login = ClientLogin(user, password, self._client())
        d = maybeDeferred(self.portal.login, login, None, imap4.IAccount)
        d.addCallbacks(self._logged_in, self._login_failed, callbackArgs=(tag,), errbackArgs=(tag,))

    def _logged_in(self, result: tuple[object, MailAccount, Any], tag: bytes) -> None:
        _, account, logout = result
        if self.state != "unauth":
            logout()
            return
        self.account = account
        self._onLogout = logout
        self.state = "auth"
        self.sendPositiveResponse(tag, b"LOGIN completed")
        self.setTimeout(self.POSTAUTH_TIMEOUT)
        account.on_end(self._credentials_lost)

    def _login_failed(self, failure: Failure, tag: bytes) -> None:
        if failure.check(LoginLimited):
            self.sendNegativeResponse(tag, b"[UNAVAILABLE] too many failed logins; try later")
        elif failure.check(UnauthorizedLogin):
            self.sendNegativeResponse(tag, b"[AUTHENTICATIONFAILED] wrong mailbox or password")
        else:
            log.failure("an IMAP login failed", failure)
            self.sendNegativeResponse(tag, b"[UNAVAILABLE] the login could not be checked")

    def do_AUTHENTICATE(self, tag: bytes, args: bytes) -> None:
        mechanism, _, initial = args.strip().partition(b" ")
        if mechanism.upper() != b"PLAIN":
            self.sendNegativeResponse(tag, b"only AUTHENTICATE PLAIN is supported")
            return
        if initial:
            self._plain(tag, initial.strip())
            return
        # An empty challenge is "+ " (RFC 4959), not a bare "+".
        self.sendLine(b"+ ")
        self.parseState = "pending"
        self._pendingLiteral = Deferred()
        self._pendingLiteral.addCallback(lambda line: self._plain(tag, line))

    unauth_AUTHENTICATE = (do_AUTHENTICATE, imap4.IMAP4Server.arg_line)  # type: ignore[assignment]

    def _plain(self, tag: bytes, response: bytes) -> None:
        if response == b"*":
            self.sendBadResponse(tag, b"AUTHENTICATE cancelled")
            return
        try:
            decoded = b"" if response == b"=" else b64decode(response, validate=True)
            _authzid, user, password = decoded.split(b"\0")
        except (binascii.Error, ValueError):
            self.sendBadResponse(tag, b"malformed PLAIN response")
            return
        self._login(tag, user, password)

    def _credentials_lost(self, why: str) -> None:
        self.sendUntaggedResponse(b"BYE " + why.encode("ascii", "replace"))
        self.transport.loseConnection()

    # Selection

    def _cbSelectWork(self, mbox: Any, cmdName: bytes, tag: bytes) -> None:
        if mbox is None:
            self.sendNegativeResponse(tag, b"[NONEXISTENT] only INBOX exists here")
            return
        flags = " ".join(SYSTEM_FLAGS).encode()
        self.sendUntaggedResponse(b"%d EXISTS" % (mbox.getMessageCount(),))
        self.sendUntaggedResponse(b"%d RECENT" % (mbox.getRecentCount(),))
        self.sendUntaggedResponse(b"FLAGS (" + flags + b")")
        self.sendPositiveResponse(None, b"[UIDVALIDITY %d]" % (mbox.getUIDValidity(),))
        self.sendPositiveResponse(None, b"[UIDNEXT %d]" % (mbox.getUIDNext(),))
        permanent = flags + b" \\*" if mbox.isWriteable() else b""
        self.sendPositiveResponse(None, b"[PERMANENTFLAGS (" + permanent + b")]")
        Deferred.fromCoroutine(mbox.first_unseen()).addCallback(
            self._selected, mbox, cmdName, tag
        ).addErrback(self._ebSelectWork, cmdName, tag)

    def _selected(self, unseen: int | None, mbox: Any, cmdName: bytes, tag: bytes) -> None:
        if unseen is not None:
            self.sendPositiveResponse(None, b"[UNSEEN %d]" % (unseen,))
        mbox.addListener(self)
        mode = b"READ-WRITE" if mbox.isWriteable() else b"READ-ONLY"
        self.sendPositiveResponse(tag, b"[" + mode + b"] " + cmdName + b" completed")
        self.state = "select"
        self.mbox = mbox

    def do_UNSELECT(self, tag: bytes) -> None:
        self.mbox.removeListener(self)
        self.mbox.close()
        self.mbox = None
        self.state = "auth"
        self.sendPositiveResponse(tag, b"UNSELECT completed")

    select_UNSELECT = (do_UNSELECT,)

    def do_ID(self, tag: bytes, rest: bytes | None = None) -> None:
        self.sendUntaggedResponse(b'ID ("name" "tempmail")')
        self.sendPositiveResponse(tag, b"ID completed")

    unauth_ID = (do_ID, imap4.IMAP4Server.arg_line)
    auth_ID = unauth_ID
    select_ID = unauth_ID

    # Arguments

    def _IMAP4Server__doCommand(
        self, tag: bytes, handler: Any, args: list[Any], parseargs: Any, line: bytes, uid: Any
    ) -> None:
        parsers = tuple(_checked(arg) if callable(arg) else arg for arg in parseargs)
        imap4.IMAP4Server._IMAP4Server__doCommand(  # type: ignore[attr-defined]
            self, tag, partial(self._run_command, tag, handler), args, parsers, line, uid
        )

    # In order

    _running: bytes | None = None

    def _run_command(self, tag: bytes, handler: Any, *args: Any, **kwargs: Any) -> None:
        """
        Run a command whose arguments are read; hold the lines that follow
        until it is answered, unless it waits for the client (IDLE, or an
        AUTHENTICATE continuation).
        """
        self._running = tag
        handler(*args, **kwargs)
        if self._running == tag and self.parseState == "command" and self.blocked is None:
            self.blocked = []  # type: ignore[assignment]

    def _respond(self, state: bytes, tag: bytes | None, message: bytes | None) -> None:
        super()._respond(state, tag, message)
        if tag is not None and tag == self._running:
            self._running = None
            if self.blocked is not None:
                self._unblock()

    def do_STORE(
        self, tag: bytes, messages: imap4.MessageSet, mode: bytes, flags: list[bytes], uid: int = 0
    ) -> None:
        if mode.upper() not in _STORE_MODES:
            self.sendBadResponse(tag, b"STORE takes FLAGS, +FLAGS or -FLAGS (and .SILENT)")
            return
        super().do_STORE(tag, messages, mode, flags, uid)

    select_STORE = (  # type: ignore[assignment]
        do_STORE,
        imap4.IMAP4Server.arg_seqset,
        imap4.IMAP4Server.arg_atom,
        imap4.IMAP4Server.arg_flaglist,
    )

    # Overlong lines

    def lineLengthExceeded(self, line: bytes) -> None:
        tag = line.split(b" ", 1)[0][:64] if line[:1].isalnum() else b"*"
        end = line.find(b"\n")
        if end >= 0:
            self._too_long(tag)
            # Twisted's line reader stops after this call: go on with what
            # followed the long line once this turn of the reactor is done.
            self.callLater(0, self.dataReceived, line[end + 1 :])  # type: ignore[call-arg]
            return
        # Skip the rest of the line as it comes, then answer.
        self._pendingLiteral = _LineSkipper(lambda: self._too_long(tag))
        self.setRawMode()

    def _too_long(self, tag: bytes) -> None:
        self.sendBadResponse(
            tag if tag != b"*" else None,
            b"command line longer than %d bytes" % (self.MAX_LENGTH,),
        )

    # Search

    def arg_searchkeys(self, line: bytes) -> Any:
        """
        The search keys, reading any literals among them.
        """
        return self._search_keys(b"", line)

    def _search_keys(self, before: bytes, line: bytes) -> Any:
        literal = _TRAILING_LITERAL.search(line)
        if literal is None:
            try:
                return (imap4.parseNestedParens(before + line), b"")
            except (imap4.MismatchedNesting, ValueError) as e:
                raise imap4.IllegalClientResponse(f"malformed search keys: {e}") from None
        size = int(literal.group(1))
        # Twisted's literal reader expects the line break after the size.
        prefix = before + line[: literal.start()] + b"{%d}\r\n" % (size,)
        d = self._stringLiteral(size)
        d.addCallback(lambda read: self._search_keys(prefix + read[0], read[1]))
        return d

    def do_SEARCH(self, tag: bytes, charset: bytes | None, query: list[Any], uid: int = 0) -> None:
        if charset is not None and charset.strip(b'"').upper() not in CHARSETS:
            self.sendNegativeResponse(tag, b"[BADCHARSET (" + b" ".join(CHARSETS) + b")]")
            return
        maybeDeferred(self.mbox.search, query, uid=bool(uid)).addCallbacks(
            self._searched,
            self._search_failed,
            callbackArgs=(tag, bool(uid)),
            errbackArgs=(tag,),
        )

    select_SEARCH = (do_SEARCH, imap4.IMAP4Server.opt_charset, arg_searchkeys)  # type: ignore[assignment]

    def _searched(self, found: list[int], tag: bytes, uid: bool) -> None:
        numbers = [self.mbox.getUID(seq) for seq in found] if uid else found
        self.sendUntaggedResponse(b"".join([b"SEARCH"] + [b" %d" % (n,) for n in numbers]))
        self.sendPositiveResponse(tag, b"SEARCH completed")

    def _search_failed(self, failure: Failure, tag: bytes) -> None:
        if failure.check(BadSearch):
            self.sendBadResponse(tag, b"SEARCH: " + str(failure.value).encode("ascii", "replace"))
            return
        log.failure("IMAP SEARCH failed", failure)
        self.sendNegativeResponse(tag, b"SEARCH failed: the mailbox could not be searched")

    # Updates from elsewhere

    def expungePending(self) -> None:
        """
        A message was deleted elsewhere; announce it now if idling.
        """
        if self.parseState == "idle":
            self._announce_expunges()

    def _announce_expunges(self) -> None:
        if self.mbox is not None:
            for seq in self.mbox.take_pending():
                self.sendUntaggedResponse(b"%d EXPUNGE" % (seq,))

    def do_NOOP(self, tag: bytes) -> None:
        self._announce_expunges()
        self.sendPositiveResponse(tag, b"NOOP completed")

    unauth_NOOP = (do_NOOP,)  # type: ignore[assignment]
    auth_NOOP = unauth_NOOP  # type: ignore[assignment]
    select_NOOP = unauth_NOOP  # type: ignore[assignment]

    def do_CHECK(self, tag: bytes) -> None:
        self._announce_expunges()
        self.sendPositiveResponse(tag, b"CHECK completed")

    select_CHECK = (do_CHECK,)  # type: ignore[assignment]

    def do_IDLE(self, tag: bytes) -> None:
        self._announce_expunges()
        super().do_IDLE(tag)

    auth_IDLE = (do_IDLE,)  # type: ignore[assignment]
    select_IDLE = auth_IDLE  # type: ignore[assignment]

    def parse_idle(self, *args: bytes) -> None:
        # Only DONE ends IDLE (RFC 2177); anything else is a bad line.
        if args and args[0].strip().upper() != b"DONE":
            self.sendBadResponse(None, b"only DONE ends IDLE")
            return
        super().parse_idle(*args)

    # Failures of writes are the client's to hear, not the log's.

    def _IMAP4Server__ebStore(self, failure: Failure, tag: bytes) -> None:
        self.sendNegativeResponse(tag, self._why(failure, b"STORE"))

    def _IMAP4Server__ebExpunge(self, failure: Failure, tag: bytes) -> None:
        self.sendNegativeResponse(tag, self._why(failure, b"EXPUNGE"))

    def _why(self, failure: Failure, command: bytes) -> bytes:
        if failure.check(imap4.IllegalClientResponse, imap4.ReadOnlyMailbox):
            return command + b" refused: " + str(failure.value).encode("ascii", "replace")
        if failure.check(LockChanged, UnauthorizedLogin, Exception):
            if not failure.check(LockChanged):
                log.failure("IMAP {command} failed", failure, command=command.decode())
            return command + b" failed: the mailbox could not be changed; try again"
        return command + b" failed"
