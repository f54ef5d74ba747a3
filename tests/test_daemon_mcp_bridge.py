"""
The stdio bridge (C{tempmail-mcp}), driven by the official client's stdio
transport in both modes, relaying to the real daemon.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys
import threading
from contextlib import AsyncExitStack
from typing import Any, BinaryIO, cast

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import ResourceUpdatedNotification

from tempmail.mcp.bridge import Bridge
from tests.conftest import ROOT
from tests.daemon import Daemon, DaemonFactory
from tests.mcp_client import MCP_SETTINGS, MODES, TIMEOUT, VERSIONS, mcp_url, run, send_mail

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning"),
]


def bridge(server: Daemon, *options: str, **client_options: Any) -> Client:
    """
    An official client that starts the bridge as its stdio server.
    """
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tempmail.mcp.bridge", "--url", mcp_url(server), *options],
        env={"PYTHONPATH": str(ROOT)},
    )
    return Client(command, read_timeout_seconds=TIMEOUT, **client_options)


@pytest.fixture
def server(daemon: DaemonFactory) -> Daemon:
    # One session at a time: a client can only connect after the previous
    # bridge ended its session.
    return daemon.start(**MCP_SETTINGS, MCP_MAX_SESSIONS="1")


@pytest.mark.parametrize("mode", MODES)
def test_the_official_stdio_client_works_through_the_bridge(server: Daemon, mode: str) -> None:
    async def body() -> None:
        updated: asyncio.Queue[str] = asyncio.Queue()

        async def on_message(message: Any) -> None:
            if isinstance(message, ResourceUpdatedNotification):
                await updated.put(str(message.params.uri))

        async with bridge(server, mode=mode, message_handler=on_message) as client:
            assert client.protocol_version == VERSIONS[mode]
            assert len((await client.list_tools()).tools) == 11
            created = await client.call_tool("create_mailbox", {"lock": True})
            assert created.structured_content is not None
            address = created.structured_content["address"]
            token = created.structured_content["token"]
            refused = await client.call_tool("list_emails", {"address": address})
            assert refused.is_error

        uri = f"mailbox://{address}"
        async with (
            bridge(server, "--token", token, mode=mode, message_handler=on_message) as client,
            AsyncExitStack() as stack,
        ):
            if mode == "legacy":
                await client.subscribe_resource(uri)
            else:
                listening = await stack.enter_async_context(
                    client.listen(resource_subscriptions=[uri])
                )
                assert listening.honored.resource_subscriptions == [uri]
            reports: list[float] = []
            waiting = asyncio.Event()

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                reports.append(progress)
                waiting.set()

            call = asyncio.ensure_future(
                client.call_tool(
                    "wait_for_email",
                    {"address": address, "timeout": 20},
                    progress_callback=on_progress,
                )
            )
            await asyncio.wait_for(waiting.wait(), 10)
            # Another call goes through while the wait is under way.
            listed = await client.call_tool("list_emails", {"address": address})
            assert listed.structured_content is not None
            assert listed.structured_content["total"] == 0
            id = await asyncio.to_thread(send_mail, server, address, "Code", "code 246810")
            waited = await call
            assert waited.structured_content is not None
            assert waited.structured_content["email"]["id"] == id
            assert reports
            if mode == "legacy":
                assert await asyncio.wait_for(updated.get(), 10) == uri
            else:
                event = await asyncio.wait_for(anext(listening), 10)
                assert isinstance(event, ResourceUpdated) and event.uri == uri
            codes = await client.call_tool("extract_verification", {"id": id})
            assert codes.structured_content is not None
            assert codes.structured_content["best_code"] == "246810"

    run(body)


def test_a_bad_url_is_refused_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tempmail.mcp.bridge", "--url", "ftp://x"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "not an http(s) URL" in done.stderr


def test_the_console_script_is_declared() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert scripts["tempmail-mcp"].value == "tempmail.mcp.bridge:main"


class Lines:
    """
    An output for the bridge that lets a test wait for a line.
    """

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def write(self, data: bytes) -> int:
        with self.changed:
            self.lines.append(json.loads(data))
            self.changed.notify_all()
        return len(data)

    def flush(self) -> None:
        pass

    def wait_for(self, method: str) -> dict[str, Any]:
        with self.changed:
            assert self.changed.wait_for(
                lambda: any(line.get("method") == method for line in self.lines), TIMEOUT
            )
            return next(line for line in self.lines if line.get("method") == method)


def test_cancelling_a_stateless_request_closes_its_connection(server: Daemon) -> None:
    output = Lines()
    relay = Bridge(mcp_url(server), cast(BinaryIO, output))
    listen = {
        "jsonrpc": "2.0",
        "id": "listen-1",
        "method": "subscriptions/listen",
        "params": {
            "notifications": {"resourceSubscriptions": ["mailbox://x"]},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"},
        },
    }
    forwarding = threading.Thread(target=relay.forward, args=(listen,))
    forwarding.start()
    acknowledged = output.wait_for("notifications/subscriptions/acknowledged")
    assert acknowledged["params"]["notifications"] == {"resourceSubscriptions": ["mailbox://x"]}
    relay.cancel(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "listen-1"}}
    )
    forwarding.join(TIMEOUT)
    assert not forwarding.is_alive()
