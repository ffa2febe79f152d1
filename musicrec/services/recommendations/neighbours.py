"""``[serving] neighbours = direct``: the event store and the similar-tracks index read in this process.

The default (``http``) calls the events and features services, as the original did; each call is a
round trip through another process. In ``direct`` mode the recommendations service opens the same
event store (SQLite file or Redis) and loads its own copy of ``similar.parquet``, behind the two
methods the online path uses, so answers are the same. It costs the index's memory in this process
(docs/benchmarks.md) and ties the service to the store's location: an option, not the default.
Failures degrade exactly as the HTTP clients' do: a :class:`~musicrec.client.ClientError`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from musicrec.api import Events, SimilarItems, SimilarItemsBatch
from musicrec.client import ServiceUnavailable
from musicrec.config import Settings
from musicrec.files import SIMILAR as SIMILAR_FILE
from musicrec.services.features.index import SimilarArtifactError, SimilarIndex
from musicrec.storage.errors import MissingArtifactError, S3StoreError, StorageUnavailable
from musicrec.storage.events import EventStore, open_event_store
from musicrec.storage.location import fetch_artifacts
from musicrec.storage.runs import resolve_location

log = logging.getLogger(__name__)


class DirectEvents:
    """``get`` of the events service, read from the store itself."""

    def __init__(self, store: EventStore, description: str) -> None:
        self.store = store
        self.base_url = description

    async def get(self, user_id: int, k: int = 10) -> Events:
        try:
            return Events(events=await self.store.get(user_id, k))
        except StorageUnavailable as exc:
            raise ServiceUnavailable(f"{self.base_url}: {exc}", url=self.base_url) from None

    async def health(self) -> None:
        await self.store.ping()

    async def aclose(self) -> None:
        await self.store.close()


class DirectFeatures:
    """``similar_items_batch`` of the features service, from an index loaded in this process."""

    def __init__(self, index: SimilarIndex, path: Path) -> None:
        self.index = index
        self.base_url = f"{path} ({len(index)} tracks, in process)"

    async def similar_items_batch(self, item_ids: list[int], k: int = 10) -> SimilarItemsBatch:
        items = {}
        for item_id in item_ids:
            if item_id not in items:
                ids, scores = self.index.lookup(item_id, k)
                items[item_id] = SimilarItems.model_construct(item_id_2=ids, score=scores)
        return SimilarItemsBatch.model_construct(items=items)

    async def health(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MissingFeatures:
    """Direct mode without a loadable ``similar.parquet``: online answers degrade, ``/ready`` says why."""

    def __init__(self, reason: str) -> None:
        self.base_url = reason

    async def similar_items_batch(self, item_ids: list[int], k: int = 10) -> SimilarItemsBatch:
        raise ServiceUnavailable(self.base_url, url=SIMILAR_FILE)

    async def health(self) -> None:
        raise RuntimeError(self.base_url)

    async def aclose(self) -> None:
        return None


def open_direct(settings: Settings) -> tuple[DirectEvents, DirectFeatures | MissingFeatures]:
    """The event store of ``[events]`` and the index of ``similar.parquet`` (blocking: call in a thread)."""
    store = open_event_store(settings.events)
    where = settings.events.redis_url if settings.events.backend == "redis" else settings.events.sqlite_path
    events = DirectEvents(store, f"{settings.events.backend} {where} (in process)")
    try:
        # the run current at start-up: direct mode does not follow a later switch (restart to pick it up)
        directory = fetch_artifacts(resolve_location(settings.paths.artifacts_dir, settings).location,
                                    settings, [(SIMILAR_FILE,)])
        path = directory / SIMILAR_FILE
        return events, DirectFeatures(SimilarIndex.from_parquet(path), path)
    except (SimilarArtifactError, MissingArtifactError, S3StoreError) as exc:
        log.error("recommendations service, direct mode: %s; online answers are degraded", exc)
        return events, MissingFeatures(str(exc))
