"""
Hostile HTML in a real browser: opening any message of the corpus in
L{tests.hostile} runs no script in any frame and sends nothing to the
attacker's server; after "Load remote images", only image requests go out.

One browser page goes through the whole corpus, so the test stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Frame, Page, expect

from tests.browser import TIMEOUT_MS, new_page, send
from tests.conftest import ROOT
from tests.daemon import Daemon, DaemonFactory
from tests.hostile import MARKUP_NAME, Attacker, beacon, corpus, running_attacker

pytestmark = [pytest.mark.daemon, pytest.mark.browser]

expect.set_options(timeout=TIMEOUT_MS)

MAILBOX = "target@tempmail.local"


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    factory = DaemonFactory(tmp_path_factory.mktemp("hostile"), ROOT)
    try:
        yield factory.start()
    finally:
        factory.stop_all()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    with running_attacker() as running:
        yield running


def row(page: Page, name: str) -> Any:
    subject = re.compile(rf"(^|: ){re.escape(name)}( test|\s<)")
    return page.locator("#messages button.row").filter(
        has=page.locator(".subject", has_text=subject)
    )


def open_message(page: Page, name: str, remote: bool) -> Frame:
    """
    Open message C{name} (and allow its remote images if C{remote}); return
    its frame once the message's document has loaded.
    """
    target = row(page, name)
    id = target.get_attribute("data-id")

    def shows(part: str) -> Callable[[Frame], bool]:
        return lambda frame: f"/api/email/{id}/html?" in frame.url and part in frame.url

    with page.expect_event("framenavigated", shows("ticket=")) as navigated:
        target.click()
    if remote:
        with page.expect_event("framenavigated", shows("images=remote")) as navigated:
            page.get_by_role("button", name="Load remote images").click()
    frame: Frame = navigated.value
    frame.wait_for_load_state("load")
    return frame


def script_globals(page: Page) -> list[str]:
    """
    The C{__pwned} globals set in any frame of the page that holds a
    document.  A frame whose load was refused (its URL is empty or an
    error page) has no JavaScript context to ask, and asking would wait
    forever; the binding and the beacon still watch it.
    """
    found = []
    for frame in page.frames:
        if not frame.url.startswith(("http:", "about:srcdoc")):
            continue
        value = frame.evaluate("() => window.__pwned || null")
        if value:
            found.append(f"{frame.url}: {value}")
    return found


def test_hostile_html_runs_no_script_and_fetches_nothing_unasked(
    browser: Browser, server: Daemon, attacker: Attacker
) -> None:
    messages = corpus(MAILBOX, attacker.origin)
    assert len(messages) >= 30
    for _, mail in messages:
        send(server.smtp_port, mail)

    with new_page(browser) as page:
        ran: list[str] = []
        page.context.expose_binding("pwned", lambda _source, name: ran.append(name))

        def on_dialog(dialog: Dialog) -> None:
            ran.append(f"dialog: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

        # The detectors work: the same beacon in an ordinary page is caught.
        with page.expect_response(lambda r: "/beacon/control" in r.url):
            page.set_content(f"<script>{beacon('control', attacker.origin)}</script>")
        assert page.evaluate("() => window.__pwned") == "control"
        assert ran == ["control"]
        assert [r.path for r in attacker.take()] == ["/beacon/control"]
        ran.clear()

        page.goto(f"{server.base_url}/?mailbox={MAILBOX}")
        expect(page.locator("#messages button.row")).to_have_count(len(messages))

        # The subject and file name that are markup stay text.
        subject = page.locator("#messages .subject", has_text=MARKUP_NAME)
        expect(subject).to_have_count(1)
        open_message(page, "markup-names", remote=False)
        expect(page.get_by_role("button", name=f"Download {MARKUP_NAME}.txt")).to_be_visible()
        assert page.locator("#mailbox img, #message img").count() == 0

        for name, _ in messages:
            open_message(page, name, remote=False)
            assert not ran, f"{name}: script ran: {ran}"
            assert not script_globals(page), name
            assert attacker.take() == [], f"{name}: fetched without asking"

        image_paths = set()
        for name, _ in messages:
            open_message(page, name, remote=True)
            assert not ran, f"{name}: script ran: {ran}"
            assert not script_globals(page), name
            for request in attacker.take():
                assert (request.method, request.destination) == ("GET", "image"), (name, request)
                image_paths.add(request.path)

    assert not ran
    # Remote images really were loaded once allowed, so the silence before meant something.
    assert {"/pixel.gif", "/srcset.gif", "/background.png"} <= image_paths
    assert not any(path.startswith("/beacon/") for path in image_paths)
