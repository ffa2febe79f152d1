"""``GET /health`` (the process is alive) and ``GET /ready`` (it can serve: artifacts, storage, neighbours).

A readiness check is ``async def check(app) -> str``: it returns a short detail when fine and raises
any exception when not (the exception's text becomes the detail). ``/ready`` needs no credentials, so
a detail names the component and the reason only: the whole text of a failure is logged, and the
answer has it without URLs, addresses or directories (:func:`~musicrec.services.common.errors.redact`)
unless ``[serving] debug`` is on. Each check gets
``settings.serving.timeout_s`` seconds. ``/ready`` answers 200 ``{"status": "ready", "checks": {...}}``
or 503 with the error envelope (key ``not_ready``) plus the same ``checks``. A service may add sections
to both (``app.state.ready_extras``: name -> a function returning a JSON-able value), e.g. ``model``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from musicrec.services.common.errors import MusicrecError, error_body, redact
from musicrec.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[FastAPI], Awaitable[str]]

router = APIRouter()


async def run_checks(app: FastAPI, checks: Mapping[str, ReadinessCheck], timeout_s: float) -> dict[str, Any]:
    """Run all checks concurrently; ``{name: {"ok": bool, "detail": str}}``."""
    debug = app.state.settings.serving.debug
    shown = (lambda text: text) if debug else redact

    async def one(name: str, check: ReadinessCheck) -> dict[str, Any]:
        try:
            detail = await asyncio.wait_for(check(app), timeout_s)
            return {"ok": True, "detail": shown(detail or "ok")}
        except TimeoutError:
            return {"ok": False, "detail": f"no answer within {timeout_s:g} s"}
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported, not raised
            known = isinstance(exc, MusicrecError | StorageUnavailable)  # a message and a detail
            text = exc.full() if known else str(exc) or type(exc).__name__
            log.warning("readiness check %s failed: %s", name, text)
            public = exc.message if known and not debug else text
            return {"ok": False, "detail": shown(public)}

    results = await asyncio.gather(*(one(name, check) for name, check in checks.items()))
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
