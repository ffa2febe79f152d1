"""FastRoute: plainly valid requests take the fast path; anything else, FastAPI's, with its envelopes."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common import K10, SettingsDep, UserId, build_app, get_settings
from musicrec.services.common.fastpath import EXPLAIN, USER_ID, FastRoute, fast_path, k_param


async def _fast(app: FastAPI, user_id: int, k: int, explain: bool) -> Response | None:
    if user_id == 13:
        return None  # declined: FastAPI answers
    return Response(f"fast {user_id} {k} {explain}", media_type="text/plain")


def _app() -> FastAPI:
    router = APIRouter(route_class=FastRoute)

    @router.post("/echo")
    @fast_path(USER_ID, k_param(10), EXPLAIN, answer=_fast)
    async def echo(request: Request, settings: SettingsDep, user_id: UserId, k: K10, explain: bool = False):
        return Response(f"fastapi {user_id} {k} {explain}", media_type="text/plain")

    return build_app(load_settings(serving={"max_k": 50}), service="demo", title="Demo", routers=(router,))


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ("user_id=3", "fast 3 10 False"),
        ("k=50&user_id=007&explain=true", "fast 7 50 True"),
        ("user_id=13&k=2", "fastapi 13 2 False"),  # the fast path declined
        ("user_id=3&explain=True", "fastapi 3 10 True"),  # pydantic's spelling of a bool
        ("user_id=3&k=%35", "fastapi 3 5 False"),
        ("user_id=3&other=1", "fastapi 3 10 False"),
        ("user_id=3&user_id=4", "fastapi 4 10 False"),
    ],
)
def test_plainly_valid_requests_take_the_fast_path(query, answer):
    with TestClient(_app()) as client:
        assert client.post(f"/echo?{query}").text == answer


@pytest.mark.parametrize(("query", "param"), [("k=3", "user_id"), ("user_id=-1", "user_id"),
                                              ("user_id=1&k=51", "k"), ("user_id=1&k=0", "k")])
def test_invalid_requests_get_fastapis_envelope(query, param):
    with TestClient(_app()) as client:
        response = client.post(f"/echo?{query}")
    assert response.status_code == 422
    assert response.json()["error"]["param"] == param


def test_dependency_overrides_turn_the_fast_path_off():
    app = _app()
    app.dependency_overrides[get_settings] = lambda: load_settings(serving={"max_k": 50})
    with TestClient(app) as client:
        assert client.post("/echo?user_id=3").text == "fastapi 3 10 False"
