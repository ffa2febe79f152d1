"""``POST /put`` and ``POST /get`` (query-string parameters, as in the original service)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from musicrec.services.common import K10, ItemId, StorageUnavailable, UserId, error_body
from musicrec.services.events.dependencies import EventStoreDep, TokenChecked

router = APIRouter(tags=["events"])


class PutResponse(BaseModel):
    result: Literal["ok"] = "ok"


class EventsResponse(BaseModel):
    events: list[int]


def _count_storage_error(request: Request, operation: str) -> None:
    request.app.state.metrics.counter(
        "events_storage_errors", "event store calls that failed", ["operation"]
    ).labels(operation).inc()


_UNAUTHORIZED = {
    401: {
        "description": "missing or wrong bearer token (only when [events] token is set)",
        "content": {"application/json": {"example": error_body("unauthorized", "the bearer token is wrong")}},
    }
}


@router.post("/put", response_model=PutResponse, responses=_UNAUTHORIZED)
async def put(
    request: Request, user_id: UserId, item_id: ItemId, store: EventStoreDep, _: TokenChecked
) -> PutResponse:
    """Record that ``user_id`` listened to ``item_id``; ``{"result": "ok"}`` only once it is stored.

    A track already in the history moves to the front. 503 ``storage_unavailable`` when the
    storage cannot be reached (the write did not happen, or its outcome is unknown: retrying is safe).
    """
    try:
        await store.put(user_id, item_id)
    except StorageUnavailable:
        _count_storage_error(request, "put")
        raise
    request.app.state.metrics.counter("events_written", "events stored by POST /put").inc()
    return PutResponse()


@router.post("/get", response_model=EventsResponse)
async def get(request: Request, user_id: UserId, k: K10, store: EventStoreDep) -> EventsResponse:
    """The user's last ``k`` distinct tracks, newest first: ``{"events": [item_id, ...]}``."""
    try:
        events = await store.get(user_id, k)
    except StorageUnavailable:
        _count_storage_error(request, "get")
        raise
    return EventsResponse(events=events)
