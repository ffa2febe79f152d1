"""``build_app``: the part of every service's ``create_app(settings)`` that is the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from musicrec.config import Settings, load_settings
from musicrec.services.common import health, metrics, reload
from musicrec.services.common.handlers import install_exception_handlers
from musicrec.services.common.health import ReadinessCheck
from musicrec.services.common.logs import setup_logging
from musicrec.services.common.openapi import install_openapi
from musicrec.services.common.request_limits import RequestLimitsMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

def build_app(
    settings: Settings | None,
    *,
    service: str,
    title: str,
    lifespan: Lifespan | None = None,
    routers: tuple[APIRouter, ...] = (),
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    protected: tuple[str, ...] = (),
    reloadable: bool = False,
) -> FastAPI:
    """A FastAPI app with settings, error envelope, ``/``, ``/health``, ``/ready`` and ``/metrics``.

    ``settings`` defaults to :func:`~musicrec.config.load_settings` called now (not at import).
    ``service`` is the metrics label (``events``); ``title`` is the human name used by ``GET /``.
    ``lifespan`` opens the service's artifacts or storage; ``readiness_checks`` are ``async def
    check(app) -> str`` callables run by ``GET /ready``; ``protected``: the paths that require a bearer
    token, declared so in the OpenAPI document (:mod:`~musicrec.services.common.openapi`).
    ``reloadable``: the service serves a model that :mod:`~musicrec.services.common.reload` swaps
    (``X-Model-Version``, ``POST /admin/reload``).
    """
    settings = settings if settings is not None else load_settings()
    setup_logging(settings.serving.log_level)
    # FastAPI's native OpenTelemetry hooks look up the global providers on every request; the services
    # export their own Prometheus metrics instead.
    no_telemetry = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(title=title, lifespan=lifespan, telemetry=no_telemetry)
    install_openapi(app, settings.serving, protected)
    docs_routes = list(app.router.routes)
    app.state.settings = settings
    app.state.metrics = metrics.ServiceMetrics(service)
    app.state.readiness_checks = dict(readiness_checks or {})
    app.state.ready_extras = {}
    install_exception_handlers(app)
    if reloadable:
        reload.add_version_header(app)
    # the metrics middleware is added last, so it is the outer one and counts the 413s too
    serving = settings.serving
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=serving.max_body_bytes,
                       max_url_bytes=serving.max_url_bytes, max_header_bytes=serving.max_header_bytes)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)

    for router in routers:
        add_routes(app, router, tags=[])
    message = f"{title} is working"

    @app.get("/", tags=["health"])
    async def root() -> dict[str, str]:
        return {"message": message}

    for router in (health.router, metrics.router, *((reload.router,) if reloadable else ())):
        add_routes(app, router, tags=["health"])
    # Routes are tried in order: the service's own first, the docs pages last.
    app.router.routes[:] = [r for r in app.router.routes if r not in docs_routes] + docs_routes
    return app


def add_routes(app: FastAPI, router: APIRouter, tags: list[str]) -> None:
    """Add the router's routes to the app itself, as ``include_router`` did before FastAPI kept included
    routers nested: a nested router is matched route by route on every request, with bookkeeping that
    cost more than an offline answer computes."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            app.router.routes.append(route)
            continue
        app.router.add_api_route(
            route.path, route.endpoint, response_model=route.response_model, status_code=route.status_code,
            tags=[*tags, *(route.tags or [])], dependencies=route.dependencies, summary=route.summary,
            description=route.description, response_description=route.response_description,
            responses=route.responses, deprecated=route.deprecated, methods=route.methods,
            operation_id=route.operation_id, response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema, response_class=route.response_class, name=route.name,
            openapi_extra=route.openapi_extra, route_class_override=type(route),
        )
