"""
The MCP methods: C{initialize}, C{ping}, tools, resources (with
subscriptions) and prompts, answered for one session.  What HTTP carries is
the transport's business (L{tempmail.mcp.transport}); this module sees
JSON-RPC messages and a L{CallContext}.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tempmail import __version__
from tempmail.mcp.context import CallContext, McpServices
from tempmail.mcp.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Message
from tempmail.mcp.prompts import Prompts
from tempmail.mcp.resources import Resources
from tempmail.mcp.sessions import Session, SessionRegistry
from tempmail.mcp.toolbox import all_tools

# Newest first; the first is offered to a client asking for another one.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")

INSTRUCTIONS = (
    "tempmail is a disposable mail server. To test a sign-up flow: create_mailbox, "
    "use the address, wait_for_email on it, then extract_verification on the email id. "
    "A locked mailbox needs its token (Authorization: Bearer, or the token argument) "
    "or its password (the password argument)."
)


def negotiate(params: Mapping[str, Any]) -> str:
    """
    The protocol version to answer C{initialize} with: the client's if we
    speak it, else our newest.
    """
    asked = params.get("protocolVersion")
    if not isinstance(asked, str):
        raise JsonRpcError(INVALID_PARAMS, "initialize needs protocolVersion (a string)")
    return asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]


def initialize_result(version: str) -> dict[str, Any]:
    """
    The answer to C{initialize}: the version, what we serve, who we are.
    """
    return {
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": False},
            "resources": {"subscribe": True, "listChanged": False},
            "prompts": {"listChanged": False},
        },
        "serverInfo": {"name": "tempmail", "title": "tempmail", "version": __version__},
        "instructions": INSTRUCTIONS,
    }


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


class McpServer:
    """
    Answers the MCP methods over the L{McpServices}.
    """

    def __init__(self, services: McpServices) -> None:
        self.services = services
        limits = services.limits
        self.sessions = SessionRegistry(
            services.clock, limits.session_idle_timeout, limits.max_sessions
        )
        self.tools = all_tools(services)
        self.resources = Resources(services)
        self.prompts = Prompts()
        self._methods: dict[str, Handler] = {
            "ping": self._ping,
            "tools/list": self._list_tools,
            "tools/call": self.tools.call,
            "resources/list": self._list_resources,
            "resources/templates/list": self._list_templates,
            "resources/read": self.resources.read,
            "resources/subscribe": self.resources.subscribe,
            "resources/unsubscribe": self.resources.unsubscribe,
            "prompts/list": self._list_prompts,
            "prompts/get": self._get_prompt,
        }

    async def _ping(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def _list_tools(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"tools": self.tools.listing()}

    async def _list_resources(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        # Every resource is reached through a template; none is listed.
        return {"resources": []}

    async def _list_templates(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"resourceTemplates": self.resources.templates()}

    async def _list_prompts(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"prompts": self.prompts.listing()}

    async def _get_prompt(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.prompts.get(params)

    def start_session(self, params: Mapping[str, Any]) -> tuple[Session, dict[str, Any]]:
        """
        Answer C{initialize}: a new session and the result for it.

        @raise TooManySessions: if the limit is reached.
        """
        version = negotiate(params)
        return self.sessions.create(version), initialize_result(version)

    async def answer(self, context: CallContext, message: Message) -> dict[str, Any]:
        """
        The result of one request of an open session.

        @raise JsonRpcError: for an unknown method or bad params.
        """
        handler = self._methods.get(message.method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"unknown method {message.method!r}")
        return await handler(context, message.params)

    def notified(self, session: Session, message: Message) -> None:
        """
        Take a client notification: C{notifications/cancelled} stops the
        request it names; the others need nothing.
        """
        if message.method == "notifications/cancelled":
            id = message.params.get("requestId")
            pending = session.in_flight.get(id) if isinstance(id, str | int) else None
            if pending is not None:
                pending.cancel()
