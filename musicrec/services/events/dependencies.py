"""Named, overridable dependencies of the events service."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from musicrec.services.common import NotReady, SettingsDep, Unauthorized
from musicrec.storage.events import EventStore

_bearer = HTTPBearer(auto_error=False, description="required when [events] token is set")


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


async def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Check ``Authorization: Bearer <token>`` against ``[events] token``; no token configured: open."""
    expected = settings.events.token
    if not expected:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this endpoint needs the header 'Authorization: Bearer <[events] token>'")
    # Constant-time comparison: the answer time must not reveal how much of the token matched.
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("the bearer token is wrong")


TokenChecked = Annotated[None, Depends(require_token)]
