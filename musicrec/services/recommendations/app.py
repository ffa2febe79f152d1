"""The recommendations service (port 8000): offline, popular, online and blended recommendations.

Artifacts are loaded in ``lifespan`` into compact indexes; the events and features services are
called with pooled async clients created there too. A neighbour that is down or slow never turns into
a 500: the answer is what can be computed without it, marked ``"degraded": true``, logged, and
counted in ``musicrec_degraded_answers_total``.

``explain=true`` adds ``explanations`` to an answer; without it the JSON is exactly the original's
(``response_model_exclude_none``: no ``explanations`` key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from musicrec.client import AsyncEventsClient, AsyncFeaturesClient, Recommendations
from musicrec.config import Settings
from musicrec.services.common import K50, K100, NotReady, SettingsDep, UserId, build_app
from musicrec.services.recommendations import recommender
from musicrec.services.recommendations.artifacts import (
    BLEND_FILE,
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
        rule = recommender.describe_blend(settings.serving.blend, app.state.artifacts)
        if settings.serving.blend == "learned" and app.state.artifacts.weights is None:
            log.warning("/recommendations blend: %s; `python -m musicrec train` writes %s for the learned "
                        "one", rule, BLEND_FILE)
        else:
            log.info("/recommendations blend: %s", rule)
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
Explain = Annotated[bool, Query(description="add `explanations`, one per recommended track")]

router = APIRouter()


def _respond(request: Request, endpoint: str, answer: recommender.Answer) -> Recommendations:
    if answer.degraded:
        request.app.state.metrics.counter(
            "degraded_answers", "answers computed without a failed neighbour service", ["endpoint", "reason"]
        ).labels(endpoint, answer.degraded).inc()
    return Recommendations(recs=answer.recs, degraded=answer.degraded is not None, sources=answer.sources,
                           explanations=answer.explanations)


# No None field is sent: without explain=true the body is the original's {"recs", "degraded", "sources"}.
ROUTE = {"response_model": Recommendations, "response_model_exclude_none": True}


# Offline answers are one binary search and a slice of at most k + 100 ids: a few microseconds, so they
# run on the event loop. A plain ``def`` route would pay a threadpool hop that costs more than the work
# (measured: about 25% less throughput, bench/serve.py).
@router.post("/recommendations_offline", **ROUTE)
async def recommendations_offline(
    request: Request, settings: SettingsDep, artifacts: ArtifactsDep, user_id: UserId, k: K100,
    explain: Explain = False,
) -> Recommendations:
    """The user's offline list backfilled with popular tracks; popular for a user without one; at most
    ``[serving] max_per_artist`` tracks of one artist (0: no cap)."""
    answer = recommender.offline(artifacts, user_id, k, settings.serving.max_per_artist, explain)
    return _respond(request, "offline", answer)


@router.post("/recommendations_default", **ROUTE)
async def recommendations_default(
    request: Request, artifacts: ArtifactsDep, k: K100, explain: Explain = False
) -> Recommendations:
    """The ``k`` most popular tracks."""
    return _respond(request, "default", recommender.default(artifacts, k, explain))


@router.post("/recommendations_online", **ROUTE)
async def recommendations_online(
    request: Request,
    settings: SettingsDep,
    events: EventsDep,
    features: FeaturesDep,
    user_id: UserId,
    k: K50,
    explain: Explain = False,
) -> Recommendations:
    """Tracks similar to the user's latest online events, best first, the events themselves excluded."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    return _respond(request, "online", recommender.online_answer(result, explain))


@router.post("/recommendations", **ROUTE)
async def recommendations(
    request: Request,
    settings: SettingsDep,
    artifacts: ArtifactsDep,
    events: EventsDep,
    features: FeaturesDep,
    user_id: UserId,
    k: K100,
    explain: Explain = False,
) -> Recommendations:
    """The offline list blended with the online one (``[serving] blend``: the learned rule of
    ``blend.json``, or offline on even positions and online on odd ones), then popular tracks."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    serving = settings.serving
    weights = recommender.served_weights(serving.blend, artifacts)
    answer = recommender.blended(artifacts, user_id, result, k, weights, serving.max_per_artist, explain)
    return _respond(request, "blended", answer)


async def _artifacts_ready(app: FastAPI) -> str:
    artifacts: RecommendationArtifacts | None = app.state.artifacts
    if artifacts is None:
        raise RuntimeError(app.state.artifacts_error)
    blend_rule = recommender.describe_blend(app.state.settings.serving.blend, artifacts)
    return (f"{artifacts.offline_file}: {len(artifacts.offline)} users; {len(artifacts.popular)} popular; "
            f"blend: {blend_rule}")


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
