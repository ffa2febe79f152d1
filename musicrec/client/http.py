"""Typed HTTP clients of the three services, sync (CLI, notebook) and async (the service's neighbours).

Every endpoint is described once as a :class:`Call` (method, path, params, response model); the sync
and async clients only differ in how they send it. The transport is injectable
(``httpx.MockTransport`` in unit tests). A connection that could not be opened is retried (the request
never reached the server, so even ``/put`` is safe to resend); a timeout after sending is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from musicrec.client.errors import ServiceError, ServiceUnavailable
from musicrec.client.models import (
    Events,
    PutResult,
    Recommendations,
    ServiceStatus,
    SimilarItems,
    SimilarItemsBatch,
    SimilarItemsBatchRequest,
)

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

    def _parse(self, call: Call[M], response: httpx.Response) -> M:
        url = str(response.request.url) if response.request else self._url(call)
        if response.is_error:
            raise _service_error(response, url)
        try:
            return call.model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise ServiceError(
                response.status_code, "invalid_response", f"unexpected answer: {exc}", url=url
            ) from None

    def _unavailable(self, call: Call[Any], exc: httpx.HTTPError) -> ServiceUnavailable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot connect"
        return ServiceUnavailable(f"{self._url(call)}: {kind} ({type(exc).__name__})", url=self._url(call))


def _service_error(response: httpx.Response, url: str) -> ServiceError:
    """Build a :class:`ServiceError` from the error envelope (or the raw body if there is none)."""
    try:
        error = response.json()["error"]
        return ServiceError(
            response.status_code, str(error["key"]), str(error["message"]), error.get("param"), url=url
        )
    except (ValueError, KeyError, TypeError):
        key = f"http_{response.status_code}"
        return ServiceError(response.status_code, key, response.text[:200], url=url)


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
        return self._parse(call, response)

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
    """A pooled ``httpx.AsyncClient`` plus retries and error mapping; base of the async clients."""

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
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, transport=transport, limits=limits
        )

    async def call(self, call: Call[M]) -> M:
        """Send ``call``; raise :class:`ServiceUnavailable` or :class:`ServiceError` on failure."""
        try:
            if self.retries == 0:  # the service's neighbour calls: skip tenacity's per-call overhead
                response = await self._send(call)
            else:
                async for attempt in AsyncRetrying(**self._retry_kwargs()):
                    with attempt:
                        response = await self._send(call)
        except httpx.HTTPError as exc:
            raise self._unavailable(call, exc) from None
        return self._parse(call, response)

    async def _send(self, call: Call[Any]) -> httpx.Response:
        # One absolute URL with the query already in it: given a relative path plus ``params``, httpx
        # merges it with base_url and re-parses the URL for the params on every request (~65 -> 35 us
        # per request built, measured). The query is encoded by httpx's own QueryParams, so the
        # request is the same.
        url = self._url(call)
        if call.params:
            url = f"{url}?{httpx.QueryParams(call.params)}"
        return await self.http.request(call.method, url, json=call.json, headers=call.headers)

    async def status(self) -> ServiceStatus:
        """``GET /``: ``{"message": "... is working"}``."""
        return await self.call(Call("GET", "/", ServiceStatus))

    async def aclose(self) -> None:
        await self.http.aclose()


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


def put_call(user_id: int, item_id: int, token: str = "") -> Call[PutResult]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Call("POST", "/put", PutResult, {"user_id": user_id, "item_id": item_id}, headers=headers)


def get_call(user_id: int, k: int) -> Call[Events]:
    return Call("POST", "/get", Events, {"user_id": user_id, "k": k})


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
        return self.call(get_call(user_id, k))


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
        return await self.call(get_call(user_id, k))
