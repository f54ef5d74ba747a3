"""
Several tempmail nodes on one PostgreSQL database.

Starts a throwaway PostgreSQL (Debian's C{postgresql}: C{initdb} in a
temporary directory, a free port, fsync left on) unless C{--database-url}
names one, then for each node count in C{--nodes} a fresh database and that
many daemons from this checkout (L{bench._daemon.own_daemon}, each with its
own ports), and measures:

  - B1 ingest: C{--senders} threads send C{--messages} messages of about
    C{--size} bytes over smtplib, one SMTP session each, thread I to node
    I mod N (so the load is spread round-robin), each message right after
    the previous 250.  Reported: messages per second acknowledged, and
    PostgreSQL's own CPU time (all its processes, from C{/proc}) per
    message.
  - Latency across nodes (with two nodes or more): one sender sends
    C{--rate} messages per second to node A for C{--latency-seconds}
    seconds; a WebSocket on node B watches the mailbox.  For each message:
    (frame received on B) - (250 read from A), both read with this
    process's C{perf_counter}.  Reported: p50 and p99.

Run from the repository root::

    .venv/bin/python bench/pg_nodes.py --nodes 1,2,3

Exit status 0 if every acknowledged message was stored and every frame
came; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg2
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._daemon import own_daemon
from bench._smtp_source import sample
from bench.smtp_ingest import make_message, percentile
from tempmail.launcher import DaemonProcess
from tempmail.testing.postgres import PostgresServer, throwaway_server

DOMAIN = "tempmail.local"


def postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds used so far by the postmaster and its children."""
    if server.data is None:
        return float("nan")
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:
            total += sample(pid).cpu
    return total


@contextmanager
def nodes(url: str, count: int) -> Iterator[list[DaemonProcess]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                own_daemon(None, 200, settings={"DATABASE_URL": url, "DOMAIN_NAME": DOMAIN})
            )
            for _ in range(count)
        ]


def ingest(
    server: PostgresServer, daemons: list[DaemonProcess], senders: int, total: int, size: int
) -> tuple[float, float, list[str]]:
    """Messages per second, PostgreSQL CPU ms per message, and the acknowledged ids."""
    acknowledged: list[str] = []
    lock = threading.Lock()
    share = total // senders

    def send(index: int) -> None:
        daemon = daemons[index % len(daemons)]
        recipient = f"ingest{index % 10}@{DOMAIN}"
        messages = [
            make_message(index * share + n, "a@bench.test", recipient, size) for n in range(share)
        ]
        with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=60) as client:
            for data in messages:
                client.mail("a@bench.test")
                client.rcpt(recipient)
                code, reply = client.data(data)
                if code == 250:
                    with lock:
                        acknowledged.append(reply.decode().rsplit(" ", 1)[-1])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    cpu_before = postgres_cpu(server)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = postgres_cpu(server) - cpu_before
    return len(acknowledged) / elapsed, 1000 * cpu / max(len(acknowledged), 1), acknowledged


def latency(a: DaemonProcess, b: DaemonProcess, rate: float, seconds: float) -> list[float]:
    """Seconds from the 250 on A to the frame on B, per message."""
    acknowledged: dict[str, float] = {}
    heard: dict[str, float] = {}
    address = f"latency@{DOMAIN}"
    count = int(rate * seconds)
    with connect(f"ws://127.0.0.1:{b.ports['http']}/api/ws/{address}", open_timeout=10) as ws:
        ws.recv(timeout=10)  # Connected

        def read() -> None:
            while len(heard) < count:
                frame = json.loads(ws.recv(timeout=30))
                if frame.get("type") == "Email":
                    heard[frame["id"]] = time.perf_counter()

        reader = threading.Thread(target=read)
        reader.start()
        data = make_message(0, "a@bench.test", address, 1000)
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=60) as client:
            start = time.perf_counter()
            for n in range(count):
                # Paced: message n leaves at start + n / rate.
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.mail("a@bench.test")
                client.rcpt(address)
                code, reply = client.data(data)
                if code == 250:
                    acknowledged[reply.decode().rsplit(" ", 1)[-1]] = time.perf_counter()
        reader.join(60)
    return [heard[id] - at for id, at in acknowledged.items() if id in heard]


def stored(url: str) -> set[str]:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT id FROM mailbox_messages")
            return {id for (id,) in cursor.fetchall()}
    finally:
        connection.close()


def run(args: argparse.Namespace, server: PostgresServer) -> int:
    status = 0
    for count in args.nodes:
        url = server.new_database()
        with nodes(url, count) as daemons:
            rate, cpu_ms, acknowledged = ingest(
                server, daemons, args.senders, args.messages, args.size
            )
            missing = set(acknowledged) - stored(url)
            print(
                f"B1 {count} node(s): {rate:.0f} msg/s acknowledged ({len(acknowledged)}), "
                f"PostgreSQL CPU {cpu_ms:.2f} ms/message, missing {len(missing)}"
            )
            status |= bool(missing)
            if count >= 2:
                samples = latency(daemons[0], daemons[1], args.rate, args.latency_seconds)
                expected = int(args.rate * args.latency_seconds)
                print(
                    f"latency A->B at {args.rate:g} msg/s: p50 "
                    f"{1000 * percentile(samples, 0.5):.1f} ms, p99 "
                    f"{1000 * percentile(samples, 0.99):.1f} ms ({len(samples)}/{expected} frames)"
                )
                status |= len(samples) != expected
    return status


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--senders", type=int, default=12)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--database-url", help="an existing server's maintenance database")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database_url:
        return run(args, PostgresServer(args.database_url))
    with throwaway_server(fsync=True) as server:
        return run(args, server)


if __name__ == "__main__":
    sys.exit(main())
