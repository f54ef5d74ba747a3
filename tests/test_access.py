"""
The lock check on its own: L{MailboxAccess} over the in-memory store, the
failure limiter on a L{Clock}, and the password hashing.
"""

from __future__ import annotations

import base64
import time

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tempmail.access import (
    AccessDenied,
    AlreadyClaimed,
    Credentials,
    MailboxAccess,
    TooManyFailures,
    WeakPassword,
)
from tempmail.passwords import hash_password, issue_token, token_digest, verify_password
from tempmail.ratelimit import MemoryFailureLimiter
from tempmail.testing import MemoryMailStore
from tests.support import fired, synchronous_access

BOB = "bob@tempmail.local"
ADMIN = "an-operator-token-of-some-length"


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1_800_000_000)
    return clock


@pytest.fixture
def access(clock: Clock) -> MailboxAccess:
    return synchronous_access(MemoryMailStore(), clock, admin_token=ADMIN)


def test_password_hashes_are_salted_scrypt_and_checked() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$16384$7$1$")
    assert first != second
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsf", first)
    assert not verify_password("correct horse", "scrypt$bad")
    assert not verify_password("correct horse", "bcrypt$x$y$z$a$b")


def test_tokens_are_random_and_stored_as_digests() -> None:
    one, two = issue_token(), issue_token()
    assert one.token != two.token
    assert len(one.token) >= 40
    assert one.digest == token_digest(one.token) != one.token


def test_limiter_delays_grow_and_are_forgotten(clock: Clock) -> None:
    limiter = MemoryFailureLimiter(clock, free_failures=2, base_delay=1, max_delay=8)

    def wait() -> float:
        return fired(limiter.retry_after(["k"]))

    delays = []
    for _ in range(7):
        limiter.record_failure(["k"])
        delays.append(wait())
    assert delays == [0, 1, 2, 4, 8, 8, 8]
    clock.advance(8)
    assert wait() == 0
    limiter.record_failure(["k"])
    assert wait() == 8
    clock.advance(limiter.forget_after + 1)
    assert wait() == 0
    limiter.record_failure(["k"])
    assert wait() == 0


def test_limiter_forgets_success_and_bounds_memory(clock: Clock) -> None:
    limiter = MemoryFailureLimiter(clock, free_failures=1, max_keys=10)
    limiter.record_failure(["a", "b"])
    limiter.record_success(["a"])
    assert fired(limiter.retry_after(["a"])) == 0
    assert fired(limiter.retry_after(["a", "b"])) == 1
    for n in range(100):
        limiter.record_failure([f"flood-{n}"])
    assert len(limiter._records) <= 10


@pytest_twisted.ensureDeferred
async def test_open_mailbox_needs_nothing(access: MailboxAccess) -> None:
    await access.authorize(BOB, Credentials())
    assert await access.is_locked(BOB) is False


@pytest_twisted.ensureDeferred
async def test_claim_then_each_way_in(access: MailboxAccess) -> None:
    granted = await access.claim(BOB, "s3cret-pass")
    assert await access.is_locked(BOB) is True
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials())
    await access.authorize(BOB, Credentials(bearer=granted.token))
    await access.authorize(BOB, Credentials(basic=("BOB", "s3cret-pass")))
    await access.authorize(BOB, Credentials(basic=(BOB, "s3cret-pass")))
    await access.authorize(BOB, Credentials(password="s3cret-pass"))
    await access.authorize(BOB, Credentials(bearer=ADMIN))
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials(bearer="not-a-token"))
    with pytest.raises(AccessDenied):
        # Basic credentials for another mailbox do not open this one.
        await access.authorize(BOB, Credentials(basic=("alice", "s3cret-pass")))


@pytest_twisted.ensureDeferred
async def test_a_token_opens_only_its_own_mailbox(access: MailboxAccess) -> None:
    bobs = await access.claim(BOB, "s3cret-pass")
    await access.claim("alice@tempmail.local", "other-pass")
    with pytest.raises(AccessDenied):
        await access.authorize("alice@tempmail.local", Credentials(bearer=bobs.token))


