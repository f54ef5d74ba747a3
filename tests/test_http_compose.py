"""
Route groups are separate Klein apps composed in order: a request goes to
the first group that has its path and method, the methods of every group
are offered in a 405, and a group can be served on its own.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted
from treq.testing import StubTreq
from twisted.web.iweb import IRequest

from tempmail.api.compose import compose
from tempmail.api.routing import route_group_app

_first = route_group_app()
_second = route_group_app()


class First:
    app = _first

    @_first.route("/api/thing", methods=["GET"])
    def get(self, request: IRequest) -> bytes:
        return b"first get"

    @_first.route("/api/both", methods=["GET"])
    def both(self, request: IRequest) -> bytes:
        return b"first both"


class Second:
    app = _second

    @_second.route("/api/thing", methods=["DELETE"])
    def delete(self, request: IRequest) -> bytes:
        return b"second delete"

    @_second.route("/api/both", methods=["GET"])
    def both(self, request: IRequest) -> bytes:
        return b"second both"

    @_second.route("/api/fails", methods=["GET"])
    def fails(self, request: IRequest) -> bytes:
        raise KeyError("a bug")


async def call(resource: Any, method: str, path: str) -> tuple[int, bytes, Any]:
    # StubTreq builds its request methods at run time, so mypy cannot see them.
    stub: Any = StubTreq(resource)
    response = await stub.request(method, "http://api.test" + path)
    return response.code, await response.content(), response.headers


@pytest_twisted.ensureDeferred
async def test_the_first_group_with_the_route_answers() -> None:
    both = compose([First().app, Second().app])
    assert (await call(both, "GET", "/api/thing"))[:2] == (200, b"first get")
    assert (await call(both, "DELETE", "/api/thing"))[:2] == (200, b"second delete")
    assert (await call(both, "GET", "/api/both"))[:2] == (200, b"first both")


@pytest_twisted.ensureDeferred
async def test_methods_of_every_group_are_offered_in_a_405() -> None:
    both = compose([First().app, Second().app])
    code, body, headers = await call(both, "PUT", "/api/thing")
    assert (code, body) == (405, b'{"error": "Method Not Allowed"}')
    assert headers.getRawHeaders(b"allow") == [b"DELETE, GET, HEAD"]
    code, body, _ = await call(both, "GET", "/api/nothing")
    assert (code, body) == (404, b'{"error": "no such API route"}')


@pytest_twisted.ensureDeferred
async def test_a_group_serves_alone_with_the_shared_errors(logged_errors: Any) -> None:
    alone = compose([Second().app])
    assert (await call(alone, "GET", "/api/thing"))[0] == 405
    code, body, _ = await call(alone, "GET", "/api/fails")
    assert (code, body) == (500, b'{"error": "internal server error"}')
    assert len(logged_errors.take()) == 1
