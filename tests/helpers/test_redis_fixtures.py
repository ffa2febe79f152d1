import pytest

from tests.helpers import redis_fixtures


def test_missing_redis_server_skips_by_default(monkeypatch):
    monkeypatch.setattr(redis_fixtures, "redis_server_binary", lambda: None)
    monkeypatch.delenv("MUSICREC_REQUIRE_REDIS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        redis_fixtures._binary_or_skip()


def test_missing_redis_server_fails_when_required(monkeypatch):
    monkeypatch.setattr(redis_fixtures, "redis_server_binary", lambda: None)
    monkeypatch.setenv("MUSICREC_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match="MUSICREC_REQUIRE_REDIS=1"):
        redis_fixtures._binary_or_skip()
