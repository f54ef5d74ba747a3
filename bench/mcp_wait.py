"""
MCP wait latency: from an SMTP C{250} to C{wait_for_email} returning.

One official C{mcp} client (Streamable HTTP, asyncio; C{--mode legacy}, the
handshake era, by default, or C{auto}, which speaks 2026-07-28) calls
C{wait_for_email} on one mailbox with a progress callback and a subject
unique to the run.  The first progress notification says the server's
watch is open; then a thread sends the matching message over smtplib and
reads C{time.perf_counter} as soon as the C{250} reply is read, and the
client reads it again as soon as the tool call returns::

    latency = (wait_for_email returned) - (250 read by the sender)

That is the time the server takes to publish the committed message on its
event hub, match it, read it back whole and answer, plus one HTTP
response on loopback.  C{--warmup} runs go first and are not counted.  It
starts its own daemon (see L{bench._daemon}) with C{MCP_ENABLED=true} and
stops it at the end.  Run from the repository root::

    .venv/bin/python bench/mcp_wait.py --runs 100

Exit status: 0 if every wait returned its message; 1 if one did not; 3 if
the daemon or the client could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import statistics
import sys
import time
from pathlib import Path

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import BenchError, own_daemon
from bench.smtp_ingest import percentile
from tempmail.launcher import DaemonProcess

HOST = "127.0.0.1"
MAILBOX = "bench-wait@tempmail.local"


def send(smtp_port: int, subject: str) -> float:
    """
    Send one message to the bench mailbox; return when its C{250} was read.
    """
    with smtplib.SMTP(HOST, smtp_port, timeout=30) as client:
        client.mail("sender@bench.test")
        client.rcpt(MAILBOX)
        code, reply = client.data(
            f"From: sender@bench.test\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\n\r\n"
            "Your code is 424242\r\n".encode()
        )
        acknowledged = time.perf_counter()
    if code != 250:
        raise BenchError(f"SMTP answered {code} {reply!r}")
    return acknowledged


async def one_run(client: Client, smtp_port: int, subject: str, timeout: float) -> float:
    """
    One wait and one matching message; the latency in seconds.
    """
    watching = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        watching.set()

    call = asyncio.ensure_future(
        client.call_tool(
            "wait_for_email",
            {"address": MAILBOX, "subject_contains": subject, "timeout": timeout},
            progress_callback=on_progress,
        )
    )
    await asyncio.wait_for(watching.wait(), timeout)
    acknowledged = await asyncio.to_thread(send, smtp_port, subject)
    result = await call
    returned = time.perf_counter()
    email = (result.structured_content or {}).get("email") or {}
    if result.is_error or email.get("subject") != subject:
        raise BenchError(f"wait_for_email did not return {subject!r}: {result.content}")
    return returned - acknowledged


async def measure(
    daemon: DaemonProcess, mode: str, runs: int, warmup: int, timeout: float
) -> list[float]:
    """
    The latencies of C{runs} measured runs, after C{warmup} others.
    """
    url = f"http://{HOST}:{daemon.ports['mcp']}/mcp"
    transport = streamable_http_client(url, http_client=create_mcp_http_client())
    latencies: list[float] = []
    async with Client(transport, mode=mode, read_timeout_seconds=timeout * 2) as client:
        for i in range(warmup + runs):
            latency = await one_run(client, daemon.smtp_port, f"bench run {i:06d}", timeout)
            if i >= warmup:
                latencies.append(latency)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="runs not counted (default 5)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per wait")
    parser.add_argument("--mode", choices=("legacy", "auto"), default="legacy", help="client mode")
    parser.add_argument("--python", default=sys.executable, help="the daemon's interpreter")
    parser.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    options = parser.parse_args()
    try:
        with own_daemon(
            None, 1, options.python, options.keep, {"MCP_ENABLED": "true", "MCP_PORT": "0"}
        ) as daemon:
            try:
                latencies = asyncio.run(
                    measure(daemon, options.mode, options.runs, options.warmup, options.timeout)
                )
            except BenchError as e:
                print(f"FAIL: {e}", file=sys.stderr)
                return 1
    except BenchError as e:
        print(f"cannot run: {e}", file=sys.stderr)
        return 3
    ms = [latency * 1000 for latency in latencies]
    print(f"runs:            {len(ms)} (after {options.warmup} warm-up runs), mode {options.mode}")
    print(
        f"250 -> return:   p50 {percentile(ms, 0.5):.2f} ms, p90 {percentile(ms, 0.9):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms, "
        f"mean {statistics.fmean(ms):.2f} ms"
    )
    print("PASS: every wait returned its message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
