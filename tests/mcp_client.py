"""
Driving tempmail's MCP endpoint with the official C{mcp} client, from
plain synchronous tests: each test body is an C{async def} run with
C{asyncio.run} against the daemon subprocess, so no Twisted reactor is
involved.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.daemon import Daemon

T = TypeVar("T")
MODES = ("legacy", "auto")
# What each official client mode ends up speaking with tempmail: the
# handshake era, or (probing with server/discover) the stateless revision.
VERSIONS = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TIMEOUT = 30.0
MCP_SETTINGS = {"MCP_ENABLED": "true", "MCP_PORT": "0"}


def mcp_url(server: Daemon, on_api_port: bool = False) -> str:
    """
    The endpoint on C{MCP_PORT}, or at C{/mcp} on the API port.
    """
    port = server.http_port if on_api_port else server.ports["mcp"]
    return f"http://127.0.0.1:{port}/mcp"


def connect(
    url: str, mode: str = "legacy", headers: dict[str, str] | None = None, **options: Any
) -> Client:
    """
    An official client for C{url}, sending C{headers} on every request.
    """
    transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    return Client(transport, mode=mode, read_timeout_seconds=TIMEOUT, **options)


def run(body: Callable[[], Awaitable[T]]) -> T:
    """
    Run an async test body to the end, within L{TIMEOUT}.
    """

    async def bounded() -> T:
        return await asyncio.wait_for(body(), TIMEOUT * 2)

    return asyncio.run(bounded())


def send_mail(
    server: Daemon,
    address: str,
    subject: str = "hello",
    body: str = "hi",
    sender: str = "alice@sender.test",
    headers: str = "",
) -> str:
    """
    Send a message over SMTP; return its id from the C{250} reply.
    """
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.mail(sender)
        client.rcpt(address)
        head = f"From: {sender}\r\nTo: {address}\r\nSubject: {subject}\r\n{headers}"
        code, reply = client.data(f"{head}\r\n{body}\r\n".encode())
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]
