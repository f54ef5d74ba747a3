"""
End to end: schemathesis fuzzes every operation of the live daemon's
OpenAPI document, a bounded number of examples each, and finds no server
error and no answer that breaks the document.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon import DaemonFactory

pytestmark = pytest.mark.daemon

ADMIN = "operator-token-0123456789"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_schemathesis_finds_nothing(daemon: DaemonFactory, tmp_path: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed")
    server = daemon.start(ADMIN_TOKEN=ADMIN)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("a@example.com", ["bob@tempmail.local"], b"Subject: hi\r\n\r\nbody\r\n")
    result = subprocess.run(
        [
            schemathesis,
            "run",
            f"{server.base_url}/api/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "10",
            "--workers",
            "2",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated is not None, result.stdout[-2000:]
    assert generated.group(1) == generated.group(2)
    assert int(generated.group(1)) > 300
    # The daemon logged no error while being fuzzed.
    assert server.problems == []
