from tests.helpers.redis_fixtures import redis_server, redis_url, shared_redis_server  # noqa: F401
