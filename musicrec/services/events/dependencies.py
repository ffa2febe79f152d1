"""Named, overridable dependencies of the events service."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from musicrec.services.common import NotReady, SettingsDep, Unauthorized
from musicrec.storage.events import EventStore


async def get_event_store(request: Request) -> EventStore:
    """The store opened by the lifespan (``app.state.event_store``).

    This and :func:`require_token` are ``async def`` because they never block: FastAPI runs a plain
    ``def`` dependency in the threadpool, a hop that costs more than the work (measured in-process).
    """
    store = getattr(request.app.state, "event_store", None)
    if store is None:
        raise NotReady("the event store is not open")
    return store


EventStoreDep = Annotated[EventStore, Depends(get_event_store)]


async def require_token(request: Request, settings: SettingsDep) -> None:
    """Check ``Authorization: Bearer <token>`` against ``[events] token``; no token configured: open.

    The header is read here rather than by FastAPI's ``HTTPBearer``, which would declare the security
    in the OpenAPI document whether a token is configured or not; ``create_app`` declares it when it is.
    """
    expected = settings.events.token
    if not expected:
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise Unauthorized("this endpoint needs the header 'Authorization: Bearer <[events] token>'")
    if not token_matches(credentials, expected):
        raise Unauthorized("the bearer token is wrong")


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison: the answer time must not reveal how much of the token matched."""
    return secrets.compare_digest(given.encode(), expected.encode())


def fast_token_check(app: FastAPI, headers: list[tuple[bytes, bytes]]) -> bool:
    """The fast path's version of :func:`require_token` over the raw ASGI headers: True when the
    request may be answered; False leaves it to FastAPI, whose ``require_token`` answers 401."""
    expected = app.state.settings.events.token
    if not expected:
        return True
    given = next((value for name, value in headers if name == b"authorization"), b"")
    scheme, _, credentials = given.partition(b" ")
    return scheme.lower() == b"bearer" and secrets.compare_digest(credentials, expected.encode())


TokenChecked = Annotated[None, Depends(require_token)]
