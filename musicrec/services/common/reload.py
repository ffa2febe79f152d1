"""Hot reload of a service's model: follow the artifacts' ``CURRENT`` run without dropping a request.

A :class:`Reloader` owns the loaded model of one app. It resolves the current run, loads it in a worker
thread *beside* the one being served, then swaps one reference (``install``). A request reads that
reference once and computes its whole answer from the object it got, so requests in flight finish on
the old run and later ones start on the new one; nothing waits for the load. While both are alive the
process holds two models: plan memory for twice the model.

It runs when :meth:`Reloader.poll` notices a new run id (every ``[serving] reload_interval_s``) and on
``POST /admin/reload`` (bearer ``[serving] admin_token``). A load that fails (a missing or corrupt file)
keeps the old model, is logged, counted (``musicrec_model_reloads_total{result="failed"}``) and shown
by ``/ready`` until a later load succeeds. Every response carries the served run's id in the
``X-Model-Version`` header (:class:`ModelVersionMiddleware`; routes that compute from a model set it
from that very model, so it is right even across a swap).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from musicrec.config import Settings
from musicrec.services.common.errors import MusicrecError, Unauthorized, redact
from musicrec.storage.runs import Resolved, resolve_location

log = logging.getLogger(__name__)

HEADER = "X-Model-Version"
NONE = "none"  # the version header while no model is loaded


class Reloader:
    """Loads the current run with ``load(resolved)`` (blocking, run in a thread) and hands the result to
    ``install(model, resolved)`` on the event loop. ``version`` is the served run id."""

    def __init__(self, app: FastAPI, name: str, load: Callable[[Resolved], Any],
                 install: Callable[[Any, Resolved], None]):
        self.app = app
        self.name = name
        self.load = load
        self.install = install
        self.version = NONE
        self.loaded_at: float | None = None
        self.last_error: str | None = None  # the last failed load, cleared by a successful one
        self.last_seconds: float | None = None
        self._lock = asyncio.Lock()
        counter = app.state.metrics.counter("model_reloads", "model loads after start-up by result",
                                            ["result"])
        self._ok, self._failed = counter.labels("ok"), counter.labels("failed")

    @property
    def settings(self) -> Settings:
        return self.app.state.settings

    def _resolve(self) -> Resolved:
        return resolve_location(self.settings.paths.artifacts_dir, self.settings)

    async def start(self) -> None:
        """The load at start-up: a failure leaves no model (routes and ``/ready`` answer 503 with it)."""
        await self.reload(force=True, startup=True)

    async def reload(self, force: bool = False, startup: bool = False) -> dict[str, Any]:
        """Load the current run unless it is the one served (``force``: load it anyway)."""
        async with self._lock:
            start = time.perf_counter()
            try:
                resolved = await asyncio.to_thread(self._resolve)
                if resolved.note and (startup or resolved.run_id != self.version):
                    log.warning("%s", resolved.note)
                if not force and resolved.run_id == self.version:
                    return {"changed": False, "version": self.version}
                model = await asyncio.to_thread(self.load, resolved)
            except Exception as exc:  # noqa: BLE001 - any failed load keeps the old model; reported
                error = str(exc) or type(exc).__name__
                # the poller retries a broken run every interval: log it once, count every attempt
                report = log.error if error != self.last_error else log.debug
                self.last_error = error
                if not startup:
                    self._failed.inc()
                    report("%s: reload failed, still serving run %s: %s", self.name, self.version, error)
                else:
                    report("%s: no model loaded: %s", self.name, error)
                return {"changed": False, "version": self.version, "error": self.last_error}
            old = self.version
            self.install(model, resolved)
            self.version, self.last_error = resolved.run_id, None
            self.loaded_at, self.last_seconds = time.time(), round(time.perf_counter() - start, 3)
            if not startup:
                self._ok.inc()
            log.info("%s: serving run %s (was %s), loaded in %.2f s", self.name, self.version, old,
                     self.last_seconds)
            return {"changed": True, "version": self.version, "previous": old, "seconds": self.last_seconds}

    async def poll(self) -> None:
        """Check the pointer every ``reload_interval_s`` until cancelled (0: never)."""
        interval = self.settings.serving.reload_interval_s
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except Exception:  # never let the poller die; reload() already reports load failures
                log.exception("%s: pointer check failed", self.name)

    def describe(self) -> dict[str, Any]:
        """What ``/ready`` shows under ``model`` (the error without directories or URLs unless
        ``[serving] debug``: the log has them)."""
        error = self.last_error
        if error is not None and not self.settings.serving.debug:
            error = redact(error)
        return {"version": self.version, "loaded_at": self.loaded_at, "load_seconds": self.last_seconds,
                "last_reload_error": error}


class ModelVersionMiddleware:
    """Adds ``X-Model-Version: <served run id>`` to every response that does not set it itself."""

    def __init__(self, app: ASGIApp, version: Callable[[], str]) -> None:
        self.app = app
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-model-version" for name, _ in headers):
                    message["headers"] = [*headers, (b"x-model-version", self.version().encode())]
            await send(message)

        await self.app(scope, receive, send_with_version)


def install_reloader(app: FastAPI, reloader: Reloader) -> None:
    """Wire ``reloader`` into the app: the version header, ``/ready``'s ``model`` and ``/admin/reload``."""
    app.state.reloader = reloader
    app.state.ready_extras["model"] = reloader.describe


async def start_reloading(app: FastAPI) -> asyncio.Task[None]:
    """The start-up load, then the poller as a task (cancel it at shutdown)."""
    reloader: Reloader = app.state.reloader
    await reloader.start()
    return asyncio.create_task(reloader.poll(), name=f"{reloader.name}-reload")


def _current_version(app: FastAPI) -> Callable[[], str]:
    def version() -> str:
        reloader = getattr(app.state, "reloader", None)
        return reloader.version if reloader is not None else NONE

    return version


def add_version_header(app: FastAPI) -> None:
    app.add_middleware(ModelVersionMiddleware, version=_current_version(app))


router = APIRouter()


@router.post("/admin/reload", include_in_schema=False)  # an operator's endpoint, as /metrics
async def admin_reload(request: Request) -> dict:
    """Load the current run now (even if its id is the one served): ``{"changed": true, "version": ...,
    "previous": ..., "seconds": ...}``. Needs ``Authorization: Bearer <[serving] admin_token>``; with no
    token configured every call is refused (401 ``unauthorized``); a failed load answers 503
    ``reload_failed`` and the old run stays served."""
    token = request.app.state.settings.serving.admin_token
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not token:
        raise Unauthorized("POST /admin/reload is disabled: set [serving] admin_token "
                           "(MUSICREC_SERVING__ADMIN_TOKEN)")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("POST /admin/reload needs the header "
                           "Authorization: Bearer <[serving] admin_token>")
    result = await request.app.state.reloader.reload(force=True)
    if "error" in result:
        message = f"reload failed, still serving run {result['version']}: {redact(result['error'])}"
        raise MusicrecError(message, key="reload_failed", status_code=503, detail=result["error"])
    return result
