"""
SMTP ingest benchmark: durable messages per second.

C{-c} worker threads each send their share of C{-n} messages over smtplib,
C{--per-session} messages per SMTP session, and the clock runs from the
first connect to the last 250 reply.  The server answers 250 only once a
message is committed to the store, so every acknowledged message counts as
durable; afterwards the REST API is asked for every mailbox's listing and
each acknowledged message id must be in it, or the run fails.

By default it starts its own daemon (C{twistd -n --pidfile= tempmail}, this
checkout, a SQLite file in a fresh temporary directory) and stops it with
SIGTERM at the end.  C{--port} targets an already-running server instead
(give C{--api-port} for the check).  Run from the repository root::

    python bench/smtp_ingest.py -n 5000 -c 10 --size 2048
    python bench/smtp_ingest.py -n 1000 -c 1 --per-session 1 --size 2048

Exit status: 0 if every message was acknowledged and found stored; 1 if an
acknowledged message is missing (lost mail), or the API lists more than was
sent although no send failed; 2 if some messages were not
acknowledged (refused, or a session failed) but all acknowledged ones are
stored; 3 if the daemon could not be started or the check could not run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import smtplib
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import BenchError, own_daemon
from bench._smtp_source import (
    ProcessSample,
    ReferenceServer,
    SourceRun,
    run_smtp_source,
    sample,
    stored_bytes,
)
from tempmail.launcher import DaemonProcess

IO_TIMEOUT = 30.0  # seconds, for each socket operation
PAGE_SIZE = 500  # the API's largest page
MAILBOX_DOMAIN = "bench.test"
_STORED_AS = re.compile(
    rb"stored as ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)


# The API


def get_json(base_url: str, path: str) -> Any:
    """
    GET C{path} from the API and decode the JSON body.

    @raise BenchError: on a non-200 answer or a connection failure.
    """
    try:
        with urllib.request.urlopen(base_url + path, timeout=IO_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise BenchError(f"GET {path}: HTTP {e.code}: {e.read()[:200]!r}") from None
    except (OSError, ValueError) as e:
        raise BenchError(f"GET {path}: {e}") from None


def mailbox_total(base_url: str, address: str) -> int:
    """
    The C{total} of a mailbox listing.
    """
    page = get_json(base_url, f"/api/emails/{urllib.parse.quote(address)}?limit=1")
    return int(page["total"])


def mailbox_ids(base_url: str, address: str, expected: int) -> tuple[int, set[str]]:
    """
    Page through a mailbox with the C{before} cursor.

    @param expected: how many entries are thought to be there; paging stops
        after enough pages for twice that, so a broken cursor cannot loop.
    @return: the listing's C{total} and the ids of every entry seen.
    """
    quoted = urllib.parse.quote(address)
    ids: set[str] = set()
    total = 0
    before: str | None = None
    for _ in range(2 * math.ceil(max(expected, 1) / PAGE_SIZE) + 1):
        query = f"limit={PAGE_SIZE}" + (f"&before={before}" if before else "")
        page = get_json(base_url, f"/api/emails/{quoted}?{query}")
        total = int(page["total"])
        ids.update(entry["id"] for entry in page["emails"])
        before = page.get("next_before")
        if not before:
            break
    return total, ids


# The load


@dataclass
class WorkerResult:
    """
    What one sending thread saw.

    @ivar first_connect: C{perf_counter} just before its first connect.
    @ivar last_ack: C{perf_counter} at its last 250 after DATA.
    @ivar latencies: seconds per acknowledged message, MAIL FROM to 250.
    @ivar acked: mailbox -> how many messages it was acknowledged.
    @ivar ids: mailbox -> the stored ids named in those 250 replies.
    @ivar acks: (stored id, C{perf_counter} just after its 250 was read), in
        the order sent.
    @ivar failures: one line per message that was not acknowledged.
    """

    first_connect: float | None = None
    last_ack: float | None = None
    sessions: int = 0
    bytes_acked: int = 0
    latencies: list[float] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    acks: list[tuple[str, float]] = field(default_factory=list)
    unknown_ids: int = 0
    failures: list[str] = field(default_factory=list)


def make_message(index: int, sender: str, recipient: str, size: int) -> bytes:
    """
    A plain-text message of about C{size} bytes (at least its headers),
    CRLF line endings, no line starting with a dot.
    """
    head = (
        f"From: Bench <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: bench message {index}\r\n"
        f"Message-ID: <bench-{index}-{os.getpid()}@{MAILBOX_DOMAIN}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
    ).encode()
    filler = f"message {index} ".encode() + b"0123456789abcdefghijklmnopqrstuvwxyz" * 3
    body = bytearray()
    room = max(size - len(head), 0)
    while room - len(body) >= 3:
        body += filler[: min(76, room - len(body) - 2)] + b"\r\n"
    return head + bytes(body)


def mailbox_for(index: int, mailboxes: int) -> str:
    """
    The recipient of message C{index}: C{bench-<i>@bench.test}.
    """
    return f"bench-{index % mailboxes}@{MAILBOX_DOMAIN}"


def _send_one(client: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> bytes:
    """
    One transaction, as C{sendmail} runs it (MAIL with SIZE, RCPT, DATA),
    but keeping the final reply, which names the stored copy.

    @raise smtplib.SMTPResponseException: on any non-2xx/354 reply.
    """
    options = [f"SIZE={len(data)}"] if client.does_esmtp and client.has_extn("size") else []
    code, text = client.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, text, sender)
    code, text = client.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
    code, text = client.data(data)
    if code != 250:
        raise smtplib.SMTPDataError(code, text)
    return text


def run_worker(
    host: str,
    port: int,
    jobs: list[tuple[str, bytes]],
    per_session: int,
    start: threading.Barrier,
    result: WorkerResult,
) -> None:
    """
    Send C{jobs} (recipient, message) in order, C{per_session} to a session.

    A failed transaction is recorded and its session dropped; the next
    message opens a new one.  Each message is tried once.
    """
    sender = f"sender@{MAILBOX_DOMAIN}"
    start.wait()
    client: smtplib.SMTP | None = None
    in_session = 0
    for recipient, data in jobs:
        try:
            if client is None:
                if result.first_connect is None:
                    result.first_connect = time.perf_counter()
                client = smtplib.SMTP(timeout=IO_TIMEOUT)
                client.connect(host, port)
                client.ehlo("bench.localhost")
                result.sessions += 1
                in_session = 0
            began = time.perf_counter()
            reply = _send_one(client, sender, recipient, data)
            acked = time.perf_counter()
        except (OSError, smtplib.SMTPException) as e:
            result.failures.append(f"{recipient}: {type(e).__name__}: {e}")
            if client is not None:
                client.close()
            client = None
            continue
        result.last_ack = acked
        result.latencies.append(acked - began)
        result.bytes_acked += len(data)
        result.acked[recipient] = result.acked.get(recipient, 0) + 1
        match = _STORED_AS.search(reply)
        if match is None:
            result.unknown_ids += 1
        else:
            stored = match.group(1).decode()
            result.ids.setdefault(recipient, []).append(stored)
            result.acks.append((stored, acked))
        in_session += 1
        if in_session >= per_session:
            _close(client)
            client = None
    if client is not None:
        _close(client)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


# Reporting


def percentile(values: Sequence[float], fraction: float) -> float:
    """
    The nearest-rank percentile of C{values} (C{nan} if there are none).
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass
class Verification:
    """
    The after-run check of what the API lists against what was acknowledged.

    @ivar missing: "mailbox id" for each acknowledged id not listed.
    @ivar short: mailboxes whose total grew by less than was acknowledged.
    @ivar extra: mailboxes whose total grew by more (a send that failed
        after its data went out may still have been stored).
    """

    acked: int
    found: int
    missing: list[str]
    short: list[str]
    extra: list[str]


