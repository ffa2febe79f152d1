"""``create_app(settings)`` for the events service; the store is opened in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from musicrec.config import Settings, load_settings
from musicrec.services.common import StorageUnavailable, build_app
from musicrec.services.events.routes import PROTECTED, router
from musicrec.storage.events import RedisEventStore, open_event_store

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the event store; an unreachable storage is logged and reported by /ready, not fatal."""
    settings: Settings = app.state.settings
    store = open_event_store(settings.events)
    app.state.event_store = store
    try:
        log.info("events: storage %s, keeping %d events per user", await store.ping(),
                 settings.events.max_events_per_user)
        if isinstance(store, RedisEventStore):
            for risk in await store.persistence_risks():
                log.warning("events: Redis persistence: %s", risk)
    except StorageUnavailable as exc:
        log.error("events: %s; requests answer 503 until it is reachable", exc)
    try:
        yield
    finally:
        app.state.event_store = None
        await store.close()


async def storage_ready(app: FastAPI) -> str:
    """Readiness: the store answers a ping."""
    store = app.state.event_store
    if store is None:
        raise RuntimeError("the event store is not open")
    return await store.ping()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The events service (8020): ``POST /put``, ``POST /get`` plus health, ready and metrics; both
    routes require the bearer token when ``[events] token`` is set."""
    settings = settings if settings is not None else load_settings()
    return build_app(
        settings,
        service="events",
        title="Events service",
        lifespan=lifespan,
        routers=(router,),
        readiness_checks={"storage": storage_ready},
        protected=PROTECTED if settings.events.token else (),
    )
