"""
End to end in a real browser: the web UI served by the real daemon, driven
by Playwright in Debian's chromium, with mail sent over SMTP during the
tests.  One daemon serves the module; each test uses its own mailbox and a
fresh browser context.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import SCREENSHOTS, TIMEOUT_MS, message, new_page, send
from tests.conftest import ROOT
from tests.daemon import Daemon, DaemonFactory
from tests.receiver import Receiver, running_receiver

pytestmark = [pytest.mark.daemon, pytest.mark.browser]

PASSWORD = "correct horse battery"
DOMAIN = "tempmail.local"

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    factory = DaemonFactory(tmp_path_factory.mktemp("ui"), ROOT)
    try:
        yield factory.start(WEBHOOK_ALLOW_PRIVATE="true")
    finally:
        factory.stop_all()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser) as opened:
        yield opened


def png(width: int = 2, height: int = 2) -> bytes:
    """
    A small valid red PNG, made here so the test ships no binary file.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def rows(page: Page) -> Any:
    return page.locator("#messages button.row")


def row(page: Page, subject: str) -> Any:
    return rows(page).filter(has_text=subject)


def open_mailbox(page: Page, server: Daemon, name: str) -> None:
    page.goto(f"{server.base_url}/?mailbox={quote(name)}")
    expect(page.locator("#mailbox-name")).to_have_text(f"{name}@{DOMAIN}")
    expect(page.locator("#connection")).to_have_text("Live")


def total(server: Daemon, name: str) -> int:
    return int(server.get_json(f"/api/emails/{name}")["total"])


def test_a_mailbox_opens_by_typing_and_by_url(page: Page, server: Daemon) -> None:
    send(server.smtp_port, message(f"typed@{DOMAIN}", "Waiting for you"))
    page.goto(server.base_url + "/")
    page.get_by_label("Mailbox address").fill("Typed")
    page.get_by_label("Mailbox address").press("Enter")
    expect(page.locator("#mailbox-name")).to_have_text(f"typed@{DOMAIN}")
    expect(row(page, "Waiting for you")).to_be_visible()
    assert "mailbox=typed%40tempmail.local" in page.url

    page.goto(f"{server.base_url}/?mailbox=typed")
    expect(row(page, "Waiting for you")).to_be_visible()
    expect(page.locator("#message-count")).to_have_text("1 message")
    # The mailbox is offered again among the recent ones.
    page.goto(server.base_url + "/")
    expect(page.get_by_role("button", name=f"typed@{DOMAIN}")).to_be_visible()

    page.get_by_role("button", name="Random").click()
    expect(page.locator("#mailbox-name")).to_have_text(re.compile(rf"^[a-z2-9]{{8}}@{DOMAIN}$"))
    expect(page.locator("#list-empty")).to_be_visible()
    assert "mailbox=typed" not in page.url


def test_a_429_says_when_to_try_again(page: Page, server: Daemon) -> None:
    page.goto(server.base_url + "/")
    text = page.evaluate(
        """async () => {
            const { ApiError, describeError } = await import("/js/api.js");
            return [30, 600].map((wait) => describeError(new ApiError(429, "slow down", wait)));
        }"""
    )
    assert text == [
        "Too many attempts. Try again in 30 seconds.",
        "Too many attempts. Try again in 10 minutes.",
    ]


