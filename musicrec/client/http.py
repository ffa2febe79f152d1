"""Typed HTTP clients of the three services, sync (CLI, notebook) and async (the service's neighbours).

Every endpoint is described once as a :class:`Call` (method, path, params, response model); the sync
and async clients only differ in how they send it. The transport is injectable
(``httpx.MockTransport`` in unit tests). A connection that could not be opened is retried (the request
never reached the server, so even ``/put`` is safe to resend); a timeout after sending is not.

The async clients send through a small keep-alive pool (:mod:`musicrec.client.pool`) unless given an
httpx transport; either way failures surface as the same httpx exceptions, so the errors and the
callers' degradation are the same.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit

import httptools
import httpx
import orjson
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from musicrec.api import (
    Events,
    PutResult,
    Recommendations,
    ServiceStatus,
    SimilarItems,
    SimilarItemsBatch,
    SimilarItemsBatchRequest,
)
from musicrec.client.errors import ServiceError, ServiceUnavailable
from musicrec.client.pool import ConnectFailed, ConnectionPool

M = TypeVar("M", bound=BaseModel)

# Errors raised before any byte of the request was sent: retrying cannot duplicate a write.
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class Call(Generic[M]):
    """One request to a service and the model its 2xx answer parses into."""

    method: str
    path: str
    model: type[M]
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Base:
    def __init__(self, base_url: str, retries: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries

    def _retry_kwargs(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception_type(RETRYABLE),
            "stop": stop_after_attempt(self.retries + 1),
            "wait": wait_exponential(multiplier=0.05, max=0.5),
            "reraise": True,
        }

    def _url(self, call: Call[Any]) -> str:
        return f"{self.base_url}{call.path}"

    def _parse(self, call: Call[M], status: int, content: bytes, url: str) -> M:
        if status >= 400:
            raise _service_error(status, content, url)
        try:
            return call.model.model_validate_json(content)
        except (ValueError, ValidationError) as exc:
            raise ServiceError(status, "invalid_response", f"unexpected answer: {exc}", url=url) from None

    def _unavailable(self, call: Call[Any], exc: httpx.HTTPError) -> ServiceUnavailable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot connect"
        return ServiceUnavailable(f"{self._url(call)}: {kind} ({type(exc).__name__})", url=self._url(call))


def _service_error(status: int, content: bytes, url: str) -> ServiceError:
    """Build a :class:`ServiceError` from the error envelope (or the raw body if there is none)."""
    try:
        error = orjson.loads(content)["error"]
        return ServiceError(status, str(error["key"]), str(error["message"]), error.get("param"), url=url)
    except (ValueError, KeyError, TypeError):
        return ServiceError(status, f"http_{status}", content.decode(errors="replace")[:200], url=url)


class SyncClient(_Base):
    """A pooled ``httpx.Client`` plus retries and error mapping; base of the sync service clients."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, retries)
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def call(self, call: Call[M]) -> M:
        """Send ``call``; raise :class:`ServiceUnavailable` or :class:`ServiceError` on failure."""
        try:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    response = self.http.request(
                        call.method, call.path, params=call.params, json=call.json, headers=call.headers
                    )
        except httpx.HTTPError as exc:
            raise self._unavailable(call, exc) from None
        return self._parse(call, response.status_code, response.content, str(response.request.url))

    def status(self) -> ServiceStatus:
        """``GET /``: ``{"message": "... is working"}``."""
        return self.call(Call("GET", "/", ServiceStatus))

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_Base):
    """Retries, error mapping and a timeout around each request; base of the async clients.

    Requests go through a :class:`~musicrec.client.pool.ConnectionPool` to ``base_url``'s host, or
    through ``transport`` (an httpx transport, e.g. ``httpx.MockTransport`` in unit tests) when given.
    ``timeout_s`` bounds each request as a whole (connecting included).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        super().__init__(base_url, retries)
        self.timeout_s = timeout_s
        self._httpx: httpx.AsyncClient | None = None
        self._pool: ConnectionPool | None = None
        if transport is not None:
            self._httpx = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        else:
            parts = urlsplit(self.base_url)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"{base_url}: expected http://host[:port] (the pool speaks plain HTTP/1.1)")
            self._pool = ConnectionPool(parts.hostname, parts.port or 80, max_connections)

    async def call(self, call: Call[M]) -> M:
        """Send ``call``; raise :class:`ServiceUnavailable` or :class:`ServiceError` on failure."""
        try:
            if self.retries == 0:  # the service's neighbour calls: skip tenacity's per-call overhead
                status, content, url = await self._send(call)
            else:
                async for attempt in AsyncRetrying(**self._retry_kwargs()):
                    with attempt:
                        status, content, url = await self._send(call)
        except httpx.HTTPError as exc:
            raise self._unavailable(call, exc) from None
        return self._parse(call, status, content, url)

    async def _send(self, call: Call[Any]) -> tuple[int, bytes, str]:
        """``(status, body, url)``; failures raise httpx's exceptions whichever way the request went."""
        target = f"{call.path}?{urlencode(call.params)}" if call.params else call.path
        url = f"{self.base_url}{target}"
        body = b"" if call.json is None else orjson.dumps(call.json)
        headers = call.headers if call.json is None else {**call.headers, "Content-Type": "application/json"}
        if self._httpx is not None:
            response = await self._httpx.request(call.method, url, content=body or None, headers=headers)
            return response.status_code, response.content, url
        assert self._pool is not None
        try:
            async with asyncio.timeout(self.timeout_s):
                status, content = await self._pool.request(call.method, target, body, headers)
        except TimeoutError:
            raise httpx.ReadTimeout(f"{url}: no answer within {self.timeout_s:g} s") from None
        except ConnectFailed as exc:  # nothing was sent: safe to retry
            raise httpx.ConnectError(f"{url}: {exc}") from None
        except (OSError, httptools.HttpParserError) as exc:
            raise httpx.RemoteProtocolError(f"{url}: {exc}") from None
        return status, content, url

    async def status(self) -> ServiceStatus:
        """``GET /``: ``{"message": "... is working"}``."""
        return await self.call(Call("GET", "/", ServiceStatus))

    async def health(self) -> None:
        """``GET /health``; raises :class:`~musicrec.client.errors.ClientError` unless it answers 2xx."""
        call = Call("GET", "/health", ServiceStatus)
        try:
            status, content, url = await self._send(call)
        except httpx.HTTPError as exc:
            raise self._unavailable(call, exc) from None
        if status >= 400:
            raise _service_error(status, content, url)

    async def aclose(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._pool is not None:
            await self._pool.aclose()


# -- endpoint descriptions, shared by the sync and async clients --------------------------------------


def _explain(params: dict[str, Any], explain: bool) -> dict[str, Any]:
    # sent only when asked for, so a plain call is the original request
    return {**params, "explain": "true"} if explain else params


def offline_call(user_id: int, k: int, explain: bool = False) -> Call[Recommendations]:
    params = _explain({"user_id": user_id, "k": k}, explain)
    return Call("POST", "/recommendations_offline", Recommendations, params)


def default_call(k: int, explain: bool = False) -> Call[Recommendations]:
    return Call("POST", "/recommendations_default", Recommendations, _explain({"k": k}, explain))


def online_call(user_id: int, k: int, explain: bool = False) -> Call[Recommendations]:
    params = _explain({"user_id": user_id, "k": k}, explain)
    return Call("POST", "/recommendations_online", Recommendations, params)


def blended_call(user_id: int, k: int, explain: bool = False) -> Call[Recommendations]:
    return Call("POST", "/recommendations", Recommendations, _explain({"user_id": user_id, "k": k}, explain))


def similar_call(item_id: int, k: int) -> Call[SimilarItems]:
    return Call("POST", "/similar_items", SimilarItems, {"item_id": item_id, "k": k})


def similar_batch_call(item_ids: list[int], k: int) -> Call[SimilarItemsBatch]:
    body = SimilarItemsBatchRequest(item_ids=[int(i) for i in item_ids], k=k).model_dump()
    return Call("POST", "/similar_items/batch", SimilarItemsBatch, json=body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def put_call(user_id: int, item_id: int, token: str = "") -> Call[PutResult]:
    return Call("POST", "/put", PutResult, {"user_id": user_id, "item_id": item_id}, headers=_bearer(token))


def get_call(user_id: int, k: int, token: str = "") -> Call[Events]:
    return Call("POST", "/get", Events, {"user_id": user_id, "k": k}, headers=_bearer(token))


# -- sync clients ------------------------------------------------------------------------------------


class RecommendationsClient(SyncClient):
    """The recommendations service (default ``http://127.0.0.1:8000``).

    ``explain=True`` asks for ``explanations`` (one per track: source, reason, the online listen or the
    artist it is about).
    """

    def offline(self, user_id: int, k: int = 100, explain: bool = False) -> Recommendations:
        """Personal list backfilled with popular tracks; popular for a user without one."""
        return self.call(offline_call(user_id, k, explain))

    def default(self, k: int = 100, explain: bool = False) -> Recommendations:
        """Top popular tracks."""
        return self.call(default_call(k, explain))

    def online(self, user_id: int, k: int = 50, explain: bool = False) -> Recommendations:
        """Tracks similar to the user's latest online events."""
        return self.call(online_call(user_id, k, explain))

    def blended(self, user_id: int, k: int = 100, explain: bool = False) -> Recommendations:
        """The offline list blended with the online one (the service's ``[serving] blend``), then popular
        backfill."""
        return self.call(blended_call(user_id, k, explain))


class FeaturesClient(SyncClient):
    """The features service: similar tracks (default ``http://127.0.0.1:8010``)."""

    def similar_items(self, item_id: int, k: int = 10) -> SimilarItems:
        return self.call(similar_call(item_id, k))

    def similar_items_batch(self, item_ids: list[int], k: int = 10) -> SimilarItemsBatch:
        return self.call(similar_batch_call(item_ids, k))


class EventsClient(SyncClient):
    """The events service: each user's latest online listens (default ``http://127.0.0.1:8020``)."""

    def __init__(self, base_url: str, *, token: str = "", **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.token = token

    def put(self, user_id: int, item_id: int) -> PutResult:
        return self.call(put_call(user_id, item_id, self.token))

    def get(self, user_id: int, k: int = 10) -> Events:
        return self.call(get_call(user_id, k, self.token))


# -- async clients (the recommendations service calls its neighbours with these) ---------------------


class AsyncFeaturesClient(AsyncClient):
    """Async :class:`FeaturesClient`."""

    async def similar_items(self, item_id: int, k: int = 10) -> SimilarItems:
        return await self.call(similar_call(item_id, k))

    async def similar_items_batch(self, item_ids: list[int], k: int = 10) -> SimilarItemsBatch:
        return await self.call(similar_batch_call(item_ids, k))


class AsyncEventsClient(AsyncClient):
    """Async :class:`EventsClient`."""

    def __init__(self, base_url: str, *, token: str = "", **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.token = token

    async def put(self, user_id: int, item_id: int) -> PutResult:
        return await self.call(put_call(user_id, item_id, self.token))

    async def get(self, user_id: int, k: int = 10) -> Events:
        return await self.call(get_call(user_id, k, self.token))
