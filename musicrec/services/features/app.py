"""``create_app(settings)`` for the features service; ``similar.parquet`` of the current run is loaded in
the lifespan (from the artifacts directory, or downloaded once from an ``s3://`` location) and reloaded
when the run changes (:mod:`musicrec.services.common.reload`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from musicrec.config import Settings
from musicrec.files import SIMILAR as SIMILAR_FILE
from musicrec.services.common import build_app
from musicrec.services.common.memory import use_system_allocator
from musicrec.services.common.reload import Reloader, install_reloader, start_reloading
from musicrec.services.features.index import SimilarIndex
from musicrec.services.features.routes import router
from musicrec.storage.location import fetch_artifacts
from musicrec.storage.runs import Resolved

log = logging.getLogger(__name__)


def _load(settings: Settings, resolved: Resolved) -> SimilarIndex:
    # an s3:// run is downloaded once into [s3] cache_dir (one directory per run); a directory is read
    directory = fetch_artifacts(resolved.location, settings, [(SIMILAR_FILE,)])
    index = SimilarIndex.from_parquet(directory / SIMILAR_FILE)
    index.run_id = resolved.run_id
    return index


def _install(app: FastAPI, index: SimilarIndex, resolved: Resolved) -> None:
    """The swap: one reference; a request in flight keeps the index it read."""
    app.state.similar_index = index
    app.state.similar_error = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the similar-items index of the current run, then follow the run pointer.

    A missing or bad file is logged and /ready reports it; the service keeps running (instead of a crash
    loop with a traceback while the artifacts are being trained) and loads the run once it is there.
    """
    settings: Settings = app.state.settings
    app.state.similar_index = None
    app.state.similar_error = None
    use_system_allocator()
    reloader = Reloader(app, "features", functools.partial(_load, settings), functools.partial(_install, app))
    install_reloader(app, reloader)
    poller = await start_reloading(app)
    if app.state.similar_index is None:
        app.state.similar_error = reloader.last_error
        log.error("features: /similar_items answers 503 not_ready until %s loads", SIMILAR_FILE)
    yield
    poller.cancel()
    app.state.similar_index = None


async def index_ready(app: FastAPI) -> str:
    """Readiness: the index is loaded."""
    index = app.state.similar_index
    if index is None:
        reloader = getattr(app.state, "reloader", None)
        raise RuntimeError((reloader and reloader.last_error) or app.state.similar_error
                           or "similar items are not loaded")
    return f"run {index.run_id}: {len(index)} items, {index.n_pairs} pairs"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The features service (8010): ``POST /similar_items`` (+ ``/batch``), health, ready, metrics."""
    return build_app(
        settings,
        service="features",
        title="Features service",
        lifespan=lifespan,
        routers=(router,),
        reloadable=True,
        readiness_checks={"similar_items": index_ready},
    )
