"""
Start and stop a tempmail daemon for the bench scripts.

L{own_daemon} runs C{twistd -n --pidfile= tempmail} from this checkout (on
C{PYTHONPATH}) in a fresh temporary directory with a SQLite file, asks for
port 0 everywhere, waits without sleeping for the C{tempmail_ready} JSON log
line that names the ports it got, and on exit stops it with SIGTERM, prints
its exit status and any warning it logged, and removes the directory.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Standard library only: the bench client needs none of the daemon's packages.
from tempmail.readiness import ready_ports

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 60.0


class BenchError(Exception):
    """
    The benchmark cannot run (daemon did not start, API unreachable).
    """


def daemon_settings() -> frozenset[str]:
    """
    The name and aliases of every setting the daemon reads from the
    environment, taken from the C{Setting(...)} calls in this checkout's
    C{tempmail/config.py} (parsed, not imported: this needs no dependencies).
    A started daemon gets none of them from the caller's shell, only
    defaults and what the bench sets.

    @raise BenchError: if the file cannot be read or names no setting.
    """
    path = ROOT / "tempmail" / "config.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError) as e:
        raise BenchError(f"cannot read the settings from {path}: {e}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Setting"):
            continue
        if node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
        for keyword in node.keywords:
            if keyword.arg == "aliases" and isinstance(keyword.value, ast.Tuple):
                names.update(
                    str(item.value) for item in keyword.value.elts if isinstance(item, ast.Constant)
                )
    if not names:
        raise BenchError(f"no Setting(...) found in {path}")
    return frozenset(names)


@dataclass
class DaemonLog:
    """
    What a started daemon wrote on stdout, kept as it runs.

    @ivar lines: every line, in order.
    @ivar problems: lines logged at warn, error or critical level.
    """

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Daemon:
    """
    A C{twistd -n tempmail} process this script started.
    """

    process: subprocess.Popen[bytes]
    smtp_port: int
    http_port: int
    workdir: Path
    log: DaemonLog

    def cpu_seconds(self) -> float | None:
        """
        User plus system CPU time the process has used so far, from
        C{/proc/<pid>/stat}; C{None} where that cannot be read (not Linux).
        """
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the parenthesised command name; utime and stime are
        # the 14th and 15th fields of the whole line.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        """
        Send SIGTERM and wait for the exit; kill it if it hangs.

        @return: the exit status.
        @raise BenchError: if it had to be killed.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise BenchError(
                f"the daemon did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM"
            ) from None


def _is_problem(line: str) -> bool:
    """
    Whether a JSON log line is at warn level or above.
    """
    try:
        event = json.loads(line)
    except ValueError:
        return bool(line.strip())  # non-JSON output (a traceback on stderr)
    level = event.get("log_level") if isinstance(event, dict) else None
    name = level.get("name") if isinstance(level, dict) else None
    return name in ("warn", "error", "critical")


def start_daemon(
    workdir: Path,
    max_connections: int,
    python: str = sys.executable,
    settings: Mapping[str, str] | None = None,
) -> Daemon:
    """
    Start C{twistd -n --pidfile= tempmail} from this checkout in C{workdir}
    and wait, without sleeping, for its C{tempmail_ready} line.

    @param max_connections: SMTP sessions the bench may open at once
        (C{SMTP_MAX_CONNECTIONS} is at least 200).
    @param python: the interpreter to run it with; it needs tempmail's
        dependencies (the project's virtualenv).
    @param settings: more tempmail settings for the daemon's environment.

    @raise BenchError: if it exits or stays silent for L{STARTUP_TIMEOUT}.
    """
    ignored = daemon_settings()
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(
        SMTP_PORT="0",
        API_PORT="0",
        BIND_ADDRESS="127.0.0.1",
        DATABASE_URL=f"sqlite:{workdir / 'mail.db'}",
        LOG_FORMAT="json",
        LOG_LEVEL="info",
        SMTP_MAX_CONNECTIONS=str(max(200, max_connections)),
    )
    env.update(settings or {})
    if os.sep in python:
        python = str(Path(python).absolute())  # the daemon runs in workdir
    argv = [
        python,
        "-c",
        "from twisted.scripts.twistd import run; run()",
        "-n",
        "--pidfile=",
        "tempmail",
    ]
    try:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as e:
        raise BenchError(f"cannot run {python}: {e}") from None
    log = DaemonLog()
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        # Keeps draining stdout for the daemon's whole life, so a chatty
        # log can never fill the pipe and stall the server.
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            log.lines.append(line)
            if _is_problem(line):
                log.problems.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="daemon-stdout", daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            process.kill()
            process.wait()
            raise BenchError(
                f"no tempmail_ready line within {STARTUP_TIMEOUT}s:\n" + "".join(log.lines)
            ) from None
        if line is None:
            process.wait()
            output = "".join(log.lines)
            hint = (
                f"\n{python} lacks tempmail's dependencies: run this script with the "
                "project's .venv/bin/python, or pass --python .venv/bin/python"
                if "ModuleNotFoundError" in output
                else ""
            )
            raise BenchError(
                f"the daemon exited ({process.returncode}) during startup:\n{output}{hint}"
            )
        ports = ready_ports(line)
        if ports is not None:
            return Daemon(process, ports["smtp"], ports["http"], workdir, log)


def stop_and_report(daemon: Daemon, keep: bool) -> None:
    """
    Stop a started daemon; print its exit status and any warnings it logged.

    @param keep: also write its log to C{daemon.log} in its directory.
    """
    try:
        code = daemon.stop()
    finally:
        if keep:
            (daemon.workdir / "daemon.log").write_text("".join(daemon.log.lines))
    print(f"daemon:          stopped with SIGTERM, exit status {code}")
    if code != 0:
        print("WARNING: the daemon did not exit 0", file=sys.stderr)
    if daemon.log.problems:
        print(f"daemon warnings: {len(daemon.log.problems)} lines (first 5 follow)")
        for line in daemon.log.problems[:5]:
            print("  " + line.rstrip()[:400])


@contextmanager
def own_daemon(
    parent: Path | None,
    max_connections: int,
    python: str = sys.executable,
    keep: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Daemon]:
    """
    Yield a daemon started (see L{start_daemon}) in a new temporary
    directory; on exit stop it (L{stop_and_report}) and remove the directory,
    unless C{keep}, which keeps it and its log and prints where it is.

    @param parent: make the temporary directory here (default: the system's).
    """
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tempmail-bench-", dir=parent))
    try:
        daemon = start_daemon(workdir, max_connections, python, settings)
        try:
            yield daemon
        finally:
            stop_and_report(daemon, keep)
    finally:
        if keep:
            print(f"kept:            {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
