"""
The web UI's files over HTTP, in memory: content types, revalidation,
security headers, and JSON 404s for anything that is not a file of the UI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq

from tempmail.api import MailAPI
from tempmail.api.compose import compose
from tempmail.api.static_routes import CONTENT_SECURITY_POLICY, StaticRoutes
from tempmail.tap import web_root
from tempmail.testing import MemoryMailStore
from tests.support import synchronous_access

FILES = {
    "index.html": b"<!doctype html><title>tempmail</title>",
    "app.js": b"export const x = 1;",
    "lib.mjs": b"export default 2;",
    "style.css": b"body { color: black }",
    "icon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "logo.png": b"\x89PNG\r\n\x1a\n",
    "favicon.ico": b"\x00\x00\x01\x00",
    "site.webmanifest": b"{}",
    "notes.unknown": b"?",
    ".hidden": b"secret",
    "sub/index.html": b"<p>sub</p>",
    "empty/.keep": b"",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    for name, content in FILES.items():
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_bytes(content)
    (tmp_path / "outside.txt").write_bytes(b"not part of the UI")
    return web


class Static:
    def __init__(self, resource: Any) -> None:
        # StubTreq builds its request methods at run time, so mypy cannot see them.
        self.stub: Any = StubTreq(resource)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        response = await self.stub.request(method, "http://ui.test" + path, headers=headers)
        return response.code, response.headers, await response.content()


@pytest.fixture
def static(root: Path) -> Static:
    return Static(compose([StaticRoutes(root).app]))


def header(headers: Any, name: str) -> str:
    (value,) = headers.getRawHeaders(name)
    return str(value)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/lib.mjs", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
        ("/logo.png", "image/png"),
        ("/favicon.ico", "image/x-icon"),
        ("/site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("/notes.unknown", "application/octet-stream"),
        ("/sub/", "text/html; charset=utf-8"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_files_are_served_with_their_types(static: Static, path: str, kind: str) -> None:
    code, headers, body = await static.request("GET", path)
    assert code == 200
    assert header(headers, "content-type") == kind
    name = path.lstrip("/") + ("index.html" if path.endswith("/") else "")
    assert body == FILES[name]


@pytest.mark.parametrize("path", ["/", "/app.js", "/missing.js"])
@pytest_twisted.ensureDeferred
async def test_every_answer_carries_the_security_headers(static: Static, path: str) -> None:
    _, headers, _ = await static.request("GET", path)
    assert header(headers, "x-content-type-options") == "nosniff"
    assert header(headers, "referrer-policy") == "no-referrer"
    assert header(headers, "content-security-policy") == CONTENT_SECURITY_POLICY


@pytest_twisted.ensureDeferred
async def test_html_is_revalidated_and_assets_kept_a_while(static: Static) -> None:
    _, page, _ = await static.request("GET", "/")
    assert header(page, "cache-control") == "no-cache"
    _, script, _ = await static.request("GET", "/app.js")
    assert header(script, "cache-control") == "max-age=600"


@pytest_twisted.ensureDeferred
async def test_a_current_copy_gets_304(static: Static, root: Path) -> None:
    code, headers, _ = await static.request("GET", "/app.js")
    etag = header(headers, "etag")
    modified = header(headers, "last-modified")
    for asked in (etag, f'W/{etag}, "other"', "*"):
        code, again, body = await static.request("GET", "/app.js", {"If-None-Match": asked})
        assert (code, body) == (304, b"")
        assert header(again, "etag") == etag
    code, _, _ = await static.request("GET", "/app.js", {"If-Modified-Since": modified})
    assert code == 304
    # A stale tag wins over a current date: If-None-Match decides when sent.
    code, _, body = await static.request(
        "GET", "/app.js", {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    )
    assert (code, body) == (200, FILES["app.js"])
    (root / "app.js").write_bytes(b"export const x = 22;")
    code, changed, body = await static.request("GET", "/app.js", {"If-None-Match": etag})
    assert (code, body) == (200, b"export const x = 22;")
    assert header(changed, "etag") != etag


@pytest_twisted.ensureDeferred
async def test_head_sends_the_headers_only(static: Static) -> None:
    code, headers, body = await static.request("HEAD", "/style.css")
    assert (code, body) == (200, b"")
    assert header(headers, "content-length") == str(len(FILES["style.css"]))
    assert header(headers, "content-type") == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/missing.js",
        "/.hidden",
        "/empty/",
        "/sub",
        "/empty",
        "/sub/../../outside.txt",
        "/%2E%2E/outside.txt",
        "/sub//index.html",
    ],
)
@pytest_twisted.ensureDeferred
async def test_anything_but_a_file_of_the_ui_is_a_json_404(static: Static, path: str) -> None:
    code, headers, body = await static.request("GET", path)
    assert code == 404
    assert header(headers, "content-type") == "application/json; charset=utf-8"
    assert json.loads(body) == {"error": "no such file"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest_twisted.ensureDeferred
async def test_only_get_and_head(static: Static, method: str) -> None:
    code, headers, _ = await static.request(method, "/app.js")
    assert code == 405
    assert set(header(headers, "allow").split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/api/nothing", "/api", "/%61pi/emails"])
@pytest_twisted.ensureDeferred
async def test_unknown_api_paths_stay_json_404s(root: Path, path: str) -> None:
    store = MemoryMailStore()
    api = Static(MailAPI(store, synchronous_access(store), "tempmail.local", root).resource())
    code, _, body = await api.request("GET", path)
    assert (code, json.loads(body)) == (404, {"error": "no such API route"})


@pytest_twisted.ensureDeferred
async def test_the_packaged_ui_is_served() -> None:
    code, headers, body = await Static(compose([StaticRoutes(web_root()).app])).request("GET", "/")
    assert code == 200
    assert header(headers, "content-type") == "text/html; charset=utf-8"
    assert b"tempmail" in body
