"""
The MCP methods on Twisted's doubles: a L{MemoryMailStore} behind the
publishing wrapper, a L{RecordingEventHub} flushed by the test, the inline
lock check and a L{Clock}.  Here the order of events can be set exactly:
mail stored before the watch opens, an event heard twice, a lock change in
the middle of a wait, the deadline and the progress ticks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.web.iweb import IRequest

from tempmail.access import Credentials
from tempmail.mcp import McpLimits, McpServer, McpServices
from tempmail.mcp.context import CallContext
from tempmail.mcp.jsonrpc import JsonRpcError, Kind, Message
from tempmail.mcp.search import SearchOutcome, search_mailbox
from tempmail.publishing import PublishingMailStore
from tempmail.search import Everything, HeaderContains
from tempmail.testing import MemoryMailStore, RecordingEventHub
from tempmail.times import clock_now
from tests.support import T0, fired, incoming, open_grant, synchronous_access

BOX = "bob@tempmail.local"


class Harness:
    """
    One server over doubles, one session, and what its notifications sent.
    """

    def __init__(self, max_subscriptions: int = 100) -> None:
        self.clock = Clock()
        self.clock.advance(T0.timestamp())
        self.hub = RecordingEventHub()
        self.store = PublishingMailStore(MemoryMailStore(self.clock), self.hub)
        self.access = synchronous_access(self.store, self.clock)
        limits = McpLimits(max_wait=30, wait_lookback=60, max_subscriptions=max_subscriptions)
        self.server = McpServer(
            McpServices(
                self.store, self.access, self.hub, self.clock, "tempmail.local", None, limits
            )
        )
        self.session, _ = self.server.start_session({"protocolVersion": "2025-11-25"})
        self.notified: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any]) -> Deferred[dict[str, Any]]:
        """
        Answer one request of the session, made without HTTP credentials.
        """
        token = params.get("_meta", {}).get("progressToken")
        context = CallContext(self.session, Credentials(), self.notified.append, token)
        return Deferred.fromCoroutine(
            self.server.answer(context, Message(Kind.REQUEST, method, 1, params))
        )

    def stateless(self, method: str, params: dict[str, Any]) -> Deferred[dict[str, Any]]:
        """
        Answer one stateless (2026-07-28) request, with id C{"s1"}.
        """
        context = CallContext(self.session, Credentials(), self.notified.append, None, "s1")
        return Deferred.fromCoroutine(
            self.server.answer_stateless(context, Message(Kind.REQUEST, method, "s1", params))
        )

    def tool(self, name: str, **arguments: Any) -> Deferred[dict[str, Any]]:
        return self.call("tools/call", {"name": name, "arguments": arguments})

    def deliver(self, subject: str, seconds_later: float = 1) -> str:
        """
        Store a message for C{BOX} a little later; its event waits for
        C{hub.flush()}.
        """
        self.clock.advance(seconds_later)
        message = incoming(BOX, subject=subject, at=clock_now(self.clock))
        return fired(self.store.deliver(message))[0].id

    def close(self) -> None:
        self.server.sessions.end_all()
        assert self.clock.getDelayedCalls() == []


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    made.close()


def test_a_wait_returns_the_first_matching_arrival(harness: Harness) -> None:
    waiting = harness.tool("wait_for_email", address="bob", subject_contains="code", timeout=10)
    assert not waiting.called
    harness.deliver("newsletter")
    harness.hub.flush()
    assert not waiting.called
    id = harness.deliver("Your code")
    harness.hub.flush()
    result = fired(waiting)
    assert result["structuredContent"]["found"] is True
    assert result["structuredContent"]["email"]["id"] == id
    # The watch unsubscribed once it had its message.
    assert harness.hub.subscriptions == []


def test_a_wait_matches_arrivals_on_their_decoded_headers(harness: Harness) -> None:
    waiting = harness.tool("wait_for_email", address=BOX, timeout=10, **{"from": "ZOË"})
    harness.deliver("no sender at all")
    harness.hub.flush()
    assert not waiting.called
    # From: =?utf-8?q?Zo=C3=AB?=, matched by the store as search_emails is.
    id = deliver_raw(harness, QUOTED_BODY)
    harness.hub.flush()
    assert fired(waiting)["structuredContent"]["email"]["id"] == id


def test_mail_stored_before_the_watch_opened_counts_once(harness: Harness) -> None:
    # Stored, but its event not yet told: the store search finds it, and the
    # late event changes nothing.
    id = harness.deliver("Your code")
    waiting = harness.tool("wait_for_email", address=BOX, timeout=10)
    assert fired(waiting)["structuredContent"]["email"]["id"] == id
    harness.hub.flush()


def test_mail_older_than_the_lookback_does_not_count(harness: Harness) -> None:
    harness.deliver("old")
    harness.clock.advance(61)
    waiting = harness.tool("wait_for_email", address=BOX, timeout=5)
    harness.clock.advance(5)
    result = fired(waiting)["structuredContent"]
    assert result == {"found": False, "waited_seconds": 5, "email": None}


def test_progress_ticks_every_second_until_the_deadline(harness: Harness) -> None:
    waiting = harness.call(
        "tools/call",
        {
            "name": "wait_for_email",
            "arguments": {"address": BOX, "timeout": 3},
            "_meta": {"progressToken": "t"},
        },
    )
    harness.clock.advance(1)
    harness.clock.advance(1)
    harness.clock.advance(1)
    assert fired(waiting)["structuredContent"]["found"] is False
    assert [(n["params"]["progress"], n["params"]["total"]) for n in harness.notified] == [
        (0, 3),
        (1, 3),
        (2, 3),
    ]
    assert {n["params"]["progressToken"] for n in harness.notified} == {"t"}


def test_the_timeout_is_capped(harness: Harness) -> None:
    waiting = harness.tool("wait_for_email", address=BOX, timeout=3600)
    harness.clock.advance(30)
    assert fired(waiting)["structuredContent"]["waited_seconds"] == 30


def test_a_claim_during_a_wait_ends_it_as_locked(harness: Harness) -> None:
    waiting = harness.tool("wait_for_email", address=BOX, timeout=10)
    fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    harness.hub.flush()
    result = fired(waiting)
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("mailbox is locked")


def test_a_token_argument_keeps_a_wait_open_across_a_claim(harness: Harness) -> None:
    granted = fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    waiting = harness.tool("wait_for_email", address=BOX, timeout=10, token=granted.token)
    id = harness.deliver("after")
    harness.hub.flush()
    assert fired(waiting)["structuredContent"]["email"]["id"] == id


def test_tools_refuse_locked_mailboxes_and_unknown_ids_alike(harness: Harness) -> None:
    id = harness.deliver("secret")
    fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    locked = fired(harness.tool("read_email", id=id))
    unknown = fired(harness.tool("read_email", id="00000000-0000-0000-0000-000000000000"))
    assert locked == unknown and locked["isError"] is True
    wrong = fired(harness.tool("list_emails", address=BOX, password="nope-nope"))
    assert wrong["content"][0]["text"] == "mailbox is locked: wrong mailbox or password"
    right = fired(harness.tool("list_emails", address=BOX, password="a-long-password"))
    assert right["structuredContent"]["total"] == 1


def test_subscriptions_follow_arrivals_and_end_with_the_lock(harness: Harness) -> None:
    stream = harness.session.add_stream(cast(IRequest, _RecordingRequest()))
    fired(harness.call("resources/subscribe", {"uri": "mailbox://bob"}))
    harness.deliver("one")
    harness.hub.flush()
    request = cast(_RecordingRequest, harness.session.streams[0][0])
    assert b'"uri":"mailbox://bob"' in b"".join(request.written)
    fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    harness.hub.flush()
    assert harness.session.subscriptions == {}
    with pytest.raises(JsonRpcError) as refused:
        fired(harness.call("resources/subscribe", {"uri": "mailbox://bob"}))
    assert refused.value.code == -32003
    harness.server.sessions.end_all()
    assert stream.called


class _RecordingRequest:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


QUOTED_BODY = (
    b"From: =?utf-8?q?Zo=C3=AB?= <zoe@shop.test>\r\nTo: bob@tempmail.local\r\n"
    b"Subject: Your order\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Caf=C3=A9 cr=C3=A8me: your code is 4711\r\n"
)
BASE64_BODY = (
    b"From: auth@login.test\r\nTo: bob@tempmail.local\r\nCc: team@copy.test\r\n"
    b"Subject: Sign in\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    # "<p>Zugangscode für heute</p>"
    b"\r\nPHA+WnVnYW5nc2NvZGUgZsO8ciBoZXV0ZTwvcD4=\r\n--b--\r\n"
)


def deliver_raw(harness: Harness, raw: bytes, seconds_later: float = 1) -> str:
    """
    Store C{raw} for C{BOX} a little later; its event waits for
    C{hub.flush()}.
    """
    harness.clock.advance(seconds_later)
    message = replace(incoming(BOX, at=clock_now(harness.clock)), raw=raw)
    return fired(harness.store.deliver(message))[0].id


def test_search_reaches_the_oldest_mail_and_decodes_bodies(harness: Harness) -> None:
    # Far more mail than a search once looked through: the oldest two match.
    quoted = deliver_raw(harness, QUOTED_BODY)
    encoded = deliver_raw(harness, BASE64_BODY)
    ids = [harness.deliver(f"message {n}", seconds_later=10) for n in range(12)]

    def search(**criteria: Any) -> dict[str, Any]:
        found = fired(harness.tool("search_emails", address=BOX, **criteria))
        return cast(dict[str, Any], found["structuredContent"])

    assert [e["id"] for e in search(text="CAFÉ CRÈME")["emails"]] == [quoted]
    assert [e["id"] for e in search(text="zugangscode FÜR")["emails"]] == [encoded]
    assert [e["id"] for e in search(**{"from": "zoë"})["emails"]] == [quoted]
    assert [e["id"] for e in search(to="TEAM@copy")["emails"]] == [encoded]
    assert [e["id"] for e in search(to="bob@", subject="order")["emails"]] == [quoted]
    assert search(text="code 4711", subject="sign in")["emails"] == []
    # Newest first, and only what came after since (exclusive) up to until.
    stamps = [search(subject=f"message {n}")["emails"][0]["timestamp"] for n in (8, 10)]
    within = search(since=stamps[0], until=stamps[1])
    assert [e["id"] for e in within["emails"]] == [ids[10], ids[9]]
    assert within["complete"] is True
    # At most limit; complete says older ones match too.
    newest = fired(harness.tool("search_emails", address=BOX, subject="MESSAGE", limit=3))
    assert [e["id"] for e in newest["structuredContent"]["emails"]] == ids[:8:-1]
    assert newest["structuredContent"]["complete"] is False
    assert "older ones match too" in newest["content"][0]["text"]


def test_search_pages_down_through_uid_batches() -> None:
    clock = Clock()
    store = MemoryMailStore(clock)
    for n in range(1, 8):
        fired(store.deliver(incoming(BOX, subject="match" if n in (1, 3, 6, 7) else "other")))
    matching = HeaderContains("subject", "match")

    def uids(limit: int) -> tuple[list[int], bool]:
        found = fired(Deferred.fromCoroutine(search_mailbox(store, BOX, matching, limit, batch=2)))
        return [summary.uid for summary in found.summaries], found.complete

    # Batches of two UIDs from the top: (6, 7), (4, 5), (2, 3), (1).
    assert uids(1) == ([7], False)
    # The limit fills in the first batch; the next match is two batches down.
    assert uids(2) == ([7, 6], False)
    assert uids(3) == ([7, 6, 3], False)
    assert uids(4) == ([7, 6, 3, 1], True)
    assert uids(100) == ([7, 6, 3, 1], True)
    fired(store.delete_message(open_grant(BOX), fired(store.list_messages(BOX, 1)).summaries[0].id))
    assert uids(2) == ([6, 3], False)
    empty = search_mailbox(store, "nobody@tempmail.local", Everything(), 5, batch=2)
    assert fired(Deferred.fromCoroutine(empty)) == SearchOutcome((), True)


def test_listen_honours_what_it_may_open_and_closes_when_nothing_is_left(
    harness: Harness,
) -> None:
    fired(Deferred.fromCoroutine(harness.access.claim("locked@tempmail.local", "a-long-password")))
    filter = {"resourceSubscriptions": ["mailbox://bob", "mailbox://locked", "webhook://x"]}
    listening = harness.stateless("subscriptions/listen", {"notifications": filter})
    stamp = {"io.modelcontextprotocol/subscriptionId": "s1"}
    assert harness.notified == [
        {
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {
                "notifications": {"resourceSubscriptions": ["mailbox://bob"]},
                "_meta": stamp,
            },
        }
    ]
    harness.deliver("one")
    harness.hub.flush()
    assert harness.notified[-1]["params"] == {"uri": "mailbox://bob", "_meta": stamp}
    assert not listening.called
    fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    harness.hub.flush()
    assert fired(listening) == {"_meta": stamp, "resultType": "complete"}
    assert harness.hub.subscriptions == []


def test_subscriptions_are_bounded_per_session_and_per_listen() -> None:
    harness = Harness(max_subscriptions=2)
    try:
        for address in ("a", "b", "a"):
            assert fired(harness.call("resources/subscribe", {"uri": f"mailbox://{address}"})) == {}
        with pytest.raises(JsonRpcError) as refused:
            fired(harness.call("resources/subscribe", {"uri": "mailbox://c"}))
        assert refused.value.code == -32602
        assert len(harness.session.subscriptions) == 2
        uris = [f"mailbox://{n}" for n in range(3)]
        with pytest.raises(JsonRpcError) as too_many:
            listen = {"notifications": {"resourceSubscriptions": uris}}
            fired(harness.stateless("subscriptions/listen", listen))
        assert too_many.value.code == -32602
        assert len(harness.hub.subscriptions) == 2
    finally:
        harness.close()


def test_stateless_results_say_they_are_complete_and_not_cacheable(harness: Harness) -> None:
    listed = fired(harness.stateless("tools/list", {}))
    assert (listed["resultType"], listed["ttlMs"], listed["cacheScope"]) == (
        "complete",
        0,
        "private",
    )
    called = fired(harness.stateless("tools/call", {"name": "create_mailbox", "arguments": {}}))
    assert called["resultType"] == "complete" and "ttlMs" not in called
    with pytest.raises(JsonRpcError) as gone:
        fired(harness.stateless("resources/subscribe", {"uri": "mailbox://bob"}))
    assert gone.value.code == -32601


def test_a_webhook_of_a_locked_mailbox_is_refused_like_an_unknown_one(harness: Harness) -> None:
    # A claim drops the webhooks made before it: make this one after.
    granted = fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    grant = fired(
        Deferred.fromCoroutine(harness.access.authorize(BOX, Credentials(bearer=granted.token)))
    )
    hook = fired(
        harness.store.create_webhook(grant, "https://hooks.example/x", ("arrival",), "whsec_x", 20)
    )
    assert hook is not None
    refused = fired(harness.tool("delete_webhook", id=hook.id))
    unknown = fired(harness.tool("delete_webhook", id="00000000-0000-0000-0000-000000000000"))
    assert refused == unknown and refused["isError"] is True
    assert fired(harness.store.get_webhook(hook.id)) is not None
    deleted = fired(harness.tool("delete_webhook", id=hook.id, password="a-long-password"))
    assert deleted["structuredContent"] == {"id": hook.id, "deleted": True}


def test_an_offset_past_the_stores_integers_is_an_invalid_argument(harness: Harness) -> None:
    result = fired(harness.tool("list_emails", address=BOX, offset=2**64))
    assert result["isError"]
    assert result["content"][0]["text"].startswith("invalid arguments: offset")


def test_wrong_passwords_go_through_the_shared_limiter(harness: Harness) -> None:
    fired(Deferred.fromCoroutine(harness.access.claim(BOX, "a-long-password")))
    texts = [
        fired(harness.tool("list_emails", address=BOX, password=f"wrong-{n}"))["content"][0]["text"]
        for n in range(4)
    ]
    assert texts[:3] == ["mailbox is locked: wrong mailbox or password"] * 3
    assert texts[3].startswith("too many wrong passwords; retry in")
    # The limit holds for the right password too, until the delay passes.
    limited = fired(harness.tool("list_emails", address=BOX, password="a-long-password"))
    assert limited["content"][0]["text"].startswith("too many wrong passwords")