def test_the_theme_choice_is_remembered(page: Page, server: Daemon) -> None:
    page.emulate_media(color_scheme="dark")
    page.goto(server.base_url + "/")
    toggle = page.get_by_role("button", name=re.compile("^Theme"))
    expect(toggle).to_have_text("Theme: system")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    toggle.click()
    expect(toggle).to_have_text("Theme: light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != background


def test_mail_arrives_live_and_every_view_of_it_works(page: Page, server: Daemon) -> None:
    open_mailbox(page, server, "live")
    samples = []
    for n in range(3):
        started = time.perf_counter()
        send(server.smtp_port, message(f"live@{DOMAIN}", f"Warm-up {n}"))
        row(page, f"Warm-up {n}").wait_for()
        samples.append(time.perf_counter() - started)
    print(f"\nSMTP send to row shown, ms: {[round(s * 1000, 1) for s in samples]}")

    mail = message(
        f"live@{DOMAIN}",
        "Quarterly <b>report</b>",
        text="The plain version.",
        html='<p>The <b id="rich">rich</b> version.</p><img alt="logo" src="cid:logo@test">',
    )
    html_part = mail.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(png(), "image", "png", cid="<logo@test>")
    mail.add_attachment(b"col1,col2\n1,2\n", maintype="text", subtype="csv", filename="data.csv")
    id = send(server.smtp_port, mail)
    arrived = row(page, "Quarterly <b>report</b>")
    expect(arrived).to_be_visible()
    expect(page.locator("#announcer")).to_have_text(
        "New mail from alice@sender.test: Quarterly <b>report</b>"
    )
    expect(arrived).to_have_class(re.compile(r"\bunread\b"))
    expect(rows(page)).to_have_count(4)

    with page.expect_response(lambda r: "/cid/" in r.url) as part:
        arrived.click()
    assert part.value.status == 200
    assert part.value.headers["content-type"] == "image/png"
    frame = page.frame_locator("iframe.html-frame")
    expect(frame.locator("#rich")).to_have_text("rich")
    expect(page.locator(".message .subject")).to_have_text("Quarterly <b>report</b>")
    expect(arrived).not_to_have_class(re.compile(r"\bunread\b"))
    assert server.get_json(f"/api/email/{id}?peek=true")["seen"] is True

    page.get_by_role("tab", name="Text").click()
    expect(page.locator(".text-body")).to_have_text("The plain version.\n")
    page.get_by_role("tab", name="Headers").click()
    expect(page.locator("table.headers")).to_contain_text("Quarterly <b>report</b>")
    page.get_by_role("tab", name="Raw").click()
    expect(page.locator(".raw-body")).to_contain_text("Content-Type: multipart/mixed")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download data.csv").click()
    assert download.value.suggested_filename == "data.csv"
    assert Path(download.value.path()).read_bytes() == b"col1,col2\n1,2\n"

    page.get_by_role("button", name="Mark unread").click()
    expect(arrived).to_have_class(re.compile(r"\bunread\b"))
    assert server.get_json(f"/api/email/{id}?peek=true")["seen"] is False
    expect(page).to_have_title(re.compile(r"^\(4\) live@"))

    # A read made elsewhere shows at once.
    server.get_json(f"/api/email/{id}")
    expect(arrived).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page).to_have_title(re.compile(r"^\(3\) live@"))


def test_keyboard_moves_opens_marks_and_deletes(page: Page, server: Daemon) -> None:
    for subject in ("oldest", "middle", "newest"):
        send(server.smtp_port, message(f"keys@{DOMAIN}", subject))
    open_mailbox(page, server, "keys")
    expect(rows(page)).to_have_count(3)
    page.locator("body").press("j")
    expect(row(page, "newest")).to_be_focused()
    page.keyboard.press("j")
    expect(row(page, "middle")).to_be_focused()
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator(".message .subject")).to_have_text("middle")
    page.keyboard.press("u")
    expect(row(page, "middle")).to_have_class(re.compile(r"\bunread\b"))
    page.keyboard.press("Delete")
    expect(row(page, "middle")).to_have_count(0)
    assert total(server, "keys") == 2
    page.keyboard.press("/")
    expect(page.get_by_label("Mailbox address")).to_be_focused()


