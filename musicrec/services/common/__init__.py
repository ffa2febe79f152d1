"""What the three services share: error envelope, validated parameters, health, metrics, logging.

How a service uses it (see ``musicrec/services/events/app.py`` for a complete example)::

    from contextlib import asynccontextmanager
    from musicrec.services.common import build_app, K10, UserId, NotReady, StorageUnavailable

    @asynccontextmanager
    async def lifespan(app):            # open artifacts / storage here, never at import
        app.state.thing = await open_thing(app.state.settings)
        yield
        await app.state.thing.close()

    async def thing_ready(app) -> str:  # a readiness check: return a detail or raise
        await app.state.thing.ping()
        return "reachable"

    def create_app(settings: Settings | None = None) -> FastAPI:
        return build_app(settings, service="events", title="Events service", lifespan=lifespan,
                         routers=(router,), readiness_checks={"storage": thing_ready})

Modules:
- ``errors``: ``MusicrecError`` (``key``, ``status_code``, ``param``) and its subclasses
  ``InvalidParameter`` 422, ``Unauthorized`` 401, ``NotFound`` 404, ``NotReady`` 503,
  ``UpstreamUnavailable`` 503. Raise them anywhere in a request. The storage layer's own
  ``StorageUnavailable`` (``musicrec.storage.errors``, re-exported here) is answered 503
  ``storage_unavailable`` by the handlers.
- ``handlers``: the only place exceptions become responses:
  ``{"error": {"key": ..., "message": ..., "param": ...}}``; FastAPI validation errors become 422
  ``invalid_parameter`` with ``param`` naming the parameter (``k``, ``user_id``, ``item_ids``).
- ``validation``: ``UserId`` / ``ItemId`` (strict: ASCII digits, ``0 <= id <= 2**63 - 1``),
  ``K10`` / ``K50`` / ``K100`` or ``k_query(default)`` (``1 <= k <= settings.serving.max_k``, read from
  ``app.state.settings``), ``SettingsDep``, ``check_k`` for a ``k`` that arrives in a JSON body.
- ``health``: ``GET /health``, ``GET /ready`` (200 or 503 ``not_ready`` with per-check details).
- ``metrics``: ``GET /metrics``; per-app ``CollectorRegistry`` in ``app.state.metrics``; add counters
  with ``app.state.metrics.counter("degraded_answers", "doc", ["reason"])`` (exported with ``_total``).
- ``request_limits``: a body over ``[serving] max_body_bytes`` is answered 413 ``body_too_large``, unread;
  a long URL 414 ``url_too_long``, large headers 431 ``headers_too_large``.
- ``openapi``: the document completed with the app's bounds, the envelope's schema on every error status,
  and bearer security on ``build_app(protected=...)`` paths only.
- ``logs``: ``setup_logging(level)``; ``app``: ``build_app``.
- ``testing``: ``ServiceProcess`` (a real uvicorn on a free port) and ``RedisServer`` for integration
  tests.

The state a route needs is reached through ``app.state`` by an ``Annotated[..., Depends(...)]`` alias,
so tests override it with ``app.dependency_overrides``.
"""

from musicrec.services.common.app import build_app
from musicrec.services.common.errors import (
    InvalidParameter,
    MusicrecError,
    NotFound,
    NotReady,
    Unauthorized,
    UpstreamUnavailable,
    error_body,
)
from musicrec.services.common.health import ReadinessCheck
from musicrec.services.common.validation import (
    K10,
    K50,
    K100,
    ItemId,
    SettingsDep,
    UserId,
    check_k,
    get_settings,
    k_query,
)
from musicrec.storage.errors import StorageUnavailable

__all__ = [
    "K10",
    "K50",
    "K100",
    "InvalidParameter",
    "ItemId",
    "MusicrecError",
    "NotFound",
    "NotReady",
    "ReadinessCheck",
    "SettingsDep",
    "StorageUnavailable",
    "Unauthorized",
    "UpstreamUnavailable",
    "UserId",
    "build_app",
    "check_k",
    "error_body",
    "get_settings",
    "k_query",
]