@pytest_twisted.ensureDeferred
async def test_tokens_expire(access: MailboxAccess, clock: Clock) -> None:
    granted = await access.claim(BOB, "s3cret-pass")
    clock.advance(access.token_ttl + 1)
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials(bearer=granted.token))


@pytest_twisted.ensureDeferred
async def test_second_claim_is_refused(access: MailboxAccess) -> None:
    await access.claim(BOB, "s3cret-pass")
    with pytest.raises(AlreadyClaimed):
        await access.claim(BOB, "another-pass")


@pytest_twisted.ensureDeferred
async def test_password_policy(access: MailboxAccess) -> None:
    with pytest.raises(WeakPassword, match="at least 8"):
        await access.claim(BOB, "short")
    with pytest.raises(WeakPassword, match="at most 1024"):
        await access.claim(BOB, "x" * 1025)
    assert await access.is_locked(BOB) is False


@pytest_twisted.ensureDeferred
async def test_login_does_not_say_whether_the_mailbox_is_claimed(access: MailboxAccess) -> None:
    await access.claim(BOB, "s3cret-pass")
    with pytest.raises(AccessDenied) as wrong:
        await access.login(BOB, "wrong-pass", "192.0.2.1")
    with pytest.raises(AccessDenied) as unknown:
        await access.login("nobody@tempmail.local", "wrong-pass", "192.0.2.1")
    assert str(wrong.value) == str(unknown.value)
    granted = await access.login(BOB, "s3cret-pass", "192.0.2.2")
    await access.authorize(BOB, Credentials(bearer=granted.token))


@pytest_twisted.ensureDeferred
async def test_wrong_passwords_are_limited_per_mailbox_and_per_client(
    access: MailboxAccess, clock: Clock
) -> None:
    await access.claim(BOB, "s3cret-pass")
    for _ in range(3):
        with pytest.raises(AccessDenied):
            await access.login(BOB, "wrong-pass", "192.0.2.1")
    with pytest.raises(TooManyFailures) as limited:
        await access.login(BOB, "s3cret-pass", "192.0.2.9")
    assert limited.value.retry_after == 1
    with pytest.raises(TooManyFailures):
        await access.authorize(BOB, Credentials(password="wrong", client="192.0.2.1"))
    clock.advance(1)
    await access.login(BOB, "s3cret-pass", "192.0.2.9")


@pytest_twisted.ensureDeferred
async def test_password_change_revokes_tokens(access: MailboxAccess) -> None:
    old = await access.claim(BOB, "s3cret-pass")
    new = await access.change_password(BOB, "s3cret-pass", "n3w-password", "192.0.2.1")
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials(bearer=old.token))
    await access.authorize(BOB, Credentials(bearer=new.token))
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials(password="s3cret-pass"))
    await access.authorize(BOB, Credentials(password="n3w-password"))


@pytest_twisted.ensureDeferred
async def test_release_needs_the_password_and_revokes_tokens(access: MailboxAccess) -> None:
    granted = await access.claim(BOB, "s3cret-pass")
    with pytest.raises(AccessDenied):
        await access.release(BOB, Credentials())
    with pytest.raises(AccessDenied):
        await access.release(BOB, Credentials(password="wrong-pass"))
    await access.release(BOB, Credentials(password="s3cret-pass"))
    assert await access.is_locked(BOB) is False
    again = await access.claim(BOB, "someone-else")
    with pytest.raises(AccessDenied):
        await access.authorize(BOB, Credentials(bearer=granted.token))
    await access.authorize(BOB, Credentials(bearer=again.token))


def test_basic_header_form() -> None:
    encoded = base64.b64encode(b"bob:pa:ss").decode()
    assert base64.b64decode(encoded).decode().partition(":")[2] == "pa:ss"


def test_one_check_costs_tens_of_milliseconds() -> None:
    encoded = hash_password("s3cret-pass")
    started = time.perf_counter()
    assert verify_password("s3cret-pass", encoded)
    assert time.perf_counter() - started > 0.01
