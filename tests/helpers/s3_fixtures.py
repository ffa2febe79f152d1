"""An S3-compatible server (moto's) as a real process on a free port, and stores/settings pointing at it.

Import into a ``conftest.py``::

    from tests.helpers.s3_fixtures import moto_server, s3_settings, s3_bucket  # noqa: F401

boto3 talks to it over HTTP with dummy credentials (set in the environment for the test session, so
that subprocesses started by a test inherit them too).
"""

from __future__ import annotations

import shutil
import sys
import uuid

import httpx
import pytest

from musicrec.config import load_settings
from musicrec.services.common.testing import REPO_ROOT, ManagedProcess, free_port
from musicrec.storage.location import make_s3_client

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer(ManagedProcess):
    """``python -m moto.server`` on a free port; ``url`` is ``http://127.0.0.1:<port>``."""

    name = "moto"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    None, REPO_ROOT)
        self._wait_until(self._answers, 20.0)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/moto-api/", timeout=0.5).status_code < 500
        except httpx.HTTPError:
            return False

    def __enter__(self) -> MotoServer:
        return self.start()


@pytest.fixture(scope="session")
def moto_server():
    """One moto server for the session, with dummy AWS credentials in the environment."""
    patch = pytest.MonkeyPatch()
    for key, value in CREDENTIALS.items():
        patch.setenv(key, value)
    try:
        with MotoServer() as server:
            yield server
    finally:
        patch.undo()


@pytest.fixture
def s3_settings(moto_server, tmp_path):
    """Settings whose ``[s3]`` points at the moto server, with a per-test cache directory."""
    return load_settings(s3={"endpoint_url": moto_server.url, "addressing_style": "path", "max_attempts": 1,
                             "cache_dir": tmp_path / "s3-cache"})


@pytest.fixture
def s3_bucket(s3_settings):
    """A fresh, empty bucket name for the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    make_s3_client(s3_settings.s3).create_bucket(Bucket=name)
    yield name
    shutil.rmtree(s3_settings.s3.cache_dir, ignore_errors=True)
