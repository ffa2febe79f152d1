"""Redis event store: one list per user, updated by LREM + LPUSH + LTRIM in one MULTI/EXEC.

The transaction makes "move to front, then cap the length" atomic, so concurrent puts from several
workers cannot leave a duplicate or a list longer than ``max_events``. The client retries once at
once (a pooled connection may be stale after a Redis restart); every call, its wait for a pooled
connection and the retry included, ends within ``timeout_s`` or raises
:class:`~musicrec.storage.errors.StorageUnavailable`.

Delivery is at least once, not at most once: a put that timed out may still be applied afterwards, when
Redis had received it and was only slow (a frozen or overloaded server executes the transaction it
read once it runs again); one refused by a connection error is not applied. Retrying a put is safe
because running the same transaction twice gives the same list: the track is at the front, once.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from musicrec.storage.errors import StorageUnavailable

KEY_PREFIX = "musicrec:events:"


class RedisEventStore:
    """:class:`~musicrec.storage.events.base.EventStore` in Redis at ``url``."""

    def __init__(
        self, url: str, *, max_events: int = 10, timeout_s: float = 2.0, max_connections: int = 32
    ) -> None:
        self.url = url
        self.max_events = max_events
        self.timeout_s = timeout_s
        # A blocking pool: a burst of requests waits up to timeout_s for a free connection instead of
        # failing with "Too many connections" (the default pool) or opening unbounded sockets.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),
        )
        self._redis = aioredis.Redis(connection_pool=pool)

    @staticmethod
    def key(user_id: int) -> str:
        return f"{KEY_PREFIX}{user_id}"

    def _unavailable(self, exc: Exception) -> StorageUnavailable:
        # the client reads the kind of failure; the log has the URL (without its password) and the error
        reason = ("timed out" if isinstance(exc, TimeoutError | RedisTimeoutError)
                  else "cannot connect" if isinstance(exc, ConnectionError | RedisConnectionError | OSError)
                  else type(exc).__name__)
        return StorageUnavailable(f"Redis event store: {reason}", detail=f"{self._safe_url()}: {exc}")

    def _safe_url(self) -> str:
        # Never echo a password from the URL into a response.
        head, sep, tail = self.url.rpartition("@")
        return f"redis://***@{tail}" if sep else self.url

    async def put(self, user_id: int, item_id: int) -> None:
        key = self.key(user_id)

        async def transaction() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lrem(key, 0, item_id)
                pipe.lpush(key, item_id)
                pipe.ltrim(key, 0, self.max_events - 1)
                await pipe.execute()

        await self._bounded(transaction())

    async def get(self, user_id: int, k: int) -> list[int]:
        values = await self._bounded(self._redis.lrange(self.key(user_id), 0, min(k, self.max_events) - 1))
        return [int(v) for v in values]

    async def ping(self) -> str:
        await self._bounded(self._redis.ping())
        return f"redis {self._safe_url()}"

    async def persistence_risks(self) -> list[str]:
        """What the server's persistence settings can lose of acknowledged puts, one sentence each with
        the setting to change (empty: nothing). Raises :class:`StorageUnavailable` when unreachable;
        a server that refuses ``CONFIG GET`` (managed Redis) gives one sentence saying it was not checked.
        """
        async def read() -> dict:
            config = await self._redis.config_get("appendonly")
            config.update(await self._redis.config_get("appendfsync"))
            config.update(await self._redis.config_get("save"))
            return config

        try:
            config = await self._bounded(read())
        except StorageUnavailable as exc:
            if isinstance(exc.__cause__, ResponseError):  # CONFIG refused (e.g. renamed by a managed Redis)
                return [f"persistence not checked (CONFIG GET refused: {exc.__cause__}); make sure the "
                        "server runs with appendonly yes, or acknowledged puts can be lost when it restarts"]
            raise
        return persistence_risks({_text(k): _text(v) for k, v in config.items()})

    async def _bounded(self, call):
        """``await call`` within ``timeout_s`` in all: the socket timeouts bound each attempt, not the
        retry after it nor the wait for a pooled connection (a frozen Redis took twice timeout_s)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await call
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        # The pool was passed in, so the client does not own it: close both.
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def persistence_risks(config: dict[str, str]) -> list[str]:
    """What Redis persistence settings (``CONFIG GET`` answers) can lose of acknowledged writes.

    >>> persistence_risks({"appendonly": "yes", "appendfsync": "always", "save": ""})
    []
    >>> persistence_risks({"appendonly": "no", "appendfsync": "everysec", "save": ""})[0][:62]
    'appendonly no and no save points: a Redis restart loses every '
    >>> persistence_risks({"appendonly": "yes", "appendfsync": "everysec", "save": "3600 1"})[0][:47]
    'appendfsync everysec: a crash can lose about th'
    """
    risks = []
    if config.get("appendonly") != "yes":
        if not config.get("save", "").strip():
            risks.append("appendonly no and no save points: a Redis restart loses every acknowledged put; "
                         "set appendonly yes (CONFIG SET appendonly yes, and in redis.conf)")
        else:
            risks.append(f"appendonly no (RDB snapshots only, save {config['save']!r}): a Redis restart "
                         "loses the puts acknowledged since the last snapshot; set appendonly yes")
    elif config.get("appendfsync") == "everysec":
        risks.append("appendfsync everysec: a crash can lose about the last second (at worst 2 s) of "
                     "acknowledged puts; set appendfsync always to lose none")
    elif config.get("appendfsync") == "no":
        risks.append("appendfsync no: a crash of the machine can lose the puts the OS has not flushed yet "
                     "(typically up to 30 s); set appendfsync always to lose none")
    return risks
