"""``POST /put`` and ``POST /get`` (query-string parameters, as in the original service)."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel

from musicrec.api import Events
from musicrec.services.common import K10, ItemId, StorageUnavailable, UserId
from musicrec.services.common.fastpath import USER_ID, FastRoute, fast_path, k_param
from musicrec.services.events.dependencies import EventStoreDep, TokenChecked, fast_token_check
from musicrec.storage.events import EventStore

# /get also has a fast path for plainly valid requests (musicrec.services.common.fastpath).
router = APIRouter(tags=["events"], route_class=FastRoute)


class PutResponse(BaseModel):
    result: Literal["ok"] = "ok"


def _count_storage_error(app: FastAPI, operation: str) -> None:
    app.state.metrics.counter(
        "events_storage_errors", "event store calls that failed", ["operation"]
    ).labels(operation).inc()


# Both routes require ``Authorization: Bearer <[events] token>`` when a token is set: a user's listening
# history is as private as the right to add to it.
PROTECTED = ("/put", "/get")


@router.post("/put", response_model=PutResponse)
async def put(
    request: Request, user_id: UserId, item_id: ItemId, store: EventStoreDep, _: TokenChecked
) -> PutResponse:
    """Record that ``user_id`` listened to ``item_id``; ``{"result": "ok"}`` only once it is stored.

    A track already in the history moves to the front. 503 ``storage_unavailable`` when the storage
    does not answer within ``[events] timeout_s``: with SQLite the write was not applied; with Redis a
    write that timed out may still be applied once Redis runs again (at least once). Retrying is safe:
    the track ends at the front, once.
    """
    try:
        await store.put(user_id, item_id)
    except StorageUnavailable:
        _count_storage_error(request.app, "put")
        raise
    request.app.state.metrics.counter("events_written", "events stored by POST /put").inc()
    return PutResponse()


async def _events(app: FastAPI, store: EventStore, user_id: int, k: int) -> Response:
    try:
        events = await store.get(user_id, k)
    except StorageUnavailable:
        _count_storage_error(app, "get")
        raise
    return Response(orjson.dumps({"events": events}), media_type="application/json")


async def _answer_get(app: FastAPI, user_id: int, k: int) -> Response | None:
    store = getattr(app.state, "event_store", None)
    return None if store is None else await _events(app, store, user_id, k)


@router.post("/get", response_model=Events)
@fast_path(USER_ID, k_param(10), answer=_answer_get, guard=fast_token_check)
async def get(request: Request, user_id: UserId, k: K10, store: EventStoreDep, _: TokenChecked) -> Response:
    """The user's last ``k`` distinct tracks, newest first: ``{"events": [item_id, ...]}``."""
    return await _events(request.app, store, user_id, k)