def test_delete_one_then_empty_the_mailbox(page: Page, server: Daemon) -> None:
    ids = [send(server.smtp_port, message(f"bin@{DOMAIN}", f"Bin {n}")) for n in range(3)]
    open_mailbox(page, server, "bin")
    row(page, "Bin 2").click()
    page.locator(".message-actions").get_by_role("button", name="Delete").click()
    expect(row(page, "Bin 2")).to_have_count(0)
    expect(page.locator("#message-placeholder")).to_be_visible()
    assert total(server, "bin") == 2

    # A deletion made elsewhere leaves the list at once.
    assert server.http("DELETE", f"/api/email/{ids[0]}").status == 200
    expect(row(page, "Bin 0")).to_have_count(0)

    page.get_by_role("button", name="Delete all…").click()
    page.locator("dialog").get_by_role("button", name="Delete all").click()
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#list-empty")).to_be_visible()
    assert total(server, "bin") == 0


def test_claim_reload_unlock_and_release(browser: Browser, page: Page, server: Daemon) -> None:
    send(server.smtp_port, message(f"vault@{DOMAIN}", "Secret plans"))
    open_mailbox(page, server, "vault")
    page.get_by_role("button", name="Claim…").click()
    dialog = page.locator("dialog")
    # Focus stays in the dialog: Tab from its last control comes back to its first.
    expect(dialog.get_by_label("Password", exact=True)).to_be_focused()
    for _ in range(5):
        page.keyboard.press("Tab")
    expect(dialog.get_by_label("Password", exact=True)).to_be_focused()
    dialog.get_by_label("Password", exact=True).fill(PASSWORD)
    dialog.get_by_label("Password again").fill(PASSWORD + "!")
    dialog.get_by_role("button", name="Claim mailbox").click()
    expect(dialog.get_by_role("alert")).to_have_text("The two passwords do not match.")
    dialog.get_by_label("Password again").fill(PASSWORD)
    dialog.get_by_role("button", name="Claim mailbox").click()
    expect(page.locator("#lock-state")).to_have_text("Locked: unlocked for you")
    assert server.http("GET", "/api/emails/vault").status == 401
    expect(page.locator("#connection")).to_have_text("Live")

    # The token survives a reload of the tab (sessionStorage)...
    page.reload()
    expect(row(page, "Secret plans")).to_be_visible()
    expect(page.locator("#lock-state")).to_have_text("Locked: unlocked for you")

    # ...but a new browser has to unlock, and a wrong password says so.
    with new_page(browser) as other:
        other.goto(f"{server.base_url}/?mailbox=vault")
        unlock = other.locator("dialog")
        expect(unlock.get_by_role("heading")).to_have_text(f"Unlock vault@{DOMAIN}")
        expect(other.locator("#list-empty")).to_contain_text("This mailbox is locked")
        unlock.get_by_label("Password", exact=True).fill("not the password")
        unlock.get_by_role("button", name="Unlock").click()
        expect(unlock.get_by_role("alert")).to_have_text("wrong mailbox or password")
        unlock.get_by_label("Password", exact=True).fill(PASSWORD)
        unlock.get_by_role("button", name="Unlock").click()
        expect(row(other, "Secret plans")).to_be_visible()
        expect(other.locator("#connection")).to_have_text("Live")

    page.get_by_role("button", name="Release…").click()
    dialog.get_by_label("Password", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Release mailbox").click()
    expect(page.locator("#lock-state")).to_have_text("Open: anyone can read it")
    assert server.get_json("/api/mailbox/vault/status")["is_locked"] is False


def test_a_revoked_token_brings_the_unlock_dialog_back(page: Page, server: Daemon) -> None:
    open_mailbox(page, server, "revoked")
    claimed = server.send_json("POST", "/api/mailbox/revoked/claim", {"password": PASSWORD})
    assert claimed.status == 200
    # The claim closed the page's tokenless socket (4001): it asks for the password.
    expect(page.locator("dialog").get_by_role("heading")).to_have_text(f"Unlock revoked@{DOMAIN}")
    page.locator("dialog").get_by_label("Password", exact=True).fill(PASSWORD)
    page.locator("dialog").get_by_role("button", name="Unlock").click()
    expect(page.locator("#connection")).to_have_text("Live")


def test_webhooks_add_edit_test_and_log(page: Page, server: Daemon) -> None:
    with running_receiver() as receiver:
        check_webhooks(page, server, receiver)


def check_webhooks(page: Page, server: Daemon, receiver: Receiver) -> None:
    open_mailbox(page, server, "hooked")
    page.get_by_role("tab", name="Webhooks").click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Mail deleted").check()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator(".secret-value")).to_have_text(re.compile(r"^whsec_"))
    hook = page.locator("li.webhook")
    expect(hook).to_contain_text("Events: arrival, deletion · enabled")

    hook.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("New mail")).to_be_checked()
    expect(page.get_by_label("Mail deleted")).to_be_checked()
    expect(page.get_by_label("Mail read")).not_to_be_checked()
    page.get_by_label("Mail deleted").uncheck()
    page.get_by_label("Mail read").check()
    page.get_by_role("button", name="Save webhook").click()
    expect(hook).to_contain_text("Events: arrival, read · enabled")

    hook.get_by_role("button", name="Test").click()
    expect(hook.locator(".test-result")).to_contain_text("Test delivered: HTTP 200")
    receiver.wait_for(lambda got: any(r.json()["event"] == "test" for r in got))

    send(server.smtp_port, message(f"hooked@{DOMAIN}", "Hook me"))
    receiver.wait_for(lambda got: any(r.json()["event"] == "arrival" for r in got))
    hook.get_by_role("button", name="Delivery log").click()
    log = page.locator(".delivery-log")
    # The attempt is recorded just after the receiver answers: refresh until it shows.
    expect(log).to_be_visible()
    for _ in range(50):
        if log.locator("tbody tr").count():
            break
        with page.expect_response(lambda r: "/deliveries" in r.url):
            log.get_by_role("button", name="Refresh").click()
    expect(log.locator("tbody tr").first).to_contain_text("arrival")
    expect(log.locator("tbody tr").first).to_contain_text("200")

    hook.get_by_role("button", name="Disable").click()
    expect(hook).to_contain_text("· disabled")
    hook.get_by_role("button", name="Delete").click()
    page.locator("dialog").get_by_role("button", name="Delete webhook").click()
    expect(page.locator(".webhook-list")).to_have_text("No webhooks yet.")
    assert server.get_json(f"/api/webhooks/hooked@{DOMAIN}")["webhooks"] == []


