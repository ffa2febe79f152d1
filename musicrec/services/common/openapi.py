"""The OpenAPI document says what the service does: the app's own bounds, its error envelope, its security.

FastAPI builds the document from the route declarations; :func:`install_openapi` completes it with what
only the app's settings know, once, on the first ``GET /openapi.json``:

- ``k``: ``minimum`` 1 and ``maximum`` ``[serving] max_k``; ``item_ids``: ``maxItems`` ``[serving]
  max_batch``; ids: ``maximum`` 2**63 - 1 as an integer (FastAPI's document model writes a body's
  bounds as floats, and 2**63 - 1 as a float is 2**63);
- every error status an operation can answer (413, 414, 422, 431, 503; 401 where a token is required),
  each with the envelope's schema :class:`ErrorEnvelope`;
- ``security`` (HTTP bearer) on the ``protected`` paths only, and only when they are protected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from musicrec.config import Serving
from musicrec.services.common.validation import MAX_ID

ID_NAMES = ("user_id", "item_id")


class ErrorDetail(BaseModel):
    key: str
    message: str
    param: str | None


class ErrorEnvelope(BaseModel):
    """Every non-2xx answer: ``{"error": {"key", "message", "param"}}`` (``/ready`` adds ``checks``)."""

    error: ErrorDetail


def _error(description: str, key: str, message: str, param: str | None = None) -> dict[str, Any]:
    example = {"error": {"key": key, "message": message, "param": param}}
    schema = {"$ref": "#/components/schemas/ErrorEnvelope"}
    content = {"application/json": {"schema": schema, "example": example}}
    return {"description": description, "content": content}


def error_responses(serving: Serving) -> dict[str, dict[str, Any]]:
    """The error statuses every operation may answer."""
    max_k = serving.max_k

    def limit(part: str, key: str) -> str:
        return f"{part}: expected at most {getattr(serving, key)} bytes ([serving] {key})"

    return {
        "413": _error("body over [serving] max_body_bytes", "body_too_large", limit("body", "max_body_bytes"),
                      "body"),
        "414": _error("URL over [serving] max_url_bytes", "url_too_long", limit("url", "max_url_bytes"),
                      "url"),
        "431": _error("headers over [serving] max_header_bytes", "headers_too_large",
                      limit("headers", "max_header_bytes"), "headers"),
        "422": _error("invalid parameter or body", "invalid_parameter",
                      f"k: expected 1 <= k <= {max_k}, found 0", "k"),
        "503": _error("not ready, or storage or a neighbour unavailable", "not_ready", "service not ready"),
    }


UNAUTHORIZED = _error("missing or wrong bearer token ([events] token is set)", "unauthorized",
                      "the bearer token is wrong")


def install_openapi(app: FastAPI, serving: Serving, protected: Iterable[str] = ()) -> None:
    """Replace ``app.openapi`` by FastAPI's document completed as the module docstring says."""
    protected = tuple(protected)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            complete(schema, serving, protected)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], serving: Serving, protected: tuple[str, ...] = ()) -> None:
    """Complete FastAPI's ``schema`` in place (see the module docstring)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["ErrorEnvelope"].pop("$defs", {}))
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, replaced below
        schemas.pop(unused, None)
    for name, prop in (item for model in schemas.values() for item in model.get("properties", {}).items()):
        _bounds(name, prop, serving)
    errors = error_responses(serving)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                _bounds(param["name"], param["schema"], serving)
            responses = operation.setdefault("responses", {})
            for status, response in errors.items():
                responses[status] = response
            if path in protected:
                operation["security"] = [{"bearer": []}]
                responses["401"] = UNAUTHORIZED
    if protected:
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}


def _bounds(name: str, prop: dict[str, Any], serving: Serving) -> None:
    if name == "k":
        prop.update(minimum=1, maximum=serving.max_k)
    elif name in ID_NAMES:
        prop.update(minimum=0, maximum=MAX_ID)
    elif name == "item_ids" and "items" in prop:
        prop["maxItems"] = serving.max_batch
        prop["items"].update(minimum=0, maximum=MAX_ID)
