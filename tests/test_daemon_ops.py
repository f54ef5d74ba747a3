"""
End to end: the operator's probes and signals on the real daemon.
"""

from __future__ import annotations

import signal

import pytest

from tests.daemon import DaemonFactory

pytestmark = pytest.mark.daemon


def test_probes_answer_and_sighup_does_not_stop_the_daemon(daemon: DaemonFactory) -> None:
    server = daemon.start(API_KEY="private-key-0123456789")
    # Outside /api: no API key needed.
    assert server.get_json("/livez") == {"status": "ok"}
    assert server.get_json("/readyz") == {"status": "ok"}
    server.process.send_signal(signal.SIGHUP)
    server.wait_for_log("Received SIGHUP")
    assert server.get_json("/readyz") == {"status": "ok"}
