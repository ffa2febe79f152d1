"""The events service as real uvicorn processes: restarts, concurrent clients, several workers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from musicrec.services.common.testing import ServiceProcess

pytestmark = pytest.mark.integration


def _env(tmp_path, **extra: str) -> dict[str, str]:
    return {"MUSICREC_EVENTS__BACKEND": "sqlite",
            "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"), **extra}


@pytest.fixture(params=["sqlite", "redis"])
def backend_env(request, tmp_path) -> dict[str, str]:
    if request.param == "sqlite":
        return _env(tmp_path)
    url = request.getfixturevalue("redis_url")
    return {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": url}


def test_events_survive_a_service_restart(backend_env):
    with ServiceProcess("events_service:app", env=backend_env) as svc:
        for item in (1, 2, 3):
            response = httpx.post(f"{svc.url}/put", params={"user_id": 42, "item_id": item})
            assert response.json() == {"result": "ok"}
        svc.restart()
        assert httpx.post(f"{svc.url}/get", params={"user_id": 42}).json() == {"events": [3, 2, 1]}
        assert httpx.get(f"{svc.url}/ready").status_code == 200


async def _put_concurrently(url: str, n_clients: int, users: range, items: range) -> list[int]:
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(n_clients)]
    try:
        requests = [
            clients[i % n_clients].post("/put", params={"user_id": u, "item_id": it})
            for i, (u, it) in enumerate((u, it) for it in items for u in users)
        ]
        responses = await asyncio.gather(*requests)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return [r.status_code for r in responses]


@pytest.mark.parametrize("workers", [1, 2])
def test_200_concurrent_puts_none_lost(tmp_path, workers):
    users, items = range(100, 120), range(10)  # 20 users x 10 tracks = 200 puts, all kept (max 10 each)
    with ServiceProcess("events_service:app", env=_env(tmp_path), workers=workers) as svc:
        statuses = asyncio.run(_put_concurrently(svc.url, n_clients=10, users=users, items=items))
        assert statuses == [200] * 200
        for user in users:
            events = httpx.post(f"{svc.url}/get", params={"user_id": user, "k": 10}).json()["events"]
            assert sorted(events) == list(items), user
        started = svc.log_path.read_text().count("Started server process")
        assert started == workers, f"expected {workers} worker processes, the log shows {started}"


def test_token_from_the_environment(tmp_path):
    with ServiceProcess("events_service:app", env=_env(tmp_path, MUSICREC_EVENTS__TOKEN="t0k")) as svc:
        assert httpx.post(f"{svc.url}/put?user_id=1&item_id=2").status_code == 401
        ok = httpx.post(f"{svc.url}/put?user_id=1&item_id=2", headers={"Authorization": "Bearer t0k"})
        assert ok.json() == {"result": "ok"}
        assert httpx.post(f"{svc.url}/get?user_id=1").status_code == 401
        history = httpx.post(f"{svc.url}/get?user_id=1", headers={"Authorization": "Bearer t0k"})
        assert history.json() == {"events": [2]}


def test_put_with_redis_frozen_answers_503_within_timeout_s(redis_server):
    import os
    import signal
    import time

    env = {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": redis_server.url,
           "MUSICREC_EVENTS__TIMEOUT_S": "1.0"}
    with ServiceProcess("events_service:app", env=env) as svc:
        assert httpx.post(f"{svc.url}/put?user_id=1&item_id=10").status_code == 200
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            response = httpx.post(f"{svc.url}/put?user_id=1&item_id=11", timeout=10)
            elapsed = time.monotonic() - start
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        assert response.status_code == 503
        assert response.json()["error"] == {"key": "storage_unavailable", "param": None,
                                            "message": "Redis event store: timed out"}
        assert elapsed < 1.0 + 0.5  # was 2 x timeout_s: the socket timeout, then the retry's
        assert httpx.post(f"{svc.url}/put?user_id=1&item_id=11").status_code == 200  # the retry
        assert httpx.post(f"{svc.url}/get?user_id=1").json() == {"events": [11, 10]}
