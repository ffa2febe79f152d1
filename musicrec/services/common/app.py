"""``build_app``: the part of every service's ``create_app(settings)`` that is the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from musicrec.config import Settings, load_settings
from musicrec.services.common import health, metrics
from musicrec.services.common.errors import error_body
from musicrec.services.common.handlers import install_exception_handlers
from musicrec.services.common.health import ReadinessCheck
from musicrec.services.common.logs import setup_logging

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

ERROR_RESPONSES = {
    code: {"description": desc, "content": {"application/json": {"example": error_body(key, desc, param)}}}
    for code, key, desc, param in (
        (422, "invalid_parameter", "k: expected 1 <= k <= 1000, found 0", "k"),
        (503, "not_ready", "service not ready", None),
    )
}


def build_app(
    settings: Settings | None,
    *,
    service: str,
    title: str,
    lifespan: Lifespan | None = None,
    routers: tuple[APIRouter, ...] = (),
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
) -> FastAPI:
    """A FastAPI app with settings, error envelope, ``/``, ``/health``, ``/ready`` and ``/metrics``.

    ``settings`` defaults to :func:`~musicrec.config.load_settings` called now (not at import).
    ``service`` is the metrics label (``events``); ``title`` is the human name used by ``GET /``.
    ``lifespan`` opens the service's artifacts or storage; ``readiness_checks`` are ``async def
    check(app) -> str`` callables run by ``GET /ready``.
    """
    settings = settings if settings is not None else load_settings()
    setup_logging(settings.serving.log_level)
    app = FastAPI(title=title, lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.metrics = metrics.ServiceMetrics(service)
    app.state.readiness_checks = dict(readiness_checks or {})
    install_exception_handlers(app)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)

    message = f"{title} is working"

    @app.get("/", tags=["health"])
    async def root() -> dict[str, str]:
        return {"message": message}

    app.include_router(health.router, tags=["health"])
    app.include_router(metrics.router, tags=["health"])
    for router in routers:
        app.include_router(router)
    return app
