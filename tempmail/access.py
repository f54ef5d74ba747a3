"""
Who may open a mailbox: the one check every door uses.

A mailbox is open to everyone until someone claims it with a password.  A
claimed (locked) mailbox opens only to a bearer token it issued, to its
password (HTTP Basic, or the deprecated C{password} parameter older clients
send), or to the operator's C{ADMIN_TOKEN}.  Every door (REST, the
WebSocket, webhooks, and IMAP and MCP as they come) calls
L{MailboxAccess.authorize}, so a lock holds everywhere.  Its answer is a
L{MailboxGrant} that the door passes to each write it guards, so the store
refuses the write if the lock changed in between.  Password checks are slow
(scrypt, in a pool of their own) and limited by an L{IFailureLimiter} shared
by every door.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from twisted.internet.interfaces import IReactorTime

from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.interfaces import IFailureLimiter, IMailboxLocks, IPasswordHasher
from tempmail.models import MailboxGrant, TokenGrant
from tempmail.passwords import (
    MAX_PASSWORD_LENGTH,
    dummy_hash,
    issue_token,
    same_secret,
    token_digest,
)
from tempmail.times import clock_now


@dataclass(frozen=True)
class Credentials:
    """
    What a client presented.

    @ivar bearer: an C{Authorization: Bearer} token (a mailbox token or the
        admin token).
    @ivar basic: the C{(user, password)} of HTTP Basic; the user names the
        mailbox the password is for.
    @ivar password: a C{?password=} query parameter or body C{password}
        (deprecated: it ends up in logs and history; kept for older clients).
    @ivar client: the client's address, for rate limiting.
    """

    bearer: str | None = None
    basic: tuple[str, str] | None = None
    password: str | None = None
    client: str = "unknown"


class AccessDenied(Exception):
    """
    The mailbox is locked and nothing presented opens it (HTTP 401).
    """


class TooManyFailures(Exception):
    """
    Too many wrong passwords lately (HTTP 429).

    @ivar retry_after: seconds until the next check is allowed.
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class AlreadyClaimed(Exception):
    """
    Someone claimed the mailbox first (HTTP 409).
    """


class WeakPassword(ValueError):
    """
    A new password breaks the policy; the message says how (HTTP 400).
    """


@dataclass(frozen=True)
class GrantedToken:
    """
    A token just issued: C{token} is shown to the client once.
    """

    token: str
    expires_at: datetime


