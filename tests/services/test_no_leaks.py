"""503 bodies and the unauthenticated ``/ready`` name the component and the reason, never a directory, a
URL, an address or a credential (those are logged); ``[serving] debug`` shows them."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common.testing import free_port

SECRET_DIR = "secret-dir-4711"
PASSWORD = "hunter2"


def _settings(tmp_path, debug: bool = False, **sections):
    blocker = tmp_path / SECRET_DIR / "a-file"
    blocker.parent.mkdir()
    blocker.write_text("")  # a file where the SQLite file's directory should be: it cannot be opened
    port = free_port()  # nothing listens there
    defaults = {
        "paths": {"artifacts_dir": tmp_path / SECRET_DIR / "artifacts"},
        "events": {"sqlite_path": blocker / "events.sqlite3", "timeout_s": 0.5},
        "urls": {"events_store_url": f"http://127.0.0.1:{port}", "features_store_url": f"http://127.0.0.1:{port}"},
        "serving": {"debug": debug},
    }
    return load_settings(**{**defaults, **sections}), port


def _assert_clean(text: str, port: int) -> None:
    for leak in (SECRET_DIR, PASSWORD, "127.0.0.1", str(port), "http://", "redis://", "/tmp"):
        assert leak not in text, (leak, text)


def _answers(service: str, settings) -> list[tuple[int, str]]:
    from importlib import import_module

    module = f"musicrec.services.{service}" + (".app" if service == "recommendations" else "")
    app = import_module(module).create_app(settings)
    requests = {
        "events": [("/put?user_id=1&item_id=2", 503), ("/get?user_id=1", 503)],
        "features": [("/similar_items?item_id=1", 503), ("/similar_items/batch", 503)],
        "recommendations": [("/recommendations_offline?user_id=1", 503), ("/recommendations?user_id=1", 503)],
    }[service]
    out = []
    with TestClient(app) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503
        out.append(ready.text)
        for path, status in requests:
            response = c.post(path, json={"item_ids": [1]}) if path.endswith("batch") else c.post(path)
            assert response.status_code == status, response.text
            out.append(response.text)
    return out


@pytest.mark.parametrize("service", ["events", "features", "recommendations"])
def test_errors_and_ready_name_the_component_not_where_it_is(tmp_path, caplog, service):
    settings, port = _settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="musicrec"):
        texts = _answers(service, settings)
    for text in texts:
        _assert_clean(text, port)
    assert any(SECRET_DIR in r.getMessage() or str(port) in r.getMessage() for r in caplog.records)


def test_ready_names_the_failing_components(tmp_path):
    settings, _ = _settings(tmp_path)
    from musicrec.services.recommendations import app as recommendations

    with TestClient(recommendations.create_app(settings)) as c:
        body = c.get("/ready").json()
    assert {name for name, check in body["checks"].items() if not check["ok"]} == {
        "artifacts", "events", "features"}
    assert "recommendations.parquet: file not found" in body["checks"]["artifacts"]["detail"]
    assert body["error"]["message"].startswith("not ready: artifacts: ")


def test_a_redis_url_with_a_password_is_not_shown(tmp_path):
    port = free_port()
    settings, _ = _settings(tmp_path, events={"backend": "redis", "timeout_s": 0.5,
                                              "redis_url": f"redis://:{PASSWORD}@127.0.0.1:{port}/0"})
    for text in _answers("events", settings):
        _assert_clean(text, port)
        assert "Redis event store" in text


def test_debug_shows_what_is_otherwise_only_logged(tmp_path):
    settings, _ = _settings(tmp_path, debug=True)
    texts = _answers("features", settings)
    assert all(SECRET_DIR in text for text in texts)
