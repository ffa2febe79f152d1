"""Request and response models of the three services, shared by the services and the client."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServiceStatus(BaseModel):
    """``GET /`` of every service."""

    message: str


class Recommendations(BaseModel):
    """Answer of every ``/recommendations*`` endpoint.

    ``recs`` is always a list of track ids. ``degraded`` is true when a neighbour service failed and the
    answer was computed without it; ``sources`` (``offline``, ``online``, ``popular``), when present, is
    parallel to ``recs``.
    """

    recs: list[int]
    degraded: bool = False
    sources: list[str] | None = None


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
