"""What the recommendations service answers: offline lists, online lists from the neighbours, blends.

The offline parts are plain functions over the in-memory indexes. The online part calls the events
and features services; when one of them fails it returns what it can with a ``degraded`` reason
instead of raising, so the caller still answers 200.

Every answer can carry explanations, one per track: where it came from (``personal``, ``online``,
``popular``) and why (see :class:`musicrec.api.Explanation`). They cost nothing unless asked
for, and neither does the artist cap when ``[serving] max_per_artist`` is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain

from musicrec.api import Explanation
from musicrec.client import AsyncEventsClient, AsyncFeaturesClient, ClientError
from musicrec.models import blending
from musicrec.models.blending import FusionWeights, Pick, blend, cap_per_artist, combine_online, online_scores
from musicrec.services.recommendations.artifacts import BLEND_FILE, RecommendationArtifacts
from musicrec.services.recommendations.index import with_backfill

log = logging.getLogger(__name__)

# the ``sources`` field's vocabulary (the original's)
OFFLINE = "offline"
ONLINE = "online"
POPULAR = "popular"
SOURCE_LABEL = {blending.PERSONAL: OFFLINE, blending.ONLINE: ONLINE, blending.POPULAR: POPULAR}

# explanation reasons
SIMILAR_TO_LISTEN = "similar_to_listen"
SAME_ARTIST_AS_LISTEN = "same_artist_as_listen"
TOP_ARTIST = "top_artist"
PERSONAL_TASTE = "personal_taste"
POPULAR_NOW = "popular_now"

ArtistOf = Callable[[int], int | None]


def _no_artist(_: int) -> None:
    return None


@dataclass(frozen=True)
class Answer:
    """Recommended ids with the list each came from; ``degraded`` names the failed neighbour."""

    recs: list[int]
    sources: list[str]
    degraded: str | None = None
    explanations: list[Explanation] | None = None  # parallel to recs, when asked for


@dataclass(frozen=True)
class OnlineResult:
    """The user's latest events (newest first) and the similar tracks of each."""

    events: list[int]
    neighbours: list[tuple[list[int], list[float]]]  # (ids, scores) similar to events[i]; [] if unknown
    k: int
    degraded: str | None = None  # "events_unavailable" / "features_unavailable"

    @cached_property
    def recs(self) -> list[int]:
        """The online list: tracks similar to the events, best first, the events excluded."""
        return combine_online(self.neighbours, self.k, exclude=self.events)


def _label(items: Sequence[int], personal: set[int], online: set[int] = frozenset()) -> list[str]:
    return [OFFLINE if i in personal else ONLINE if i in online else POPULAR for i in items]


def _popular_now() -> Explanation:
    return Explanation(source=blending.POPULAR, reason=POPULAR_NOW)


def _similar_to(listen: int | None) -> Explanation:
    return Explanation(source=blending.ONLINE, reason=SIMILAR_TO_LISTEN, listen=listen)


def _personal(item: int, artist_of: ArtistOf, top_artists: list[int]) -> Explanation:
    """A track of the personal list: by one of the user's top artists, or the user's taste in general."""
    artist = artist_of(item)
    if artist is not None and artist in top_artists:
        return Explanation(source=blending.PERSONAL, reason=TOP_ARTIST, artist_id=artist)
    return Explanation(source=blending.PERSONAL, reason=PERSONAL_TASTE)


def _similar(items: Sequence[int], online: OnlineResult) -> dict[int, int]:
    """The online listen each of ``items`` is most similar to (recency-weighted, as the online list)."""
    strongest = online_scores(online.neighbours, exclude=online.events)
    return {item: online.events[strongest[item][1]] for item in items if item in strongest}


def _from_pick(pick: Pick, artist_of: ArtistOf, top_artists: list[int]) -> Explanation:
    if pick.reason == blending.SIMILAR:
        return Explanation(source=pick.source, reason=SIMILAR_TO_LISTEN, listen=pick.listen)
    if pick.reason == blending.SAME_ARTIST:
        return Explanation(source=pick.source, reason=SAME_ARTIST_AS_LISTEN, listen=pick.listen,
                           artist_id=artist_of(pick.item))
    if pick.source == blending.PERSONAL:
        return _personal(pick.item, artist_of, top_artists)
    return _popular_now()


def default(artifacts: RecommendationArtifacts, k: int, explain: bool = False) -> Answer:
    """The ``k`` most popular tracks (fewer if the artifact holds fewer)."""
    recs = artifacts.popular[:k].tolist()
    explanations = [_popular_now() for _ in recs] if explain else None
    return Answer(recs, [POPULAR] * len(recs), explanations=explanations)


def offline(
    artifacts: RecommendationArtifacts, user_id: int, k: int, max_per_artist: int = 0, explain: bool = False
) -> Answer:
    """The personal list, backfilled with popular tracks (no duplicates); popular for a cold user.

    With ``max_per_artist`` the first ``k`` hold at most that many tracks of one artist, filled from
    further down the personal list and the popular tracks.
    """
    personal = artifacts.personal(user_id)
    if max_per_artist <= 0 and not explain:  # the common case: no artist lookup at all
        recs = with_backfill(personal, artifacts.popular_list, k)
        # an index list has no duplicates: its first k lead, the popular tracks not in it follow
        mine = min(k, len(personal))
        return Answer(recs, [OFFLINE] * mine + [POPULAR] * (len(recs) - mine))
    if max_per_artist > 0:
        every = with_backfill(personal, artifacts.popular, len(personal) + len(artifacts.popular))
        artist_of: ArtistOf = artifacts.artists.lookup(every).get
        recs = cap_per_artist(every, artist_of, k, max_per_artist)
    else:
        recs = with_backfill(personal, artifacts.popular, k)
        artist_of = artifacts.artists.lookup(recs).get
    mine = set(personal.tolist())
    explanations = None
    if explain:
        top = artifacts.top_artists(user_id)
        explanations = [_personal(i, artist_of, top) if i in mine else _popular_now() for i in recs]
    return Answer(recs, _label(recs, mine), explanations=explanations)


