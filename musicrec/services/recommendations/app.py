"""The recommendations service (port 8000): offline, popular, online and blended recommendations.

Artifacts are loaded in ``lifespan`` into compact indexes; the events and features services are
called with pooled async clients created there too. A neighbour that is down or slow never turns into
a 500: the answer is what can be computed without it, marked ``"degraded": true``, logged, and
counted in ``musicrec_degraded_answers_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from musicrec.client import AsyncEventsClient, AsyncFeaturesClient, Recommendations
from musicrec.config import Settings
from musicrec.services.common import K50, K100, NotReady, SettingsDep, UserId, build_app
from musicrec.services.recommendations import recommender
from musicrec.services.recommendations.artifacts import (
    ArtifactsError,
    RecommendationArtifacts,
    load_artifacts,
)

log = logging.getLogger(__name__)

# No retries towards the neighbours: the request has a latency budget, and a failure degrades anyway.
NEIGHBOUR_RETRIES = 0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.artifacts = None
    app.state.artifacts_error = "artifacts are loading"
    try:
        app.state.artifacts = await asyncio.to_thread(load_artifacts, settings.paths.artifacts_dir, settings)
        app.state.artifacts_error = None
    except ArtifactsError as exc:
        # Keep running: /health answers, /ready and every recommendation say what is missing.
        app.state.artifacts_error = str(exc)
        log.error("recommendations service has no artifacts: %s", exc)
    common: dict[str, Any] = {"timeout_s": settings.serving.timeout_s, "retries": NEIGHBOUR_RETRIES}
    app.state.events_client = AsyncEventsClient(settings.urls.events_store_url, **common)
    app.state.features_client = AsyncFeaturesClient(settings.urls.features_store_url, **common)
    try:
        yield
    finally:
        await app.state.events_client.aclose()
        await app.state.features_client.aclose()


async def get_artifacts(request: Request) -> RecommendationArtifacts:
    artifacts = request.app.state.artifacts
    if artifacts is None:
        raise NotReady(f"recommendations are not available: {request.app.state.artifacts_error}")
    return artifacts


async def get_events_client(request: Request) -> AsyncEventsClient:
    return request.app.state.events_client


async def get_features_client(request: Request) -> AsyncFeaturesClient:
    return request.app.state.features_client


ArtifactsDep = Annotated[RecommendationArtifacts, Depends(get_artifacts)]
EventsDep = Annotated[AsyncEventsClient, Depends(get_events_client)]
FeaturesDep = Annotated[AsyncFeaturesClient, Depends(get_features_client)]

router = APIRouter()


def _respond(request: Request, endpoint: str, answer: recommender.Answer) -> Recommendations:
    if answer.degraded:
        request.app.state.metrics.counter(
            "degraded_answers", "answers computed without a failed neighbour service", ["endpoint", "reason"]
        ).labels(endpoint, answer.degraded).inc()
    return Recommendations(recs=answer.recs, degraded=answer.degraded is not None, sources=answer.sources)


# Offline answers are one binary search and a slice of at most k + 100 ids: a few microseconds, so they
# run on the event loop. A plain ``def`` route would pay a threadpool hop that costs more than the work
# (measured: about 25% less throughput, bench/serve.py).
@router.post("/recommendations_offline", response_model=Recommendations)
async def recommendations_offline(
    request: Request, artifacts: ArtifactsDep, user_id: UserId, k: K100
) -> Recommendations:
    """The user's offline list backfilled with popular tracks; popular for a user without one."""
    return _respond(request, "offline", recommender.offline(artifacts, user_id, k))


@router.post("/recommendations_default", response_model=Recommendations)
async def recommendations_default(request: Request, artifacts: ArtifactsDep, k: K100) -> Recommendations:
    """The ``k`` most popular tracks."""
    return _respond(request, "default", recommender.default(artifacts, k))


@router.post("/recommendations_online", response_model=Recommendations)
async def recommendations_online(
    request: Request, settings: SettingsDep, events: EventsDep, features: FeaturesDep, user_id: UserId, k: K50
) -> Recommendations:
    """Tracks similar to the user's latest online events, best first, the events themselves excluded."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    return _respond(request, "online", recommender.online_answer(result))


@router.post("/recommendations", response_model=Recommendations)
async def recommendations(
    request: Request,
    settings: SettingsDep,
    artifacts: ArtifactsDep,
    events: EventsDep,
    features: FeaturesDep,
    user_id: UserId,
    k: K100,
) -> Recommendations:
    """Offline on even positions, online on odd ones, then the longer tail, then popular tracks."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    return _respond(request, "blended", recommender.blended(artifacts, user_id, result, k))


async def _artifacts_ready(app: FastAPI) -> str:
    artifacts: RecommendationArtifacts | None = app.state.artifacts
    if artifacts is None:
        raise RuntimeError(app.state.artifacts_error)
    return f"{artifacts.offline_file}: {len(artifacts.offline)} users; {len(artifacts.popular)} popular"


def _neighbour_ready(attr: str):
    async def check(app: FastAPI) -> str:
        client = getattr(app.state, attr)
        response = await client.http.get("/health")
        response.raise_for_status()
        return f"{client.base_url} answers"

    return check


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; ``settings`` default to :func:`musicrec.config.load_settings` at call time."""
    return build_app(
        settings,
        service="recommendations",
        title="Recommendations service",
        lifespan=lifespan,
        routers=(router,),
        readiness_checks={
            "artifacts": _artifacts_ready,
            "events": _neighbour_ready("events_client"),
            "features": _neighbour_ready("features_client"),
        },
    )
