"""A fast path for plainly valid requests; FastAPI's own handling for every other one.

On every request FastAPI solves the route's dependencies, validates each parameter with pydantic and
the answer against the response model: for the recommendation and lookup routes that is several times
what the answer itself costs. A route built with :class:`FastRoute` keeps its FastAPI declaration
(parameters, dependencies, response model: the OpenAPI document, and the path for anything unusual)
and also names, with :func:`fast_path`, a plain function that answers a request whose query string
holds only its known parameters, each once, as plain digits within bounds (or ``true``/``false``).
Any other request (a missing or malformed parameter, ``k`` over ``max_k``, ``explain=True``, a
dependency override in a test, artifacts not loaded) goes through FastAPI as before, so every error
envelope comes from the same code. The two paths must answer alike; the answer functions are shared
by both, and the service tests run the same requests through each.

    @router.post("/get", response_model=Events)
    @fast_path(USER_ID, k_param(10), answer=get_answer)      # get_answer(app, user_id=..., k=...)
    async def get(request: Request, user_id: UserId, k: K10, store: EventStoreDep) -> Response:
        ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from musicrec.services.common.validation import MAX_ID

# answer(app, **params) -> the response, or None to leave the request to FastAPI
Answer = Callable[..., Awaitable[Response | None]]
_MAX_DIGITS = len(str(MAX_ID))


@dataclass(frozen=True)
class Param:
    """A query parameter the fast path reads: an integer in ``[low, high]`` (``high`` None: the app's
    ``[serving] max_k``) or, with ``flag``, ``true``/``false``; ``default`` None means required."""

    name: str
    low: int = 0
    high: int | None = MAX_ID
    default: int | bool | None = None
    flag: bool = False


USER_ID = Param("user_id")
ITEM_ID = Param("item_id")
EXPLAIN = Param("explain", default=False, flag=True)


def k_param(default: int) -> Param:
    """``k``: ``1 <= k <= [serving] max_k``, ``default`` when absent."""
    return Param("k", low=1, high=None, default=default)


@dataclass(frozen=True)
class FastPath:
    params: dict[bytes, Param]
    answer: Answer
    # a JSON body's fields, or None when the body is unusual (answer gets them as keyword arguments)
    body: Callable[[Any], dict[str, Any] | None] | None = None
    # guard(app, headers): False leaves the request to FastAPI (e.g. a bearer token it must refuse)
    guard: Callable[[FastAPI, list[tuple[bytes, bytes]]], bool] | None = None

    def parse(self, query: bytes, max_k: int) -> dict[str, Any] | None:
        """The parameters' values, or None when anything is unusual.

        >>> path = FastPath({b"user_id": USER_ID, b"k": k_param(10)}, answer=None)
        >>> path.parse(b"user_id=7", 100), path.parse(b"k=5&user_id=007", 100)
        ({'user_id': 7, 'k': 10}, {'k': 5, 'user_id': 7})
        >>> [path.parse(q, 100) for q in (b"k=5", b"user_id=-1", b"user_id=1&k=101", b"user_id=1&user_id=2")]
        [None, None, None, None]
        """
        values: dict[str, Any] = {}
        if query:
            for part in query.split(b"&"):
                name, _, raw = part.partition(b"=")
                param = self.params.get(name)
                if param is None or param.name in values:
                    return None
                if param.flag:
                    if raw not in (b"true", b"false"):
                        return None
                    values[param.name] = raw == b"true"
                    continue
                if not raw.isdigit() or len(raw) > _MAX_DIGITS:  # digits only: no sign, space or dot
                    return None
                value = int(raw)
                if value < param.low or value > (max_k if param.high is None else param.high):
                    return None
                values[param.name] = value
        for param in self.params.values():
            if param.name not in values:
                if param.default is None:
                    return None
                values[param.name] = param.default
        return values


def fast_path(
    *params: Param,
    answer: Answer,
    body: Callable[[Any], dict[str, Any] | None] | None = None,
    guard: Callable[[FastAPI, list[tuple[bytes, bytes]]], bool] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a route's endpoint with the fast path of :class:`FastRoute` (see the module docstring).

    ``body``: for a route with a JSON body, a function of the decoded JSON that returns the fields to
    pass to ``answer``, or None to leave the request to FastAPI. ``guard(app, headers)``: the fast path
    is taken only when it returns True (a route's dependency that may refuse the request, e.g. a token
    check, has its fast twin here)."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        path = FastPath({p.name.encode(): p for p in params}, answer, body, guard)
        endpoint.fast_path = path  # type: ignore[attr-defined]
        return endpoint

    return mark


class FastRoute(APIRoute):
    """An ``APIRoute`` that first offers the request to its endpoint's :func:`fast_path`, if any."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast: FastPath | None = getattr(self.endpoint, "fast_path", None)
        if fast is not None and scope["method"] in self.methods:
            app: FastAPI = scope["app"]
            # with overrides (tests) the dependencies decide: FastAPI's path resolves them
            if not app.dependency_overrides and (fast.guard is None or fast.guard(app, scope["headers"])):
                values = fast.parse(scope["query_string"], app.state.settings.serving.max_k)
                if values is not None and fast.body is not None:
                    body = await _read_body(receive)
                    receive = _replay(body, receive)  # FastAPI's path reads it again if it must
                    fields = _json_fields(scope, body, fast.body)
                    values = None if fields is None else {**values, **fields}
                if values is not None:
                    response = await fast.answer(app, **values)
                    if response is not None:
                        await response(scope, receive, send)
                        return
        await super().handle(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _json_fields(scope: Scope, body: bytes, fields: Callable[[Any], dict[str, Any] | None]):
    if (b"content-type", b"application/json") not in scope["headers"]:
        return None
    try:
        return fields(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None


def id_list(value: Any) -> bool:
    """A JSON list of ids (plain integers, no booleans) within ``[0, MAX_ID]``.

    >>> id_list([0, 5]), id_list([1, -1]), id_list([True]), id_list([1.0]), id_list("1")
    (True, False, False, False, False)
    """
    return type(value) is list and all(type(i) is int and 0 <= i <= MAX_ID for i in value)
