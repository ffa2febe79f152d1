"""Where the online listening events live: one :class:`EventStore` interface, SQLite or Redis behind it.

Per user the store keeps the last ``max_events`` distinct tracks, newest first. Listening again to a
track already in the history moves it to the front instead of adding a duplicate. Both backends raise
:class:`~musicrec.storage.errors.StorageUnavailable` when the storage cannot be reached, so a
write is never reported as done when it was not.

>>> import asyncio, tempfile, pathlib
>>> async def demo(path):
...     store = SqliteEventStore(path, max_events=3)
...     for item in (1, 2, 3, 2, 4):
...         await store.put(user_id=7, item_id=item)
...     events = await store.get(user_id=7, k=10)
...     await store.close()
...     return events
>>> asyncio.run(demo(pathlib.Path(tempfile.mkdtemp()) / "events.sqlite3"))
[4, 2, 3]
"""

from __future__ import annotations

from musicrec.config import Events
from musicrec.storage.events.base import EventStore
from musicrec.storage.events.redis_store import RedisEventStore
from musicrec.storage.events.sqlite_store import SqliteEventStore

__all__ = ["EventStore", "RedisEventStore", "SqliteEventStore", "open_event_store"]


def open_event_store(config: Events) -> EventStore:
    """The store chosen by ``[events] backend``; connections open lazily, so this never blocks."""
    limits = {"max_events": config.max_events_per_user, "timeout_s": config.timeout_s}
    if config.backend == "redis":
        return RedisEventStore(config.redis_url, **limits)
    return SqliteEventStore(config.sqlite_path, synchronous=config.sqlite_synchronous, **limits)
