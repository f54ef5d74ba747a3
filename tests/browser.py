"""
Driving the web UI in a real browser: Playwright's sync API on Debian's
C{chromium} package (Playwright's own browser builds cannot be downloaded
here), mail sent over SMTP, and where screenshots go.

Browser tests are plain synchronous tests: the daemon runs in a
subprocess, so nothing here touches the Twisted reactor.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, which C{scripts/test} installs with apt."""

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Containers often give /dev/shm only 64 MiB, too little for chromium.
    "--disable-dev-shm-usage",
]

TIMEOUT_MS = 15_000
"""How long any one wait in the page may take before the test fails."""

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
"""Where the tests save screenshots (ignored by git; CI can keep it)."""


@contextmanager
def chromium() -> Iterator[Browser]:
    """
    Launch Debian's chromium headless for the duration.
    """
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: scripts/test installs the chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Browser, width: int = 1280, height: int = 800) -> Iterator[Page]:
    """
    A page in a fresh context (no storage, no cookies), closed afterwards.
    """
    context: BrowserContext = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def message(
    to: str,
    subject: str,
    text: str = "Hello from the test.",
    html: str | None = None,
    sender: str = "alice@sender.test",
) -> EmailMessage:
    """
    A message with a text part and, if given, an HTML alternative.
    """
    mail = EmailMessage()
    mail["From"] = f"Alice <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def send(smtp_port: int, mail: EmailMessage) -> str:
    """
    Send C{mail} to its C{To:} over SMTP; return the id in the C{250} reply.
    """
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.mail("alice@sender.test")
        code, _ = client.rcpt(str(mail["To"]))
        assert code == 250
        code, reply = client.data(mail.as_bytes())
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]
