"""
Logging in: the credentials checker, the realm, and the account (one
C{INBOX}) that a login yields.

The checker is the shared L{MailboxAccess}: the password is tried as a
token (a mailbox token or C{ADMIN_TOKEN}) and then as the mailbox's
password, and failures count in the limiter REST uses.  The account holds
the grant that check returned and keeps it current: it listens for lock
changes, checks the credentials again on each, and ends the session when
they no longer open the mailbox.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.mail import imap4
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.access import AccessDenied, Credentials, MailboxAccess, TooManyFailures
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.events import EventKind, MailEvent
from tempmail.imap.recent import RecentClaims
from tempmail.interfaces import IEventHub, IMessageStore, ISubscription, LockChanged
from tempmail.models import MailboxGrant

log = Logger()

T = TypeVar("T")
INBOX = "INBOX"


class LoginLimited(UnauthorizedLogin):
    """
    Password checks are being limited for this mailbox or client.
    """


@implementer(IUsernamePassword)
@dataclass
class ClientLogin:
    """
    A user name and password, and the client's address for the limiter.
    """

    username: bytes
    password: bytes
    client: str = "unknown"

    def checkPassword(self, password: bytes) -> bool:
        """
        Not used: L{AccessChecker} checks through L{MailboxAccess}.
        """
        return False


@dataclass(frozen=True)
class Authorized:
    """
    The avatar id of a login: whose mailbox, with what grant and
    credentials (checked again when the lock changes).
    """

    mailbox: str
    grant: MailboxGrant
    credentials: Credentials


@implementer(ICredentialsChecker)
class AccessChecker:
    """
    An C{ICredentialsChecker} over L{MailboxAccess}.

    @ivar allow_unclaimed: whether an unclaimed mailbox opens with any
        password (C{IMAP_ALLOW_UNCLAIMED}); if not, only C{ADMIN_TOKEN}
        opens it.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, access: MailboxAccess, allow_unclaimed: bool = True) -> None:
        self.access = access
        self.allow_unclaimed = allow_unclaimed

    def requestAvatarId(  # type: ignore[override]
        self, credentials: IUsernamePassword
    ) -> Deferred[Authorized]:
        """
        Check a login; fires with an L{Authorized}, or fails with
        C{UnauthorizedLogin} (L{LoginLimited} when limited).
        """
        return Deferred.fromCoroutine(self._check(credentials))

    async def _check(self, login: IUsernamePassword) -> Authorized:
        user = login.username.decode("utf-8", "replace")
        password = login.password.decode("utf-8", "replace")
        try:
            mailbox = normalise_address(user, self.access.domain)
        except InvalidAddress:
            raise UnauthorizedLogin("wrong mailbox or password") from None
        credentials = Credentials(
            bearer=password, basic=(user, password), client=getattr(login, "client", "unknown")
        )
        if (
            not self.allow_unclaimed
            and not self.access.is_admin(credentials)
            and not await self.access.is_locked(mailbox)
        ):
            raise UnauthorizedLogin("this mailbox has not been claimed")
        try:
            grant = await self.access.authorize(mailbox, credentials)
        except TooManyFailures:
            raise LoginLimited("too many failed logins; try again later") from None
        except AccessDenied as denied:
            raise UnauthorizedLogin(str(denied)) from None
        return Authorized(mailbox, grant, credentials)


@implementer(IRealm)
class MailRealm:
    """
    Makes a L{MailAccount} for each login.

    @ivar recent: which messages sessions have taken as C{\\Recent},
        shared by all of them.
    """

    def __init__(self, store: IMessageStore, access: MailboxAccess, hub: IEventHub) -> None:
        self.store = store
        self.access = access
        self.hub = hub
        self.recent = RecentClaims()

    def requestAvatar(  # type: ignore[override]
        self, avatarId: Authorized, mind: object, *interfaces: object
    ) -> tuple[object, MailAccount, Callable[[], None]]:
        """
        The account of an L{Authorized} login.
        """
        if imap4.IAccount not in interfaces:
            raise NotImplementedError("only IMAP accounts are served")
        account = MailAccount(self.store, self.access, self.hub, avatarId, self.recent)
        return imap4.IAccount, account, account.logout


@implementer(imap4.IMailboxInfo)
class InboxInfo:
    """
    What LIST says of C{INBOX}.
    """

    def getFlags(self) -> list[str]:
        return ["\\HasNoChildren"]

    def getHierarchicalDelimiter(self) -> str:
        return "/"


