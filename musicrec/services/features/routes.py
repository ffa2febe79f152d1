"""``POST /similar_items`` (query string, as in the original) and ``POST /similar_items/batch`` (JSON)."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from musicrec.api import SimilarItems
from musicrec.services.common import K10, ItemId, NotReady, SettingsDep, check_k
from musicrec.services.common.errors import InvalidParameter
from musicrec.services.common.fastpath import ITEM_ID, FastRoute, fast_path, id_list, k_param
from musicrec.services.common.reload import HEADER
from musicrec.services.common.validation import JsonId, JsonInt
from musicrec.services.features.index import SimilarIndex

# Each route also has a fast path for plainly valid requests (musicrec.services.common.fastpath).
router = APIRouter(tags=["features"], route_class=FastRoute)


async def get_similar_index(request: Request) -> SimilarIndex:
    """The index loaded by the lifespan; 503 ``not_ready`` (with the reason) when it did not load."""
    index = getattr(request.app.state, "similar_index", None)
    if index is None:
        reloader = getattr(request.app.state, "reloader", None)
        reason = ((reloader and reloader.last_error) or getattr(request.app.state, "similar_error", None)
                  or "similar items are not loaded")
        raise NotReady(reason)
    return index


SimilarIndexDep = Annotated[SimilarIndex, Depends(get_similar_index)]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[JsonId]
    k: JsonInt = 10


class BatchResponse(BaseModel):
    items: dict[str, SimilarItems]


def _lookup_all(index: SimilarIndex, item_ids: list[int], k: int) -> dict[str, dict[str, list]]:
    """One entry per distinct id, in request order (keys are strings, as JSON requires)."""
    items: dict[str, dict[str, list]] = {}
    for item_id in item_ids:
        key = str(item_id)
        if key not in items:
            ids, scores = index.lookup(item_id, k)
            items[key] = {"item_id_2": ids, "score": scores}
    return items


def _count(app: FastAPI, hits: int, misses: int) -> None:
    counter = app.state.metrics.counter(
        "similar_lookups", "item lookups by whether the item has similar items", ["result"]
    )
    counter.labels("hit").inc(hits)
    counter.labels("miss").inc(misses)


def _json(content: Any, index: SimilarIndex) -> Response:
    """The bytes FastAPI sends for the response model: pydantic's JSON (its float format, e.g. 0.000099,
    is not orjson's 9.9e-5); ``X-Model-Version`` names the run of the index the answer came from."""
    return Response(pydantic_core.to_json(content), media_type="application/json",
                    headers={HEADER: index.run_id})


def _similar(app: FastAPI, index: SimilarIndex, item_id: int, k: int) -> Response:
    ids, scores = index.lookup(item_id, k)
    _count(app, hits=int(bool(ids)), misses=int(not ids))
    return _json({"item_id_2": ids, "score": scores}, index)


async def _batch(app: FastAPI, index: SimilarIndex, item_ids: list[int], k: int) -> Response:
    if len(item_ids) <= INLINE_BATCH:
        items = _lookup_all(index, item_ids, k)
    else:
        items = await run_in_threadpool(_lookup_all, index, item_ids, k)
    hits = sum(1 for entry in items.values() if entry["item_id_2"])
    _count(app, hits=hits, misses=len(items) - hits)
    return _json({"items": items}, index)


async def _answer_similar(app: FastAPI, item_id: int, k: int) -> Response | None:
    index = getattr(app.state, "similar_index", None)
    return None if index is None else _similar(app, index, item_id, k)


def _batch_fields(body: Any) -> dict[str, Any] | None:
    """``item_ids`` and ``k`` of a plainly valid batch body (``k`` is checked against max_k later)."""
    if type(body) is not dict or not body.keys() <= {"item_ids", "k"} or not id_list(body.get("item_ids")):
        return None
    k = body.get("k", 10)
    return {"item_ids": body["item_ids"], "k": k} if type(k) is int else None


async def _answer_batch(app: FastAPI, item_ids: list[int], k: int) -> Response | None:
    index = getattr(app.state, "similar_index", None)
    serving = app.state.settings.serving
    if index is None or len(item_ids) > serving.max_batch or not 1 <= k <= serving.max_k:
        return None  # FastAPI's path gives not_ready or the invalid_parameter envelope
    return await _batch(app, index, item_ids, k)


# The routes are ``async def``: one lookup is a binary search of a few microseconds, far less than the
# threadpool hop FastAPI pays for a plain ``def`` route (and again for its response validation).
# Only a large batch is sent to the threadpool, so it cannot hold the event loop for long.
INLINE_BATCH = 64


@router.post("/similar_items", response_model=SimilarItems)
@fast_path(ITEM_ID, k_param(10), answer=_answer_similar)
async def similar_items(request: Request, item_id: ItemId, k: K10, index: SimilarIndexDep) -> Response:
    """Up to ``k`` tracks similar to ``item_id``, best score first:
    ``{"item_id_2": [id, ...], "score": [float, ...]}``; an unknown item gives empty lists (200)."""
    return _similar(request.app, index, item_id, k)


@router.post("/similar_items/batch", response_model=BatchResponse)
@fast_path(answer=_answer_batch, body=_batch_fields)
async def similar_items_batch(
    request: Request, body: BatchRequest, settings: SettingsDep, index: SimilarIndexDep
) -> Response:
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
    return await _batch(request.app, index, body.item_ids, k)
