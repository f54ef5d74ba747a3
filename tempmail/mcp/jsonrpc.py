"""
JSON-RPC 2.0 messages as MCP sends them: parsing one message from a body,
and building results, errors and notifications.  Batches were removed from
MCP in 2025-06-18 and are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Server-defined codes (the -32000 to -32099 range JSON-RPC leaves to servers).
# The 2026-07-28 revision's: an HTTP header disagrees with the body, a
# version the server does not speak.
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
SESSION_NOT_FOUND = -32001
RESOURCE_NOT_FOUND = -32002
ACCESS_DENIED = -32003
REQUEST_CANCELLED = -32800

RequestId = str | int


class JsonRpcError(Exception):
    """
    A request that gets a JSON-RPC error instead of a result.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.data = data


class Kind(Enum):
    """
    What a JSON-RPC message is.
    """

    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"


@dataclass(frozen=True)
class Message:
    """
    One JSON-RPC message from a client.

    @ivar id: the request's id (C{None} for notifications).
    @ivar method: the method (empty for responses).
    @ivar params: the params object (empty when absent).
    """

    kind: Kind
    method: str = ""
    id: RequestId | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _not_json(constant: str) -> Any:
    # Python reads NaN and Infinity, which JSON does not have; a NaN
    # timeout would come back out as invalid JSON.
    raise ValueError(f"{constant} is not JSON")


def parse_message(raw: bytes) -> Message:
    """
    Read one JSON-RPC message.

    @raise JsonRpcError: C{PARSE_ERROR} for text that is not JSON,
        C{INVALID_REQUEST} for JSON that is not a JSON-RPC 2.0 message
        (batches included).
    """
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the decoder will follow.
        raise JsonRpcError(PARSE_ERROR, "the body is not valid JSON") from None
    if isinstance(body, list):
        raise JsonRpcError(INVALID_REQUEST, "JSON-RPC batches are not supported")
    if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, 'not a JSON-RPC 2.0 message ("jsonrpc": "2.0")')
    id = body.get("id")
    if "id" in body and (isinstance(id, bool) or not isinstance(id, str | int)):
        raise JsonRpcError(INVALID_REQUEST, "id must be a string or an integer")
    if "method" not in body:
        if "id" in body and ("result" in body or "error" in body):
            return Message(Kind.RESPONSE, id=id)
        raise JsonRpcError(INVALID_REQUEST, "a message needs a method, or a result or error")
    method = body["method"]
    if not isinstance(method, str):
        raise JsonRpcError(INVALID_REQUEST, "method must be a string")
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise JsonRpcError(INVALID_REQUEST, "params must be an object")
    if "id" not in body:
        return Message(Kind.NOTIFICATION, method, None, params)
    return Message(Kind.REQUEST, method, id, params)


def result_message(id: RequestId | None, result: dict[str, Any]) -> dict[str, Any]:
    """
    A response carrying C{result}.
    """
    return {"jsonrpc": "2.0", "id": id, "result": result}


def error_message(id: RequestId | None, error: JsonRpcError) -> dict[str, Any]:
    """
    A response carrying an error (C{id} is C{None} when the request's id
    could not be read).
    """
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": id, "error": body}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """
    A notification from the server.
    """
    return {"jsonrpc": "2.0", "method": method, "params": params}


def encode(message: dict[str, Any]) -> bytes:
    """
    A message as compact UTF-8 JSON.
    """
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sse_event(message: dict[str, Any]) -> bytes:
    """
    A message as one Server-Sent Event (C{event: message}).
    """
    return b"event: message\ndata: " + encode(message) + b"\n\n"
