"""The wire schema: request and response models of the three services. The services answer with them
and the client (``musicrec.client``, which re-exports them) parses them; both import this module."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServiceStatus(BaseModel):
    """``GET /`` of every service."""

    message: str


class Explanation(BaseModel):
    """Why one track is recommended (``explain=true``).

    ``source``: ``personal`` (the user's offline list), ``online`` (similar to an online listen) or
    ``popular``. ``reason``:

    * ``similar_to_listen``: similar to the online listen ``listen``;
    * ``same_artist_as_listen``: by the artist ``artist_id`` of the online listen ``listen``;
    * ``top_artist``: a personal track by ``artist_id``, one of the artists the user plays most;
    * ``personal_taste``: a personal track, none of the above;
    * ``popular_now``: popular (backfill, or a user without a personal list).

    ``listen`` and ``artist_id`` are left out of the JSON when the reason is not about them.
    """

    source: str
    reason: str
    listen: int | None = None
    artist_id: int | None = None


class Recommendations(BaseModel):
    """Answer of every ``/recommendations*`` endpoint.

    ``recs`` is always a list of track ids. ``degraded`` is true when a neighbour service failed and the
    answer was computed without it; ``sources`` (``offline``, ``online``, ``popular``), when present, is
    parallel to ``recs``. ``explanations``, parallel to ``recs``, only when asked for (``explain=true``).
    """

    recs: list[int]
    degraded: bool = False
    sources: list[str] | None = None
    explanations: list[Explanation] | None = None


class SimilarItems(BaseModel):
    """``/similar_items``: similar tracks best first with their scores (parallel lists)."""

    item_id_2: list[int]
    score: list[float]


class SimilarItemsBatchRequest(BaseModel):
    """JSON body of ``POST /similar_items/batch``."""

    item_ids: list[int] = Field(min_length=1)
    k: int = 10


class SimilarItemsBatch(BaseModel):
    """``/similar_items/batch``: ``{"items": {"<item_id>": {"item_id_2": [...], "score": [...]}}}``."""

    items: dict[int, SimilarItems]


class Events(BaseModel):
    """``/get``: the user's online events, newest first."""

    events: list[int]


class PutResult(BaseModel):
    """``/put``: ``{"result": "ok"}``."""

    result: str
