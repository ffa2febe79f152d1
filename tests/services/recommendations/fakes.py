"""Fake events and features services for the recommendations service's in-process tests."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient

from musicrec.client import AsyncEventsClient, AsyncFeaturesClient
from musicrec.config import load_settings
from musicrec.services.recommendations.app import create_app, get_events_client, get_features_client
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


def make_client(tmp_path, neighbours: Neighbours, **serving) -> TestClient:
    """The service over the artifacts in ``tmp_path``, its neighbours faked; ``serving``: ``[serving]``
    settings (the tests name ``blend`` and ``max_per_artist`` so ``config.ini``'s defaults do not matter)."""
    settings = load_settings(paths={"artifacts_dir": str(tmp_path)}, serving=serving)
    app = create_app(settings)
    app.dependency_overrides[get_events_client] = lambda: AsyncEventsClient(
        "http://events", transport=httpx.MockTransport(neighbours.events_handler), retries=0
    )
    app.dependency_overrides[get_features_client] = lambda: AsyncFeaturesClient(
        "http://features", transport=httpx.MockTransport(neighbours.features_handler), retries=0
    )
    return TestClient(app)
