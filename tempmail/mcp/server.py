"""
The MCP methods, in both eras: C{initialize}, C{ping}, tools, resources
(with subscriptions) and prompts for a handshake-era session; and for
stateless 2026-07-28 requests C{server/discover}, the same tools,
resources and prompts, and C{subscriptions/listen}.  What HTTP carries is
the transport's business (L{tempmail.mcp.transport}); this module sees
JSON-RPC messages and a L{CallContext}.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tempmail import __version__
from tempmail.mcp.context import CallContext, McpServices
from tempmail.mcp.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Message
from tempmail.mcp.listen import Listener
from tempmail.mcp.prompts import Prompts
from tempmail.mcp.resources import Resources
from tempmail.mcp.sessions import Session, SessionRegistry
from tempmail.mcp.toolbox import all_tools

# Newest first; the first is offered to a client asking for another one.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
# The stateless revisions: no handshake, the version in every request.
STATELESS_VERSIONS = ("2026-07-28",)
SERVER_INFO = {"name": "tempmail", "title": "tempmail", "version": __version__}
# Results the 2026-07-28 revision lets clients cache; ours must not be.
_CACHEABLE = frozenset(
    {
        "server/discover",
        "resources/read",
        "resources/list",
        "resources/templates/list",
        "tools/list",
        "prompts/list",
    }
)

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


CAPABILITIES = {
    "tools": {"listChanged": False},
    "resources": {"subscribe": True, "listChanged": False},
    "prompts": {"listChanged": False},
}


def initialize_result(version: str) -> dict[str, Any]:
    """
    The answer to C{initialize}: the version, what we serve, who we are.
    """
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": INSTRUCTIONS,
    }


def discover_result() -> dict[str, Any]:
    """
    The answer to C{server/discover}: every version we speak, what we
    serve, who we are.
    """
    return {
        "supportedVersions": [*STATELESS_VERSIONS, *PROTOCOL_VERSIONS],
        "capabilities": CAPABILITIES,
        "instructions": INSTRUCTIONS,
        "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
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
        # The methods both eras share.
        common: dict[str, Handler] = {
            "tools/list": self._list_tools,
            "tools/call": self.tools.call,
            "resources/list": self._list_resources,
            "resources/templates/list": self._list_templates,
            "resources/read": self.resources.read,
            "prompts/list": self._list_prompts,
            "prompts/get": self._get_prompt,
        }
        self._methods: dict[str, Handler] = {
            **common,
            "ping": self._ping,
            "resources/subscribe": self.resources.subscribe,
            "resources/unsubscribe": self.resources.unsubscribe,
        }
        self._stateless_methods: dict[str, Handler] = {
            **common,
            "server/discover": self._discover,
            "subscriptions/listen": Listener(services).listen,
        }

    async def _discover(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return discover_result()

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

    async def answer_stateless(self, context: CallContext, message: Message) -> dict[str, Any]:
        """
        The result of one stateless (2026-07-28) request: the shared
        methods, C{server/discover} and C{subscriptions/listen}, each result
        marked complete, and those clients may cache marked uncacheable.

        @raise JsonRpcError: for an unknown method or bad params.
        """
        handler = self._stateless_methods.get(message.method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"unknown method {message.method!r} at 2026-07-28")
        result = {**await handler(context, message.params), "resultType": "complete"}
        if message.method in _CACHEABLE:
            result.update(ttlMs=0, cacheScope="private")
        return result

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
