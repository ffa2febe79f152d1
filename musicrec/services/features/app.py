"""``create_app(settings)`` for the features service; ``similar.parquet`` is loaded in the lifespan
(from the artifacts directory, or downloaded once from an ``s3://`` location)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from musicrec.config import Settings
from musicrec.services.common import build_app
from musicrec.services.common.memory import use_system_allocator
from musicrec.services.features.index import SIMILAR_FILE, SimilarArtifactError, SimilarIndex
from musicrec.services.features.routes import router
from musicrec.storage.errors import MissingArtifactError, S3StoreError
from musicrec.storage.location import fetch_artifacts

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the similar-items index; a missing or bad file is logged, and /ready reports it."""
    settings: Settings = app.state.settings
    app.state.similar_index = None
    app.state.similar_error = None
    use_system_allocator()
    try:
        # an s3:// location is downloaded once into [s3] cache_dir; a directory is used as it is
        directory = await run_in_threadpool(fetch_artifacts, settings.paths.artifacts_dir, settings,
                                            [(SIMILAR_FILE,)])
        app.state.similar_index = await run_in_threadpool(SimilarIndex.from_parquet, directory / SIMILAR_FILE)
    except (SimilarArtifactError, MissingArtifactError, S3StoreError) as exc:
        # Serve anyway: /health stays up, /ready and the routes answer 503 not_ready with this reason,
        # instead of a crash loop with a traceback while the artifacts are being trained.
        app.state.similar_error = str(exc)
        log.error("features: %s; /similar_items answers 503 not_ready until restarted with the file", exc)
    yield
    app.state.similar_index = None


async def index_ready(app: FastAPI) -> str:
    """Readiness: the index is loaded."""
    index = app.state.similar_index
    if index is None:
        raise RuntimeError(app.state.similar_error or "similar items are not loaded")
    return f"{len(index)} items, {index.n_pairs} pairs"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The features service (8010): ``POST /similar_items`` (+ ``/batch``), health, ready, metrics."""
    return build_app(
        settings,
        service="features",
        title="Features service",
        lifespan=lifespan,
        routers=(router,),
        readiness_checks={"similar_items": index_ready},
    )
