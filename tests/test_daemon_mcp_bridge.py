"""
The stdio bridge (C{tempmail-mcp}), driven by the official client's stdio
transport in both modes, relaying to the real daemon.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import ResourceUpdatedNotification

from tests.conftest import ROOT
from tests.daemon import Daemon, DaemonFactory
from tests.mcp_client import MCP_SETTINGS, MODES, TIMEOUT, mcp_url, run, send_mail

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
            assert client.protocol_version == "2025-11-25"
            assert len((await client.list_tools()).tools) == 11
            created = await client.call_tool("create_mailbox", {"lock": True})
            assert created.structured_content is not None
            address = created.structured_content["address"]
            token = created.structured_content["token"]
            refused = await client.call_tool("list_emails", {"address": address})
            assert refused.is_error

        async with bridge(
            server, "--token", token, mode=mode, message_handler=on_message
        ) as client:
            await client.subscribe_resource(f"mailbox://{address}")
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
            assert await asyncio.wait_for(updated.get(), 10) == f"mailbox://{address}"
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
