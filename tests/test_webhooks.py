"""
Webhooks in memory: target checks, signatures, and the retry schedule
driven by treq's StubTreq and a L{Clock}.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from tempmail.hub import EventHub
from tempmail.publishing import PublishingMailStore
from tempmail.testing import MemoryMailStore
from tempmail.webhooks.dispatcher import RETRY_STEPS, WebhookDispatcher, judge, retry_delay
from tempmail.webhooks.payloads import parse_events
from tempmail.webhooks.sender import AttemptResult, WebhookSender, signature
from tempmail.webhooks.targets import TargetChecker, TargetRefused, address_allowed, normalise_url
from tests.support import fired, incoming, open_grant

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::", False),
    ],
)
def test_only_public_addresses_by_default(address: str, allowed: bool) -> None:
    assert address_allowed(address, allow_private=False) is allowed


def test_allow_private_still_refuses_multicast_and_unspecified() -> None:
    assert address_allowed("127.0.0.1", allow_private=True)
    assert address_allowed("169.254.169.254", allow_private=True)
    assert not address_allowed("224.0.0.1", allow_private=True)
    assert not address_allowed("0.0.0.0", allow_private=True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("example.com/hook", "http://example.com/hook"),
        ("https://example.com:8443/x?y=1", "https://example.com:8443/x?y=1"),
    ],
)
def test_urls_are_normalised(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http://", "http://user:pw@example.com/", "http://x:99999/"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        normalise_url(url)


def test_every_resolved_address_must_pass() -> None:
    def resolve(host: str, port: int) -> Deferred[list[str]]:
        return succeed(
            {"mixed.test": ["93.184.216.34", "10.0.0.1"], "ok.test": ["93.184.216.34"]}[host]
        )

    checker = TargetChecker(resolve=resolve)
    target = fired(Deferred.fromCoroutine(checker.check("https://ok.test/hook")))
    assert (target.host, target.port, target.address) == ("ok.test", 443, "93.184.216.34")
    with pytest.raises(TargetRefused, match="not allowed"):
        fired(Deferred.fromCoroutine(checker.check("http://mixed.test/hook")))


def test_signature_verifies_in_three_lines() -> None:
    header = signature("whsec_k", 1700000000, b'{"event":"arrival"}')
    fields = dict(part.split("=", 1) for part in header.split(","))
    mac = hmac.new(b"whsec_k", fields["t"].encode() + b"." + b'{"event":"arrival"}', hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), fields["v1"])
    assert fields["t"] == "1700000000"


def test_events_accept_the_original_capitals() -> None:
    assert parse_events(["Arrival", "deletion", "READ", "arrival"]) == (
        "arrival",
        "deletion",
        "read",
    )
    for bad in (["arrival", "sent"], [], "arrival", [1]):
        with pytest.raises(ValueError):
            parse_events(bad)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, (True, False, None)),
        (204, (True, False, None)),
        (410, (False, False, "the target answered 410 Gone")),
        (302, (False, False, None)),
        (400, (False, False, None)),
        (404, (False, False, None)),
        (408, (False, True, None)),
        (429, (False, True, None)),
        (500, (False, True, None)),
        (None, (False, True, None)),
    ],
)
def test_judging_attempts(status: int | None, expected: tuple[bool, bool, str | None]) -> None:
    assert judge(AttemptResult(status, None, 1)) == expected


def test_refused_targets_are_never_retried() -> None:
    assert judge(AttemptResult(None, "not allowed", 0, refused=True)) == (False, False, None)


def test_retry_delays_span_about_an_hour() -> None:
    delays = [retry_delay(n, 10.0, lambda: 1.0) for n in range(1, 6)]
    assert delays == [10.0, 60.0, 300.0, 900.0, 2400.0]
    assert 3300 < sum(delays) < 4000
    assert retry_delay(9, 10.0, lambda: 1.2) == pytest.approx(10.0 * RETRY_STEPS[-1] * 1.2)


class Target(Resource):
    """
    Answers each POST with the next status; C{None} means never answer.
    """

    isLeaf = True

    def __init__(self, statuses: list[int | None]) -> None:
        super().__init__()
        self.statuses = statuses
        self.requests: list[Any] = []

    def render_POST(self, request: Any) -> bytes | int:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            return NOT_DONE_YET
        request.setResponseCode(status)
        return b"ok"


def public(host: str, port: int) -> Deferred[list[str]]:
    return succeed(["93.184.216.34"])


def harness(statuses: list[int | None], **options: Any) -> tuple[Any, ...]:
    clock = Clock()
    clock.advance(T0.timestamp())
    target = Target(statuses)
    stub = StubTreq(target)
    sender = WebhookSender(clock, TargetChecker(resolve=public), lambda t: stub, timeout=10)
    hub = EventHub(clock)
    store = PublishingMailStore(MemoryMailStore(clock), hub)
    dispatcher = WebhookDispatcher(
        store, hub, sender, clock, jitter=lambda: 1.0, poll_interval=1, **options
    )
    return clock, stub, target, store, dispatcher


def run(clock: Clock, stub: Any, seconds: float) -> None:
    """
    Let C{seconds} pass on the clock, one second at a time, pumping StubTreq.
    """
    clock.advance(0)
    stub.flush()
    for _ in range(int(seconds)):
        clock.advance(1)
        stub.flush()


def stop(clock: Clock, dispatcher: WebhookDispatcher) -> None:
    stopped = dispatcher.stopService()
    clock.advance(0)
    fired(stopped)
    assert not [c for c in clock.getDelayedCalls() if c.active()]


def test_retries_follow_the_schedule_with_one_delivery_id() -> None:
    clock, stub, target, store, dispatcher = harness([500, 503])
    hook = fired(
        store.create_webhook(open_grant("a@x.test"), "https://hooks.test/in", ("arrival",), "k", 20)
    )
    dispatcher.startService()
    fired(store.deliver(incoming("a@x.test")))
    run(clock, stub, 0)
    assert len(target.requests) == 1
    run(clock, stub, 9)
    assert len(target.requests) == 1
    run(clock, stub, 2)
    assert len(target.requests) == 2
    run(clock, stub, 61)
    assert len(target.requests) == 3
    ids = {r.requestHeaders.getRawHeaders(b"x-tempmail-delivery")[0] for r in target.requests}
    assert len(ids) == 1
    attempts = fired(store.list_attempts(hook.id, 10))
    assert [(a.attempt, a.status) for a in reversed(attempts)] == [(1, 500), (2, 503), (3, 200)]
    stop(clock, dispatcher)


def test_gives_up_after_max_attempts_and_disables_after_failures() -> None:
    clock, stub, target, store, dispatcher = harness(
        [500] * 10, max_attempts=2, disable_after=3, retry_base=1
    )
    hook = fired(
        store.create_webhook(open_grant("a@x.test"), "https://hooks.test/in", ("arrival",), "k", 20)
    )
    dispatcher.startService()
    fired(store.deliver(incoming("a@x.test", subject="one")))
    run(clock, stub, 5)
    assert len(target.requests) == 2
    assert fired(store.get_webhook(hook.id)).enabled
    fired(store.deliver(incoming("a@x.test", subject="two")))
    run(clock, stub, 5)
    disabled = fired(store.get_webhook(hook.id))
    assert disabled is not None and not disabled.enabled
    assert disabled.disabled_reason == "disabled after 3 consecutive failed attempts"
    # Its pending retry was abandoned with it.
    assert len(target.requests) == 3
    stop(clock, dispatcher)


def test_a_whole_attempt_times_out_on_the_clock() -> None:
    clock, stub, _, store, dispatcher = harness([None])
    hook = fired(
        store.create_webhook(open_grant("a@x.test"), "https://hooks.test/in", ("arrival",), "k", 20)
    )
    dispatcher.startService()
    fired(store.deliver(incoming("a@x.test")))
    run(clock, stub, 11)
    (attempt,) = fired(store.list_attempts(hook.id, 10))
    assert (attempt.status, attempt.error) == (None, "timed out after 10 s")
    stop(clock, dispatcher)


def test_concurrency_is_bounded_and_nothing_is_dropped() -> None:
    clock, stub, target, store, dispatcher = harness([None] * 100, concurrency=3, per_webhook=2)
    first = fired(
        store.create_webhook(open_grant("a@x.test"), "https://one.test/in", ("arrival",), "k", 20)
    )
    second = fired(
        store.create_webhook(open_grant("b@x.test"), "https://two.test/in", ("arrival",), "k", 20)
    )
    dispatcher.startService()
    for n in range(20):
        fired(store.deliver(incoming("a@x.test", "b@x.test", subject=str(n))))
    run(clock, stub, 0)
    # Three in flight at most, and no more than two for either webhook.
    assert len(target.requests) == 3
    hosts = [r.requestHeaders.getRawHeaders(b"host")[0] for r in target.requests]
    assert max(hosts.count(h) for h in set(hosts)) == 2
    for request in list(target.requests):
        request.setResponseCode(200)
        request.finish()
    target.statuses = []
    run(clock, stub, 30)
    delivered = fired(store.list_attempts(first.id, 100)) + fired(
        store.list_attempts(second.id, 100)
    )
    assert len([a for a in delivered if a.status == 200]) >= 40
    stop(clock, dispatcher)


def test_a_slow_webhook_does_not_starve_the_others() -> None:
    clock, stub, target, store, dispatcher = harness([None] * 100, concurrency=3, per_webhook=1)
    slow = fired(
        store.create_webhook(open_grant("a@x.test"), "https://slow.test/", ("arrival",), "k", 20)
    )
    fired(
        store.create_webhook(open_grant("b@x.test"), "https://quick.test/", ("arrival",), "k", 20)
    )
    for n in range(30):
        fired(store.deliver(incoming("a@x.test", subject=str(n))))
    dispatcher.startService()
    run(clock, stub, 0)
    fired(store.deliver(incoming("b@x.test", subject="quick")))
    run(clock, stub, 1)
    hosts = [r.requestHeaders.getRawHeaders(b"host")[0] for r in target.requests]
    assert hosts.count(b"slow.test") == 1
    assert hosts.count(b"quick.test") == 1
    assert fired(store.list_attempts(slow.id, 10)) == []
    stop(clock, dispatcher)


@pytest_twisted.ensureDeferred
async def test_a_host_the_resolver_cannot_encode_does_not_resolve() -> None:
    # Found by schemathesis: getaddrinfo raised UnicodeError (IDNA), a 500.
    with pytest.raises(TargetRefused, match="does not resolve"):
        await TargetChecker().check("http://m\u00b3\u008d\u00b0x/")


def test_a_name_that_does_not_resolve_is_retried() -> None:
    def unresolvable(host: str, port: int) -> Deferred[list[str]]:
        from twisted.internet.defer import fail

        return fail(OSError("no such name"))

    clock = Clock()
    sender = WebhookSender(clock, TargetChecker(resolve=unresolvable), lambda t: None)
    result = fired(sender.send("https://gone.test/", "k", "arrival", "d", b"{}"))
    assert (result.refused, result.error) == (False, "the URL's host does not resolve")
    assert judge(result) == (False, True, None)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_final(status: int) -> None:
    assert judge(AttemptResult(status, None, 1)) == (False, False, None)


def test_two_dispatchers_on_one_store_never_send_the_same_delivery() -> None:
    clock, stub, target, store, first = harness([None] * 100, concurrency=10, per_webhook=10)
    sender = first.sender
    second = WebhookDispatcher(
        store, first.hub, sender, clock, jitter=lambda: 1.0, poll_interval=1, per_webhook=10
    )
    fired(store.create_webhook(open_grant("a@x.test"), "https://one.test/", ("arrival",), "k", 20))
    for n in range(6):
        fired(store.deliver(incoming("a@x.test", subject=str(n))))
    first.startService()
    second.startService()
    run(clock, stub, 0)
    ids = [r.requestHeaders.getRawHeaders(b"x-tempmail-delivery")[0] for r in target.requests]
    assert len(ids) == 6
    assert len(set(ids)) == 6
    for dispatcher in (first, second):
        fired(dispatcher.stopService())
    clock.advance(0)
    assert not [c for c in clock.getDelayedCalls() if c.active()]


def test_a_stopped_dispatcher_gives_its_leases_back() -> None:
    clock, stub, target, store, first = harness([None], lease=timedelta(hours=1))
    fired(store.create_webhook(open_grant("a@x.test"), "https://one.test/", ("arrival",), "k", 20))
    fired(store.deliver(incoming("a@x.test")))
    first.startService()
    run(clock, stub, 0)
    assert len(target.requests) == 1  # never answered: the attempt is under way
    stop(clock, first)
    # The next daemon sends it at once, not an hour later when the lease ends.
    second = WebhookDispatcher(first.store, first.hub, first.sender, clock, jitter=lambda: 1.0)
    second.startService()
    run(clock, stub, 0)
    assert len(target.requests) == 2
    ids = {r.requestHeaders.getRawHeaders(b"x-tempmail-delivery")[0] for r in target.requests}
    assert len(ids) == 1
    stop(clock, second)