async def fetch_online(
    events_client: AsyncEventsClient,
    features_client: AsyncFeaturesClient,
    user_id: int,
    k: int,
    history: int,
) -> OnlineResult:
    """The user's ``history`` latest events and up to ``k`` similar tracks of each (one batch call).

    A failing neighbour gives what could be fetched and a reason.
    """
    try:
        events = (await events_client.get(user_id, k=history)).events
    except ClientError as exc:
        log.warning("online recommendations for user %d without events: %s", user_id, exc)
        return OnlineResult([], [], k, "events_unavailable")
    if not events:
        return OnlineResult([], [], k)
    try:
        batch = (await features_client.similar_items_batch(events, k=k)).items
    except ClientError as exc:
        log.warning("online recommendations for user %d without similar tracks: %s", user_id, exc)
        return OnlineResult(events, [], k, "features_unavailable")
    neighbours = [(batch[e].item_id_2, batch[e].score) if e in batch else ([], []) for e in events]
    return OnlineResult(events, neighbours, k)


def online_answer(result: OnlineResult, explain: bool = False) -> Answer:
    """The ``/recommendations_online`` answer for a fetched :class:`OnlineResult`."""
    recs = result.recs
    explanations = None
    if explain:
        listens = _similar(recs, result)
        explanations = [_similar_to(listens.get(i)) for i in recs]
    return Answer(recs, [ONLINE] * len(recs), result.degraded, explanations)


def served_weights(mode: str, artifacts: RecommendationArtifacts) -> FusionWeights | None:
    """The learned blend's weights when ``[serving] blend`` is ``learned`` and ``blend.json`` was loaded;
    None means the alternate rule."""
    return artifacts.weights if mode == "learned" else None


def describe_blend(mode: str, artifacts: RecommendationArtifacts) -> str:
    """Which rule ``/recommendations`` serves, and why."""
    if mode != "learned":
        return "alternate ([serving] blend = alternate)"
    if artifacts.weights is None:
        return f"alternate ({BLEND_FILE} not found: artifacts of an older train)"
    return f"learned ({BLEND_FILE})"


def blended(
    artifacts: RecommendationArtifacts,
    user_id: int,
    online: OnlineResult,
    k: int,
    weights: FusionWeights | None = None,
    max_per_artist: int = 0,
    explain: bool = False,
) -> Answer:
    """The offline list blended with the online one, then popular tracks; at most ``k``.

    ``weights``: the learned blend (:func:`musicrec.models.blending.fuse`); None: offline on
    even positions, online on odd ones, then the longer tail (:func:`musicrec.models.blending.blend`).
    The offline list is the personal one (popular for a cold user); the user's online events are never
    recommended back. ``max_per_artist`` caps each artist in the first ``k``.
    """
    personal = artifacts.personal(user_id).tolist()
    popular = artifacts.popular_list
    offline_list = personal or popular
    if weights is not None:
        return _learned(artifacts, user_id, online, k, weights, max_per_artist, explain, personal, popular)
    artist_of: ArtistOf = _no_artist
    if max_per_artist <= 0:
        recs = blend(offline_list, online.recs, k, backfill=popular, exclude=online.events)
    else:
        every = len(offline_list) + len(online.recs) + len(popular)
        longer = blend(offline_list, online.recs, every, backfill=popular, exclude=online.events)
        artist_of = artifacts.artists.lookup(longer).get
        recs = cap_per_artist(longer, artist_of, k, max_per_artist)
    mine, similar = set(personal), set(online.recs)
    explanations = None
    if explain:
        if artist_of is _no_artist:
            artist_of = artifacts.artists.lookup(recs).get
        top = artifacts.top_artists(user_id)
        listens = _similar([i for i in recs if i in similar and i not in mine], online)
        explanations = [
            _personal(i, artist_of, top) if i in mine
            else _similar_to(listens[i]) if i in listens
            else _popular_now()
            for i in recs
        ]
    return Answer(recs, _label(recs, mine, similar), online.degraded, explanations)


def _learned(
    artifacts: RecommendationArtifacts, user_id: int, online: OnlineResult, k: int, weights: FusionWeights,
    max_per_artist: int, explain: bool, personal: list[int], popular: list[int],
) -> Answer:
    artist_of: ArtistOf = _no_artist
    if weights.artist > 0 or max_per_artist > 0 or explain:
        # the popular tracks' artists matter only as a cold user's list or under the cap (backfill is
        # neither scored nor explained by artist)
        offline_part = chain(personal, popular) if max_per_artist > 0 or not personal else personal
        candidates = chain(offline_part, online.events, *(items for items, _ in online.neighbours))
        artist_of = artifacts.artists.lookup(candidates).get
    picks = blending.fuse(
        personal or popular, online.neighbours, online.events, k, weights, artist_of, backfill=popular,
        max_per_artist=max_per_artist, offline_source=blending.PERSONAL if personal else blending.POPULAR,
    )
    explanations = None
    if explain:
        top = artifacts.top_artists(user_id)
        explanations = [_from_pick(pick, artist_of, top) for pick in picks]
    return Answer([p.item for p in picks], [SOURCE_LABEL[p.source] for p in picks], online.degraded,
                  explanations)
