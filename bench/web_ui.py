"""
The web UI with a big mailbox, in Debian's chromium (Playwright).

1. **Seeding.** C{--messages} messages (default 100,000) are filed in one
   mailbox, C{big@bench.test}, through the store API
   (C{IMessageStore.deliver}, one transaction each, as SMTP does) in a
   SQLite file, before any clock starts.  The message is parsed once and
   only its subject changes, so seeding measures nothing.
2. **Opening the mailbox.** A daemon serves that file.  For each of
   C{--loads} fresh browser contexts the page is opened at
   C{/?mailbox=big@bench.test}; "first rows" is from the start of the
   navigation to the first page of rows being in the list (they are added
   at once, and the list's C{aria-busy} is gone).  Then the
   list is scrolled to its end C{--scrolls} times; each scroll must bring
   the next page (100 rows) through the API's cursor, and its time is from
   the scroll to the rows being there.
3. **SMTP 250 to row.** C{--samples} messages are sent to a second, open
   mailbox over smtplib, one SMTP session each.  The page watches its list
   with a C{MutationObserver}, which notes C{Date.now()} when the row
   appears; the sender notes C{time.time()} as soon as the 250 is read.
   latency = row shown - 250 read (one machine, one wall clock).  It can be
   negative: the WebSocket frame may reach the page before the 250 reaches
   the sender.

Run from the repository root::

    .venv/bin/python bench/web_ui.py
    .venv/bin/python bench/web_ui.py --messages 20000 --loads 3 --samples 20
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import own_daemon
from tempmail.models import Envelope, IncomingMessage
from tempmail.parsing import parse_message
from tempmail.storage import open_store, parse_database_url
from tests.browser import CHROMIUM, LAUNCH_ARGS

BIG = "big@bench.test"
LIVE = "live@bench.test"
TEMPLATE = (
    b"From: Seeder <seed@bench.test>\r\nTo: big@bench.test\r\nSubject: seed\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"A message that fills the mailbox, with a line of text for the preview.\r\n"
)


def seed(path: Path, count: int) -> float:
    """
    File C{count} messages in L{BIG} in the SQLite file at C{path}; return
    the seconds it took.
    """
    parsed = parse_message(TEMPLATE)

    async def fill(clock: IReactorTime) -> None:
        store = open_store(parse_database_url(f"sqlite:{path}"), clock)
        envelope = Envelope("seed@bench.test", (BIG,), datetime.now(UTC))
        try:
            # A few transactions in flight keep the store's one thread busy.
            window = defer.DeferredSemaphore(16)
            await defer.gatherResults(
                [
                    window.run(
                        store.deliver,
                        IncomingMessage(
                            envelope, TEMPLATE, replace(parsed, subject=f"Seeded message {n}")
                        ),
                    )
                    for n in range(count)
                ]
            )
        finally:
            await store.close()

    from twisted.internet import reactor

    outcome: list[object] = []
    started = time.perf_counter()
    done = defer.ensureDeferred(fill(reactor))
    done.addBoth(outcome.append).addBoth(lambda _: reactor.stop())
    # The reactor runs once, here; the rest of the bench needs no Twisted.
    reactor.run()
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return time.perf_counter() - started


# Runs in the page before its own scripts: notes when the list's first page
# is in place, on the page's own clock (milliseconds from navigation start).
WATCH_LIST = """
window.__firstRows = null;
new MutationObserver(() => {
    const list = document.getElementById("messages");
    if (!list || !list.querySelector("button.row") || list.hasAttribute("aria-busy")) return;
    window.__firstRows ??= performance.now();
}).observe(document, { childList: true, subtree: true, attributes: true });
"""


def open_big_mailbox(page: Page, base_url: str) -> float:
    """
    Open L{BIG}; return milliseconds from navigation start to the first
    page of rows in the list.
    """
    page.add_init_script(WATCH_LIST)
    page.goto(f"{base_url}/?mailbox={BIG}", wait_until="commit")
    return float(page.wait_for_function("() => window.__firstRows").json_value())


def scroll_pages(page: Page, scrolls: int) -> list[float]:
    """
    Scroll the list to its end C{scrolls} times; milliseconds for each next
    page of rows to appear.
    """
    times = []
    rows = page.locator("#messages button.row")
    for _ in range(scrolls):
        before = rows.count()
        started = time.perf_counter()
        page.locator("#list-scroller").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
        page.wait_for_function(
            "(before) => document.querySelectorAll('#messages button.row').length > before",
            arg=before,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def arrival_latency(page: Page, base_url: str, smtp_port: int, samples: int) -> list[float]:
    """
    Milliseconds from the 250 being read to the row in the page, per message.
    """
    page.goto(f"{base_url}/?mailbox={LIVE}")
    page.locator("#connection[data-state=connected]").wait_for()
    latencies = []
    for n in range(samples):
        subject = f"Latency sample {n}"
        page.evaluate(
            """(subject) => {
                window.__shown = null;
                const list = document.getElementById("messages");
                const observer = new MutationObserver(() => {
                    if (list.textContent.includes(subject)) {
                        window.__shown = Date.now();
                        observer.disconnect();
                    }
                });
                observer.observe(list, { childList: true, subtree: true });
            }""",
            subject,
        )
        body = f"From: a@bench.test\r\nTo: {LIVE}\r\nSubject: {subject}\r\n\r\nhi\r\n"
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.mail("a@bench.test")
            client.rcpt(LIVE)
            code, _ = client.data(body.encode())
            acknowledged = time.time() * 1000
        assert code == 250
        shown = page.wait_for_function("() => window.__shown").json_value()
        latencies.append(float(shown) - acknowledged)
    return latencies


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"median {statistics.median(ordered):.1f} ms, min {ordered[0]:.1f}, "
        f"max {ordered[-1]:.1f} (n={len(ordered)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--scrolls", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tempmail-webui-bench-") as folder:
        database = Path(folder) / "big.db"
        seconds = seed(database, args.messages)
        print(f"seeded:          {args.messages} messages in {BIG} in {seconds:.1f} s")
        settings = {"DATABASE_URL": f"sqlite:{database}"}
        with (
            own_daemon(None, 1, settings=settings) as daemon,
            sync_playwright() as playwright,
        ):
            base_url = f"http://127.0.0.1:{daemon.http_port}"
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            try:
                firsts, scrolls = [], []
                for _ in range(args.loads):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    firsts.append(open_big_mailbox(page, base_url))
                    total = page.locator("#message-count").text_content()
                    scrolls += scroll_pages(page, args.scrolls)
                    context.close()
                print(f"mailbox shown:   {total}")
                print(f"first rows:      {summary(firsts)} after navigation start")
                print(f"next page:       {summary(scrolls)} from scroll to rows")
                context = browser.new_context()
                latencies = arrival_latency(
                    context.new_page(), base_url, daemon.smtp_port, args.samples
                )
                context.close()
                print(f"250 to row:      {summary(latencies)}")
                print(f"250 to row, each: {[round(v, 1) for v in latencies]}")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
