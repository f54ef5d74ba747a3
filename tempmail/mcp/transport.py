"""
MCP's Streamable HTTP transport (handshake era, 2025-03-26 to 2025-11-25)
on Klein: one endpoint that takes JSON-RPC by C{POST}, streams server
messages on C{GET}, and ends sessions on C{DELETE}.

The rules, each answered with a JSON-RPC error body and never a traceback:
an C{Origin} that is neither loopback nor allowed gets 403 (DNS rebinding);
a body over C{MCP_MAX_BODY} 413; bad JSON 400 (C{-32700}); a request other
than C{initialize} without C{Mcp-Session-Id} 400, with an unknown one 404;
an C{MCP-Protocol-Version} other than the session's 400.  Notifications
and responses get 202.  A request is answered with one JSON body, or with
an SSE stream when it sends notifications (progress) before its result.

The stateless revision (2026-07-28) is served on the same endpoint: a
request without C{Mcp-Session-Id} whose C{MCP-Protocol-Version} is
C{2026-07-28} needs no session, but its C{_meta} must carry the same
version and its C{Mcp-Method} header (if sent) its method, or it gets 400
and C{-32020}; C{server/discover} answers which versions are spoken, so
clients that probe with it pick 2026-07-28, and a version spoken by
neither era gets 400 and C{-32022}.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from tempmail.access import Credentials
from tempmail.api.requests import credentials as request_credentials
from tempmail.api.responses import ApiError
from tempmail.mcp.context import CallContext
from tempmail.mcp.jsonrpc import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    REQUEST_CANCELLED,
    SESSION_NOT_FOUND,
    UNSUPPORTED_VERSION,
    JsonRpcError,
    Kind,
    Message,
    RequestId,
    encode,
    error_message,
    parse_message,
    result_message,
    sse_event,
)
from tempmail.mcp.server import PROTOCOL_VERSIONS, STATELESS_VERSIONS, McpServer
from tempmail.mcp.sessions import Session, TooManySessions

log = Logger()

SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
METHOD_HEADER = b"mcp-method"
VERSION_META = "io.modelcontextprotocol/protocolVersion"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class HttpRefusal(Exception):
    """
    A request refused at the HTTP level, with a JSON-RPC error body.
    """

    def __init__(self, status: int, error: JsonRpcError, id: RequestId | None = None) -> None:
        super().__init__(status, error.message)
        self.status = status
        self.error = error
        self.id = id


def _refuse(status: int, code: int, message: str) -> HttpRefusal:
    return HttpRefusal(status, JsonRpcError(code, message))


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """
    Whether a request may come from C{origin}: no C{Origin} (not a
    browser), a loopback origin, or one of C{allowed}.  The C{Host} header
    is no proof: after DNS rebinding, a hostile page's origin matches it.
    """
    if not origin:
        return True
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK_HOSTS


def _header(request: IRequest, name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


class Reply:
    """
    The answer to one POSTed request: JSON, unless a notification is sent
    first, which turns it into an SSE stream (if the client accepts one).
    """

    def __init__(self, request: IRequest) -> None:
        self.request = request
        accept = _header(request, b"accept") or ""
        self.accepts_stream = "text/event-stream" in accept or "*/*" in accept
        self.streaming = False

    def notify(self, message: dict[str, Any]) -> None:
        """
        Send a notification before the result; dropped if the client takes
        JSON only.
        """
        if not self.accepts_stream:
            return
        if not self.streaming:
            self.streaming = True
            self.request.setResponseCode(200)
            self.request.setHeader(b"Content-Type", b"text/event-stream")
            self.request.setHeader(b"Cache-Control", b"no-cache, no-store")
        self.request.write(sse_event(message))

    def finish(self, message: dict[str, Any], status: int = 200) -> bytes:
        """
        The last bytes of the answer: C{message} as an event or as JSON.
        """
        if self.streaming:
            return sse_event(message)
        return json_reply(self.request, message, status)


def json_reply(request: IRequest, message: dict[str, Any], status: int = 200) -> bytes:
    """
    One JSON body.
    """
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-store")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    return encode(message)


def _not_allowed(request: IRequest, message: str, allowed: bytes) -> bytes:
    request.setHeader(b"Allow", allowed)
    return json_reply(request, error_message(None, JsonRpcError(INVALID_REQUEST, message)), 405)


class McpEndpoint:
    """
    The MCP endpoint as a Klein app, routed at each of C{paths} (C{/mcp} on
    the API port; C{/mcp} and C{/} on C{MCP_PORT}).
    """

    def __init__(self, server: McpServer, paths: Sequence[str] = ("/mcp",)) -> None:
        self.server = server
        self.app = Klein()
        for path in paths:
            name = path.strip("/") or "root"
            self.app.route(path, methods=["POST"], endpoint=f"mcp_post_{name}")(self.post)
            self.app.route(path, methods=["GET"], endpoint=f"mcp_get_{name}")(self.get)
            self.app.route(path, methods=["DELETE"], endpoint=f"mcp_delete_{name}")(self.delete)

    # The three methods

    async def post(self, request: IRequest) -> bytes:
        try:
            self._check_origin(request)
            message = self._read_message(request)
            if message.kind is Kind.REQUEST:
                return await self._request(request, message)
            if self._stateless(request):
                # The stateless revision has no client notifications over
                # HTTP (closing a request's stream cancels it).
                request.setResponseCode(202)
                return b""
            session = self._session(request)
            if message.kind is Kind.NOTIFICATION:
                self.server.notified(session, message)
            request.setResponseCode(202)
            return b""
        except HttpRefusal as refusal:
            return json_reply(request, error_message(refusal.id, refusal.error), refusal.status)

    async def get(self, request: IRequest) -> bytes | None:
        if request.method == b"HEAD":
            # Routed here with GET, but a stream has no head to show.
            return _not_allowed(request, "HEAD is not served", b"DELETE, GET, POST")
        if self._stateless(request):
            return _not_allowed(
                request, "2026-07-28 has no GET stream; POST subscriptions/listen", b"POST"
            )
        try:
            self._check_origin(request)
            if "text/event-stream" not in (_header(request, b"accept") or ""):
                raise _refuse(406, INVALID_REQUEST, "GET needs Accept: text/event-stream")
            session = self._session(request)
        except HttpRefusal as refusal:
            return json_reply(request, error_message(None, refusal.error), refusal.status)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/event-stream")
        request.setHeader(b"Cache-Control", b"no-cache, no-store")
        # A comment, so the client sees the stream open at once.
        request.write(b": stream open\n\n")
        # Klein cancels this when the connection ends; the session fires it
        # when it ends.
        await session.add_stream(request)
        return None

    async def delete(self, request: IRequest) -> bytes:
        if self._stateless(request):
            return _not_allowed(request, "2026-07-28 has no sessions to end", b"POST")
        try:
            self._check_origin(request)
            session = self._session(request)
        except HttpRefusal as refusal:
            return json_reply(request, error_message(None, refusal.error), refusal.status)
        self.server.sessions.end(session)
        request.setResponseCode(204)
        return b""

    # The checks

    def _check_origin(self, request: IRequest) -> None:
        origin = _header(request, b"origin")
        if not origin_allowed(origin, self.server.services.limits.allowed_origins):
            raise _refuse(403, INVALID_REQUEST, f"origin not allowed: {origin}")

    def _read_message(self, request: IRequest) -> Message:
        content_type = (_header(request, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _refuse(415, INVALID_REQUEST, "POST needs Content-Type: application/json")
        limit = self.server.services.limits.max_body
        too_large = _refuse(413, INVALID_REQUEST, f"the body is larger than {limit} bytes")
        length = _header(request, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        assert request.content is not None
        raw = request.content.read(limit + 1)
        if len(raw) > limit:
            raise too_large
        try:
            return parse_message(raw)
        except JsonRpcError as e:
            raise HttpRefusal(400, e) from None

    def _session(self, request: IRequest, id: RequestId | None = None) -> Session:
        session_id = _header(request, SESSION_HEADER)
        if session_id is None:
            raise HttpRefusal(
                400,
                JsonRpcError(INVALID_REQUEST, "Mcp-Session-Id is required; send initialize first"),
                id,
            )
        session = self.server.sessions.get(session_id)
        if session is None:
            raise HttpRefusal(
                404,
                JsonRpcError(SESSION_NOT_FOUND, "session not found; send initialize again"),
                id,
            )
        # A client that sends no version is taken to speak 2025-03-26, as the
        # transport says; one that sends one must send the session's.
        version = _header(request, VERSION_HEADER)
        if version is not None and version != session.protocol_version:
            raise HttpRefusal(
                400,
                JsonRpcError(
                    INVALID_REQUEST,
                    f"MCP-Protocol-Version {version} is not this session's "
                    f"({session.protocol_version})",
                ),
                id,
            )
        return session

    def _credentials(self, request: IRequest) -> Credentials:
        try:
            return request_credentials(request)
        except ApiError as e:
            raise _refuse(400, INVALID_REQUEST, e.message) from None

    # Requests

    def _stateless(self, request: IRequest) -> bool:
        """
        Whether a message is of the stateless revision: no session, and
        a stateless version named.
        """
        return (
            _header(request, SESSION_HEADER) is None
            and _header(request, VERSION_HEADER) in STATELESS_VERSIONS
        )

    async def _request(self, request: IRequest, message: Message) -> bytes:
        if message.method == "initialize":
            return self._initialize(request, message)
        if self._stateless(request) or message.method == "server/discover":
            self._check_stateless(request, message)
            session = Session("", STATELESS_VERSIONS[0], lambda _: None)
            return await self._answer(request, message, session, self.server.answer_stateless)
        session = self._session(request, message.id)
        return await self._answer(request, message, session, self.server.answer)

    def _check_stateless(self, request: IRequest, message: Message) -> None:
        version = _header(request, VERSION_HEADER) or STATELESS_VERSIONS[0]
        if version not in STATELESS_VERSIONS:
            raise HttpRefusal(
                400,
                JsonRpcError(
                    UNSUPPORTED_VERSION,
                    f"protocol version {version} is not spoken here",
                    {"supported": [*STATELESS_VERSIONS, *PROTOCOL_VERSIONS], "requested": version},
                ),
                message.id,
            )
        meta = message.params.get("_meta")
        in_meta = meta.get(VERSION_META) if isinstance(meta, dict) else None
        if in_meta != version:
            raise HttpRefusal(
                400,
                JsonRpcError(
                    HEADER_MISMATCH,
                    f"_meta must carry {VERSION_META}: {version}, as MCP-Protocol-Version does",
                ),
                message.id,
            )
        method = _header(request, METHOD_HEADER)
        if method is not None and method != message.method:
            raise HttpRefusal(
                400,
                JsonRpcError(HEADER_MISMATCH, f"Mcp-Method {method} is not the body's method"),
                message.id,
            )

    async def _answer(
        self,
        request: IRequest,
        message: Message,
        session: Session,
        answer: Callable[[CallContext, Message], Coroutine[Any, Any, dict[str, Any]]],
    ) -> bytes:
        reply = Reply(request)
        meta = message.params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        assert message.id is not None
        context = CallContext(
            session,
            self._credentials(request),
            reply.notify,
            token if isinstance(token, str | int) and not isinstance(token, bool) else None,
            message.id,
        )
        answering: Deferred[dict[str, Any]] = Deferred.fromCoroutine(answer(context, message))
        session.in_flight[message.id] = answering
        try:
            result = await answering
        except JsonRpcError as e:
            return reply.finish(error_message(message.id, e))
        except CancelledError:
            cancelled = JsonRpcError(REQUEST_CANCELLED, "request cancelled")
            return reply.finish(error_message(message.id, cancelled))
        except Exception:
            log.failure("MCP {method} failed", method=message.method)
            failed = JsonRpcError(INTERNAL_ERROR, "internal server error")
            return reply.finish(error_message(message.id, failed))
        finally:
            if session.in_flight.get(message.id) is answering:
                del session.in_flight[message.id]
        return reply.finish(result_message(message.id, result))

    def _initialize(self, request: IRequest, message: Message) -> bytes:
        try:
            session, result = self.server.start_session(message.params)
        except JsonRpcError as e:
            return json_reply(request, error_message(message.id, e))
        except TooManySessions:
            busy = JsonRpcError(INTERNAL_ERROR, "too many MCP sessions are open; try later")
            return json_reply(request, error_message(message.id, busy), 503)
        request.setHeader(SESSION_HEADER, session.id.encode("ascii"))
        return json_reply(request, result_message(message.id, result))
