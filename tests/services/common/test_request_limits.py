"""Request limits in the envelope: a body over ``[serving] max_body_bytes`` is answered 413 without being
read whole; a long URL 414, large headers 431."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.common.request_limits import RequestLimitsMiddleware
from musicrec.services.features import create_app


@pytest.fixture
def client(tmp_path):
    settings = load_settings(paths={"artifacts_dir": tmp_path}, serving={"max_body_bytes": 100})
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_body_within_the_limit_is_read(client):
    # no artifacts here: a body the service reads gets as far as not_ready
    assert client.post("/similar_items/batch", json={"item_ids": [1, 2]}).status_code == 503


def test_a_content_length_over_the_limit_is_refused_in_the_envelope(client):
    response = client.post("/similar_items/batch", json={"item_ids": list(range(100))})
    assert response.status_code == 413
    assert response.json() == {"error": {
        "key": "body_too_large", "param": "body",
        "message": "body: expected at most 100 bytes ([serving] max_body_bytes)"}}


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    """No Content-Length: the middleware counts what the app reads and stops at the limit."""
    read: list[int] = []

    async def app(scope, receive, send):  # reads everything, as FastAPI does before validating
        while True:
            message = await receive()
            read.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read all"})

    chunks = [{"type": "http.request", "body": b"x" * 40, "more_body": True}] * 100
    chunks.append({"type": "http.request", "body": b"", "more_body": False})
    pending = iter(chunks)

    async def receive():
        return next(pending)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": []}
    limits = RequestLimitsMiddleware(app, max_body_bytes=100, max_url_bytes=100, max_header_bytes=100)
    asyncio.run(limits(scope, receive, send))
    assert read == [40, 40]  # the third chunk passed the limit: the app never got it, nor the 97 after it
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["key"] == "body_too_large"


def test_a_long_url_is_414_and_large_headers_431_in_the_envelope(tmp_path):
    settings = load_settings(paths={"artifacts_dir": tmp_path},
                             serving={"max_url_bytes": 200, "max_header_bytes": 1000})
    with TestClient(create_app(settings)) as c:
        assert c.post("/similar_items?item_id=1&k=2").status_code == 503  # within: as far as not_ready
        long_url = c.post(f"/similar_items?item_id=1&pad={'x' * 200}")
        big_headers = c.post("/similar_items?item_id=1", headers={"X-Pad": "y" * 1000})
    assert long_url.status_code == 414
    message = "url: expected at most 200 bytes ([serving] max_url_bytes)"
    assert long_url.json()["error"] == {"key": "url_too_long", "param": "url", "message": message}
    assert big_headers.status_code == 431
    assert big_headers.json()["error"]["key"] == "headers_too_large"


@pytest.mark.integration
def test_a_real_service_answers_before_the_client_has_sent_the_body(tmp_path):
    """A chunked upload that never ends: the 413 arrives once the limit is passed, and a declared
    Content-Length over the limit is answered without sending a byte of the body."""
    from musicrec.services.common.testing import ServiceProcess

    env = {"MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_path), "MUSICREC_SERVING__MAX_BODY_BYTES": "1000"}
    with ServiceProcess("features_service:app", env=env) as svc:
        for head, body in [
            (b"Transfer-Encoding: chunked", b"".join(b"100\r\n" + b" " * 256 + b"\r\n" for _ in range(8))),
            (b"Content-Length: 10000000", b""),
        ]:
            with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as sock:
                sock.sendall(b"POST /similar_items/batch HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n" + head + b"\r\n\r\n" + body)
                answer = b""
                while b'"param"' not in answer:  # times out (fails) if the service waits for the rest
                    chunk = sock.recv(65536)
                    assert chunk, answer
                    answer += chunk
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
            assert b'"key":"body_too_large"' in rest
