"""What the recommendations service answers: offline lists, online lists from the neighbours, blends.

The offline parts are plain functions over the in-memory indexes. The online part calls the events
and features services; when one of them fails it returns what it can with a ``degraded`` reason
instead of raising, so the caller still answers 200.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from musicrec.client import AsyncEventsClient, AsyncFeaturesClient, ClientError
from musicrec.models.blending import blend, combine_online
from musicrec.services.recommendations.artifacts import RecommendationArtifacts
from musicrec.services.recommendations.index import with_backfill

log = logging.getLogger(__name__)

OFFLINE = "offline"
ONLINE = "online"
POPULAR = "popular"


@dataclass(frozen=True)
class Answer:
    """Recommended ids with the list each came from; ``degraded`` names the failed neighbour."""

    recs: list[int]
    sources: list[str]
    degraded: str | None = None


@dataclass(frozen=True)
class OnlineResult:
    """Online recommendations plus the events they were computed from."""

    recs: list[int]
    events: list[int]
    degraded: str | None = None  # "events_unavailable" / "features_unavailable"


def _label(items: Sequence[int], personal: set[int], online: set[int] = frozenset()) -> list[str]:
    return [OFFLINE if i in personal else ONLINE if i in online else POPULAR for i in items]


def default(artifacts: RecommendationArtifacts, k: int) -> Answer:
    """The ``k`` most popular tracks (fewer if the artifact holds fewer)."""
    recs = artifacts.popular[:k].tolist()
    return Answer(recs, [POPULAR] * len(recs))


def offline(artifacts: RecommendationArtifacts, user_id: int, k: int) -> Answer:
    """The personal list, backfilled with popular tracks (no duplicates); popular for a cold user."""
    personal = artifacts.personal(user_id)
    recs = with_backfill(personal, artifacts.popular, k)
    return Answer(recs, _label(recs, set(personal[:k].tolist())))


async def fetch_online(
    events_client: AsyncEventsClient,
    features_client: AsyncFeaturesClient,
    user_id: int,
    k: int,
    history: int,
) -> OnlineResult:
    """Tracks similar to the user's ``history`` latest events (one batch call), best first.

    The events themselves are excluded. A failing neighbour gives an empty list and a reason.
    """
    try:
        events = (await events_client.get(user_id, k=history)).events
    except ClientError as exc:
        log.warning("online recommendations for user %d without events: %s", user_id, exc)
        return OnlineResult([], [], "events_unavailable")
    if not events:
        return OnlineResult([], [])
    try:
        batch = (await features_client.similar_items_batch(events, k=k)).items
    except ClientError as exc:
        log.warning("online recommendations for user %d without similar tracks: %s", user_id, exc)
        return OnlineResult([], events, "features_unavailable")
    neighbours = [
        (batch[e].item_id_2, batch[e].score) if e in batch else ((), ()) for e in events
    ]
    return OnlineResult(combine_online(neighbours, k, exclude=events), events)


def online_answer(result: OnlineResult) -> Answer:
    """The ``/recommendations_online`` answer for a fetched :class:`OnlineResult`."""
    return Answer(result.recs, [ONLINE] * len(result.recs), result.degraded)


def blended(artifacts: RecommendationArtifacts, user_id: int, online: OnlineResult, k: int) -> Answer:
    """Offline on even positions, online on odd ones, then the longer tail, then popular tracks.

    The offline list is the personal one (popular for a cold user); the user's online events are
    never recommended back.
    """
    personal = artifacts.personal(user_id).tolist()
    popular = artifacts.popular.tolist()
    recs = blend(personal or popular, online.recs, k, backfill=popular, exclude=online.events)
    return Answer(recs, _label(recs, set(personal), set(online.recs)), online.degraded)
