"""The :class:`EventStore` protocol shared by the SQLite and Redis backends."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class EventStore(Protocol):
    """Last ``max_events`` distinct items per user, newest first.

    Every method may raise :class:`~musicrec.storage.errors.StorageUnavailable`.
    """

    max_events: int

    async def put(self, user_id: int, item_id: int) -> None:
        """Record a listen: the item goes to the front; the oldest items beyond ``max_events`` drop out."""
        ...

    async def get(self, user_id: int, k: int) -> list[int]:
        """At most ``k`` item ids, newest first; ``[]`` for a user without events."""
        ...

    async def ping(self) -> str:
        """Check the storage answers; return a short description of it."""
        ...

    async def close(self) -> None:
        """Release connections; the store may not be used afterwards."""
        ...
