"""
Driving Postfix's C{smtp-source}, and the reference server, for
C{bench/smtp_ingest.py --client smtp-source}.

C{smtp-source} comes from Debian's C{postfix} package, unpacked and never
installed as an MTA::

    apt-get download postfix && dpkg-deb -x postfix_*.deb /tmp/postfix

and C{--client smtp-source /tmp/postfix} finds C{usr/sbin/smtp-source} and
its libraries (C{usr/lib/postfix}) under that directory.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench._daemon import BenchError

SOURCE_TIMEOUT = 600.0  # seconds for one smtp-source run


@dataclass
class ProcessSample:
    """
    A process's CPU time and memory from C{/proc}, at one moment.

    @ivar cpu: user plus system seconds so far.
    @ivar rss: resident set size now, bytes.
    @ivar peak_rss: the highest resident set size so far (C{VmHWM}), bytes.
    """

    cpu: float
    rss: int
    peak_rss: int


def sample(pid: int) -> ProcessSample:
    """
    Read L{ProcessSample} for C{pid}.

    @raise BenchError: if C{/proc} cannot be read.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as e:
        raise BenchError(f"cannot read /proc for process {pid}: {e}") from None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    memory = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            memory[name] = int(value.split()[0]) * 1024
    return ProcessSample(cpu, memory.get("VmRSS", 0), memory.get("VmHWM", 0))


@dataclass
class SourceRun:
    """
    One C{smtp-source} run: its wall time, exit status and output.
    """

    seconds: float
    code: int
    output: str


def run_smtp_source(
    directory: Path,
    port: int,
    *,
    messages: int,
    sessions: int,
    length: int,
    persistent: bool,
    recipient: str,
) -> SourceRun:
    """
    Run C{smtp-source -s sessions -m messages -l length [-d]} against
    127.0.0.1:C{port}, all mail to C{recipient}.

    @param persistent: C{-d}, many messages per connection; otherwise one
        connection per message.
    """
    binary = directory / "usr" / "sbin" / "smtp-source"
    if not binary.exists():
        raise BenchError(f"no {binary}: unpack Debian's postfix package into {directory}")
    command = [
        str(binary),
        "-s",
        str(sessions),
        "-m",
        str(messages),
        "-l",
        str(length),
        "-f",
        "sender@bench.test",
        "-t",
        recipient,
        "-M",
        "bench.localhost",
        *(["-d"] if persistent else []),
        f"127.0.0.1:{port}",
    ]
    environment = dict(os.environ, LD_LIBRARY_PATH=str(directory / "usr" / "lib" / "postfix"))
    began = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            timeout=SOURCE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"smtp-source did not finish in {SOURCE_TIMEOUT} s") from None
    return SourceRun(time.perf_counter() - began, done.returncode, done.stdout + done.stderr)


def stored_bytes(database: Path) -> tuple[int, int]:
    """
    The bytes a SQLite database uses (pages in use, write-ahead log
    included, free pages not) and the raw message bytes it holds (the
    C{size} of its C{messages} rows, or the length of C{raw}).
    """
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        (free,) = connection.execute("PRAGMA freelist_count").fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(messages)")}
        measure = "size" if "size" in columns else "length(raw)"
        (raw,) = connection.execute(f"SELECT coalesce(sum({measure}), 0) FROM messages").fetchone()
    finally:
        connection.close()
    return (pages - free) * page_size, int(raw)


class ReferenceServer:
    """
    C{bench/reference_smtp.py} in a subprocess: started, sampled, stopped.
    """

    def __init__(self, python: str, store: str, workdir: Path) -> None:
        self.database = workdir / "reference.db" if store == "sqlite" else None
        script = Path(__file__).with_name("reference_smtp.py")
        command = [python, str(script), "--store", store]
        if self.database is not None:
            command += ["--database", str(self.database)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first.startswith("port "):
            self.process.kill()
            raise BenchError(f"the reference server did not start: {first!r}")
        self.port = int(first.split()[1])

    def stop(self) -> int:
        """
        Stop it with SIGTERM; return how many messages it says it stored.
        """
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        for line in out.splitlines():
            if line.startswith("stored "):
                return int(line.split()[1])
        print(f"WARNING: the reference server said {out!r}", file=sys.stderr)
        return -1
