"""
C{tempmail-mcp}: a stdio bridge for MCP clients that can only start a
command.  It reads JSON-RPC messages, one per line, from standard input,
POSTs each to tempmail's Streamable HTTP endpoint, and writes every
message the server answers (a JSON body, or each event of an SSE stream)
to standard output, one per line.  Requests are forwarded concurrently, so
a long C{wait_for_email} does not hold up other calls.

It speaks both eras.  In the handshake era it keeps the session id and
protocol version that C{initialize} gave, opens the server-to-client
stream once the client says it is initialized (for
C{notifications/resources/updated}), and ends the session with C{DELETE}
when standard input closes.  A stateless (2026-07-28) message carries its
version in C{_meta}; the bridge puts it, and the method, in the
C{MCP-Protocol-Version} and C{Mcp-Method} headers.  C{notifications/cancelled}
closes the named request's connection, which is how the stateless era
cancels (and is also forwarded to a session).  It sends C{--token} as
C{Authorization: Bearer} and C{--api-key} as C{X-API-Key}.  Standard
library only.

Usage: C{tempmail-mcp --url http://127.0.0.1:3001/mcp [--token T] [--api-key K]}
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit

# Time to connect and to wait for an answer's headers; a request answered
# with a stream (wait_for_email) may then take as long as it needs.
CONNECT_TIMEOUT = 30.0
VERSION_META = "io.modelcontextprotocol/protocolVersion"


def sse_messages(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """
    The data of each C{message} event of a Server-Sent Events body.
    """
    data: list[bytes] = []
    event = b"message"
    for raw in response:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data and event == b"message":
                yield b"\n".join(data)
            data, event = [], b"message"
        elif line.startswith(b":"):
            continue
        elif line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
        elif line.startswith(b"event:"):
            event = line[6:].strip()


class Bridge:
    """
    One client's bridge to one endpoint.
    """

    def __init__(
        self, url: str, output: BinaryIO, token: str | None = None, api_key: str | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.parts = parts
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.output = output
        self.fixed_headers = {"Accept": "application/json, text/event-stream"}
        if token:
            self.fixed_headers["Authorization"] = f"Bearer {token}"
        if api_key:
            self.fixed_headers["X-API-Key"] = api_key
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._write_lock = threading.Lock()
        self._stream: threading.Thread | None = None
        # The connection of each request under way, by id, to cancel it.
        self._requests: dict[Any, http.client.HTTPConnection] = {}

    def _connection(self, timeout: float | None = CONNECT_TIMEOUT) -> http.client.HTTPConnection:
        host, port = self.parts.hostname, self.parts.port
        assert host is not None
        if self.parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _headers(self, message: dict[str, Any] | None = None) -> dict[str, str]:
        headers = dict(self.fixed_headers)
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        params = (message or {}).get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(VERSION_META) if isinstance(meta, dict) else None
        if isinstance(version, str) and isinstance(message, dict):
            headers["MCP-Protocol-Version"] = version
            headers["Mcp-Method"] = str(message.get("method"))
        return headers

    def emit(self, data: bytes) -> None:
        """
        Write one message to the client, as one line.
        """
        line = json.dumps(json.loads(data), separators=(",", ":")).encode() + b"\n"
        with self._write_lock:
            self.output.write(line)
            self.output.flush()

    def _fail(self, id: Any, message: str) -> None:
        error = {"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": message}}
        self.emit(json.dumps(error).encode())

    def forward(self, message: dict[str, Any]) -> None:
        """
        POST one message and pass on what comes back.
        """
        is_request = "method" in message and "id" in message
        connection = self._connection()
        if is_request:
            self._requests[message["id"]] = connection
        try:
            headers = {**self._headers(message), "Content-Type": "application/json"}
            connection.request("POST", self.path, json.dumps(message).encode(), headers)
            response = connection.getresponse()
            if connection.sock is not None:
                # The answer may be a stream that waits for mail.
                connection.sock.settimeout(None)
            self._answered(message, response, is_request)
        except (OSError, http.client.HTTPException, ValueError) as e:
            if is_request and self._requests.get(message["id"]) is connection:
                self._fail(message["id"], f"tempmail-mcp: {self.parts.netloc} failed: {e}")
        finally:
            if is_request and self._requests.get(message["id"]) is connection:
                del self._requests[message["id"]]
            connection.close()
        if message.get("method") == "notifications/initialized":
            self._open_stream()

    def _answered(
        self, message: dict[str, Any], response: http.client.HTTPResponse, is_request: bool
    ) -> None:
        kind = (response.getheader("Content-Type") or "").split(";")[0].strip()
        if message.get("method") == "initialize" and response.status == 200:
            self.session_id = response.getheader("Mcp-Session-Id")
        if kind == "text/event-stream":
            for data in sse_messages(response):
                self.emit(data)
        elif kind == "application/json":
            body = response.read()
            if message.get("method") == "initialize" and response.status == 200:
                self.protocol_version = json.loads(body).get("result", {}).get("protocolVersion")
            self.emit(body)
        elif is_request:
            self._fail(message["id"], f"HTTP {response.status} from {self.parts.netloc}")

    def _open_stream(self) -> None:
        if self._stream is None and self.session_id is not None:
            self._stream = threading.Thread(target=self._listen, name="mcp-stream", daemon=True)
            self._stream.start()

    def _listen(self) -> None:
        connection = self._connection(timeout=None)
        try:
            headers = {**self._headers(), "Accept": "text/event-stream"}
            connection.request("GET", self.path, headers=headers)
            response = connection.getresponse()
            if response.status == 200:
                for data in sse_messages(response):
                    self.emit(data)
        except (OSError, http.client.HTTPException, ValueError):
            pass
        finally:
            connection.close()

    def run(self, lines: Iterable[bytes]) -> None:
        """
        Forward every line until the input ends, then end the session.
        """
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                error = {"code": -32700, "message": "tempmail-mcp: a line is not valid JSON"}
                self.emit(json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode())
                continue
            if not isinstance(message, dict):
                error = {"code": -32600, "message": "tempmail-mcp: batches are not supported"}
                self.emit(json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode())
            elif message.get("method") == "notifications/cancelled":
                self.cancel(message)
            elif "method" in message and "id" in message and message["method"] != "initialize":
                # Requests run side by side; initialize and notifications in
                # order, so that the session exists before what follows.
                threading.Thread(target=self.forward, args=(message,), daemon=True).start()
            else:
                self.forward(message)
        self.end_session()

    def cancel(self, message: dict[str, Any]) -> None:
        """
        Stop the request a C{notifications/cancelled} names: close its
        connection, and tell its session if it has one.
        """
        params = message.get("params")
        id = params.get("requestId") if isinstance(params, dict) else None
        connection = self._requests.pop(id, None) if isinstance(id, str | int) else None
        if connection is not None and connection.sock is not None:
            # Shut down, not just close: the thread reading it must wake.
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        if self.session_id is not None:
            self.forward(message)

    def end_session(self) -> None:
        """
        C{DELETE} the session, if there is one.
        """
        if self.session_id is None:
            return
        connection = self._connection()
        try:
            connection.request("DELETE", self.path, headers=self._headers())
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    """
    The C{tempmail-mcp} console script.
    """
    parser = argparse.ArgumentParser(
        prog="tempmail-mcp",
        description="Relay MCP over stdio to a tempmail server's HTTP endpoint.",
    )
    parser.add_argument("--url", required=True, help="the endpoint, e.g. http://host:3001/mcp")
    parser.add_argument("--token", help="a mailbox token or the ADMIN_TOKEN (sent as Bearer)")
    parser.add_argument("--api-key", help="the server's API_KEY, if it has one")
    options = parser.parse_args(argv)
    try:
        bridge = Bridge(options.url, sys.stdout.buffer, options.token, options.api_key)
    except ValueError as e:
        parser.error(str(e))
    bridge.run(sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
