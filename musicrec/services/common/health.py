"""``GET /health`` (the process is alive) and ``GET /ready`` (it can serve: artifacts, storage, neighbours).

A readiness check is ``async def check(app) -> str``: it returns a short detail when fine and raises
any exception when not (the exception's text becomes the detail). Each check gets
``settings.serving.timeout_s`` seconds. ``/ready`` answers 200 ``{"status": "ready", "checks": {...}}``
or 503 with the error envelope (key ``not_ready``) plus the same ``checks``. A service may add sections
to both (``app.state.ready_extras``: name -> a function returning a JSON-able value), e.g. ``model``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from musicrec.services.common.errors import error_body

ReadinessCheck = Callable[[FastAPI], Awaitable[str]]

router = APIRouter()


async def run_checks(app: FastAPI, checks: Mapping[str, ReadinessCheck], timeout_s: float) -> dict[str, Any]:
    """Run all checks concurrently; ``{name: {"ok": bool, "detail": str}}``."""

    async def one(check: ReadinessCheck) -> dict[str, Any]:
        try:
            detail = await asyncio.wait_for(check(app), timeout_s)
            return {"ok": True, "detail": detail or "ok"}
        except TimeoutError:
            return {"ok": False, "detail": f"no answer within {timeout_s:g} s"}
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported, not raised
            return {"ok": False, "detail": str(exc) or type(exc).__name__}

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive and the event loop answers."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 when every readiness check passes, else 503 ``not_ready`` naming the failing checks."""
    app = request.app
    checks = await run_checks(app, app.state.readiness_checks, app.state.settings.serving.timeout_s)
    failed = [f"{name}: {result['detail']}" for name, result in checks.items() if not result["ok"]]
    extras = {name: describe() for name, describe in app.state.ready_extras.items()}
    if failed:
        body = error_body("not_ready", "not ready: " + "; ".join(failed))
        return JSONResponse({**body, "checks": checks, **extras}, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks, **extras})
