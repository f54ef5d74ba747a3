"""
How a tool is declared and called: its JSON Schemas, argument validation
with C{jsonschema}, and the one mapping of ordinary failures (a locked
mailbox, an unknown id, bad arguments, storage trouble) to C{isError}
results.  Only a call to an unknown tool is a protocol error.

The lock helpers here are the MCP door's use of L{MailboxAccess}: the
credentials of the HTTP request, with a C{token} or C{password} argument
taking their place when given.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from jsonschema import Draft202012Validator
from twisted.internet.defer import CancelledError
from twisted.logger import Logger

from tempmail.access import AccessDenied, Credentials, TooManyFailures
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.routing import UUID_PATTERN
from tempmail.interfaces import LockChanged, StorageUnavailable
from tempmail.mcp.context import CallContext, McpServices
from tempmail.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError
from tempmail.models import MailboxGrant, StoredMessage, Webhook

log = Logger()

NO_SUCH_EMAIL = "no such email, or its mailbox is locked: send its token or password"
NO_SUCH_WEBHOOK = "no such webhook, or its mailbox is locked: send its token or password"

# The optional credential arguments every mailbox tool takes.
CREDENTIAL_PROPERTIES: dict[str, Any] = {
    "token": {
        "type": "string",
        "description": "A token of a locked mailbox (instead of Authorization: Bearer).",
    },
    "password": {"type": "string", "description": "The password of a locked mailbox."},
}


class ToolFailure(Exception):
    """
    A call that cannot be done; its message becomes the C{isError} text.
    """


@dataclass(frozen=True)
class ToolResult:
    """
    A tool's answer: C{structured} (which matches the output schema) and a
    short text for clients that show text only.
    """

    structured: dict[str, Any]
    text: str


@dataclass(frozen=True)
class ToolCall:
    """
    One call: its validated arguments, the credentials to present, and the
    request it came in.
    """

    arguments: dict[str, Any]
    credentials: Credentials
    context: CallContext


@dataclass(frozen=True)
class Tool:
    """
    A tool: name, description, schemas and the coroutine that runs it.
    """

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    run: Callable[[ToolCall], Awaitable[ToolResult]]

    def listing(self) -> dict[str, Any]:
        """
        The tool as C{tools/list} shows it.
        """
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
        }


class ToolGroup:
    """
    Tools that share the services: a module's tools, listed by L{tools}.
    """

    def __init__(self, services: McpServices) -> None:
        self.services = services

    def tools(self) -> list[Tool]:
        """
        The group's tools, in listing order.
        """
        raise NotImplementedError


def listing_text(heading: str, emails: Iterable[dict[str, Any]]) -> str:
    """
    Email summaries as short lines under C{heading}, for text-only clients.
    """
    lines = [heading] + [
        f"- {e['id']} {e['timestamp']} from {e['from']}: {e['subject']}" for e in emails
    ]
    return "\n".join(lines)


def object_schema(
    properties: dict[str, Any], required: Iterable[str] = (), credentials: bool = True
) -> dict[str, Any]:
    """
    An input schema: an object of C{properties} (plus the credential
    arguments), no others allowed.
    """
    all_properties = {**properties, **(CREDENTIAL_PROPERTIES if credentials else {})}
    return {
        "type": "object",
        "properties": all_properties,
        "required": list(required),
        "additionalProperties": False,
    }


def call_credentials(context: CallContext, arguments: dict[str, Any]) -> Credentials:
    """
    The request's credentials, a C{token} argument replacing its bearer
    token and a C{password} argument its password.
    """
    presented = context.credentials
    token = arguments.get("token")
    password = arguments.get("password")
    if isinstance(token, str):
        presented = replace(presented, bearer=token)
    if isinstance(password, str):
        presented = replace(presented, password=password)
    return presented


def mailbox_name(services: McpServices, address: str) -> str:
    """
    The normalised mailbox of C{address}.
    """
    try:
        return normalise_address(address, services.domain)
    except InvalidAddress as e:
        raise ToolFailure(f"invalid address: {e}") from None


async def open_mailbox(
    services: McpServices, credentials: Credentials, address: str
) -> MailboxGrant:
    """
    Check C{credentials} may use the mailbox of C{address}; return the
    grant.
    """
    return await services.access.authorize(mailbox_name(services, address), credentials)


async def open_message(
    services: McpServices, credentials: Credentials, id: str
) -> tuple[StoredMessage, MailboxGrant]:
    """
    The message C{id} and the grant for its mailbox.  An unknown id is
    refused like a message of a locked mailbox (except to the admin), so
    the answer never tells whether another mailbox's message exists.
    """
    mailbox = await services.store.mailbox_of(id) if UUID_PATTERN.match(id) else None
    if mailbox is None:
        raise ToolFailure(
            "no such email" if services.access.is_admin(credentials) else NO_SUCH_EMAIL
        )
    try:
        grant = await services.access.authorize(mailbox, credentials)
    except AccessDenied:
        raise ToolFailure(NO_SUCH_EMAIL) from None
    found = await services.store.get_messages([id])
    if not found:
        raise ToolFailure("no such email")
    return found[0], grant


async def open_webhook(
    services: McpServices, credentials: Credentials, id: str
) -> tuple[Webhook, MailboxGrant]:
    """
    The webhook C{id} and the grant for its mailbox, refused like
    L{open_message}.
    """
    hook = await services.store.get_webhook(id) if UUID_PATTERN.match(id) else None
    if hook is None:
        raise ToolFailure(
            "no such webhook" if services.access.is_admin(credentials) else NO_SUCH_WEBHOOK
        )
    try:
        grant = await services.access.authorize(hook.mailbox, credentials)
    except AccessDenied:
        raise ToolFailure(NO_SUCH_WEBHOOK) from None
    return hook, grant


def failure_text(error: Exception) -> str | None:
    """
    The C{isError} text for an ordinary failure, or C{None} for a bug.
    """
    if isinstance(error, ToolFailure):
        return str(error)
    if isinstance(error, AccessDenied):
        return "mailbox is locked: " + str(error).removeprefix("this mailbox is locked: ")
    if isinstance(error, TooManyFailures):
        return f"too many wrong passwords; retry in {math.ceil(error.retry_after)} s"
    if isinstance(error, LockChanged):
        return "the mailbox was claimed or released during the call; call again"
    if isinstance(error, StorageUnavailable):
        return "storage unavailable; try again later"
    return None


def error_result(text: str) -> dict[str, Any]:
    """
    An C{isError} tool result.
    """
    return {"content": [{"type": "text", "text": text}], "isError": True}


class ToolBox:
    """
    The tools, listed and called by name.
    """

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self._validators = {
            tool.name: Draft202012Validator(tool.input_schema) for tool in self.tools.values()
        }

    def listing(self) -> list[dict[str, Any]]:
        """
        Every tool, for C{tools/list}.
        """
        return [tool.listing() for tool in self.tools.values()]

    async def call(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """
        Answer C{tools/call}.

        @raise JsonRpcError: C{INVALID_PARAMS} for an unknown tool or
            arguments that are not an object.
        """
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise JsonRpcError(INVALID_PARAMS, f"unknown tool: {name!r}")
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            raise JsonRpcError(INVALID_PARAMS, "arguments must be an object")
        errors = sorted(self._validators[tool.name].iter_errors(arguments), key=str)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "arguments"
            return error_result(f"invalid arguments: {where}: {errors[0].message}")
        call = ToolCall(arguments, call_credentials(context, arguments), context)
        try:
            result = await tool.run(call)
        except CancelledError:
            raise
        except Exception as e:
            text = failure_text(e)
            if text is None:
                # A bug: logged, and still a result the agent can read.
                log.failure("the MCP tool {tool} failed", tool=tool.name)
                text = "internal server error; the server has logged it"
            return error_result(text)
        return {
            "content": [{"type": "text", "text": result.text}],
            "structuredContent": result.structured,
            "isError": False,
        }
