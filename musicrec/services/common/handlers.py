"""The one module that maps exceptions to HTTP responses (the error envelope).

Every non-2xx answer of a musicrec service has the body
``{"error": {"key": str, "message": str, "param": str | null}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from musicrec.services.common.errors import MusicrecError, error_body, from_storage, redact
from musicrec.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

# Pydantic error types -> what the parameter was expected to be; the rest keep pydantic's message.
_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "missing": "is required",
    "json_invalid": "expected a valid JSON body",
    "int_parsing_size": "expected an integer of at most 19 digits",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "extra_forbidden": "is not a known field",
}

_OPERATORS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}

_HTTP_KEYS = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}

# the most characters of a refused value quoted back (a 5000-digit number is not echoed whole)
MAX_FOUND_CHARS = 40


def _found(value: Any) -> str:
    """``repr(value)``, cut to :data:`MAX_FOUND_CHARS` characters.

    >>> _found("abc"), _found("9" * 100)
    ("'abc'", "'999999999999999999999999999999999999...' (102 characters)")
    """
    text = repr(value)
    if len(text) <= MAX_FOUND_CHARS:
        return text
    return f"{text[:MAX_FOUND_CHARS - 3]}...' ({len(text)} characters)"


def describe_validation_error(err: dict[str, Any]) -> tuple[str | None, str]:
    """Turn one pydantic error into ``(param, message)``; the message names expected and found.

    >>> describe_validation_error({"type": "greater_than_equal", "loc": ("query", "k"),
    ...     "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}})
    ('k', "k: expected a value >= 1, found '0'")
    >>> describe_validation_error({"type": "missing", "loc": ("query", "user_id"), "msg": "Field required",
    ...     "input": None})
    ('user_id', 'user_id: is required')
    >>> describe_validation_error({"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error",
    ...     "input": {}, "ctx": {"error": "Expecting value"}})
    ('body', 'body: expected a valid JSON body (Expecting value at character 1)')
    """
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "json_invalid":  # loc is ("body", <character position>)
        position = err.get("loc", ("body", "?"))[-1]
        reason = ctx.get("error", "invalid")
        return "body", f"body: expected a valid JSON body ({reason} at character {position})"
    loc = [str(part) for part in err.get("loc", ())]
    # loc is ("query", "k") or ("body", "item_ids", 3): the parameter is the first name after the source.
    names = [part for part in loc[1:] if not part.isdigit()] if len(loc) > 1 else []
    param = names[0] if names else (loc[0] if loc else None)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = _OPERATORS[kind]
        bound = next(iter(ctx.values()), "?")
        expected = f"expected a value {op} {bound}"
    elif kind in ("too_long", "too_short"):
        expected = err.get("msg", "wrong length").replace("List should", "expected a list to")
    else:
        expected = _EXPECTED.get(kind, err.get("msg", "invalid value"))
    where = ".".join(loc[1:]) if len(loc) > 1 else (param or "request")
    value = err.get("input")
    found = "" if kind == "missing" or isinstance(value, dict | list) else f", found {_found(value)}"
    return param, f"{where}: {expected}{found}"


def debug(request: Request) -> bool:
    """``[serving] debug``: error bodies and ``/ready`` show what is otherwise only logged."""
    return request.app.state.settings.serving.debug


async def _musicrec_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MusicrecError)
    body = exc.to_dict()
    if exc.status_code >= 500:
        # the log has the whole message (file, URL); the client the component and the reason
        log.warning("%s %s -> %s %s: %s", request.method, request.url.path, exc.status_code, exc.key,
                    exc.full())
        message = exc.full() if debug(request) else redact(exc.message)
        body = error_body(exc.key, message, exc.param)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers or None)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorageUnavailable)
    return await _musicrec_error(request, from_storage(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    described = [describe_validation_error(err) for err in exc.errors()]
    param = described[0][0] if described else None
    message = "; ".join(msg for _, msg in described) or "invalid request"
    return JSONResponse(error_body("invalid_parameter", message, param), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "There was an error parsing the body": a JSON body that is not UTF-8 text, or holds
        # an integer longer than Python parses (4300 digits). The routes raise no 400 themselves, so it
        # is the same 422 as any other invalid body.
        message = "body: expected a valid JSON body (UTF-8, integers of at most 4300 digits)"
        return JSONResponse(error_body("invalid_parameter", message, "body"), status_code=422)
    key = _HTTP_KEYS.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    return JSONResponse(error_body(key, message), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


def install_exception_handlers(app: FastAPI) -> None:
    """Register the envelope for domain errors, validation errors, HTTP errors and anything else."""
    app.add_exception_handler(MusicrecError, _musicrec_error)
    app.add_exception_handler(StorageUnavailable, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
