"""
End to end in a real browser: C{/api/docs} renders the live OpenAPI
document with nothing but the daemon's own files.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import TIMEOUT_MS, new_page
from tests.daemon import DaemonFactory

pytestmark = [pytest.mark.daemon, pytest.mark.browser]

expect.set_options(timeout=TIMEOUT_MS)

PATHS = "fetch('/api/openapi.json').then(r => r.json()).then(s => Object.values(s.paths))"


@pytest.fixture
def docs_url(daemon: DaemonFactory) -> Iterator[str]:
    yield daemon.start().base_url + "/api/docs"


def test_the_reference_renders_every_operation_from_the_daemon_alone(
    browser: Browser, docs_url: str
) -> None:
    with new_page(browser) as page:
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(docs_url)
        operation = page.locator("section.operation", has_text="/api/emails/{address}/export")
        expect(operation).to_contain_text("The mailbox as an mbox file")
        expect(operation).to_contain_text("application/mbox")
        expect(page.locator("#schema-Email")).to_contain_text('"envelope_to"')
        paths = page.evaluate(PATHS)
        expect(page.locator("section.operation")).to_have_count(sum(len(p) for p in paths))
        origin = docs_url.removesuffix("/api/docs")
        assert all(url.startswith(origin) for url in requested), requested
        assert errors == []
