"""
A daemon of its own for each bench script, started by L{tempmail.launcher}.

L{own_daemon} runs C{twistd -n --pidfile= tempmail} from this checkout in a
fresh temporary directory with a SQLite file, on port 0 everywhere and with
a clean environment; on exit it stops the daemon with SIGTERM, prints its
exit status and any warning it logged, and removes the directory.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

# Standard library only: the bench client needs none of the daemon's packages.
from tempmail.launcher import DaemonProcess, Launcher, LaunchError

# A daemon under bench load may still be finishing sessions and commits.
SHUTDOWN_TIMEOUT = 60.0


class BenchError(Exception):
    """
    The benchmark cannot run (daemon did not start, API unreachable).
    """


def stop_and_report(daemon: DaemonProcess, keep: bool) -> None:
    """
    Stop a started daemon; print its exit status and any warnings it logged.

    @param keep: also write its log to C{daemon.log} in its directory.
    @raise BenchError: if it did not exit after SIGTERM.
    """
    try:
        code = daemon.stop(SHUTDOWN_TIMEOUT)
    except LaunchError as e:
        raise BenchError(str(e)) from None
    finally:
        if keep:
            (daemon.workdir / "daemon.log").write_text("".join(daemon.lines))
    print(f"daemon:          stopped with SIGTERM, exit status {code}")
    if code != 0:
        print("WARNING: the daemon did not exit 0", file=sys.stderr)
    problems = daemon.problems
    if problems:
        print(f"daemon warnings: {len(problems)} lines (first 5 follow)")
        for line in problems[:5]:
            print("  " + line.rstrip()[:400])


@contextmanager
def own_daemon(
    parent: Path | None,
    max_connections: int,
    python: str = sys.executable,
    keep: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[DaemonProcess]:
    """
    Yield a daemon started in a new temporary directory; on exit stop it
    (L{stop_and_report}) and remove the directory, unless C{keep}, which
    keeps it and its log and prints where it is.

    @param parent: make the temporary directory here (default: the system's).
    @param max_connections: SMTP sessions the bench may open at once
        (C{SMTP_MAX_CONNECTIONS} is set to at least 200).
    @param python: the interpreter to run the daemon with; it needs
        tempmail's dependencies (the project's virtualenv).
    @param settings: more tempmail settings for the daemon.
    @raise BenchError: if the daemon does not start or stop.
    """
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tempmail-bench-", dir=parent))
    all_settings = {
        # The ready event, which the launcher waits for, is logged at info.
        "LOG_LEVEL": "info",
        "SMTP_MAX_CONNECTIONS": str(max(200, max_connections)),
        **(settings or {}),
    }
    try:
        try:
            daemon = DaemonProcess(Launcher(workdir, python=python), settings=all_settings)
        except LaunchError as e:
            raise BenchError(str(e)) from None
        try:
            yield daemon
        finally:
            stop_and_report(daemon, keep)
    finally:
        if keep:
            print(f"kept:            {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
