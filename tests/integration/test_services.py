"""The three real services together: values per scenario, degraded answers, bad inputs, test_service.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.services.recommendations.artifacts import (
    COLD_USER,
    POPULAR,
    WARM_USER,
    WARM_USER_2,
    WARM_USER_3,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def post(url: str, path: str, **params) -> httpx.Response:
    return httpx.post(f"{url}{path}", params=params, timeout=10)


def answer(stack, path: str, **params) -> dict:
    response = post(stack.urls["recommendations"], path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_service_says_it_is_working_and_is_ready(stack):
    for name, url in stack.urls.items():
        assert httpx.get(f"{url}/").json() == {"message": f"{name.capitalize()} service is working"}
    ready = httpx.get(f"{stack.urls['recommendations']}/ready")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"artifacts", "events", "features"}
    # the stack's artifacts are one run made current, as train leaves them: every answer names it
    assert ready.json()["model"]["version"] == stack.run_id
    for name, path in (("recommendations", "/recommendations_default"),
                       ("features", "/similar_items?item_id=500"), ("events", "/get?user_id=1")):
        headers = post(stack.urls[name], path).headers
        assert headers.get("X-Model-Version") == (stack.run_id if name != "events" else None), name


def test_cold_user(stack):
    assert answer(stack, "/recommendations_default", k=3)["recs"] == POPULAR[:3]
    assert answer(stack, "/recommendations_offline", user_id=COLD_USER, k=4)["recs"] == POPULAR[:4]
    assert answer(stack, "/recommendations_online", user_id=COLD_USER, k=4) == {
        "recs": [], "degraded": False, "sources": []
    }
    assert answer(stack, "/recommendations", user_id=COLD_USER, k=4)["recs"] == POPULAR[:4]


def test_warm_user_without_online_history(stack):
    offline = answer(stack, "/recommendations_offline", user_id=WARM_USER_2, k=5)
    assert offline["recs"] == [103, 106, 201, 202, 203]
    assert offline["sources"] == ["offline", "offline", "popular", "popular", "popular"]
    assert answer(stack, "/recommendations_online", user_id=WARM_USER_2, k=5)["recs"] == []
    assert answer(stack, "/recommendations", user_id=WARM_USER_2, k=5)["recs"] == [103, 106, 201, 202, 203]


def test_warm_user_with_online_history(stack):
    events = stack.urls["events"]
    for item in (500, 501):
        assert post(events, "/put", user_id=WARM_USER, item_id=item).json() == {"result": "ok"}
    assert post(events, "/get", user_id=WARM_USER).json() == {"events": [501, 500]}
    assert answer(stack, "/recommendations_online", user_id=WARM_USER, k=10)["recs"] == [302, 304, 301, 101]
    blended = answer(stack, "/recommendations", user_id=WARM_USER, k=20)
    assert blended["recs"] == [101, 302, 102, 304, 103, 301, 104, 105, 201, 202, 203, 204, 205]
    assert blended["degraded"] is False
    # The offline list itself does not depend on online events.
    assert answer(stack, "/recommendations_offline", user_id=WARM_USER, k=3)["recs"] == [101, 102, 103]


def test_with_an_events_token_the_recommendations_service_sends_it(tmp_path):
    from tests.integration.stack import Stack

    with Stack(tmp_path, token="t0k") as locked:
        auth = {"Authorization": "Bearer t0k"}
        events = locked.urls["events"]
        assert httpx.post(f"{events}/get", params={"user_id": WARM_USER}).status_code == 401
        for item in (500, 501):
            httpx.post(f"{events}/put", params={"user_id": WARM_USER, "item_id": item}, headers=auth)
        online = answer(locked, "/recommendations_online", user_id=WARM_USER, k=10)
        assert (online["recs"], online["degraded"]) == ([302, 304, 301, 101], False)


def test_explanations_and_the_served_blend(stack):
    # the tiny artifacts have no blend.json (a train before the learned blend): the alternate rule
    ready = httpx.get(f"{stack.urls['recommendations']}/ready").json()
    assert ready["checks"]["artifacts"]["detail"].endswith(
        "blend: alternate (blend.json not found: artifacts of an older train)")
    for item in (500, 501):  # the same listens as test_warm_user_with_online_history
        post(stack.urls["events"], "/put", user_id=WARM_USER, item_id=item)
    explained = answer(stack, "/recommendations", user_id=WARM_USER, k=4, explain="true")
    assert explained["recs"] == [101, 302, 102, 304]
    assert explained["explanations"] == [
        {"source": "personal", "reason": "personal_taste"},
        {"source": "online", "reason": "similar_to_listen", "listen": 501},
        {"source": "personal", "reason": "personal_taste"},
        {"source": "online", "reason": "similar_to_listen", "listen": 501},
    ]
    assert "explanations" not in answer(stack, "/recommendations", user_id=WARM_USER, k=4)


def test_features_service_similar_items(stack):
    features = stack.urls["features"]
    assert post(features, "/similar_items", item_id=500, k=2).json() == {"item_id_2": [301, 302],
                                                                          "score": pytest.approx([0.9, 0.6])}
    assert post(features, "/similar_items", item_id=12345).json() == {"item_id_2": [], "score": []}


@pytest.mark.parametrize("neighbour", ["events", "features"])
def test_a_stopped_neighbour_degrades_answers(stack, neighbour):
    post(stack.urls["events"], "/put", user_id=WARM_USER_3, item_id=502)
    # offline 105 101, online 303
    sources = ["offline", "online", "offline", "popular"]
    healthy = {"recs": [105, 303, 101, 201], "degraded": False, "sources": sources}
    assert answer(stack, "/recommendations", user_id=WARM_USER_3, k=4) == healthy
    service = getattr(stack, neighbour)
    service.stop()
    try:
        online = answer(stack, "/recommendations_online", user_id=WARM_USER_3, k=5)
        assert online["recs"] == [] and online["degraded"] is True
        blended = answer(stack, "/recommendations", user_id=WARM_USER_3, k=4)
        assert blended == {"recs": [105, 101, 201, 202], "degraded": True,
                           "sources": ["offline", "offline", "popular", "popular"]}
        assert answer(stack, "/recommendations_offline", user_id=WARM_USER_3, k=2)["recs"] == [105, 101]
        ready = httpx.get(f"{stack.urls['recommendations']}/ready")
        assert ready.status_code == 503 and ready.json()["checks"][neighbour]["ok"] is False
        metrics = httpx.get(f"{stack.urls['recommendations']}/metrics").text
        labels = f'endpoint="blended",reason="{neighbour}_unavailable"'
        assert f"musicrec_degraded_answers_total{{{labels}}} 1.0" in metrics
    finally:
        service.start()
    assert answer(stack, "/recommendations", user_id=WARM_USER_3, k=4) == healthy


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/recommendations_offline", {"user_id": -1}, "user_id"),
        ("/recommendations_offline", {"user_id": 1, "k": 0}, "k"),
        ("/recommendations_offline", {"user_id": 1, "k": 1001}, "k"),
        ("/recommendations_offline", {"user_id": "one"}, "user_id"),
        ("/recommendations_default", {"k": "ten"}, "k"),
        ("/recommendations_online", {"user_id": -2, "k": 5}, "user_id"),
        ("/recommendations_online", {"user_id": 1, "k": 2.5}, "k"),
        ("/recommendations", {"user_id": 1, "k": 0}, "k"),
        ("/recommendations", {}, "user_id"),
    ],
)
def test_bad_inputs(stack, path, params, param):
    response = post(stack.urls["recommendations"], path, **params)
    assert response.status_code == 422
    assert response.json()["error"]["key"] == "invalid_parameter"
    assert response.json()["error"]["param"] == param


def test_bad_inputs_to_neighbours(stack):
    for url, path, params, param in [
        (stack.urls["events"], "/put", {"user_id": -1, "item_id": 1}, "user_id"),
        (stack.urls["events"], "/get", {"user_id": 1, "k": 0}, "k"),
        (stack.urls["features"], "/similar_items", {"item_id": "x"}, "item_id"),
    ]:
        response = post(url, path, **params)
        assert (response.status_code, response.json()["error"]["param"]) == (422, param)
    assert httpx.get(f"{stack.urls['recommendations']}/no_such_route").json()["error"]["key"] == "not_found"


def test_test_service_cli_against_real_services(stack, tmp_path):
    env = {**os.environ, **stack.env, "MUSICREC_CONFIG": str(ROOT / "config.ini")}

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "test_service.py"), *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    top = cli()
    assert top.returncode == 0, top.stderr
    assert top.stdout.splitlines()[2].split()[:4] == ["1", "201", "Track", "201"]
    added = cli("--add_online", "--user_id", "5", "--item_id", "500")
    assert added.returncode == 0 and "Track 500" in added.stdout
    online = cli("--online", "--user_id", "5", "--k", "2", "--json")
    assert online.stdout.strip() == '{"recs": [301, 302], "degraded": false, "sources": ["online", "online"]}'
    blended = cli("--blended", "--user_id", str(WARM_USER_2), "--k", "3")
    assert [line.split()[1] for line in blended.stdout.splitlines()[2:]] == ["103", "106", "201"]
    bad = cli("--offline", "--user_id", "1", "--k", "5000")
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("422 invalid_parameter: k: expected 1 <= k <= 1000, found 5000")
    log = (tmp_path / "test_service.log").read_text()
    assert "Track 202" in log and '"recs": [301, 302]' in log and "found 5000" in log