def test_the_page_survives_a_daemon_restart(page: Page, daemon: DaemonFactory) -> None:
    # A fixed port, so the page finds the daemon again after the restart.
    first = daemon.start()
    port = first.http_port
    first.stop()
    server = daemon.start(API_PORT=str(port))
    send(server.smtp_port, message(f"phoenix@{DOMAIN}", "Before"))
    open_mailbox(page, server, "phoenix")
    expect(row(page, "Before")).to_be_visible()

    server.stop()
    expect(page.locator("#connection")).to_have_text(re.compile("Reconnecting"))
    server = server.restart()
    send(server.smtp_port, message(f"phoenix@{DOMAIN}", "After"))
    expect(page.locator("#connection")).to_have_text("Live")
    expect(row(page, "After")).to_be_visible()
    expect(rows(page)).to_have_count(2)


def test_screenshots_light_and_dark(browser: Browser, server: Daemon) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for n, subject in enumerate(["Your sign-in code", "Welcome aboard", "Invoice #1042"]):
        html = f"<h2>{subject}</h2><p>Hello! This is message {n} of the screenshot set.</p>"
        send(server.smtp_port, message(f"demo@{DOMAIN}", subject, html=html))
    for width, height in ((375, 740), (1280, 800)):
        for scheme in ("light", "dark"):
            with new_page(browser, width, height) as page:
                page.emulate_media(color_scheme=scheme)
                open_mailbox(page, server, "demo")
                row(page, "Invoice #1042").click()
                expect(page.frame_locator("iframe.html-frame").locator("h2")).to_have_text(
                    "Invoice #1042"
                )
                path = SCREENSHOTS / f"web-ui-{width}-{scheme}.png"
                page.screenshot(path=str(path))
                assert path.stat().st_size > 1000