def verify(
    base_url: str,
    acked: dict[str, int],
    ids: dict[str, list[str]],
    baseline: dict[str, int],
) -> Verification:
    """
    Check that each acknowledged id is listed in its mailbox and that each
    mailbox's C{total} grew by exactly the number acknowledged for it.

    @param acked: mailbox -> messages acknowledged with 250.
    @param ids: mailbox -> the stored ids those 250 replies named.
    @param baseline: mailbox -> its C{total} before the run.
    """
    missing: list[str] = []
    short: list[str] = []
    extra: list[str] = []
    found = 0
    for address in sorted(acked):
        before = baseline.get(address, 0)
        total, listed = mailbox_ids(base_url, address, before + acked[address])
        want = ids.get(address, [])
        gone = [i for i in want if i not in listed]
        missing.extend(f"{address} {i}" for i in gone)
        found += len(want) - len(gone)
        grown = total - before
        if grown != acked[address]:
            (short if grown < acked[address] else extra).append(
                f"{address}: total grew by {grown}, {acked[address]} acknowledged"
            )
    return Verification(sum(acked.values()), found, missing, short, extra)


# Daemon figures and the smtp-source comparison


class HealthProbe:
    """
    Polls C{/api/health} every 10 ms in a thread and keeps the slowest
    answer's time, to show whether the load stalls the reactor.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.slowest = 0.0
        self.answers = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="health-probe", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(self.base_url + "/api/health", timeout=IO_TIMEOUT):
                    pass
            except (OSError, ValueError):
                self.errors += 1
                continue
            self.answers += 1
            self.slowest = max(self.slowest, time.perf_counter() - began)

    def stop(self) -> str:
        """Stop polling; describe what was seen."""
        self._stop.set()
        self._thread.join()
        return f"slowest {self.slowest * 1000:.1f} ms of {self.answers} answers" + (
            f", {self.errors} failed" if self.errors else ""
        )


def daemon_figures(before: ProcessSample, after: ProcessSample, messages: int) -> list[str]:
    """
    Report lines for a server's CPU and memory over a run.
    """
    cpu_ms = (after.cpu - before.cpu) * 1000 / max(messages, 1)
    return [
        f"server CPU:      {cpu_ms:.3f} ms per message ({after.cpu - before.cpu:.2f} s)",
        f"server RSS:      peak {after.peak_rss / 1e6:.1f} MB, "
        f"{(after.peak_rss - before.rss) / 1e6:+.1f} MB over the RSS before the load",
    ]


@dataclass
class SourceFigures:
    """What one server did under one smtp-source run."""

    name: str
    run: SourceRun
    stored: int
    before: ProcessSample
    after: ProcessSample
    disk: tuple[int, int] | None

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.stored / self.run.seconds if self.run.seconds else math.nan

    @property
    def cpu_ms(self) -> float:
        """Server CPU ms per stored message."""
        return (self.after.cpu - self.before.cpu) * 1000 / max(self.stored, 1)

    def report(self, messages: int) -> list[str]:
        """The lines printed for this server."""
        lines = [
            f"[{self.name}]",
            f"smtp-source:     exit {self.run.code}, {self.run.seconds:.3f} s",
            f"stored:          {self.stored} of {messages}",
            f"msgs/s:          {self.rate:.1f}",
            *daemon_figures(self.before, self.after, self.stored),
        ]
        if self.disk is not None:
            used, raw = self.disk
            per = used / max(self.stored, 1)
            raw_per = raw / max(self.stored, 1)
            lines.append(
                f"on disk:         {per:.0f} bytes per message, raw {raw_per:.0f} "
                f"(limit raw x 1.1 + 400 = {raw_per * 1.1 + 400:.0f})"
            )
        if self.run.code != 0:
            lines += ["  " + line for line in self.run.output.splitlines()[:5]]
        return lines


def source_against(
    args: argparse.Namespace, port: int, pid: int
) -> tuple[SourceRun, ProcessSample, ProcessSample]:
    """Run smtp-source once against C{port}, sampling process C{pid} around it."""
    before = sample(pid)
    run = run_smtp_source(
        args.smtp_source_dir,
        port,
        messages=args.messages,
        sessions=args.concurrency,
        length=args.size,
        persistent=args.per_session != 1,
        recipient=mailbox_for(0, 1),
    )
    return run, before, sample(pid)


def run_source(args: argparse.Namespace) -> int:
    """
    The C{--client smtp-source} run: tempmail, then the reference if asked;
    print both and the ratio; return the exit status.
    """
    recipient = mailbox_for(0, 1)
    with own_daemon(args.workdir, args.concurrency + 10, args.python, args.keep) as daemon:
        print(f"daemon:          started in {daemon.workdir} (SQLite mail.db)")
        probe = HealthProbe(f"http://127.0.0.1:{daemon.http_port}") if args.probe_health else None
        run, before, after = source_against(args, daemon.smtp_port, daemon.process.pid)
        health = probe.stop() if probe is not None else None
        stored = mailbox_total(f"http://127.0.0.1:{daemon.http_port}", recipient)
        ours = SourceFigures(
            "tempmail", run, stored, before, after, stored_bytes(daemon.workdir / "mail.db")
        )
    print("\n".join(ours.report(args.messages)))
    if health is not None:
        print(f"/api/health:     {health}")
    reference = None
    if args.reference is not None:
        workdir = Path(tempfile.mkdtemp(prefix="tempmail-reference-", dir=args.workdir))
        try:
            server = ReferenceServer(args.python, args.reference.split("-", 1)[1], workdir)
            run, before, after = source_against(args, server.port, server.process.pid)
            disk = stored_bytes(server.database) if server.database is not None else None
            reference = SourceFigures(args.reference, run, server.stop(), before, after, disk)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("\n".join(reference.report(args.messages)))
        print(
            f"ratio:           tempmail / {args.reference} = "
            f"{ours.rate / reference.rate:.2f} in msgs/s, "
            f"{ours.cpu_ms / reference.cpu_ms:.2f} in CPU per message"
        )
    complete = ours.run.code == 0 and ours.stored == args.messages
    if ours.stored > args.messages or (ours.run.code == 0 and ours.stored < args.messages):
        print("result:          FAIL: stored count does not match what was acknowledged")
        return 1
    if not complete or (reference is not None and reference.stored != args.messages):
        print("result:          INCOMPLETE: not every message was acknowledged")
        return 2
    print("result:          PASS: every message acknowledged and stored")
    return 0


# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """
    Parse and check the command line.
    """
    parser = argparse.ArgumentParser(
        description="Measure durable SMTP ingest (messages acknowledged with 250 per second).",
    )
    parser.add_argument("-n", "--messages", type=int, default=1000, help="messages in all")
    parser.add_argument(
        "-c", "--concurrency", type=int, default=10, help="sending threads (sessions at once)"
    )
    parser.add_argument(
        "--size", type=int, default=2048, help="approximate message size in bytes (default 2048)"
    )
    parser.add_argument(
        "--per-session",
        type=int,
        default=None,
        help="messages per SMTP session (default: a worker's whole share in one session)",
    )
    parser.add_argument(
        "--mailboxes",
        type=int,
        default=None,
        help="spread messages over this many bench-<i>@bench.test mailboxes (default: -c)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="SMTP port of an already-running server (default: start a daemon)",
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=3000,
        help="REST API port of that server, for the check (default 3000)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="make the started daemon's temporary directory (and SQLite file) here",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the started daemon (default: the one running this script)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the started daemon's directory and log"
    )
    parser.add_argument(
        "--client",
        choices=("smtplib", "smtp-source"),
        default="smtplib",
        help="the load: this script's smtplib threads, or Postfix's smtp-source "
        "(-c sessions, -n messages, --size bytes, one mailbox; --per-session 1 "
        "is one connection per message, otherwise -d)",
    )
    parser.add_argument(
        "--smtp-source-dir",
        type=Path,
        default=Path("/tmp/postfix"),
        help="where Debian's postfix package is unpacked (default /tmp/postfix)",
    )
    parser.add_argument(
        "--reference",
        choices=("twisted-memory", "twisted-sqlite"),
        default=None,
        help="with --client smtp-source: also measure bench/reference_smtp.py "
        "in the same run and print the ratio",
    )
    parser.add_argument(
        "--probe-health",
        action="store_true",
        help="poll /api/health every 10 ms during the load and report the slowest answer",
    )
    args = parser.parse_args(argv)
    if args.reference is not None and args.client != "smtp-source":
        parser.error("--reference needs --client smtp-source")
    if args.client == "smtp-source" and args.port is not None:
        parser.error("--client smtp-source starts its own daemon; drop --port")
    for name in ("messages", "concurrency", "size", "per_session", "mailboxes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.concurrency > args.messages:
        parser.error("-c must not exceed -n")
    return args


@contextmanager
def target(args: argparse.Namespace) -> Iterator[tuple[int, int, DaemonProcess | None]]:
    """
    Yield (smtp port, api port, daemon or None) for the server under test;
    a daemon started here is stopped, and its directory removed, on exit.
    """
    if args.port is not None:
        yield args.port, args.api_port, None
        return
    with own_daemon(args.workdir, args.concurrency + 10, args.python, args.keep) as daemon:
        yield daemon.smtp_port, daemon.http_port, daemon


def run(
    args: argparse.Namespace, smtp_port: int, api_port: int, daemon: DaemonProcess | None
) -> int:
    """
    Send the load, verify it, print the report; return the exit status.
    """
    base_url = f"http://{args.host}:{api_port}"
    mailboxes = args.mailboxes or args.concurrency
    addresses = sorted({mailbox_for(i, mailboxes) for i in range(args.messages)})
    baseline = {} if daemon is not None else {a: mailbox_total(base_url, a) for a in addresses}

    # Messages are made before the clock starts, one list per worker.
    shares: list[list[tuple[str, bytes]]] = [[] for _ in range(args.concurrency)]
    for i in range(args.messages):
        recipient = mailbox_for(i, mailboxes)
        shares[i % args.concurrency].append(
            (recipient, make_message(i, f"sender@{MAILBOX_DOMAIN}", recipient, args.size))
        )
    sizes = [len(data) for share in shares for _, data in share]
    per_session = args.per_session or max(len(share) for share in shares)

    results = [WorkerResult() for _ in shares]
    barrier = threading.Barrier(len(shares))
    threads = [
        threading.Thread(
            target=run_worker,
            args=(args.host, smtp_port, share, per_session, barrier, result),
            name=f"bench-{w}",
        )
        for w, (share, result) in enumerate(zip(shares, results, strict=True))
    ]
    probe = HealthProbe(base_url) if args.probe_health else None
    before = sample(daemon.process.pid) if daemon is not None else None
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = sample(daemon.process.pid) if daemon is not None else None
    health = probe.stop() if probe is not None else None

    starts = [r.first_connect for r in results if r.first_connect is not None]
    ends = [r.last_ack for r in results if r.last_ack is not None]
    seconds = (max(ends) - min(starts)) if starts and ends else math.nan
    latencies = [x for r in results for x in r.latencies]
    acked: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    for r in results:
        for address, count in r.acked.items():
            acked[address] = acked.get(address, 0) + count
        for address, named in r.ids.items():
            ids.setdefault(address, []).extend(named)
    failures = [f for r in results for f in r.failures]
    n_acked = len(latencies)
    bytes_acked = sum(r.bytes_acked for r in results)

    print(f"target:          smtp {args.host}:{smtp_port}, api {base_url}")
    print(f"messages:        {n_acked} acknowledged with 250 of {args.messages} attempted")
    print(
        f"sessions:        {sum(r.sessions for r in results)} "
        f"({args.concurrency} at once, up to {per_session} messages each)"
    )
    print(
        f"size:            {args.size} bytes asked, {min(sizes)}-{max(sizes)} sent "
        f"(+ the server's Received: header)"
    )
    print(f"mailboxes:       {len(addresses)} (bench-<i>@{MAILBOX_DOMAIN})")
    print(f"seconds:         {seconds:.3f} (first connect to last 250)")
    print(f"msgs/s:          {n_acked / seconds:.1f}")
    print(f"MB/s:            {bytes_acked / seconds / 1e6:.3f} (10^6 bytes of message data)")
    print(
        f"latency:         p50 {percentile(latencies, 0.50) * 1000:.2f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
        f"max {max(latencies, default=math.nan) * 1000:.2f} ms (MAIL FROM to 250 after DATA)"
    )
    if before is not None and after is not None:
        print("\n".join(daemon_figures(before, after, n_acked)))
    if health is not None:
        print(f"/api/health:     {health}")
    if failures:
        print(f"failed sends:    {len(failures)} (first 5 follow)")
        for line in failures[:5]:
            print("  " + line)
    unknown = sum(r.unknown_ids for r in results)
    if unknown:
        print(f"WARNING: {unknown} 250 replies named no stored id; only totals can be checked")

    check = verify(base_url, acked, ids, baseline)
    lost = bool(check.missing or check.short)
    # More stored than acknowledged is explained only by a failed send.
    unexplained = bool(check.extra) and not failures
    ok = not lost and not unexplained
    totals = "match" if not (check.short or check.extra) else "DO NOT match"
    print(
        f"verification:    {'OK' if ok else 'FAILED'}: {check.found} of {check.acked} "
        f"acknowledged messages listed by id in the API; per-mailbox totals {totals}"
    )
    for line in [*check.short, *check.extra][:10]:
        print("  " + line)
    for line in check.missing[:10]:
        print("  missing " + line)
    if lost:
        print("result:          FAIL: acknowledged mail is missing")
        return 1
    if unexplained:
        print("result:          FAIL: the API lists more messages than were sent")
        return 1
    if failures:
        print(f"result:          INCOMPLETE: {len(failures)} messages were not acknowledged")
        return 2
    print("result:          PASS: every message acknowledged and stored")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the benchmark; see the module docstring for the exit status.
    """
    args = parse_args(argv)
    try:
        if args.client == "smtp-source":
            return run_source(args)
        with target(args) as (smtp_port, api_port, daemon):
            if daemon is not None:
                print(f"daemon:          started in {daemon.workdir} (SQLite mail.db)")
            return run(args, smtp_port, api_port, daemon)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
