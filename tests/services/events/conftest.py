from tests.helpers.redis_fixtures import (  # noqa: F401
    durable_redis_server,
    redis_server,
    redis_url,
    shared_redis_server,
)
