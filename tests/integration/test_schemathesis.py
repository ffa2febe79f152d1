"""Schemathesis (property-based tests generated from each service's own OpenAPI document) against the
three services as real uvicorn processes: every check, a fixed seed and a bounded number of examples.

A failure prints schemathesis' report, with a ``curl`` line that reproduces each case. To run it by
hand against running services: ``st run http://127.0.0.1:8000/openapi.json --checks all``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ST = Path(sys.executable).with_name("st")
SEED = 12
# examples per operation and phase: about 2,100 cases over the three services, ~40 s on a free machine
MAX_EXAMPLES = 200


def schemathesis(url: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``st run`` from ``cwd`` (where it keeps its example database, ``.schemathesis/``)."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = [str(ST), "run", f"{url}/openapi.json", "--checks", "all", "--seed", str(SEED),
            "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--no-color", "--request-timeout", "10",
            *extra]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("st")) as running:
        yield running


@pytest.mark.parametrize("service", ["recommendations", "features", "events"])
def test_no_failure(services, service, tmp_path):
    result = schemathesis(services.urls[service], tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout


def test_no_failure_with_an_events_token(tmp_path):
    """With ``[events] token`` the document declares bearer security; schemathesis also checks that
    requests without it, or with a wrong one, are refused."""
    with Stack(tmp_path, token="t0k") as locked:
        result = schemathesis(locked.urls["events"], tmp_path, "--header", "Authorization: Bearer t0k")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout
