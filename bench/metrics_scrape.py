"""
A Prometheus-like scraper: GET a C{/metrics} URL every C{--interval}
seconds until stopped (Ctrl-C or SIGTERM) or C{--duration} passes, then
print how many scrapes were made, their mean and longest time, and the size
of the last answer.  Run it beside C{bench/smtp_ingest.py} against the same
daemon to measure what scraping costs the ingest (see bench/README.md)::

    python bench/metrics_scrape.py --url http://127.0.0.1:3000/metrics --interval 1

Standard library only.  Exit status 0, or 1 if a scrape failed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--url", required=True, help="the /metrics URL")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--duration", type=float, default=None, help="stop after this long")
    parser.add_argument("--token", help="METRICS_TOKEN, sent as a Bearer token")
    options = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    headers = {} if options.token is None else {"Authorization": f"Bearer {options.token}"}
    times: list[float] = []
    size = 0
    failed = 0
    deadline = None if options.duration is None else time.monotonic() + options.duration
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            started = time.perf_counter()
            try:
                request = urllib.request.Request(options.url, headers=headers)
                with urllib.request.urlopen(request, timeout=30) as response:
                    size = len(response.read())
                times.append(time.perf_counter() - started)
            except OSError as e:
                failed += 1
                print(f"scrape failed: {e}", file=sys.stderr)
            stop.wait(max(0.0, options.interval - (time.perf_counter() - started)))
    except KeyboardInterrupt:
        pass
    if times:
        print(
            f"scrapes: {len(times)}, mean {1000 * sum(times) / len(times):.1f} ms, "
            f"max {1000 * max(times):.1f} ms, last answer {size} bytes, failed {failed}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
