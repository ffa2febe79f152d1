"""``POST /similar_items`` (query string, as in the original) and ``POST /similar_items/batch`` (JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from musicrec.services.common import K10, ItemId, NotReady, SettingsDep, check_k
from musicrec.services.common.errors import InvalidParameter
from musicrec.services.common.validation import MAX_ID
from musicrec.services.features.index import SimilarIndex

router = APIRouter(tags=["features"])


async def get_similar_index(request: Request) -> SimilarIndex:
    """The index loaded by the lifespan; 503 ``not_ready`` (with the reason) when it did not load."""
    index = getattr(request.app.state, "similar_index", None)
    if index is None:
        reason = getattr(request.app.state, "similar_error", None) or "similar items are not loaded"
        raise NotReady(reason)
    return index


SimilarIndexDep = Annotated[SimilarIndex, Depends(get_similar_index)]


class SimilarItems(BaseModel):
    item_id_2: list[int]
    score: list[float]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[Annotated[int, Field(ge=0, le=MAX_ID)]]
    k: int = 10


class BatchResponse(BaseModel):
    items: dict[str, SimilarItems]


def _lookup_all(index: SimilarIndex, item_ids: list[int], k: int) -> dict[str, SimilarItems]:
    """One entry per distinct id, in request order (keys are strings, as JSON requires)."""
    items: dict[str, SimilarItems] = {}
    for item_id in item_ids:
        key = str(item_id)
        if key not in items:
            ids, scores = index.lookup(item_id, k)
            items[key] = SimilarItems(item_id_2=ids, score=scores)
    return items


def _count(request: Request, hits: int, misses: int) -> None:
    counter = request.app.state.metrics.counter(
        "similar_lookups", "item lookups by whether the item has similar items", ["result"]
    )
    counter.labels("hit").inc(hits)
    counter.labels("miss").inc(misses)


# The routes are ``async def``: one lookup is a binary search of a few microseconds, far less than the
# threadpool hop FastAPI pays for a plain ``def`` route (and again for its response validation).
# Only a large batch is sent to the threadpool, so it cannot hold the event loop for long.
INLINE_BATCH = 64


@router.post("/similar_items", response_model=SimilarItems)
async def similar_items(request: Request, item_id: ItemId, k: K10, index: SimilarIndexDep) -> SimilarItems:
    """Up to ``k`` tracks similar to ``item_id``, best score first:
    ``{"item_id_2": [id, ...], "score": [float, ...]}``; an unknown item gives empty lists (200)."""
    ids, scores = index.lookup(item_id, k)
    _count(request, hits=int(bool(ids)), misses=int(not ids))
    return SimilarItems(item_id_2=ids, score=scores)


@router.post("/similar_items/batch", response_model=BatchResponse)
async def similar_items_batch(
    request: Request, body: BatchRequest, settings: SettingsDep, index: SimilarIndexDep
) -> BatchResponse:
    """Similar tracks of several items in one call.

    Request body (JSON): ``{"item_ids": [int >= 0, ...], "k": int = 10}`` with at most
    ``[serving] max_batch`` ids (default 1000) and ``1 <= k <= [serving] max_k``.

    Response: ``{"items": {"<item_id>": {"item_id_2": [int, ...], "score": [float, ...]}, ...}}``:
    one entry per distinct requested id (keys are the ids as strings, as JSON requires), in request
    order, best score first within an entry; an unknown item maps to empty lists. Errors: 422
    ``invalid_parameter`` naming ``item_ids`` or ``k``; 503 ``not_ready``.
    """
    if len(body.item_ids) > settings.serving.max_batch:
        raise InvalidParameter(
            f"item_ids: expected at most {settings.serving.max_batch} ids, found {len(body.item_ids)}",
            param="item_ids",
        )
    k = check_k(body.k, settings.serving.max_k)
    if len(body.item_ids) <= INLINE_BATCH:
        items = _lookup_all(index, body.item_ids, k)
    else:
        items = await run_in_threadpool(_lookup_all, index, body.item_ids, k)
    hits = sum(1 for entry in items.values() if entry.item_id_2)
    _count(request, hits=hits, misses=len(items) - hits)
    return BatchResponse(items=items)
