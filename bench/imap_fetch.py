"""
IMAP benchmark: FETCH BODY[] throughput, and the memory of idle sessions.

  1. Starts its own daemon (IMAP on, a fresh SQLite file), opens C{--idle}
     connections that each log in (to a mailbox of their own) and stay
     idle, and reports the daemon's RSS growth per session.
  2. APPENDs C{-n} messages of C{--size} bytes to one mailbox over
     C{--seeders} connections, then times C{FETCH 1:* (BODY.PEEK[])} on one
     connection, C{--runs} times, from the command to the tagged OK; every
     run must return every message, byte-counted.
  3. With C{--dovecot} (the default when Debian's C{dovecot-imapd} is
     installed), starts Dovecot in a private directory on a free port with
     the same messages and times the same FETCH.

Run from the repository root::

    .venv/bin/python bench/imap_fetch.py -n 10000 --size 2048 --idle 1000
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import BenchError, own_daemon

IO_TIMEOUT = 60.0
USER = "bench@bench.test"
DOVECOT = "/usr/sbin/dovecot"


def message(n: int, size: int) -> bytes:
    """
    Message C{n}, padded with body lines to C{size} bytes.
    """
    head = f"From: sender@bench.test\r\nTo: {USER}\r\nSubject: bench {n}\r\n\r\n".encode()
    line = b"x" * 70 + b"\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    return head + body + b"." * max(0, size - len(head) - len(body) - 2) + b"\r\n"


class Connection:
    """
    A bare IMAP client: tagged commands, responses read as bytes.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.buffer = b""
        self.tag = 0
        self.read_line()

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _fill(self) -> int:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise BenchError("the server closed the connection")
        self.buffer += chunk
        return len(chunk)

    def command(self, text: bytes, literal: bytes | None = None) -> tuple[bytes, int]:
        """
        Send one command; return its tagged answer and how many response
        bytes came before it.
        """
        self.tag += 1
        tag = b"T%d" % (self.tag,)
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d}\r\n" % (len(literal),))
            if not self.read_line().startswith(b"+"):
                raise BenchError("no continuation for a literal")
            self.sock.sendall(literal + b"\r\n")
        return self._until_tagged(tag)

    def _until_tagged(self, tag: bytes) -> tuple[bytes, int]:
        # Scan without parsing literals: the bench's messages never hold a
        # line that starts with a tag.
        received = 0
        marker = b"\r\n" + tag + b" "
        scan = b"\r\n" + self.buffer
        while True:
            at = scan.find(marker)
            if at >= 0:
                end = scan.find(b"\r\n", at + 2)
                if end >= 0:
                    answer = scan[at + 2 : end]
                    self.buffer = scan[end + 2 :]
                    return answer, received + at
            keep = scan[-(len(marker) + 256) :]
            received += len(scan) - len(keep)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise BenchError("the server closed the connection")
            scan = keep + chunk

    def close(self) -> None:
        self.sock.close()


