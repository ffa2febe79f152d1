"""The recommendations service (port 8000): offline, popular, online and blended recommendations.

Artifacts are loaded in ``lifespan`` into compact indexes; the events and features services are
called with pooled async clients created there too. A neighbour that is down or slow never turns into
a 500: the answer is what can be computed without it, marked ``"degraded": true``, logged, and
counted in ``musicrec_degraded_answers_total``.

``explain=true`` adds ``explanations`` to an answer; without it the JSON is exactly the original's
(no ``explanations`` key).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from musicrec.api import Explanation, Recommendations
from musicrec.client import AsyncEventsClient, AsyncFeaturesClient
from musicrec.config import Settings
from musicrec.services.common import K50, K100, NotReady, SettingsDep, UserId, build_app
from musicrec.services.common.fastpath import EXPLAIN, USER_ID, FastRoute, fast_path, k_param
from musicrec.services.common.memory import use_system_allocator
from musicrec.services.common.reload import HEADER, Reloader, install_reloader, start_reloading
from musicrec.services.recommendations import recommender
from musicrec.services.recommendations.artifacts import (
    BLEND_FILE,
    RecommendationArtifacts,
    load_artifacts,
)
from musicrec.services.recommendations.neighbours import open_direct
from musicrec.storage.runs import Resolved

log = logging.getLogger(__name__)

# No retries towards the neighbours: the request has a latency budget, and a failure degrades anyway.
NEIGHBOUR_RETRIES = 0


def _load(settings: Settings, resolved: Resolved) -> RecommendationArtifacts:
    artifacts = load_artifacts(resolved.location, settings)
    return dataclasses.replace(artifacts, run_id=resolved.run_id)


def _install(app: FastAPI, artifacts: RecommendationArtifacts, resolved: Resolved) -> None:
    """The swap: one reference; a request in flight keeps the object it read."""
    app.state.artifacts = artifacts
    app.state.artifacts_error = None
    settings: Settings = app.state.settings
    rule = recommender.describe_blend(settings.serving.blend, artifacts)
    if settings.serving.blend == "learned" and artifacts.weights is None:
        log.warning("/recommendations blend: %s; `python -m musicrec train` writes %s for the learned one",
                    rule, BLEND_FILE)
    else:
        log.info("/recommendations blend: %s", rule)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.artifacts = None
    app.state.artifacts_error = "artifacts are loading"
    use_system_allocator()
    reloader = Reloader(app, "recommendations", functools.partial(_load, settings),
                        functools.partial(_install, app))
    install_reloader(app, reloader)
    # Keep running when the first load fails: /health answers, /ready and every recommendation say what
    # is missing, and the poller loads the run once it is there.
    poller = await start_reloading(app)
    if settings.serving.neighbours == "direct":
        app.state.events_client, app.state.features_client = await asyncio.to_thread(open_direct, settings)
        log.info("neighbours in process: %s; %s", app.state.events_client.base_url,
                 app.state.features_client.base_url)
    else:
        common: dict[str, Any] = {"timeout_s": settings.serving.timeout_s, "retries": NEIGHBOUR_RETRIES,
                                  "transport": app.state.neighbour_transport}
        # the events service requires its token on /get too when one is set
        app.state.events_client = AsyncEventsClient(
            settings.urls.events_store_url, token=settings.events.token, **common
        )
        app.state.features_client = AsyncFeaturesClient(settings.urls.features_store_url, **common)
    try:
        yield
    finally:
        poller.cancel()
        await app.state.events_client.aclose()
        await app.state.features_client.aclose()


def _load_error(app: FastAPI) -> str:
    reloader = getattr(app.state, "reloader", None)
    return (reloader.last_error if reloader is not None else None) or app.state.artifacts_error


async def get_artifacts(request: Request) -> RecommendationArtifacts:
    artifacts = request.app.state.artifacts
    if artifacts is None:
        raise NotReady(f"recommendations are not available: {_load_error(request.app)}")
    return artifacts


async def get_events_client(request: Request) -> AsyncEventsClient:
    return request.app.state.events_client


async def get_features_client(request: Request) -> AsyncFeaturesClient:
    return request.app.state.features_client


ArtifactsDep = Annotated[RecommendationArtifacts, Depends(get_artifacts)]
EventsDep = Annotated[AsyncEventsClient, Depends(get_events_client)]
FeaturesDep = Annotated[AsyncFeaturesClient, Depends(get_features_client)]
Explain = Annotated[bool, Query(description="add `explanations`, one per recommended track")]

# The routes are ``async def``: an offline answer is one binary search and a slice, far less than the
# threadpool hop of a plain ``def`` route. Each route has a fast path (musicrec.services.common.fastpath):
# a plainly valid request is answered by the ``_answer_*`` function directly; anything else goes through
# FastAPI and its dependencies, which end in the same functions.
router = APIRouter(route_class=FastRoute)


def _respond(app: FastAPI, endpoint: str, answer: recommender.Answer,
             artifacts: RecommendationArtifacts | None = None) -> Response:
    """The answer as JSON, serialised once: the bytes FastAPI would send for the ``Recommendations`` model
    with ``None`` fields left out (so without ``explain=true`` the body is the original's). The
    ``X-Model-Version`` header names the run of ``artifacts``, the very object the answer came from."""
    if answer.degraded:
        app.state.metrics.counter(
            "degraded_answers", "answers computed without a failed neighbour service", ["endpoint", "reason"]
        ).labels(endpoint, answer.degraded).inc()
    body: dict[str, Any] = {"recs": answer.recs, "degraded": answer.degraded is not None,
                            "sources": answer.sources}
    if answer.explanations is not None:
        body["explanations"] = [_explanation(e) for e in answer.explanations]
    headers = {HEADER: artifacts.run_id} if artifacts is not None else None
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _explanation(explanation: Explanation) -> dict[str, Any]:
    out: dict[str, Any] = {"source": explanation.source, "reason": explanation.reason}
    if explanation.listen is not None:
        out["listen"] = explanation.listen
    if explanation.artist_id is not None:
        out["artist_id"] = explanation.artist_id
    return out


async def _answer_offline(app: FastAPI, user_id: int, k: int, explain: bool = False) -> Response | None:
    artifacts: RecommendationArtifacts | None = app.state.artifacts
    if artifacts is None:
        return None  # FastAPI's path raises not_ready
    max_per_artist = app.state.settings.serving.max_per_artist
    answer = recommender.offline(artifacts, user_id, k, max_per_artist, explain)
    return _respond(app, "offline", answer, artifacts)


async def _answer_default(app: FastAPI, k: int, explain: bool = False) -> Response | None:
    artifacts: RecommendationArtifacts | None = app.state.artifacts
    if artifacts is None:
        return None
    return _respond(app, "default", recommender.default(artifacts, k, explain), artifacts)


async def _answer_online(app: FastAPI, user_id: int, k: int, explain: bool = False) -> Response | None:
    state = app.state
    result = await recommender.fetch_online(state.events_client, state.features_client, user_id, k,
                                            state.settings.serving.online_history)
    return _respond(app, "online", recommender.online_answer(result, explain))


async def _answer_blended(app: FastAPI, user_id: int, k: int, explain: bool = False) -> Response | None:
    state = app.state
    artifacts: RecommendationArtifacts | None = state.artifacts
    if artifacts is None:
        return None
    serving = state.settings.serving
    result = await recommender.fetch_online(state.events_client, state.features_client, user_id, k,
                                            serving.online_history)
    weights = recommender.served_weights(serving.blend, artifacts)
    answer = recommender.blended(artifacts, user_id, result, k, weights, serving.max_per_artist, explain)
    return _respond(app, "blended", answer, artifacts)


# The JSON is built by _respond; the model documents it (None fields are left out).
ROUTE = {"response_model": Recommendations, "response_model_exclude_none": True}


@router.post("/recommendations_offline", **ROUTE)
@fast_path(USER_ID, k_param(100), EXPLAIN, answer=_answer_offline)
async def recommendations_offline(
    request: Request, settings: SettingsDep, artifacts: ArtifactsDep, user_id: UserId, k: K100,
    explain: Explain = False,
) -> Response:
    """The user's offline list backfilled with popular tracks; popular for a user without one; at most
    ``[serving] max_per_artist`` tracks of one artist (0: no cap)."""
    answer = recommender.offline(artifacts, user_id, k, settings.serving.max_per_artist, explain)
    return _respond(request.app, "offline", answer, artifacts)


@router.post("/recommendations_default", **ROUTE)
@fast_path(k_param(100), EXPLAIN, answer=_answer_default)
async def recommendations_default(
    request: Request, artifacts: ArtifactsDep, k: K100, explain: Explain = False
) -> Response:
    """The ``k`` most popular tracks."""
    return _respond(request.app, "default", recommender.default(artifacts, k, explain), artifacts)


@router.post("/recommendations_online", **ROUTE)
@fast_path(USER_ID, k_param(50), EXPLAIN, answer=_answer_online)
async def recommendations_online(
    request: Request,
    settings: SettingsDep,
    events: EventsDep,
    features: FeaturesDep,
    user_id: UserId,
    k: K50,
    explain: Explain = False,
) -> Response:
    """Tracks similar to the user's latest online events, best first, the events themselves excluded."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    return _respond(request.app, "online", recommender.online_answer(result, explain))


@router.post("/recommendations", **ROUTE)
@fast_path(USER_ID, k_param(100), EXPLAIN, answer=_answer_blended)
async def recommendations(
    request: Request,
    settings: SettingsDep,
    artifacts: ArtifactsDep,
    events: EventsDep,
    features: FeaturesDep,
    user_id: UserId,
    k: K100,
    explain: Explain = False,
) -> Response:
    """The offline list blended with the online one (``[serving] blend``: the learned rule of
    ``blend.json``, or offline on even positions and online on odd ones), then popular tracks."""
    result = await recommender.fetch_online(events, features, user_id, k, settings.serving.online_history)
    serving = settings.serving
    weights = recommender.served_weights(serving.blend, artifacts)
    answer = recommender.blended(artifacts, user_id, result, k, weights, serving.max_per_artist, explain)
    return _respond(request.app, "blended", answer, artifacts)


async def _artifacts_ready(app: FastAPI) -> str:
    artifacts: RecommendationArtifacts | None = app.state.artifacts
    if artifacts is None:
        raise RuntimeError(_load_error(app))
    blend_rule = recommender.describe_blend(app.state.settings.serving.blend, artifacts)
    return (f"run {artifacts.run_id}: {artifacts.offline_file}: {len(artifacts.offline)} users; "
            f"{len(artifacts.popular)} popular; blend: {blend_rule}")


def _neighbour_ready(attr: str):
    async def check(app: FastAPI) -> str:
        await getattr(app.state, attr).health()
        return "in process" if app.state.settings.serving.neighbours == "direct" else "answers"

    return check


def create_app(
    settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Build the service; ``settings`` default to :func:`musicrec.config.load_settings` at call time.

    ``transport``: how the neighbour clients send (unit tests pass an ``httpx.MockTransport``); by
    default they keep connections to ``[urls]`` open (:mod:`musicrec.client.pool`).
    """
    app = build_app(
        settings,
        service="recommendations",
        title="Recommendations service",
        lifespan=lifespan,
        routers=(router,),
        reloadable=True,
        readiness_checks={
            "artifacts": _artifacts_ready,
            "events": _neighbour_ready("events_client"),
            "features": _neighbour_ready("features_client"),
        },
    )
    app.state.neighbour_transport = transport
    return app
