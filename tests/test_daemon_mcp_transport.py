"""
The Streamable HTTP transport rules, over raw HTTP against the real daemon:
session ids, protocol versions, Origin, 202, 400, 404, 405, 406, 413, 415,
DELETE, the session limit, and JSON-RPC errors for bad input.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from tests.daemon import Daemon, DaemonFactory
from tests.mcp_client import MCP_SETTINGS

pytestmark = pytest.mark.daemon

ACCEPT = "application/json, text/event-stream"
INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    server: Daemon,
    method: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    path: str = "/mcp",
    raw: bytes | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports["mcp"], timeout=30)
    try:
        sent = {"Accept": ACCEPT, "Content-Type": "application/json", **(headers or {})}
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=sent)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def session(server: Daemon, version: str = "2025-06-18") -> dict[str, str]:
    answer = request(
        server,
        "POST",
        {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": version}},
    )
    assert answer.status == 200
    return {"Mcp-Session-Id": answer.headers["mcp-session-id"], "MCP-Protocol-Version": version}


def call(method: str, id: int = 2, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


@pytest.fixture
def server(daemon: DaemonFactory) -> Daemon:
    return daemon.start(**MCP_SETTINGS)


def test_initialize_negotiates_and_issues_a_session(server: Daemon) -> None:
    answer = request(server, "POST", INITIALIZE)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    result = answer.json()["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"]["resources"]["subscribe"] is True
    assert len(answer.headers["mcp-session-id"]) >= 32
    # A version we do not speak gets our newest; the client decides.
    newer = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": "2099-01-01"}}
    assert request(server, "POST", newer).json()["result"]["protocolVersion"] == "2025-11-25"
    # "/" answers on the MCP port too.
    assert request(server, "POST", INITIALIZE, path="/").status == 200


def test_session_and_version_rules(server: Daemon) -> None:
    headers = session(server)
    assert request(server, "POST", call("ping"), headers).json()["result"] == {}
    missing = request(server, "POST", call("ping"))
    assert missing.status == 400 and missing.json()["error"]["code"] == -32600
    unknown = request(server, "POST", call("ping"), {**headers, "Mcp-Session-Id": "nope"})
    assert unknown.status == 404 and unknown.json()["id"] == 2
    wrong = request(server, "POST", call("ping"), {**headers, "MCP-Protocol-Version": "2024-01-01"})
    assert wrong.status == 400
    # Without the header, a client is taken to speak 2025-03-26.
    old = session(server, "2025-03-26")
    del old["MCP-Protocol-Version"]
    assert request(server, "POST", call("ping"), old).status == 200


def test_notifications_and_responses_get_202(server: Daemon) -> None:
    headers = session(server)
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    answer = request(server, "POST", initialized, headers)
    assert (answer.status, answer.body) == (202, b"")
    response = {"jsonrpc": "2.0", "id": 7, "result": {}}
    assert request(server, "POST", response, headers).status == 202
    assert request(server, "POST", initialized).status == 400


def test_delete_ends_the_session(server: Daemon) -> None:
    headers = session(server)
    assert request(server, "DELETE", headers=headers).status == 204
    assert request(server, "POST", call("ping"), headers).status == 404
    assert request(server, "DELETE", headers=headers).status == 404
    assert request(server, "PUT", call("ping"), headers).status == 405
    head = request(server, "HEAD", headers=headers)
    assert head.status == 405 and head.headers["allow"] == "DELETE, GET, POST"


def test_get_opens_a_stream_only_for_a_session_that_accepts_one(server: Daemon) -> None:
    assert request(server, "GET", headers={"Accept": "text/event-stream"}).status == 400
    headers = session(server)
    assert request(server, "GET", headers={**headers, "Accept": "application/json"}).status == 406
    connection = http.client.HTTPConnection("127.0.0.1", server.ports["mcp"], timeout=30)
    try:
        connection.request("GET", "/mcp", headers={**headers, "Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.readline() == b": stream open\n"
        # Ending the session ends its stream.
        assert request(server, "DELETE", headers=headers).status == 204
        assert response.read() == b"\n"
    finally:
        connection.close()


def test_origin_is_checked(server: Daemon) -> None:
    evil = request(server, "POST", INITIALIZE, {"Origin": "http://evil.example"})
    assert evil.status == 403 and evil.json()["error"]["code"] == -32600
    assert request(server, "POST", INITIALIZE, {"Origin": "http://localhost:5173"}).status == 200
    assert request(server, "POST", INITIALIZE, {"Origin": "http://127.0.0.1"}).status == 200


def test_allowed_origins_are_let_in(daemon: DaemonFactory) -> None:
    server = daemon.start(**MCP_SETTINGS, ALLOWED_ORIGINS="https://app.example")
    assert request(server, "POST", INITIALIZE, {"Origin": "https://app.example"}).status == 200
    assert request(server, "POST", INITIALIZE, {"Origin": "https://other.example"}).status == 403


def test_bad_bodies_get_json_rpc_errors(daemon: DaemonFactory) -> None:
    server = daemon.start(**MCP_SETTINGS, MCP_MAX_BODY="1K")
    headers = session(server)
    big = request(server, "POST", call("ping", pad="x" * 2000), headers)
    assert big.status == 413 and big.json()["error"]["code"] == -32600
    broken = request(server, "POST", headers=headers, raw=b"{not json")
    assert broken.status == 400 and broken.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "the body is not valid JSON"},
    }
    batch = request(server, "POST", [call("ping")], headers)
    assert batch.json()["error"]["code"] == -32600
    not_rpc = request(server, "POST", {"id": 1, "method": "ping"}, headers)
    assert not_rpc.json()["error"]["code"] == -32600
    text = request(server, "POST", call("ping"), {**headers, "Content-Type": "text/plain"})
    assert text.status == 415
    unknown = request(server, "POST", call("no/such/method"), headers).json()
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 2
    no_tool = request(server, "POST", call("tools/call", name="nope"), headers).json()
    assert no_tool["error"]["code"] == -32602
    bad_args = request(
        server, "POST", call("tools/call", name="list_emails", arguments={"limit": 0}), headers
    ).json()["result"]
    assert bad_args["isError"] is True
    assert bad_args["content"][0]["text"].startswith("invalid arguments")
    bad_init = request(server, "POST", {**INITIALIZE, "params": {}})
    assert bad_init.json()["error"]["code"] == -32602


STATELESS = {"MCP-Protocol-Version": "2026-07-28"}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}


def test_server_discover_names_both_eras(server: Daemon) -> None:
    discover = call("server/discover", _meta=META)
    answer = request(server, "POST", discover, {**STATELESS, "Mcp-Method": "server/discover"})
    assert answer.status == 200
    result = answer.json()["result"]
    assert result["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert (result["resultType"], result["ttlMs"], result["cacheScope"]) == (
        "complete",
        0,
        "private",
    )
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "tempmail"


def test_stateless_requests_need_no_session_but_must_agree(server: Daemon) -> None:
    listed = request(server, "POST", call("tools/list", _meta=META), STATELESS).json()["result"]
    assert len(listed["tools"]) == 11 and listed["resultType"] == "complete"
    called = request(
        server,
        "POST",
        call("tools/call", name="create_mailbox", arguments={}, _meta=META),
        {**STATELESS, "Mcp-Method": "tools/call"},
    ).json()["result"]
    assert called["structuredContent"]["locked"] is False
    # The handshake-era methods are not part of it.
    gone = request(server, "POST", call("ping", _meta=META), STATELESS).json()
    assert gone["error"]["code"] == -32601
    no_meta = request(server, "POST", call("tools/list"), STATELESS)
    assert no_meta.status == 400 and no_meta.json()["error"]["code"] == -32020
    other_meta = {"io.modelcontextprotocol/protocolVersion": "2025-11-25"}
    mismatch = request(server, "POST", call("tools/list", _meta=other_meta), STATELESS)
    assert mismatch.json()["error"]["code"] == -32020
    wrong_method = request(
        server, "POST", call("tools/list", _meta=META), {**STATELESS, "Mcp-Method": "tools/call"}
    )
    assert wrong_method.status == 400 and wrong_method.json()["error"]["code"] == -32020
    unknown = request(
        server, "POST", call("server/discover"), {"MCP-Protocol-Version": "2099-01-01"}
    )
    assert unknown.status == 400
    error = unknown.json()["error"]
    assert error["code"] == -32022 and "2026-07-28" in error["data"]["supported"]
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    assert request(server, "POST", note, STATELESS).status == 202
    # No GET stream and no sessions to end.
    for method in ("GET", "DELETE"):
        refused = request(server, method, headers={**STATELESS, "Accept": "text/event-stream"})
        assert refused.status == 405 and refused.headers["allow"] == "POST"


def test_session_limit(daemon: DaemonFactory) -> None:
    server = daemon.start(**MCP_SETTINGS, MCP_MAX_SESSIONS="1")
    headers = session(server)
    busy = request(server, "POST", INITIALIZE)
    assert busy.status == 503 and "too many" in busy.json()["error"]["message"]
    assert request(server, "DELETE", headers=headers).status == 204
    assert request(server, "POST", INITIALIZE).status == 200


def test_api_key_gates_the_mcp_port(daemon: DaemonFactory) -> None:
    key = "k" * 20
    server = daemon.start(**MCP_SETTINGS, API_KEY=key)
    for path in ("/mcp", "/"):
        refused = request(server, "POST", INITIALIZE, path=path)
        assert refused.status == 401
        assert request(server, "POST", INITIALIZE, {"X-API-Key": key}, path=path).status == 200


def open_wait(server: Daemon, headers: dict[str, str], id: int) -> http.client.HTTPResponse:
    """
    Start a long wait_for_email that reports progress, and read up to its
    first progress event: the server is then waiting.
    """
    wait = call(
        "tools/call",
        id,
        name="wait_for_email",
        arguments={"address": "x", "timeout": 60},
        _meta={"progressToken": "p"},
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.ports["mcp"], timeout=30)
    connection.request(
        "POST",
        "/mcp",
        json.dumps(wait).encode(),
        {"Accept": ACCEPT, "Content-Type": "application/json", **headers},
    )
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"event: message\n"
    progress = json.loads(response.readline().removeprefix(b"data: "))
    assert progress["method"] == "notifications/progress"
    assert progress["params"]["progressToken"] == "p" and progress["params"]["total"] == 60
    return response


def last_event(response: http.client.HTTPResponse) -> Any:
    events = [line for line in response.read().split(b"\n") if line.startswith(b"data: ")]
    return json.loads(events[-1].removeprefix(b"data: "))


def test_a_cancelled_or_ended_wait_answers_at_once(server: Daemon) -> None:
    headers = session(server)
    waiting = open_wait(server, headers, 9)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    assert request(server, "POST", cancel, headers).status == 202
    assert last_event(waiting)["error"]["code"] == -32800

    waiting = open_wait(server, headers, 10)
    assert request(server, "DELETE", headers=headers).status == 204
    assert last_event(waiting)["error"]["code"] == -32800