def seed(port: int, password: str, count: int, size: int, seeders: int) -> None:
    """
    APPEND C{count} messages over C{seeders} connections.
    """
    errors: list[str] = []

    def work(first: int) -> None:
        try:
            conn = Connection(port)
            conn.command(b'LOGIN "%s" "%s"' % (USER.encode(), password.encode()))
            for n in range(first, count, seeders):
                answer, _ = conn.command(b"APPEND INBOX", message(n, size))
                if b" OK" not in answer[:8]:
                    errors.append(answer.decode("ascii", "replace"))
                    return
            conn.close()
        except (OSError, BenchError) as e:
            errors.append(str(e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(seeders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(f"seeding failed: {errors[0]}")


def time_fetch(port: int, password: str, count: int, size: int, runs: int) -> list[float]:
    """
    Seconds per C{FETCH 1:* (BODY.PEEK[])}, one per run.
    """
    conn = Connection(port)
    conn.command(b'LOGIN "%s" "%s"' % (USER.encode(), password.encode()))
    answer, _ = conn.command(b"SELECT INBOX")
    if b"OK" not in answer:
        raise BenchError(f"SELECT failed: {answer!r}")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer, received = conn.command(b"FETCH 1:* (BODY.PEEK[])")
        times.append(time.perf_counter() - start)
        if b"OK" not in answer or received < count * size:
            raise BenchError(f"FETCH returned {received} bytes and {answer!r}")
    conn.close()
    return times


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    if found is None:
        raise BenchError("no VmRSS for the daemon")
    return int(found.group(1))


def idle_sessions(port: int, pid: int, count: int) -> float:
    """
    Open C{count} logged-in idle sessions; return the daemon's RSS growth
    per session, in KiB.
    """
    before = rss_kib(pid)
    sessions = []
    for n in range(count):
        conn = Connection(port)
        answer, _ = conn.command(b"LOGIN idle%d@bench.test x" % (n,))
        if b"OK" not in answer:
            raise BenchError(f"idle login {n} failed: {answer!r}")
        sessions.append(conn)
    # One more round trip on the last session: every login has been served.
    sessions[-1].command(b"NOOP")
    after = rss_kib(pid)
    for conn in sessions:
        conn.close()
    return (after - before) / count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dovecot(root: Path) -> Iterator[int]:
    """
    Dovecot in C{root} on a free port, any user with password C{pw};
    mail kept as the C{nobody} user.
    """
    port = free_port()
    nobody = pwd.getpwnam("nobody")
    mail = root / "mail"
    mail.mkdir()
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    config = root / "dovecot.conf"
    config.write_text(
        f"base_dir = {root}/run\nstate_dir = {root}/state\nlog_path = {root}/dovecot.log\n"
        "ssl = no\nlisten = 127.0.0.1\nprotocols = imap\ndisable_plaintext_auth = no\n"
        f"mail_location = maildir:{mail}/%u\nfirst_valid_uid = 1\n"
        "passdb {\n  driver = static\n  args = password=pw\n}\n"
        f"userdb {{\n  driver = static\n  args = uid={nobody.pw_uid} gid={nobody.pw_gid} "
        f"home={mail}/%u\n}}\n"
        f"service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n}}\n"
        "service stats {\n  inet_listener http {\n    port = 0\n  }\n}\n"
    )
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    raise BenchError(f"dovecot did not start: {log[-500:]}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def report(name: str, count: int, times: list[float]) -> float:
    best = min(times)
    rates = ", ".join(f"{count / t:,.0f}" for t in times)
    print(f"{name}: FETCH BODY[] of {count} messages: best {count / best:,.0f} msg/s ({rates})")
    return count / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=10000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeders", type=int, default=4)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument(
        "--dovecot", action=argparse.BooleanOptionalAction, default=os.path.exists(DOVECOT)
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.idle + 256)), hard))
    settings = {
        "IMAP_ENABLED": "true",
        "IMAP_PORT": "0",
        "IMAP_MAX_CONNECTIONS": str(args.idle + 50),
        "IMAP_MAX_CONNECTIONS_PER_IP": str(args.idle + 50),
        "DOMAIN_NAME": "bench.test",
    }
    try:
        with own_daemon(None, 10, settings=settings) as daemon:
            port = daemon.ports["imap"]
            # First, on a fresh daemon, so no freed memory of the FETCH
            # runs hides what the sessions take.
            if args.idle:
                per = idle_sessions(port, daemon.process.pid, args.idle)
                print(f"tempmail: {args.idle} idle logged-in sessions: {per:.1f} KiB RSS each")
            start = time.perf_counter()
            seed(port, "x", args.count, args.size, args.seeders)
            print(f"tempmail: seeded {args.count} x {args.size} B by APPEND in "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
            ours = report(
                "tempmail", args.count, time_fetch(port, "x", args.count, args.size, args.runs)
            )
        if args.dovecot:
            root = Path(tempfile.mkdtemp(prefix="tempmail-bench-dovecot-"))
            os.chmod(root, 0o755)
            try:
                with dovecot(root) as port:
                    seed(port, "pw", args.count, args.size, args.seeders)
                    theirs = report(
                        "dovecot",
                        args.count,
                        time_fetch(port, "pw", args.count, args.size, args.runs),
                    )
                print(f"tempmail / dovecot: {ours / theirs:.2f}")
            finally:
                shutil.rmtree(root, ignore_errors=True)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
