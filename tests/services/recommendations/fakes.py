"""Fake events and features services for the recommendations service's in-process tests."""

from __future__ import annotations

import json

import httpx
from fastapi import Request
from fastapi.testclient import TestClient

from musicrec.config import Settings, load_settings
from musicrec.services.common import get_settings
from musicrec.services.recommendations.app import create_app
from tests.services.recommendations.artifacts import SIMILAR


class Neighbours:
    """Fake events and features services; ``events_mode``/``features_mode``: ok, down, timeout, error."""

    def __init__(self) -> None:
        self.events: dict[int, list[int]] = {}
        self.events_mode = "ok"
        self.features_mode = "ok"
        self.batch_calls: list[dict] = []

    def _fail(self, mode: str, request: httpx.Request) -> httpx.Response | None:
        if mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if mode == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if mode == "error":
            error = {"key": "storage_unavailable", "message": "x", "param": None}
            return httpx.Response(503, json={"error": error})
        return None

    def events_handler(self, request: httpx.Request) -> httpx.Response:
        failed = self._fail(self.events_mode, request)
        if failed is not None:
            return failed
        assert request.url.path == "/get"
        user, k = int(request.url.params["user_id"]), int(request.url.params["k"])
        return httpx.Response(200, json={"events": self.events.get(user, [])[:k]})

    def features_handler(self, request: httpx.Request) -> httpx.Response:
        failed = self._fail(self.features_mode, request)
        if failed is not None:
            return failed
        assert request.url.path == "/similar_items/batch"
        payload = json.loads(request.content)
        self.batch_calls.append(payload)
        items = {
            str(i): {"item_id_2": [b for b, _ in SIMILAR[i][: payload["k"]]],
                     "score": [s for _, s in SIMILAR[i][: payload["k"]]]}
            for i in payload["item_ids"] if i in SIMILAR
        }
        return httpx.Response(200, json={"items": items})


    def handler(self, request: httpx.Request) -> httpx.Response:
        """Both services behind one transport, told apart by host (``make_client`` names them)."""
        return {"events": self.events_handler, "features": self.features_handler}[request.url.host](request)


URLS = {"events_store_url": "http://events", "features_store_url": "http://features"}


def make_client(tmp_path, neighbours: Neighbours, via_fastapi: bool = False, **serving) -> TestClient:
    """The service over the artifacts in ``tmp_path``, its neighbours faked; ``serving``: ``[serving]``
    settings (the tests name ``blend`` and ``max_per_artist`` so ``config.ini``'s defaults do not matter).

    Valid requests take the routes' fast path; ``via_fastapi`` sends every request through FastAPI's
    dependencies instead (a dependency override turns the fast path off)."""
    settings = load_settings(paths={"artifacts_dir": str(tmp_path)}, urls=URLS, serving=serving)
    app = create_app(settings, transport=httpx.MockTransport(neighbours.handler))
    if via_fastapi:
        app.dependency_overrides[get_settings] = _same_settings
    return TestClient(app)


async def _same_settings(request: Request) -> Settings:
    return request.app.state.settings
