"""The shared app factory: error envelope, parameter validation, health, ready, metrics."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Body
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common import (
    K10,
    ItemId,
    NotReady,
    StorageUnavailable,
    Unauthorized,
    UserId,
    build_app,
)


def _demo_router() -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    def echo(user_id: UserId, item_id: ItemId, k: K10) -> dict[str, int]:
        return {"user_id": user_id, "item_id": item_id, "k": k}

    @router.post("/fail/{kind}")
    def fail(kind: str) -> None:
        raise {"storage": StorageUnavailable("redis down"), "ready": NotReady("no artifacts"),
               "auth": Unauthorized(), "boom": RuntimeError("unexpected")}[kind]

    @router.post("/body")
    def body(item_ids: Annotated[list[int], Body(embed=True)]) -> dict[str, int]:
        return {"n": len(item_ids)}

    return router


def _app(max_k: int = 1000, checks=None):
    settings = load_settings(serving={"max_k": max_k})
    return build_app(settings, service="demo", title="Demo service", routers=(_demo_router(),),
                     readiness_checks=checks)


@pytest.fixture
def client():
    with TestClient(_app(max_k=50), raise_server_exceptions=False) as c:
        yield c


def test_root_message_and_health(client):
    assert client.get("/").json() == {"message": "Demo service is working"}
    assert client.get("/health").json() == {"status": "ok"}


def test_valid_parameters_pass_and_k_defaults_to_10(client):
    assert client.post("/echo?user_id=0&item_id=7").json() == {"user_id": 0, "item_id": 7, "k": 10}
    assert client.post("/echo?user_id=3&item_id=7&k=50").json()["k"] == 50


@pytest.mark.parametrize(
    ("query", "param", "fragment"),
    [
        ("user_id=-1&item_id=1", "user_id", "expected a value >= 0, found '-1'"),
        ("user_id=1&item_id=-5", "item_id", "found '-5'"),
        ("user_id=abc&item_id=1", "user_id", "expected an integer, found 'abc'"),
        ("user_id=1.5&item_id=1", "user_id", "expected an integer"),
        ("item_id=1", "user_id", "user_id: is required"),
        ("user_id=1&item_id=1&k=0", "k", "expected 1 <= k <= 50, found 0"),
        ("user_id=1&item_id=1&k=-3", "k", "found -3"),
        ("user_id=1&item_id=1&k=51", "k", "expected 1 <= k <= 50, found 51"),
        ("user_id=1&item_id=1&k=ten", "k", "expected an integer, found 'ten'"),
        (f"user_id={2**63}&item_id=1", "user_id", "expected a value <= 9223372036854775807"),
        # strict: plain ASCII digits only, although Python's int() accepts most of these
        ("user_id=1_000&item_id=1", "user_id", "expected an integer, found '1_000'"),
        ("user_id=%201%20&item_id=1", "user_id", "expected an integer, found ' 1 '"),
        ("user_id=+1&item_id=1", "user_id", "expected an integer, found ' 1'"),
        ("user_id=1&item_id=1.0", "item_id", "expected an integer, found '1.0'"),
        ("user_id=1&item_id=true", "item_id", "expected an integer, found 'true'"),
        ("user_id=1&item_id=1e3", "item_id", "expected an integer"),
        ("user_id=%EF%BC%91&item_id=1", "user_id", "expected an integer"),  # a full-width digit one
        ("user_id=1&item_id=1&k=1_0", "k", "expected an integer, found '1_0'"),
        ("user_id=1&item_id=1&k=%2010", "k", "expected an integer, found ' 10'"),
        ("user_id=1&item_id=1&k=5.0", "k", "expected an integer, found '5.0'"),
        ("user_id=1&item_id=1&k=false", "k", "expected an integer, found 'false'"),
    ],
)
def test_invalid_parameters_give_422_envelope_naming_the_parameter(client, query, param, fragment):
    response = client.post(f"/echo?{query}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["key"] == "invalid_parameter"
    assert error["param"] == param
    assert fragment in error["message"]


def test_a_huge_number_is_not_echoed_whole(client):
    response = client.post(f"/echo?user_id={'9' * 5000}&item_id=1")
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "user_id"
    assert len(response.content) < 500


def test_max_k_comes_from_the_apps_settings():
    with TestClient(_app(max_k=1000)) as c:
        assert c.post("/echo?user_id=1&item_id=1&k=1000").json()["k"] == 1000
        assert c.post("/echo?user_id=1&item_id=1&k=1001").json()["error"]["param"] == "k"


def test_body_validation_names_the_field(client):
    response = client.post("/body", json={"item_ids": [1, "x"]})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "item_ids"
    bad_json = client.post("/body", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    assert bad_json.json()["error"] == {
        "key": "invalid_parameter", "param": "body",
        "message": "body: expected a valid JSON body (Expecting property name enclosed in double quotes at "
                   "character 1)"}


@pytest.mark.parametrize("body", [b'{"item_ids": [1, "\xff"]}', b'{"item_ids": [' + b"9" * 5000 + b"]}"])
def test_a_body_python_cannot_parse_is_the_same_422(client, body):
    """Not UTF-8, or an integer over Python's 4300 digits: FastAPI's 400 http_400 became this 422."""
    response = client.post("/body", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    message = "body: expected a valid JSON body (UTF-8, integers of at most 4300 digits)"
    assert response.json()["error"] == {"key": "invalid_parameter", "param": "body", "message": message}


@pytest.mark.parametrize(
    ("kind", "status", "key"),
    [("storage", 503, "storage_unavailable"), ("ready", 503, "not_ready"), ("auth", 401, "unauthorized"),
     ("boom", 500, "internal_error")],
)
def test_domain_errors_map_to_one_envelope(client, kind, status, key):
    response = client.post(f"/fail/{kind}")
    assert response.status_code == status
    assert response.json()["error"]["key"] == key
    assert set(response.json()["error"]) == {"key", "message", "param"}
    if kind == "auth":
        assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_route_and_method_use_the_envelope(client):
    assert client.post("/nope").json()["error"]["key"] == "not_found"
    response = client.get("/echo")
    assert response.status_code == 405
    assert response.json()["error"]["key"] == "method_not_allowed"


def test_ready_runs_the_services_checks():
    async def ok(app):
        return "loaded 3 items"

    async def down(app):
        raise ConnectionError("connection refused")

    with TestClient(_app(checks={"artifacts": ok})) as c:
        response = c.get("/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"artifacts": {"ok": True,
                                                                               "detail": "loaded 3 items"}}}
    with TestClient(_app(checks={"artifacts": ok, "storage": down})) as c:
        response = c.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["error"]["key"] == "not_ready"
        assert "storage: connection refused" in body["error"]["message"]
        assert body["checks"]["storage"] == {"ok": False, "detail": "connection refused"}


def test_ready_check_that_hangs_times_out():
    import asyncio

    async def hangs(app):
        await asyncio.sleep(10)
        return "never"

    settings = load_settings(serving={"timeout_s": 0.05})
    with TestClient(build_app(settings, service="demo", title="Demo", readiness_checks={"x": hangs})) as c:
        response = c.get("/ready")
        assert response.status_code == 503
        assert "no answer within 0.05 s" in response.json()["checks"]["x"]["detail"]


def test_metrics_count_requests_per_route_template_and_status(client):
    client.post("/echo?user_id=1&item_id=2")
    client.post("/echo?user_id=1&item_id=2")
    client.post("/echo?user_id=-1&item_id=2")
    client.app.state.metrics.counter("degraded_answers", "answers served without a neighbour").inc()
    text = client.get("/metrics").text
    assert ('musicrec_http_requests_total{endpoint="/echo",method="POST",service="demo",status="200"} 2.0'
            in text)
    assert 'endpoint="/echo",method="POST",service="demo",status="422"} 1.0' in text
    assert "musicrec_http_request_duration_seconds_bucket" in text
    assert "musicrec_degraded_answers_total 1.0" in text


def test_two_apps_in_one_process_keep_separate_metrics():
    a, b = _app(), _app()
    with TestClient(a) as ca, TestClient(b) as cb:
        ca.post("/echo?user_id=1&item_id=2")
        assert 'endpoint="/echo"' in ca.get("/metrics").text
        assert 'endpoint="/echo"' not in cb.get("/metrics").text


def test_dependency_override_replaces_k():
    from musicrec.services.common.validation import get_settings

    app = _app(max_k=5)
    app.dependency_overrides[get_settings] = lambda: load_settings(serving={"max_k": 500})
    with TestClient(app) as c:
        assert c.post("/echo?user_id=1&item_id=2&k=400").json()["k"] == 400


@pytest.mark.parametrize("module", ["musicrec.services.events", "musicrec.services.features"])
def test_openapi_documents_parameters_and_error_envelope(module, tmp_path):
    import importlib

    settings = load_settings(paths={"artifacts_dir": tmp_path}, events={"sqlite_path": tmp_path / "e.db"})
    app = importlib.import_module(module).create_app(settings)
    with TestClient(app) as c:
        schema = c.get("/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    params = {p["name"] for op in operations for p in op.get("parameters", [])}
    assert {"k"} <= params
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for op in operations:
        for status in ("413", "414", "422", "431", "503"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == envelope
    assert set(schema["components"]["schemas"]["ErrorEnvelope"]["properties"]) == {"error"}
    assert set(schema["components"]["schemas"]["ErrorDetail"]["properties"]) == {"key", "message", "param"}


def test_openapi_bounds_are_the_apps_own(tmp_path):
    from musicrec.services.features import create_app

    settings = load_settings(paths={"artifacts_dir": tmp_path}, serving={"max_k": 77, "max_batch": 5})
    with TestClient(create_app(settings)) as c:
        schema = c.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in schema["paths"]["/similar_items"]["post"]["parameters"]}
    assert (params["k"]["minimum"], params["k"]["maximum"]) == (1, 77)
    assert (params["item_id"]["minimum"], params["item_id"]["maximum"]) == (0, 2**63 - 1)
    body = schema["components"]["schemas"]["BatchRequest"]["properties"]
    assert (body["k"]["minimum"], body["k"]["maximum"]) == (1, 77)
    assert body["item_ids"]["maxItems"] == 5
    assert body["item_ids"]["items"]["maximum"] == 2**63 - 1  # an integer, not the float 2**63
    assert isinstance(body["item_ids"]["items"]["maximum"], int)