@implementer(imap4.IAccount)
class MailAccount:
    """
    One logged-in session's account: the mailbox as C{INBOX}.

    @ivar grant: the grant of the latest passed check, passed to writes.
    @ivar on_end: told, once, when the credentials stop opening the
        mailbox; the server closes the connection.
    @ivar listeners: called with each of the mailbox's events (the
        selected mailbox registers here).
    @ivar recent: the C{\\Recent} claims of every session.
    """

    def __init__(
        self,
        store: IMessageStore,
        access: MailboxAccess,
        hub: IEventHub,
        login: Authorized,
        recent: RecentClaims,
    ) -> None:
        self.store = store
        self.access = access
        self.recent = recent
        self.mailbox = login.mailbox
        self.grant = login.grant
        self.credentials = login.credentials
        self.listeners: list[Callable[[MailEvent], object]] = []
        self.ended: str | None = None
        self._uid_validity: int | None = None
        self._on_end: Callable[[str], object] | None = None
        self._subscription: ISubscription | None = hub.subscribe(self.mailbox, self._heard)
        # A lock change between the login's check and the subscription
        # would go unheard: compare the lock as it is now.
        if login.grant.lock_version is not None:
            self._run(self._compare_lock())

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        Deferred.fromCoroutine(work).addErrback(self._failed)

    def _failed(self, failure: Failure) -> None:
        if not failure.check(UnauthorizedLogin, TooManyFailures):
            log.failure("the lock check of {mailbox} failed", failure, mailbox=self.mailbox)
        self._end("your credentials no longer open this mailbox")

    async def _compare_lock(self) -> None:
        lock = await self.access.store.lock_state(self.mailbox)
        if lock.version != self.grant.lock_version:
            await self._recheck()

    async def _recheck(self) -> None:
        try:
            self.grant = await self.access.authorize(self.mailbox, self.credentials)
        except Exception:
            self._end("your credentials no longer open this mailbox")

    def on_end(self, callback: Callable[[str], object]) -> None:
        """
        Have C{callback} told why, when the credentials stop opening the
        mailbox (at once, if they already have).
        """
        self._on_end = callback
        if self.ended is not None:
            callback(self.ended)

    def _end(self, why: str) -> None:
        if self.ended is not None:
            return
        self.ended = why
        self.logout()
        if self._on_end is not None:
            self._on_end(why)

    def _heard(self, event: MailEvent) -> None:
        if event.kind is EventKind.LOCK_CHANGED:
            self._run(self._recheck())
            return
        for listener in list(self.listeners):
            listener(event)

    def logout(self) -> None:
        """
        Stop listening; called when the connection ends.
        """
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self.listeners.clear()

    async def write(self, operation: Callable[[MailboxGrant], Deferred[T]]) -> T:
        """
        Run a guarded write with the current grant; if the lock moved
        since, check the credentials again and retry once.
        """
        try:
            return await operation(self.grant)
        except LockChanged:
            self.grant = await self.access.authorize(self.mailbox, self.credentials)
            return await operation(self.grant)

    async def uid_validity(self) -> int:
        """
        The mailbox's UIDVALIDITY (it never changes, so it is asked once).
        """
        if self._uid_validity is None:
            self._uid_validity = (await self.store.open_mailbox(self.mailbox)).uid_validity
        return self._uid_validity

    async def status(self, names: list[str]) -> dict[str, int]:
        """
        The STATUS items asked for (upper-case names), from the store's
        counts; unknown names are left out.
        """
        state = await self.store.open_mailbox(self.mailbox)
        recent = 0
        if "RECENT" in names:
            # Those no session has taken yet (STATUS does not take them).
            uids = await self.store.list_uids(self.mailbox)
            recent = len(uids) - bisect_right(uids, self.recent.claimed(self.mailbox))
        values = {
            "MESSAGES": state.exists,
            "RECENT": recent,
            "UIDNEXT": state.uid_next,
            "UIDVALIDITY": state.uid_validity,
            "UNSEEN": state.unseen,
        }
        return {name: values[name] for name in names if name in values}

    # IAccount

    def select(self, name: str, rw: bool = True) -> Deferred[object] | None:
        """
        Open C{INBOX} (any case); any other name is no mailbox.
        """
        from tempmail.imap.mailbox import open_session_mailbox

        if name.upper() != INBOX:
            return None
        return Deferred.fromCoroutine(open_session_mailbox(self, bool(rw)))

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, InboxInfo]]:
        """
        C{INBOX}, if the pattern matches it.
        """
        pattern = imap4.wildcardToRegexp(ref + wildcard, "/")
        if pattern.match(INBOX) or re.fullmatch(pattern.pattern, INBOX, re.IGNORECASE):
            return [(INBOX, InboxInfo())]
        return []

    def addMailbox(self, name: str, mbox: object = None) -> None:
        raise imap4.MailboxException("only INBOX exists on this server")

    def create(self, pathspec: str) -> None:
        raise imap4.MailboxException("only INBOX exists on this server; it cannot have others")

    def delete(self, name: str) -> None:
        raise imap4.MailboxException("only INBOX exists on this server, and it cannot be deleted")

    def rename(self, oldname: str, newname: str) -> None:
        raise imap4.MailboxException("only INBOX exists on this server; it cannot be renamed")

    def isSubscribed(self, name: str) -> bool:
        return name.upper() == INBOX

    def subscribe(self, name: str) -> bool:
        if name.upper() != INBOX:
            raise imap4.MailboxException("only INBOX exists on this server")
        return True

    def unsubscribe(self, name: str) -> bool:
        if name.upper() != INBOX:
            raise imap4.MailboxException("only INBOX exists on this server")
        return True
