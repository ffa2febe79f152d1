"""Hot reload in process: the services follow CURRENT, swap whole runs, keep the old run on a failure."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.features.app import create_app as features_app
from musicrec.services.recommendations.app import create_app as recommendations_app
from musicrec.storage.runs import RunStore
from tests.helpers.runs import add_run, items_of

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _settings(tmp_path, interval: float = 0):
    return load_settings(paths={"artifacts_dir": tmp_path / "artifacts"},
                         serving={"reload_interval_s": interval, "admin_token": TOKEN, "timeout_s": 0.2},
                         urls={"events_store_url": "http://127.0.0.1:9", "features_store_url": "http://127.0.0.1:9"})


@pytest.fixture
def runs(tmp_path):
    return RunStore.open(tmp_path / "artifacts", load_settings())


def _similar(client: TestClient, item: int):
    response = client.post("/similar_items", params={"item_id": item, "k": 5})
    assert response.status_code == 200
    return response.headers["X-Model-Version"], response.json()["item_id_2"]


def _reloads(client: TestClient, result: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'musicrec_model_reloads_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_features_reload_on_request_swaps_the_whole_run(tmp_path, runs):
    first = add_run(runs, 1000)
    with TestClient(features_app(_settings(tmp_path))) as client:
        assert _similar(client, 1001) == (first, [1002, 1003])
        assert client.get("/ready").json()["model"]["version"] == first
        second = add_run(runs, 2000)
        assert _similar(client, 1001) == (first, [1002, 1003])  # no polling: still the first run
        assert client.post("/admin/reload").status_code == 401
        wrong = client.post("/admin/reload", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.json()["error"]["key"] == "unauthorized"
        answer = client.post("/admin/reload", headers=AUTH)
        assert answer.status_code == 200
        assert answer.json()["changed"] and answer.json()["version"] == second
        assert answer.json()["previous"] == first
        assert _similar(client, 1001) == (second, [])  # the old run's items are gone with it
        assert _similar(client, 2001) == (second, [2002, 2003])
        assert client.get("/health").headers["X-Model-Version"] == second  # every response carries it
        ready = client.get("/ready").json()
        assert ready["model"]["version"] == second and ready["model"]["last_reload_error"] is None
        assert ready["checks"]["similar_items"]["detail"].startswith(f"run {second}:")
        assert _reloads(client, "ok") == 1 and _reloads(client, "failed") == 0


def test_a_failing_reload_keeps_the_old_run_and_says_why(tmp_path, runs):
    first = add_run(runs, 1000)
    with TestClient(features_app(_settings(tmp_path))) as client:
        broken = add_run(runs, 2000)
        (tmp_path / "artifacts" / "runs" / broken / "similar.parquet").write_bytes(b"not parquet")
        answer = client.post("/admin/reload", headers=AUTH)
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["key"] == "reload_failed" and f"still serving run {first}" in error["message"]
        assert str(tmp_path) not in error["message"]
        assert _similar(client, 1001) == (first, [1002, 1003])
        ready = client.get("/ready")
        assert ready.status_code == 200  # it still serves: ready, with the failure reported
        error = ready.json()["model"]["last_reload_error"]
        assert "similar.parquet" in error and str(tmp_path) not in error  # no directory for a client
        assert ready.json()["model"]["version"] == first
        assert _reloads(client, "failed") == 1
        fixed = add_run(runs, 3000)  # a good run later clears the error
        assert client.post("/admin/reload", headers=AUTH).json()["version"] == fixed
        assert client.get("/ready").json()["model"]["last_reload_error"] is None


def test_admin_reload_is_refused_without_a_configured_token(tmp_path, runs):
    add_run(runs, 1000)
    settings = load_settings(paths={"artifacts_dir": tmp_path / "artifacts"},
                             serving={"reload_interval_s": 0})
    with TestClient(features_app(settings)) as client:
        answer = client.post("/admin/reload", headers={"Authorization": "Bearer "})
        assert answer.status_code == 401 and "set [serving] admin_token" in answer.json()["error"]["message"]


def test_recommendations_follow_the_pointer_by_polling(tmp_path, runs):
    first = add_run(runs, 1000)
    with TestClient(recommendations_app(_settings(tmp_path, interval=0.1))) as client:
        answer = client.post("/recommendations_offline", params={"user_id": 1, "k": 3})
        assert answer.headers["X-Model-Version"] == first and answer.json()["recs"] == [1001, 1002, 1003]
        second = add_run(runs, 2000)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = client.post("/recommendations_offline", params={"user_id": 1, "k": 3})
            if answer.headers["X-Model-Version"] == second:
                break
            time.sleep(0.05)
        assert answer.headers["X-Model-Version"] == second and answer.json()["recs"] == [2001, 2002, 2003]
        default = client.post("/recommendations_default", params={"k": 2})
        assert default.headers["X-Model-Version"] == second and set(default.json()["recs"]) <= items_of(2000)
        assert client.get("/ready").json()["model"]["version"] == second
        runs.rollback()
        deadline = time.monotonic() + 10
        while client.get("/ready").json()["model"]["version"] != first and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = client.post("/recommendations_offline", params={"user_id": 1, "k": 3})
        assert answer.headers["X-Model-Version"] == first and answer.json()["recs"] == [1001, 1002, 1003]


def test_a_flat_layout_is_served_as_version_flat(tmp_path):
    from tests.helpers.runs import write_run_files

    write_run_files(tmp_path / "artifacts", 1000)
    with TestClient(features_app(_settings(tmp_path))) as client:
        assert _similar(client, 1001) == ("flat", [1002, 1003])


def test_a_broken_run_retried_is_counted_each_time_and_logged_once(tmp_path, runs, caplog):
    add_run(runs, 1000)
    with TestClient(features_app(_settings(tmp_path))) as client:
        broken = add_run(runs, 2000)
        (tmp_path / "artifacts" / "runs" / broken / "similar.parquet").write_bytes(b"not parquet")
        with caplog.at_level("DEBUG", logger="musicrec.services.common.reload"):
            for _ in range(3):
                assert client.post("/admin/reload", headers=AUTH).status_code == 503
        assert _reloads(client, "failed") == 3
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "reload failed" in r.getMessage()]
    assert len(errors) == 1
