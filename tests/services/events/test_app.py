"""Events service through its HTTP interface, with ``create_app(settings)`` and ``TestClient``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common import StorageUnavailable
from musicrec.services.events import create_app
from musicrec.services.events.dependencies import get_event_store


def _settings(tmp_path, **events):
    events = {"sqlite_path": tmp_path / "events.sqlite3", **events}
    return load_settings(events=events, serving={"max_k": 100})


@pytest.fixture(params=["sqlite", "redis"])
def client(request, tmp_path):
    events = {"backend": request.param}
    if request.param == "redis":
        events["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(_settings(tmp_path, **events))) as c:
        yield c


def put(client, user_id, item_id, **kwargs):
    return client.post("/put", params={"user_id": user_id, "item_id": item_id}, **kwargs)


def test_root_says_working(client):
    assert client.get("/").json() == {"message": "Events service is working"}


def test_put_then_get_newest_first(client):
    for item in (5, 6, 7):
        assert put(client, 1, item).json() == {"result": "ok"}
    assert client.post("/get", params={"user_id": 1}).json() == {"events": [7, 6, 5]}
    assert client.post("/get", params={"user_id": 1, "k": 2}).json() == {"events": [7, 6]}
    assert client.post("/get", params={"user_id": 2}).json() == {"events": []}


def test_relisten_moves_to_front(client):
    for item in (1, 2, 3, 1):
        put(client, 4, item)
    assert client.post("/get?user_id=4").json() == {"events": [1, 3, 2]}


def test_keeps_exactly_ten_by_default(client):
    for item in range(12):
        put(client, 8, item)
    assert client.post("/get?user_id=8&k=100").json() == {"events": list(range(11, 1, -1))}


def test_max_events_per_user_is_configurable(tmp_path):
    with TestClient(create_app(_settings(tmp_path, max_events_per_user=3))) as c:
        for item in range(5):
            put(c, 1, item)
        assert c.post("/get?user_id=1&k=10").json() == {"events": [4, 3, 2]}


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/put", "user_id=-1&item_id=1", "user_id"),
        ("/put", "user_id=1&item_id=-1", "item_id"),
        ("/put", "user_id=x&item_id=1", "user_id"),
        ("/put", "user_id=1", "item_id"),
        ("/get", "user_id=-1", "user_id"),
        ("/get", "user_id=1&k=0", "k"),
        ("/get", "user_id=1&k=101", "k"),
        ("/get", "user_id=1&k=1.5", "k"),
    ],
)
def test_bad_parameters_answer_422_naming_them(client, path, query, param):
    response = client.post(f"{path}?{query}")
    assert response.status_code == 422
    assert response.json()["error"]["key"] == "invalid_parameter"
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("path", ["/put?user_id=1&item_id=2", "/get?user_id=1", "/get?user_id=1&k=5"])
@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Bearer s3cre", "Basic s3cret", "Bearer"])
def test_token_protects_put_and_get(tmp_path, path, authorization):
    """A user's history is private too: /get (fast path or FastAPI's) needs the token as /put does."""
    headers = {} if authorization is None else {"Authorization": authorization}
    with TestClient(create_app(_settings(tmp_path, token="s3cret"))) as c:
        response = c.post(path, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["key"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_right_token_opens_put_and_get(tmp_path):
    good = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(_settings(tmp_path, token="s3cret"))) as c:
        assert put(c, 1, 2, headers=good).json() == {"result": "ok"}
        assert c.post("/get?user_id=1", headers=good).json() == {"events": [2]}  # fast path
        assert c.post("/get?user_id=1&k=%35", headers=good).json() == {"events": [2]}  # FastAPI's


def test_openapi_declares_security_only_with_a_token(tmp_path):
    def document(token: str) -> dict:
        with TestClient(create_app(_settings(tmp_path, token=token))) as c:
            return c.get("/openapi.json").json()

    open_doc, locked = document(""), document("s3cret")
    assert "securitySchemes" not in open_doc["components"]
    for path in ("/put", "/get"):
        assert "security" not in open_doc["paths"][path]["post"]
        assert "401" not in open_doc["paths"][path]["post"]["responses"]
        assert locked["paths"][path]["post"]["security"] == [{"bearer": []}]
        assert "401" in locked["paths"][path]["post"]["responses"]
    assert locked["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert "security" not in locked["paths"]["/health"]["get"]


def test_ready_and_metrics(client):
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["storage"]["ok"] is True
    put(client, 1, 2)
    put(client, 1, 3)
    text = client.get("/metrics").text
    assert "musicrec_events_written_total 2.0" in text
    assert 'endpoint="/put",method="POST",service="events",status="200"} 2.0' in text


class _BrokenStore:
    max_events = 10

    async def put(self, user_id, item_id):
        raise StorageUnavailable("disk gone")

    async def get(self, user_id, k):
        raise StorageUnavailable("disk gone")


def test_storage_errors_answer_503_through_an_overridden_store(tmp_path):
    app = create_app(_settings(tmp_path))
    app.dependency_overrides[get_event_store] = _BrokenStore
    with TestClient(app) as c:
        response = put(c, 1, 2)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error == {"key": "storage_unavailable", "message": "disk gone", "param": None}
        assert c.post("/get?user_id=1").status_code == 503
        assert 'musicrec_events_storage_errors_total{operation="put"} 1.0' in c.get("/metrics").text


def test_redis_outage_answers_503_never_ok(tmp_path, redis_server):
    settings = _settings(tmp_path, backend="redis", redis_url=redis_server.url, timeout_s=0.5)
    with TestClient(create_app(settings)) as c:
        assert put(c, 1, 10).json() == {"result": "ok"}
        redis_server.stop()
        response = put(c, 1, 11)
        assert response.status_code == 503
        assert response.json()["error"]["key"] == "storage_unavailable"
        assert c.post("/get?user_id=1").json()["error"]["key"] == "storage_unavailable"
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage"]["ok"] is False
        redis_server.start()
        assert put(c, 1, 12).json() == {"result": "ok"}
        assert c.post("/get?user_id=1").json() == {"events": [12]}


def test_starts_when_redis_is_down_and_says_not_ready(tmp_path):
    from musicrec.services.common.testing import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = _settings(tmp_path, backend="redis", redis_url=url, timeout_s=0.3)
    with TestClient(create_app(settings)) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").json()["error"]["key"] == "not_ready"
        assert put(c, 1, 2).json()["error"]["key"] == "storage_unavailable"
