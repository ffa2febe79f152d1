"""Redis fixtures: a private ``redis-server`` per session (shared) or per test (to be stopped).

Import into a ``conftest.py``::

    from tests.helpers.redis_fixtures import redis_server, redis_url  # noqa: F401

When ``redis-server`` is not installed the tests that use these fixtures are skipped, unless the
environment sets ``MUSICREC_REQUIRE_REDIS=1`` (``.ci/run`` does): then they fail.
"""

from __future__ import annotations

import os

import pytest
import redis

from musicrec.services.common.testing import RedisServer, redis_server_binary


def _binary_or_skip() -> str:
    binary = redis_server_binary()
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("MUSICREC_REQUIRE_REDIS") == "1":
            pytest.fail(f"MUSICREC_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def shared_redis_server():
    """One redis-server for the whole session (starting one takes ~50 ms, but adds up)."""
    with RedisServer(_binary_or_skip()) as server:
        yield server


@pytest.fixture
def redis_url(shared_redis_server) -> str:
    """The shared server's URL, emptied before the test (tests run one at a time)."""
    with redis.Redis.from_url(shared_redis_server.url) as client:
        client.flushall()
    return shared_redis_server.url


@pytest.fixture
def redis_server():
    """A private redis-server that the test may stop to simulate an outage."""
    with RedisServer(_binary_or_skip()) as server:
        yield server


@pytest.fixture
def durable_redis_server():
    """A private redis-server with appendonly yes and appendfsync always, which the test may kill and
    start again (the append-only file is replayed)."""
    with RedisServer(_binary_or_skip(), durable=True) as server:
        yield server
