"""
Composing route groups: each group is its own Klein app, and one resource
sends a request to the first group that has a route for it.

A group's routes keep their full paths, so one group can be served on its
own port (MCP) or beside the others (the API port) without changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from klein import Klein
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from tempmail.api.responses import error_response


class RouteGroups(Resource):
    """
    Serves an ordered list of Klein apps as one tree.

    A request goes to the first app with a route for its path and method.
    If some app knows the path but not the method, the answer is C{405}
    with the methods every app allows; if none knows the path, a JSON
    C{404}.
    """

    isLeaf = True

    def __init__(self, apps: Sequence[Klein]) -> None:
        super().__init__()
        self._groups = [(app, app.resource()) for app in apps]

    def render(self, request: IRequest) -> Any:
        path = "/" + "/".join(segment.decode("utf-8", "replace") for segment in request.postpath)
        method = request.method.decode("ascii", "replace")
        allowed: set[str] = set()
        for app, resource in self._groups:
            adapter = app.url_map.bind("", path_info=path, default_method=method)
            try:
                adapter.match()
            except NotFound:
                continue
            except MethodNotAllowed as e:
                allowed.update(e.valid_methods or ())
                continue
            except RequestRedirect:
                pass
            return resource.render(request)
        if allowed:
            request.setHeader(b"Allow", ", ".join(sorted(allowed)).encode())
            return error_response(request, 405, "Method Not Allowed")
        return error_response(request, 404, "no such API route")


def compose(apps: Sequence[Klein]) -> IResource:
    """
    The resource that serves C{apps}, in that order.
    """
    return RouteGroups(apps)
