"""
The static web UI: the files of C{tempmail/web}, served by GET and HEAD.

Files are looked up strictly: no directory listings, no hidden files, no
path that resolves outside the root, and a JSON 404 for anything missing.
Every answer carries the same security headers, and revalidation is cheap:
an C{ETag} and C{Last-Modified} on each file, 304 when the client has it.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web import http
from twisted.web.iweb import IRequest

from tempmail.api.responses import ApiError
from tempmail.api.routing import route_group_app

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The C{Content-Security-Policy} of every page and asset of the web UI."""

ASSET_MAX_AGE = 600
"""
Seconds a browser may reuse a script, style or image without asking.  HTML
is always revalidated, so after an upgrade a page is new at once and its
assets within this many seconds (their names carry no version).
"""

_SECURITY_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"Content-Security-Policy": CONTENT_SECURITY_POLICY.encode("ascii"),
}

_UTF8 = "; charset=utf-8"
_CONTENT_TYPES = {
    ".html": "text/html" + _UTF8,
    ".js": "text/javascript" + _UTF8,
    ".mjs": "text/javascript" + _UTF8,
    ".css": "text/css" + _UTF8,
    ".json": "application/json" + _UTF8,
    ".txt": "text/plain" + _UTF8,
    ".webmanifest": "application/manifest+json" + _UTF8,
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}
# Anything else is offered as bytes to save, never as something to render.
_UNKNOWN_TYPE = "application/octet-stream"

_app = route_group_app()


def content_type(name: str) -> str:
    """
    The C{Content-Type} of a web UI file, from its suffix.
    """
    return _CONTENT_TYPES.get(Path(name).suffix.lower(), _UNKNOWN_TYPE)


def _entity_tag(size: int, mtime_ns: int) -> bytes:
    # Size and modification time identify a version of a file without
    # reading it, which lets a 304 skip the read.
    return b'"%x-%x"' % (mtime_ns, size)


def _has_current_copy(request: IRequest, etag: bytes, mtime: int) -> bool:
    """
    Whether the client's cached copy is this version: C{If-None-Match}
    decides when it is sent (compared weakly, as for GET), otherwise
    C{If-Modified-Since}.
    """
    tags = request.getHeader(b"if-none-match")
    if tags is not None:
        offered = {tag.strip().removeprefix(b"W/") for tag in tags.split(b",")}
        return b"*" in offered or etag in offered
    since = request.getHeader(b"if-modified-since")
    if since is None:
        return False
    try:
        return mtime <= http.stringToDatetime(since)
    except ValueError:
        return False


class StaticRoutes:
    """
    The web UI under C{/}: GET and HEAD only, so that a known API path asked
    with another method gets 405 rather than a file.

    It takes every GET outside the other groups' routes, so it comes last
    in a composition; a path under C{/api/} that reaches it is an unknown
    API route.
    """

    app = _app

    def __init__(self, web_root: Path | None) -> None:
        """
        @param web_root: the directory of the web UI, or C{None} to serve
            no files.
        """
        self.web_root = web_root.resolve() if web_root is not None else None

    @_app.route("/", methods=["GET", "HEAD"])
    def index(self, request: IRequest) -> bytes:
        return self._serve(request, "")

    @_app.route("/<path:path>", methods=["GET", "HEAD"])
    def file(self, request: IRequest, path: str) -> bytes:
        return self._serve(request, path)

    def _find(self, path: str) -> Path:
        """
        The file for URL path C{path} (relative, already percent-decoded);
        a path ending in C{/} means the C{index.html} of that directory.

        @raise ApiError: 404 if there is no such file.
        """
        missing = ApiError(404, "no such file")
        if self.web_root is None:
            raise missing
        segments = path.split("/")
        if segments[-1] == "":
            segments[-1] = "index.html"
        # Empty segments, ".", ".." and hidden files are never part of the UI.
        if any(not s or s.startswith(".") or "\\" in s or "\0" in s for s in segments):
            raise missing
        found = self.web_root.joinpath(*segments).resolve()
        if not found.is_relative_to(self.web_root) or not found.is_file():
            raise missing
        return found

    def _serve(self, request: IRequest, path: str) -> bytes:
        for name, value in _SECURITY_HEADERS.items():
            request.setHeader(name, value)
        if path == "api" or path.startswith("api/"):
            raise ApiError(404, "no such API route")
        found = self._find(path)
        status = found.stat()
        etag = _entity_tag(status.st_size, status.st_mtime_ns)
        mtime = int(status.st_mtime)
        kind = content_type(found.name)
        request.setHeader(b"ETag", etag)
        request.setHeader(b"Last-Modified", http.datetimeToString(mtime))
        request.setHeader(
            b"Cache-Control",
            b"no-cache" if kind.startswith("text/html") else b"max-age=%d" % ASSET_MAX_AGE,
        )
        if _has_current_copy(request, etag, mtime):
            request.setResponseCode(http.NOT_MODIFIED)
            return b""
        content = found.read_bytes()
        request.setHeader(b"Content-Type", kind.encode("ascii"))
        request.setHeader(b"Content-Length", b"%d" % len(content))
        return content