class MailboxAccess:
    """
    Claims, logins, tokens and the lock check, over an L{IMailboxLocks}.

    @ivar hasher: hashes and checks passwords off the reactor thread (in the
        daemon, a thread pool of its own), so a check never blocks other
        sessions and a flood of guesses cannot starve other work.
    """

    def __init__(
        self,
        store: IMailboxLocks,
        limiter: IFailureLimiter,
        clock: IReactorTime,
        domain: str,
        hasher: IPasswordHasher,
        admin_token: str | None = None,
        password_min_length: int = 8,
        token_ttl: float = 86400.0,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.clock = clock
        self.domain = domain
        self.hasher = hasher
        self.admin_token = admin_token
        self.password_min_length = password_min_length
        self.token_ttl = token_ttl

    def _now(self) -> datetime:
        return clock_now(self.clock)

    def is_admin(self, credentials: Credentials) -> bool:
        """
        Whether the client holds the operator's C{ADMIN_TOKEN}.
        """
        return (
            self.admin_token is not None
            and credentials.bearer is not None
            and same_secret(credentials.bearer, self.admin_token)
        )

    def _password_for(self, mailbox: str, credentials: Credentials) -> str | None:
        if credentials.basic is not None:
            user, password = credentials.basic
            try:
                if normalise_address(user, self.domain) == mailbox:
                    return password
            except InvalidAddress:
                pass
        return credentials.password

    async def is_locked(self, mailbox: str) -> bool:
        """
        Whether C{mailbox} has been claimed.
        """
        return (await self.store.lock_state(mailbox)).claimed

    async def authorize(self, mailbox: str, credentials: Credentials) -> MailboxGrant:
        """
        Check that C{credentials} may read and change C{mailbox}.

        @return: the grant to pass to the writes this check allows; the
            store refuses them if the mailbox's lock changes meanwhile.
        @raise AccessDenied: if the mailbox is locked and they do not open it.
        @raise TooManyFailures: if password checks are being limited.
        """
        if self.is_admin(credentials):
            return MailboxGrant(mailbox, None)
        lock = await self.store.lock_state(mailbox)
        grant = MailboxGrant(mailbox, lock.version)
        if lock.password_hash is None:
            return grant
        if credentials.bearer is not None:
            opened = await self.store.token_mailbox(token_digest(credentials.bearer), self._now())
            if opened == mailbox:
                return grant
        password = self._password_for(mailbox, credentials)
        if password is None:
            raise AccessDenied("this mailbox is locked: send its token or password")
        await self._check_password(mailbox, password, credentials.client, lock.password_hash)
        return grant

    async def _check_password(
        self, mailbox: str, password: str, client: str, password_hash: str | None
    ) -> None:
        keys = [f"mailbox:{mailbox}", f"ip:{client}"]
        wait = await self.limiter.retry_after(keys)
        if wait > 0:
            raise TooManyFailures(wait)
        # An unclaimed mailbox is checked against a dummy hash: the answer
        # and its timing must not say whether the mailbox is claimed.
        matched = await self.hasher.verify(
            password[:MAX_PASSWORD_LENGTH], password_hash or dummy_hash()
        )
        if not matched or password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
            await self.limiter.record_failure(keys)
            raise AccessDenied("wrong mailbox or password")
        # Only the mailbox's count: clearing the client's would let a guesser
        # reset it by logging in to a mailbox of their own between guesses.
        await self.limiter.record_success(keys[:1])

    def _check_policy(self, password: str) -> None:
        if len(password) < self.password_min_length:
            raise WeakPassword(
                f"the password must be at least {self.password_min_length} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")

    def _grant(self) -> tuple[GrantedToken, TokenGrant]:
        issued = issue_token()
        expires = self._now() + timedelta(seconds=self.token_ttl)
        return GrantedToken(issued.token, expires), TokenGrant(issued.digest, expires)

    async def claim(self, mailbox: str, password: str) -> GrantedToken:
        """
        Lock an unclaimed mailbox with C{password}; return its first token.

        @raise WeakPassword: if the password breaks the policy.
        @raise AlreadyClaimed: if someone claimed it first.
        """
        self._check_policy(password)
        # Answer a taken mailbox before paying for a hash; the atomic claim
        # below still settles races.
        if await self.is_locked(mailbox):
            raise AlreadyClaimed(mailbox)
        password_hash = await self.hasher.hash(password)
        granted, grant = self._grant()
        if not await self.store.claim_mailbox(mailbox, password_hash, grant):
            raise AlreadyClaimed(mailbox)
        return granted

    async def login(self, mailbox: str, password: str, client: str) -> GrantedToken:
        """
        Exchange a mailbox's password for a new token.

        @raise AccessDenied: for a wrong password or an unclaimed mailbox,
            alike.
        @raise TooManyFailures: if password checks are being limited.
        """
        await self._check_password(
            mailbox, password, client, (await self.store.lock_state(mailbox)).password_hash
        )
        granted, grant = self._grant()
        if not await self.store.add_token(mailbox, grant):
            raise AccessDenied("wrong mailbox or password")
        return granted

    async def change_password(
        self, mailbox: str, password: str, new_password: str, client: str
    ) -> GrantedToken:
        """
        Replace the password, revoking every token; return a new token.
        """
        self._check_policy(new_password)
        await self._check_password(
            mailbox, password, client, (await self.store.lock_state(mailbox)).password_hash
        )
        granted, grant = self._grant()
        if not await self.store.change_password(
            mailbox, await self.hasher.hash(new_password), grant
        ):
            raise AccessDenied("wrong mailbox or password")
        return granted

    async def release(self, mailbox: str, credentials: Credentials) -> None:
        """
        Remove the lock (and every token) of a mailbox, given its password or
        the admin token.  Releasing an unclaimed mailbox does nothing.
        """
        if not self.is_admin(credentials):
            password_hash = (await self.store.lock_state(mailbox)).password_hash
            if password_hash is None:
                return
            password = self._password_for(mailbox, credentials)
            if password is None:
                raise AccessDenied("send the mailbox's password to release it")
            await self._check_password(mailbox, password, credentials.client, password_hash)
        await self.store.release_mailbox(mailbox)
