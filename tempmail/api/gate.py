"""
C{API_KEY}: one gate in front of the whole API.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote_to_bytes

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from tempmail.api.responses import error_response
from tempmail.passwords import same_secret

# Monitoring must reach the health check without the key.
_OPEN_PATHS = frozenset({b"/api/health"})


def _decoded_path(raw: bytes) -> bytes:
    """
    The path percent-decoded, with repeated slashes made one.
    """
    return b"/" + re.sub(rb"/+", b"/", unquote_to_bytes(raw)).lstrip(b"/")


def canonical_path(raw: bytes) -> bytes:
    """
    The path percent-decoded, with repeated slashes and dot segments
    resolved, as a client or proxy normalising it would see it.  The gate
    must judge that path, not the raw one, or C{//api/...} and
    C{/%61pi/...} would walk past it.
    """
    return b"/" + posixpath.normpath(_decoded_path(raw)).lstrip(b"/")


# The API's own paths and the MCP endpoint mounted beside them.
API_PREFIXES = (b"/api", b"/mcp")


class ApiKeyGate(Resource):
    """
    Refuses requests under C{prefixes} (C{/api} and C{/mcp}; on the MCP
    port every path) without the right C{X-API-Key} (except the health
    check), then hands everything to the wrapped resource.  Being in front
    of the whole tree, no route can forget the check.
    """

    isLeaf = True

    def __init__(
        self, wrapped: IResource, api_key: str, prefixes: tuple[bytes, ...] | None = API_PREFIXES
    ) -> None:
        """
        @param prefixes: the guarded paths and the paths below them;
            C{None} guards every path.
        """
        super().__init__()
        self.wrapped = wrapped
        self.api_key = api_key
        self.prefixes = prefixes

    def _guarded(self, path: bytes) -> bool:
        if path in _OPEN_PATHS:
            return False
        if self.prefixes is None:
            return True
        return any(path == p or path.startswith(p + b"/") for p in self.prefixes)

    def render(self, request: IRequest) -> bytes | int:
        path = canonical_path(request.path)
        # The router does not resolve dot segments: /api/email/{id}/cid/../../x
        # reaches an API route while its canonical form is /x.  Either form
        # under a guarded prefix is guarded.
        if self._guarded(path) or self._guarded(_decoded_path(request.path)):
            given = (request.getHeader(b"x-api-key") or b"").decode("latin-1")
            if not given and path.startswith(b"/api/ws/"):
                # Browsers cannot set headers on a WebSocket.
                given = (request.args.get(b"api_key") or [b""])[-1].decode("latin-1")
            if not same_secret(given, self.api_key):
                return error_response(request, 401, "this server needs an X-API-Key header")
        result: bytes | int = self.wrapped.render(request)
        return result
