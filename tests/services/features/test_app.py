"""Features service through its HTTP interface, with ``create_app(settings)`` and ``TestClient``."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.features import create_app
from musicrec.services.features.index import SimilarIndex
from musicrec.services.features.routes import get_similar_index


def _settings(artifacts_dir, **serving):
    serving = {"max_k": 50, "max_batch": 3, **serving}
    return load_settings(paths={"artifacts_dir": artifacts_dir}, serving=serving)


@pytest.fixture
def client(artifacts_dir):
    with TestClient(create_app(_settings(artifacts_dir))) as c:
        yield c


def test_root_and_ready(client):
    assert client.get("/").json() == {"message": "Features service is working"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["similar_items"] == {"ok": True, "detail": "run flat: 2 items, 4 pairs"}


def test_similar_items_best_first_and_k(client):
    expected = {"item_id_2": [12, 13, 11], "score": [0.9, 0.7, 0.5]}
    assert client.post("/similar_items?item_id=1").json() == expected
    assert client.post("/similar_items?item_id=1&k=2").json() == {"item_id_2": [12, 13], "score": [0.9, 0.7]}
    assert client.post("/similar_items?item_id=1&k=1").json() == {"item_id_2": [12], "score": [0.9]}


def test_unknown_item_gives_empty_lists(client):
    response = client.post("/similar_items?item_id=999")
    assert response.status_code == 200
    assert response.json() == {"item_id_2": [], "score": []}


@pytest.mark.parametrize(
    ("query", "param"),
    [("item_id=-1", "item_id"), ("item_id=abc", "item_id"), ("", "item_id"), ("item_id=1&k=0", "k"),
     ("item_id=1&k=51", "k"), ("item_id=1&k=-2", "k")],
)
def test_bad_parameters_answer_422(client, query, param):
    response = client.post(f"/similar_items?{query}")
    assert response.status_code == 422
    assert response.json()["error"]["key"] == "invalid_parameter"
    assert response.json()["error"]["param"] == param


def test_batch_shape(client):
    response = client.post("/similar_items/batch", json={"item_ids": [2, 999, 1], "k": 2})
    assert response.status_code == 200
    assert response.json() == {
        "items": {
            "2": {"item_id_2": [21], "score": [0.3]},
            "999": {"item_id_2": [], "score": []},
            "1": {"item_id_2": [12, 13], "score": [0.9, 0.7]},
        }
    }
    assert list(response.json()["items"]) == ["2", "999", "1"]  # request order


def test_batch_defaults_and_duplicates(client):
    body = client.post("/similar_items/batch", json={"item_ids": [1, 1]}).json()
    assert body == {"items": {"1": {"item_id_2": [12, 13, 11], "score": [0.9, 0.7, 0.5]}}}
    assert client.post("/similar_items/batch", json={"item_ids": []}).json() == {"items": {}}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"item_ids": [1, -1]}, "item_ids", "expected a value >= 0"),
        ({"item_ids": [1, "x"]}, "item_ids", "expected an integer"),
        ({"item_ids": [1, 2, 3, 4]}, "item_ids", "expected at most 3 ids, found 4"),
        ({"item_ids": 5}, "item_ids", "expected a list"),
        ({}, "item_ids", "is required"),
        ({"item_ids": [1], "k": 0}, "k", "expected 1 <= k <= 50, found 0"),
        ({"item_ids": [1], "k": 51}, "k", "found 51"),
        # strict JSON integers: no booleans, floats or strings
        ({"item_ids": [True]}, "item_ids", "expected an integer, found True"),
        ({"item_ids": [1.0]}, "item_ids", "expected an integer, found 1.0"),
        ({"item_ids": ["1"]}, "item_ids", "expected an integer, found '1'"),
        ({"item_ids": [1], "k": "5"}, "k", "expected an integer, found '5'"),
        ({"item_ids": [1], "k": True}, "k", "expected an integer, found True"),
        ({"item_ids": [1], "k": 5.0}, "k", "expected an integer, found 5.0"),
        ({"item_ids": [1], "limit": 5}, "limit", "not a known field"),
    ],
)
def test_batch_validation(client, body, param, fragment):
    response = client.post("/similar_items/batch", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["key"], error["param"]) == ("invalid_parameter", param)
    assert fragment in error["message"]


def test_missing_artifact_starts_but_is_not_ready(tmp_path, caplog):
    with caplog.at_level(logging.ERROR), TestClient(create_app(_settings(tmp_path))) as c:
        assert c.get("/health").status_code == 200
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert "similar.parquet: file not found" in ready.json()["error"]["message"]
        for response in (c.post("/similar_items?item_id=1"),
                         c.post("/similar_items/batch", json={"item_ids": [1]})):
            assert response.status_code == 503
            assert response.json()["error"]["key"] == "not_ready"
            assert "file not found" in response.json()["error"]["message"]
    assert any("similar.parquet: file not found" in r.getMessage() for r in caplog.records)


def test_index_dependency_can_be_overridden(tmp_path):
    app = create_app(_settings(tmp_path))
    app.dependency_overrides[get_similar_index] = lambda: SimilarIndex.build([4], [40], [1.0])
    with TestClient(app) as c:
        assert c.post("/similar_items?item_id=4").json() == {"item_id_2": [40], "score": [1.0]}


def test_metrics_count_hits_and_misses(client):
    client.post("/similar_items?item_id=1")
    client.post("/similar_items?item_id=999")
    client.post("/similar_items/batch", json={"item_ids": [1, 2, 5]})
    text = client.get("/metrics").text
    assert 'musicrec_similar_lookups_total{result="hit"} 3.0' in text
    assert 'musicrec_similar_lookups_total{result="miss"} 2.0' in text
    assert 'endpoint="/similar_items/batch",method="POST",service="features",status="200"} 1.0' in text
