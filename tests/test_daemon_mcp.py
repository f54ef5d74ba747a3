"""
MCP end to end: the official C{mcp} client, in both its C{legacy} and
C{auto} modes, against the real daemon, with mail sent over SMTP.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import ResourceUpdatedNotification, TextContent, TextResourceContents

from tests.daemon import Daemon, DaemonFactory
from tests.mcp_client import MCP_SETTINGS, MODES, VERSIONS, connect, mcp_url, run, send_mail
from tests.receiver import running_receiver

pytestmark = [
    pytest.mark.daemon,
    # The client warns that resources/subscribe is gone in 2026-07-28; the
    # handshake era this server speaks has it.
    pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning"),
]

TOOLS = {
    "list_emails",
    "read_email",
    "delete_email",
    "create_mailbox",
    "wait_for_email",
    "create_webhook",
    "list_webhooks",
    "delete_webhook",
    "test_webhook",
    "search_emails",
    "extract_verification",
}


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


def error_text(result: Any) -> str:
    assert result.is_error
    return text_of(result.content)


def text_of(contents: Any) -> str:
    """
    The text of the first item of tool, prompt or resource contents.
    """
    first = contents[0]
    assert isinstance(first, TextContent | TextResourceContents), first
    return first.text


@pytest.fixture
def server(daemon: DaemonFactory) -> Daemon:
    return daemon.start(**MCP_SETTINGS, WEBHOOK_ALLOW_PRIVATE="true")


@pytest.mark.parametrize("mode", MODES)
def test_every_tool_resource_and_prompt_in_both_modes(server: Daemon, mode: str) -> None:
    async def body() -> None:
        async with connect(mcp_url(server), mode) as client:
            assert client.protocol_version == VERSIONS[mode]
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(listed) == TOOLS
            assert all(tool.output_schema for tool in listed.values())

            address = structured(await client.call_tool("create_mailbox", {"prefix": "t"}))[
                "address"
            ]
            assert address.startswith("t-") and address.endswith("@tempmail.local")
            id = await asyncio.to_thread(send_mail, server, address, "Welcome", "Your code 123456")
            page = structured(await client.call_tool("list_emails", {"address": address}))
            assert [e["id"] for e in page["emails"]] == [id] and page["total"] == 1
            email = structured(await client.call_tool("read_email", {"id": id}))
            assert email["subject"] == "Welcome" and "123456" in email["text"]
            assert email["seen"] is True
            waited = structured(
                await client.call_tool("wait_for_email", {"address": address, "timeout": 5})
            )
            assert waited["found"] and waited["email"]["id"] == id
            found = structured(
                await client.call_tool("search_emails", {"address": address, "text": "CODE 1234"})
            )
            assert [e["id"] for e in found["emails"]] == [id] and found["complete"]
            codes = structured(await client.call_tool("extract_verification", {"id": id}))
            assert (
                codes["best_code"] == "123456"
                and "Your code 123456" in codes["codes"][0]["context"]
            )

            with running_receiver() as receiver:
                hook = structured(
                    await client.call_tool(
                        "create_webhook", {"address": address, "url": receiver.url}
                    )
                )
                assert hook["secret"].startswith("whsec_")
                hooks = structured(await client.call_tool("list_webhooks", {"address": address}))
                assert [h["id"] for h in hooks["webhooks"]] == [hook["id"]]
                tested = structured(await client.call_tool("test_webhook", {"id": hook["id"]}))
                assert tested["success"] and tested["status"] == 200
                assert any(r.json().get("event") == "test" for r in receiver.requests)

            templates = (await client.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                "email://{id}",
                "email://{id}/raw",
                "webhook://{id}",
                "mailbox://{address}",
            }
            read = await client.read_resource(f"email://{id}")
            assert json.loads(text_of(read.contents))["id"] == id
            raw = await client.read_resource(f"email://{id}/raw")
            assert raw.contents[0].mime_type == "message/rfc822"
            assert "Subject: Welcome" in text_of(raw.contents)
            read = await client.read_resource(f"webhook://{hook['id']}")
            assert "secret" not in json.loads(text_of(read.contents))
            read = await client.read_resource(f"mailbox://{address}")
            assert [e["id"] for e in json.loads(text_of(read.contents))["emails"]] == [id]

            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert prompts == {"verify_signup", "password_reset"}
            prompt = await client.get_prompt("verify_signup", {"site": "example.org"})
            assert "wait_for_email" in text_of([prompt.messages[0].content])
            prompt = await client.get_prompt(
                "password_reset", {"site": "example.org", "address": address}
            )
            assert address in text_of([prompt.messages[0].content])

            gone = structured(await client.call_tool("delete_webhook", {"id": hook["id"]}))
            assert gone["deleted"]
            gone = structured(await client.call_tool("delete_email", {"id": id}))
            assert gone["deleted"]
            assert "no such email" in error_text(await client.call_tool("read_email", {"id": id}))

    run(body)


def test_the_endpoint_is_also_at_mcp_on_the_api_port(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server, on_api_port=True), "auto") as client:
            assert client.protocol_version == "2026-07-28"
            created = structured(await client.call_tool("create_mailbox", {}))
            assert created["locked"] is False and created["token"] is None

    run(body)


@pytest.mark.parametrize("mode", MODES)
def test_wait_returns_when_mail_comes_over_smtp_with_progress(server: Daemon, mode: str) -> None:
    async def body() -> None:
        async with connect(mcp_url(server), mode) as client:
            address = structured(await client.call_tool("create_mailbox", {}))["address"]
            reports: list[tuple[float, float | None]] = []
            waiting = asyncio.Event()

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                reports.append((progress, total))
                waiting.set()

            call = asyncio.ensure_future(
                client.call_tool(
                    "wait_for_email",
                    {"address": address, "subject_contains": "CODE", "timeout": 20},
                    progress_callback=on_progress,
                )
            )
            # The first progress notification says the watch is open.
            await asyncio.wait_for(waiting.wait(), 10)
            await asyncio.to_thread(send_mail, server, address, "not this one")
            id = await asyncio.to_thread(send_mail, server, address, "Your code")
            waited = structured(await call)
            assert waited["found"] and waited["email"]["id"] == id
            assert waited["email"]["seen"] is False
            assert reports[0][1] == 20 and reports[0][0] < 20

    run(body)


def test_mail_that_came_just_before_the_call_counts(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server)) as client:
            address = structured(await client.call_tool("create_mailbox", {}))["address"]
            id = await asyncio.to_thread(send_mail, server, address, "early", sender="a@x.test")
            waited = structured(
                await client.call_tool(
                    "wait_for_email", {"address": address, "from": "A@X", "timeout": 0}
                )
            )
            assert waited["found"] and waited["email"]["id"] == id
            # Outside the window given by since, it does not.
            waited = structured(
                await client.call_tool(
                    "wait_for_email",
                    {"address": address, "since": waited["email"]["timestamp"], "timeout": 0},
                )
            )
            assert not waited["found"]

    run(body)


def test_wait_times_out_cleanly(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server)) as client:
            address = structured(await client.call_tool("create_mailbox", {}))["address"]
            result = await client.call_tool("wait_for_email", {"address": address, "timeout": 1})
            waited = structured(result)
            assert waited == {
                "found": False,
                "waited_seconds": waited["waited_seconds"],
                "email": None,
            }
            assert waited["waited_seconds"] >= 1
            assert "no matching email" in text_of(result.content)
            # The session is still good afterwards.
            assert structured(await client.call_tool("list_emails", {"address": address}))

    run(body)


def test_wait_is_capped_by_the_setting(daemon: DaemonFactory) -> None:
    server = daemon.start(**MCP_SETTINGS, MCP_MAX_WAIT="1s")

    async def body() -> None:
        async with connect(mcp_url(server)) as client:
            result = await client.call_tool("wait_for_email", {"address": "x", "timeout": 600})
            waited = structured(result)
            assert not waited["found"] and 1 <= waited["waited_seconds"] < 10

    run(body)


def test_listen_delivers_updates_for_the_mailboxes_it_may_open(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server), "auto") as client:
            assert client.protocol_version == "2026-07-28"
            locked = structured(await client.call_tool("create_mailbox", {"lock": True}))
            uris = ["mailbox://open", f"mailbox://{locked['address']}", "email://nope"]
            async with client.listen(resource_subscriptions=uris) as listening:
                # A locked mailbox, without its token, is not honored.
                assert listening.honored.resource_subscriptions == ["mailbox://open"]
                await asyncio.to_thread(send_mail, server, "open@tempmail.local")
                event = await asyncio.wait_for(anext(listening), 10)
                assert isinstance(event, ResourceUpdated) and event.uri == "mailbox://open"
                # Claiming it shuts this client out: the stream ends gracefully.
                await asyncio.to_thread(
                    server.send_json,
                    "POST",
                    "/api/mailbox/open/claim",
                    {"password": "a-long-password"},
                )
                with pytest.raises(StopAsyncIteration):
                    await asyncio.wait_for(anext(listening), 10)

    run(body)


def test_subscriptions_deliver_resources_updated(server: Daemon) -> None:
    async def body() -> None:
        updated: asyncio.Queue[str] = asyncio.Queue()

        async def on_message(message: Any) -> None:
            if isinstance(message, ResourceUpdatedNotification):
                await updated.put(str(message.params.uri))

        async with connect(mcp_url(server), message_handler=on_message) as client:
            await client.subscribe_resource("mailbox://watched")
            await asyncio.to_thread(send_mail, server, "watched@tempmail.local")
            assert await asyncio.wait_for(updated.get(), 10) == "mailbox://watched"
            await client.unsubscribe_resource("mailbox://watched")

    run(body)


def test_locks_refuse_then_admit(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server)) as client:
            created = structured(await client.call_tool("create_mailbox", {"lock": True}))
            address, token = created["address"], created["token"]
            id = await asyncio.to_thread(send_mail, server, address)

            refused = error_text(await client.call_tool("list_emails", {"address": address}))
            assert refused.startswith("mailbox is locked")
            refused = error_text(await client.call_tool("read_email", {"id": id}))
            assert "locked" in refused
            waited = await client.call_tool("wait_for_email", {"address": address, "timeout": 0})
            assert waited.is_error
            with pytest.raises(MCPError):
                await client.read_resource(f"email://{id}")
            with pytest.raises(MCPError):
                await client.subscribe_resource(f"mailbox://{address}")
            wrong = await client.call_tool(
                "list_emails", {"address": address, "password": "wrong-password"}
            )
            assert "wrong mailbox or password" in error_text(wrong)

            by_token = await client.call_tool("list_emails", {"address": address, "token": token})
            assert structured(by_token)["total"] == 1
            by_password = await client.call_tool(
                "read_email", {"id": id, "password": created["password"]}
            )
            assert structured(by_password)["id"] == id

        bearer = {"Authorization": f"Bearer {token}"}
        for mode in MODES:
            async with connect(mcp_url(server), mode, headers=bearer) as client:
                assert structured(await client.call_tool("list_emails", {"address": address}))
                read = await client.read_resource(f"email://{id}")
                assert json.loads(text_of(read.contents))["id"] == id
                if mode == "legacy":
                    await client.subscribe_resource(f"mailbox://{address}")
                else:
                    uri = f"mailbox://{address}"
                    async with client.listen(resource_subscriptions=[uri]) as listening:
                        assert listening.honored.resource_subscriptions == [uri]

    run(body)


def test_api_key_is_required_on_the_mcp_endpoint(daemon: DaemonFactory) -> None:
    key = "k" * 20
    server = daemon.start(**MCP_SETTINGS, API_KEY=key)

    async def body() -> None:
        for url in (mcp_url(server), mcp_url(server, on_api_port=True)):
            refused = False
            try:
                async with connect(url, "legacy") as client:
                    await client.list_tools()
            except* MCPError:
                refused = True
            assert refused
            async with connect(url, "auto", headers={"X-API-Key": key}) as client:
                assert (await client.list_tools()).tools

    run(body)


def test_search_by_each_criterion_through_the_whole_mailbox(server: Daemon) -> None:
    async def body() -> None:
        async with connect(mcp_url(server)) as client:
            address = structured(await client.call_tool("create_mailbox", {}))["address"]
            ids = []
            for n, (sender, subject, text, encoding) in enumerate(
                [
                    # "Grüße: shipped today", quoted-printable.
                    (
                        "shop@a.test",
                        "Your order",
                        "Gr=C3=BC=C3=9Fe: shipped today",
                        "quoted-printable",
                    ),
                    ("news@b.test", "Weekly news", "nothing to verify", None),
                    ("auth@c.test", "Sign in", "your login code is 9911", None),
                    # "your login code is 7722 (Café)", base64.
                    (
                        "auth@c.test",
                        "Sign in again",
                        "eW91ciBsb2dpbiBjb2RlIGlzIDc3MjIgKENhZsOpKQ==",
                        "base64",
                    ),
                ]
            ):
                extra = f"Cc: team{n}@copy.test\r\n"
                if encoding is not None:
                    extra += (
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        f"Content-Transfer-Encoding: {encoding}\r\n"
                    )
                ids.append(
                    await asyncio.to_thread(
                        send_mail, server, address, subject, text, sender, extra
                    )
                )

            async def search(**criteria: Any) -> dict[str, Any]:
                return structured(
                    await client.call_tool("search_emails", {"address": address, **criteria})
                )

            by_sender = await search(**{"from": "AUTH@"})
            assert [e["id"] for e in by_sender["emails"]] == [ids[3], ids[2]]
            assert by_sender["complete"] is True
            assert [e["id"] for e in (await search(subject="again"))["emails"]] == [ids[3]]
            assert [e["id"] for e in (await search(text="VERIFY"))["emails"]] == [ids[1]]
            assert [e["id"] for e in (await search(to="team2@"))["emails"]] == [ids[2]]
            # Bodies are searched decoded: quoted-printable and base64.
            assert [e["id"] for e in (await search(text="GRÜSSE"))["emails"]] == [ids[0]]
            assert [e["id"] for e in (await search(text="7722 (café"))["emails"]] == [ids[3]]
            newest = await search(limit=1)
            assert [e["id"] for e in newest["emails"]] == [ids[3]]
            assert newest["complete"] is False
            stamp = newest["emails"][0]["timestamp"]
            assert (await search(since=stamp))["emails"] == []
            assert [e["id"] for e in (await search(until=stamp, limit=1))["emails"]] == [ids[3]]
            # The oldest is found too: the whole mailbox is searched.
            assert [e["id"] for e in (await search(subject="order"))["emails"]] == [ids[0]]
            latest = structured(
                await client.call_tool("extract_verification", {"address": address})
            )
            assert latest["email_id"] == ids[3] and latest["best_code"] == "7722"

    run(body)
