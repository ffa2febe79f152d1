"""The recommendations service in-process: real artifacts on disk, neighbours on ``httpx.MockTransport``.

These tests pin the original behaviour: ``[serving] blend = alternate`` and no artist cap, over
artifacts that do have ``blend.json`` (so the setting, not a fallback, picks the rule). The learned
blend, the cap and the explanations have their own modules.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common.testing import free_port
from musicrec.services.recommendations.app import create_app
from tests.services.recommendations.artifacts import (
    COLD_USER,
    PERSONAL,
    POPULAR,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import make_client

ORIGINAL = {"blend": "alternate", "max_per_artist": 0}


@pytest.fixture
def client(tmp_path, neighbours):
    write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS)
    with make_client(tmp_path, neighbours, **ORIGINAL) as test_client:
        yield test_client


def recs(client: TestClient, path: str, **params) -> list[int]:
    response = client.post(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["recs"]


def test_root_says_it_is_working(client):
    assert client.get("/").json() == {"message": "Recommendations service is working"}


def test_default_is_top_popular(client):
    assert recs(client, "/recommendations_default", k=3) == POPULAR[:3]
    assert recs(client, "/recommendations_default") == POPULAR  # k=100 > what exists


# -- scenario 1: cold user --------------------------------------------------------------------------


def test_cold_user_gets_popular_everywhere(client, neighbours):
    assert recs(client, "/recommendations_offline", user_id=COLD_USER, k=4) == POPULAR[:4]
    assert recs(client, "/recommendations_online", user_id=COLD_USER, k=4) == []
    assert recs(client, "/recommendations", user_id=COLD_USER, k=4) == POPULAR[:4]


def test_cold_user_with_online_events_interleaves_popular_and_online(client, neighbours):
    neighbours.events[COLD_USER] = [502]
    # online: 303; offline (popular): 201, 202, 103, ...
    assert recs(client, "/recommendations", user_id=COLD_USER, k=4) == [201, 303, 202, 103]


# -- scenario 2: warm user without online history ---------------------------------------------------


def test_offline_is_personal_list_in_rank_order(client):
    assert recs(client, "/recommendations_offline", user_id=WARM_USER, k=3) == [101, 102, 103]


def test_offline_backfills_with_popular_without_duplicates(client):
    body = client.post("/recommendations_offline", params={"user_id": WARM_USER, "k": 8}).json()
    assert body["recs"] == [101, 102, 103, 104, 105, 201, 202, 203]
    assert body["sources"] == ["offline"] * 5 + ["popular"] * 3
    assert body["degraded"] is False
    # Everything there is: 5 personal + 5 popular not already in it.
    assert recs(client, "/recommendations_offline", user_id=WARM_USER) == [101, 102, 103, 104, 105, 201, 202,
                                                                            203, 204, 205]


def test_warm_user_without_events(client):
    assert recs(client, "/recommendations_online", user_id=WARM_USER, k=5) == []
    assert recs(client, "/recommendations", user_id=WARM_USER, k=7) == [101, 102, 103, 104, 105, 201, 202]
    assert recs(client, "/recommendations", user_id=WARM_USER_2, k=4) == [103, 106, 201, 202]


# -- scenario 3: warm user with online history ------------------------------------------------------


def test_online_combines_latest_events_with_recency_weights(client, neighbours):
    neighbours.events[WARM_USER] = [501, 500, 502, 101]  # newest first; only 3 are used
    # 501: 302 .8, 304 .7, 500 (an event: excluded); 500 (x0.5): 301 .45, 302 .3, 101 .25;
    # 502 (x0.25): 303 .225
    assert recs(client, "/recommendations_online", user_id=WARM_USER, k=10) == [302, 304, 301, 101, 303]
    assert recs(client, "/recommendations_online", user_id=WARM_USER, k=2) == [302, 304]
    assert neighbours.batch_calls[0] == {"item_ids": [501, 500, 502], "k": 10}


def test_blended_alternates_offline_and_online(client, neighbours):
    neighbours.events[WARM_USER] = [501, 500]
    # offline 101 102 103 104 105; online 302 304 301 101
    body = client.post("/recommendations", params={"user_id": WARM_USER, "k": 6}).json()
    assert body["recs"] == [101, 302, 102, 304, 103, 301]
    assert body["sources"] == ["offline", "online"] * 3
    # online's 101 is a duplicate: online runs out, offline's tail follows, then popular (103 skipped)
    assert recs(client, "/recommendations", user_id=WARM_USER, k=20) == [
        101, 302, 102, 304, 103, 301, 104, 105, 201, 202, 203, 204, 205
    ]


def test_blended_never_recommends_the_online_events(client, neighbours):
    neighbours.events[WARM_USER_2] = [103]  # a personal item just listened to
    result = recs(client, "/recommendations", user_id=WARM_USER_2, k=5)
    assert 103 not in result
    assert result == [106, 201, 202, 203, 204]


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9, 13, 50])
def test_blended_invariants(client, neighbours, k):
    neighbours.events[WARM_USER] = [501, 500, 502]
    result = recs(client, "/recommendations", user_id=WARM_USER, k=k)
    online = recs(client, "/recommendations_online", user_id=WARM_USER, k=k)
    available = set(PERSONAL[WARM_USER]) | set(online) | set(POPULAR)
    assert len(result) == len(set(result)) == min(k, len(available))
    # While both lists last (online has 3 usable items here), offline holds the even positions.
    n = min(len(result[0::2]), 3)
    assert result[0::2][:n] == PERSONAL[WARM_USER][:n]
    n = min(len(result[1::2]), 3)
    assert result[1::2][:n] == online[:n]
    assert all(isinstance(item, int) for item in result)


# -- degraded answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events_mode", "features_mode", "reason"),
    [
        ("down", "ok", "events_unavailable"),
        ("timeout", "ok", "events_unavailable"),
        ("error", "ok", "events_unavailable"),
        ("ok", "down", "features_unavailable"),
        ("ok", "timeout", "features_unavailable"),
        ("ok", "error", "features_unavailable"),
    ],
)
@pytest.mark.parametrize("blend", ["alternate", "learned"])
def test_failing_neighbour_degrades_instead_of_failing(
    tmp_path, neighbours, events_mode, features_mode, reason, blend
):
    write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS)
    with make_client(tmp_path, neighbours, blend=blend, max_per_artist=0) as client:
        check_degraded(client, neighbours, events_mode, features_mode, reason)


def check_degraded(client, neighbours, events_mode, features_mode, reason):
    neighbours.events[WARM_USER] = [501, 500]
    neighbours.events_mode, neighbours.features_mode = events_mode, features_mode
    online = client.post("/recommendations_online", params={"user_id": WARM_USER, "k": 5})
    assert online.status_code == 200
    assert online.json()["recs"] == [] and online.json()["degraded"] is True
    blended = client.post("/recommendations", params={"user_id": WARM_USER, "k": 7})
    assert blended.status_code == 200
    assert blended.json()["recs"] == [101, 102, 103, 104, 105, 201, 202]
    assert blended.json()["degraded"] is True
    metrics = client.get("/metrics").text
    assert f'musicrec_degraded_answers_total{{endpoint="blended",reason="{reason}"}} 1.0' in metrics
    assert f'musicrec_degraded_answers_total{{endpoint="online",reason="{reason}"}} 1.0' in metrics


def test_degraded_answer_is_logged(client, neighbours, caplog):
    neighbours.events_mode = "down"
    with caplog.at_level("WARNING"):
        client.post("/recommendations", params={"user_id": WARM_USER, "k": 3})
    assert any("without events" in r.getMessage() for r in caplog.records)


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/recommendations_offline", {"user_id": -1, "k": 5}, "user_id"),
        ("/recommendations_offline", {"user_id": 1, "k": 0}, "k"),
        ("/recommendations_offline", {"user_id": 1, "k": 1001}, "k"),
        ("/recommendations_offline", {"user_id": "abc"}, "user_id"),
        ("/recommendations_offline", {"k": 5}, "user_id"),
        ("/recommendations_default", {"k": -3}, "k"),
        ("/recommendations_default", {"k": "1.5"}, "k"),
        ("/recommendations_online", {"user_id": -5}, "user_id"),
        ("/recommendations_online", {"user_id": 1, "k": 0}, "k"),
        ("/recommendations", {"user_id": 1, "k": 1001}, "k"),
        ("/recommendations", {"user_id": "x", "k": 5}, "user_id"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(client, path, params, param):
    response = client.post(path, params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["key"] == "invalid_parameter"
    assert error["param"] == param
    assert param in error["message"]


def test_max_k_comes_from_settings(tmp_path, neighbours):
    write_artifacts(tmp_path)
    with make_client(tmp_path, neighbours, max_k=3) as small:
        assert small.post("/recommendations_default", params={"k": 3}).status_code == 200
        assert small.post("/recommendations_default", params={"k": 4}).json()["error"]["param"] == "k"


# -- health and readiness ---------------------------------------------------------------------------


def test_missing_artifacts_mean_not_ready_not_a_crash(tmp_path, neighbours):
    with make_client(tmp_path / "nowhere", neighbours) as client:
        assert client.get("/health").status_code == 200
        response = client.post("/recommendations_offline", params={"user_id": 1})
        assert response.status_code == 503
        assert response.json()["error"]["key"] == "not_ready"
        assert "recommendations.parquet: file not found" in response.json()["error"]["message"]
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["artifacts"]["ok"] is False


def test_ready_reports_unreachable_neighbours(tmp_path, neighbours):
    write_artifacts(tmp_path)
    nowhere = {key: f"http://127.0.0.1:{free_port()}" for key in ("events_store_url", "features_store_url")}
    serving = {"blend": "learned"}
    settings = load_settings(paths={"artifacts_dir": str(tmp_path)}, urls=nowhere, serving=serving)
    app = create_app(settings)
    with TestClient(app) as client:
        ready = client.get("/ready")
    checks = ready.json()["checks"]
    assert ready.status_code == 503
    assert ready.json()["error"]["key"] == "not_ready"
    assert checks["artifacts"] == {
        "ok": True,
        "detail": "run flat: recommendations.parquet: 3 users; 6 popular; blend: alternate (blend.json not "
                  "found: artifacts of an older train)",
    }
    assert checks["events"]["ok"] is False and checks["features"]["ok"] is False
