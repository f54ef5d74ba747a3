"""
What every MCP method works with: the services and settings of the daemon
(L{McpServices}) and the request being answered (L{CallContext}).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IReactorTime

from tempmail.access import Credentials, MailboxAccess
from tempmail.api.webhook_routes import WebhookSettings
from tempmail.interfaces import IEventHub, IMailStore
from tempmail.mcp.sessions import Session


@dataclass(frozen=True)
class McpLimits:
    """
    The MCP settings (see C{docs/CONFIGURATION.md}).
    """

    max_body: int = 1024 * 1024
    max_sessions: int = 1000
    max_subscriptions: int = 100
    session_idle_timeout: float = 1800.0
    max_wait: float = 300.0
    wait_lookback: float = 300.0
    max_inline_attachments: int = 5 * 1024 * 1024
    allowed_origins: frozenset[str] = frozenset()


@dataclass(frozen=True)
class McpServices:
    """
    What the MCP tools work with: the publishing store, the one lock check,
    the event hub, the clock and the settings.
    """

    store: IMailStore
    access: MailboxAccess
    hub: IEventHub
    clock: IReactorTime
    domain: str
    webhooks: WebhookSettings | None = None
    limits: McpLimits = field(default_factory=McpLimits)


@dataclass
class CallContext:
    """
    One request being answered.

    @ivar session: the request's session; for a stateless (2026-07-28)
        request, one made for that request alone.
    @ivar credentials: what the HTTP request presented.
    @ivar notify: sends a notification on this request's own stream; does
        nothing if the client cannot take one.
    @ivar request_id: the request's JSON-RPC id.
    """

    session: Session
    credentials: Credentials
    notify: Callable[[dict[str, Any]], None]
    progress_token: str | int | None = None
    request_id: str | int | None = None
