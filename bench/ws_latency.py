"""
WebSocket delivery latency: from an SMTP 250 to the C{Email} frame.

C{--sockets} WebSocket clients (the C{websockets} library, one asyncio loop)
watch one mailbox over C{/api/ws/{address}}.  For each C{--senders} value, that
many threads send C{--messages} messages to the mailbox over smtplib, one
SMTP session per thread, each right after the previous 250.  The server names
the stored copy in its reply (C{250 2.0.0 Ok: stored as <id>}); a sender
reads C{time.perf_counter} as soon as that reply is read, and a socket's reader
reads it as soon as C{recv} hands it a frame.  Frames are matched to messages
by id, and for every message and every socket::

    latency = (frame received on that socket) - (250 read by the sender)

"first socket" is, per message, the earliest socket; "all sockets" takes
every (message, socket) sample.  Both clocks are the same process's
C{perf_counter}.  Before the measured runs, C{--warmup} messages from one
sender go through the same path and are not counted.

It starts its own daemon (C{twistd -n --pidfile= tempmail}, this checkout,
SQLite in a fresh temporary directory; see L{bench._daemon}) and stops it with
SIGTERM at the end; all traffic is on 127.0.0.1.  Run from the repository
root::

    python bench/ws_latency.py --sockets 100 --senders 1,100

Exit status: 0 if every acknowledged message reached every socket; 1 if a
frame is missing, a socket was closed or went silent, or frames came that
match no acknowledged message although no send failed; 2 if all frames came
but some messages were not acknowledged; 3 if the daemon, the sockets or the
senders could not be started (or the senders did not finish in time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import BenchError, own_daemon
from bench.smtp_ingest import MAILBOX_DOMAIN, WorkerResult, make_message, percentile, run_worker
from tempmail.launcher import DaemonProcess

HOST = "127.0.0.1"
# The daemon's defaults for WS_MAX_CONNECTIONS and WS_MAX_CONNECTIONS_PER_IP.
WS_MAX_CONNECTIONS = 1000
WS_MAX_PER_IP = 250
OUTCOMES = {
    0: "PASS: every acknowledged message reached every socket",
    1: "FAIL: frames are missing or unexpected, or a socket stopped",
    2: "INCOMPLETE: some messages were not acknowledged",
}


# The sockets


@dataclass
class Watch:
    """
    What one socket received after its C{Connected} frame.

    @ivar frames: (C{perf_counter} as C{recv} returned, the frame), in order.
    @ivar stopped: why its reader stopped before it was cancelled, if it did.
    """

    frames: list[tuple[float, str | bytes]] = field(default_factory=list)
    stopped: str | None = None


@dataclass
class Tally:
    """
    Frames received on all sockets, and the count that completes the run.

    @ivar target: set once the senders are done: acknowledged messages times
        sockets; L{done} is set when L{received} reaches it.
    """

    done: asyncio.Event
    received: int = 0
    target: int | None = None

    def check(self) -> None:
        """
        Set L{done} if the target is known and reached.
        """
        if self.target is not None and self.received >= self.target:
            self.done.set()


async def read_frames(
    ws: ClientConnection, watch: Watch, tally: Tally, idle: float, limit: int
) -> None:
    """
    Record up to C{limit} frames with their arrival time, until cancelled,
    closed, or C{idle} seconds pass without a frame.

    Nothing but the time stamp and an append happens per frame: parsing
    waits for the end of the run, so it cannot delay the other sockets.
    """
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(idle) as scope:
            for _ in range(limit):
                raw = await ws.recv()
                watch.frames.append((time.perf_counter(), raw))
                tally.received += 1
                tally.check()
                scope.reschedule(loop.time() + idle)
            watch.stopped = f"stopped reading at {limit} frames, more than were sent"
    except TimeoutError:
        watch.stopped = f"no frame for {idle:g} s"
    except ConnectionClosed as e:
        watch.stopped = f"closed by the server: {e}"


async def open_sockets(
    stack: AsyncExitStack, url: str, count: int, timeout: float
) -> list[ClientConnection]:
    """
    Open C{count} sockets to C{url}, one after another, and read each one's
    C{Connected} frame; C{stack} closes them.

    @raise BenchError: if one cannot be opened or says something else first.
    """
    sockets: list[ClientConnection] = []
    for i in range(count):
        try:
            ws = await stack.enter_async_context(
                connect(url, open_timeout=timeout, close_timeout=timeout, ping_interval=None)
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        except (OSError, TimeoutError, WebSocketException, ValueError) as e:
            raise BenchError(f"socket {i + 1} of {count} to {url}: {type(e).__name__}: {e}") from e
        if not isinstance(first, dict) or first.get("type") != "Connected":
            raise BenchError(f"socket {i + 1} of {count}: expected Connected, got {first!r}")
        sockets.append(ws)
    return sockets


# The senders


async def send_all(
    smtp_port: int, address: str, senders: int, messages: int, size: int, timeout: float
) -> list[WorkerResult]:
    """
    Send C{messages} to C{address} from C{senders} threads, one SMTP
    session each (L{bench.smtp_ingest.run_worker}), and wait for them.

    @param timeout: the longest wait for one thing; the senders get that
        much per message of the largest share, in all.
    @raise BenchError: if they do not finish in time.
    """
    shares: list[list[tuple[str, bytes]]] = [[] for _ in range(senders)]
    for i in range(messages):
        shares[i % senders].append(
            (address, make_message(i, f"sender@{MAILBOX_DOMAIN}", address, size))
        )
    results = [WorkerResult() for _ in shares]
    barrier = threading.Barrier(senders, timeout=timeout)
    pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="sender")
    try:
        futures = [
            asyncio.wrap_future(
                pool.submit(run_worker, HOST, smtp_port, share, len(share), barrier, result)
            )
            for share, result in zip(shares, results, strict=True)
        ]
        budget = timeout * (max(len(share) for share in shares) + 1)
        _, pending = await asyncio.wait(futures, timeout=budget)
        if pending:
            raise BenchError(f"{len(pending)} senders had not finished after {budget:g} s")
        for future in futures:
            try:
                future.result()
            except threading.BrokenBarrierError:
                raise BenchError(
                    f"the {senders} senders did not all start within {timeout:g} s"
                ) from None
    finally:
        pool.shutdown(wait=False)
    return results


# One run


@dataclass
class RunResult:
    """
    What one run measured.

    @ivar first: per acknowledged message, the earliest socket's latency.
    @ivar every: every (message, socket) latency.
    @ivar spread: per message that reached every socket, last arrival minus
        first.
    @ivar missing: (message, socket) pairs with no frame.
    @ivar unexpected: frames that are not the C{Email} of an acknowledged
        message.
    @ivar stopped: "socket i: why" for readers that stopped early.
    @ivar wall: seconds from just before the senders start to the last frame
        (or the timeout); C{daemon_cpu} and C{client_cpu} are the CPU seconds
        the daemon (C{None} if unknown) and this process used meanwhile.
    """

    senders: int
    messages: int
    sockets: int
    acked: int
    send_seconds: float
    smtp_latencies: list[float]
    failures: list[str]
    first: list[float]
    every: list[float]
    spread: list[float]
    missing: int
    unexpected: list[str]
    stopped: list[str]
    wall: float
    daemon_cpu: float | None
    client_cpu: float


async def measure(
    http_port: int,
    smtp_port: int,
    address: str,
    senders: int,
    messages: int,
    sockets: int,
    size: int,
    timeout: float,
    daemon_cpu: Callable[[], float | None],
) -> RunResult:
    """
    Open the sockets on C{address}, send the messages, wait for every frame
    (at most C{timeout} after the last 250), and match frames to 250s.
    """
    url = f"ws://{HOST}:{http_port}/api/ws/{address}"
    async with AsyncExitStack() as stack:
        conns = await open_sockets(stack, url, sockets, timeout)
        watches = [Watch() for _ in conns]
        tally = Tally(asyncio.Event())
        readers = [
            asyncio.create_task(read_frames(ws, watch, tally, timeout, messages + 10))
            for ws, watch in zip(conns, watches, strict=True)
        ]
        try:
            cpu_before, client_before = daemon_cpu(), time.process_time()
            began = time.perf_counter()
            results = await send_all(smtp_port, address, senders, messages, size, timeout)
            acks = [ack for r in results for ack in r.acks]
            tally.target = len(acks) * sockets
            tally.check()
            with suppress(TimeoutError):  # what did not come is counted as missing
                await asyncio.wait_for(tally.done.wait(), timeout)
            wall = time.perf_counter() - began
            cpu_after, client_cpu = daemon_cpu(), time.process_time() - client_before
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), timeout)

    acked_at = dict(acks)
    arrivals: list[dict[str, float]] = []
    unexpected: list[str] = []
    for index, watch in enumerate(watches):
        seen: dict[str, float] = {}
        for at, raw in watch.frames:
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            email = isinstance(frame, dict) and frame.get("type") == "Email"
            id = frame.get("id") if email and isinstance(frame, dict) else None
            if isinstance(id, str) and id in acked_at and id not in seen:
                seen[id] = at
            else:
                unexpected.append(f"socket {index + 1}: {str(raw)[:200]}")
        arrivals.append(seen)
    first: list[float] = []
    every: list[float] = []
    spread: list[float] = []
    missing = 0
    for id, acked in acks:
        times = [seen[id] for seen in arrivals if id in seen]
        missing += sockets - len(times)
        every.extend(t - acked for t in times)
        if times:
            first.append(min(times) - acked)
        if len(times) == sockets:
            spread.append(max(times) - min(times))
    starts = [r.first_connect for r in results if r.first_connect is not None]
    ends = [r.last_ack for r in results if r.last_ack is not None]
    return RunResult(
        senders=senders,
        messages=messages,
        sockets=sockets,
        acked=len(acks),
        send_seconds=(max(ends) - min(starts)) if starts and ends else math.nan,
        smtp_latencies=[x for r in results for x in r.latencies],
        failures=[f for r in results for f in r.failures]
        + [f"a 250 named no stored id ({r.unknown_ids})" for r in results if r.unknown_ids],
        first=first,
        every=every,
        spread=spread,
        missing=missing,
        unexpected=unexpected,
        stopped=[
            f"socket {i + 1}: {w.stopped}" for i, w in enumerate(watches) if w.stopped is not None
        ],
        wall=wall,
        daemon_cpu=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        client_cpu=client_cpu,
    )


# Reporting


def ms(values: Sequence[float]) -> str:
    """
    C{p50 .. ms, p99 .. ms, max .. ms} of C{values} given in seconds.
    """
    return (
        f"p50 {percentile(values, 0.50) * 1000:.2f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.2f} ms, "
        f"max {max(values, default=math.nan) * 1000:.2f} ms"
    )


def report(result: RunResult) -> None:
    """
    Print one run's figures.
    """
    plural = "s" if result.senders > 1 else ""
    print(
        f"run:             {result.senders} sender{plural}, {result.messages} messages, "
        f"{result.sockets} sockets on one mailbox"
    )
    print(
        f"smtp:            {result.acked} acknowledged in {result.send_seconds:.3f} s "
        f"({result.acked / result.send_seconds:.1f} msgs/s); "
        f"MAIL FROM to 250 {ms(result.smtp_latencies)}"
    )
    expected = result.acked * result.sockets
    print(
        f"frames:          {expected - result.missing} of {expected} Email frames "
        f"({result.missing} missing, {len(result.unexpected)} unexpected)"
    )
    print(f"first socket:    {ms(result.first)}")
    print(f"all sockets:     {ms(result.every)}")
    early = sum(1 for x in result.every if x < 0)
    print(
        f"fan-out spread:  {ms(result.spread)} (last socket minus first, per message); "
        f"{early} frames read before their 250"
    )
    daemon = "unknown" if result.daemon_cpu is None else f"{result.daemon_cpu:.2f} s"
    print(
        f"cpu:             daemon {daemon}, this client {result.client_cpu:.2f} s, "
        f"in {result.wall:.2f} s from the first send to the last frame"
    )
    for line in result.failures[:5]:
        print("  failed send: " + line)
    for line in result.stopped[:5]:
        print("  stopped early: " + line)
    for line in result.unexpected[:5]:
        print("  unexpected frame: " + line)


def status(result: RunResult) -> int:
    """
    The exit status one run calls for (see the module docstring).
    """
    # A send that failed after its data went out may still have been stored
    # and announced: that explains a frame for a message never acknowledged.
    if result.missing or result.stopped or (result.unexpected and not result.failures):
        return 1
    if result.failures or result.acked < result.messages:
        return 2
    return 0


# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """
    Parse and check the command line.
    """
    parser = argparse.ArgumentParser(
        description="Measure the latency from an SMTP 250 to the Email frame on WebSockets.",
    )
    parser.add_argument(
        "--sockets", type=int, default=100, help="sockets on the mailbox (default 100)"
    )
    parser.add_argument(
        "--senders",
        default="1,100",
        help="comma-separated sender thread counts, one run each (default 1,100)",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help="messages per run (default: 200 with 1 sender, else 1000)",
    )
    parser.add_argument(
        "--size", type=int, default=2048, help="approximate message size in bytes (default 2048)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="messages sent (1 sender) and not counted before the runs (default 20, 0: none)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="longest wait for a socket, a frame, or the frames after the last 250 (default 30)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="make the daemon's temporary directory (and SQLite file) here",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the daemon (default: the one running this script)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the daemon's directory and log")
    args = parser.parse_args(argv)
    try:
        args.senders = [int(part) for part in args.senders.split(",")]
    except ValueError:
        parser.error("--senders must be comma-separated integers, e.g. 1,100")
    for name in ("sockets", "messages", "size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if min(args.senders) < 1:
        parser.error("--senders must be at least 1")
    if args.warmup < 0 or args.timeout <= 0:
        parser.error("--warmup must not be negative, --timeout must be positive")
    if args.messages is not None and args.messages < max(args.senders):
        parser.error("--messages must not be less than the largest --senders")
    return args


async def run_all(args: argparse.Namespace, daemon: DaemonProcess) -> int:
    """
    The warm-up, then one run per C{--senders} value; the worst exit status.
    """
    worst = 0
    if args.warmup:
        warm = await measure(
            daemon.http_port,
            daemon.smtp_port,
            f"ws-warmup@{MAILBOX_DOMAIN}",
            1,
            args.warmup,
            args.sockets,
            args.size,
            args.timeout,
            daemon.cpu_seconds,
        )
        worst = status(warm)
        print(
            f"warm-up:         {warm.acked} messages, {warm.missing} frames missing (not counted)"
        )
    for index, senders in enumerate(args.senders):
        messages = args.messages or (200 if senders == 1 else 1000)
        result = await measure(
            daemon.http_port,
            daemon.smtp_port,
            f"ws-{index + 1}@{MAILBOX_DOMAIN}",
            senders,
            messages,
            args.sockets,
            args.size,
            args.timeout,
            daemon.cpu_seconds,
        )
        print()
        report(result)
        worst = max(worst, status(result))
    print()
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the benchmark; see the module docstring for the exit status.
    """
    args = parse_args(argv)
    settings = {
        "WS_MAX_CONNECTIONS": str(max(WS_MAX_CONNECTIONS, args.sockets)),
        "WS_MAX_CONNECTIONS_PER_IP": str(max(WS_MAX_PER_IP, args.sockets)),
    }
    try:
        with own_daemon(
            args.workdir, max(args.senders) + 10, args.python, args.keep, settings
        ) as daemon:
            print(f"daemon:          started in {daemon.workdir} (SQLite mail.db)")
            print(f"target:          smtp {HOST}:{daemon.smtp_port}, ws {HOST}:{daemon.http_port}")
            code = asyncio.run(run_all(args, daemon))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    print(f"result:          {OUTCOMES[code]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
