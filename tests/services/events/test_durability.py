"""What an acknowledged put survives: a kill -9 of the events service mid-burst (SQLite and Redis), a
kill -9 of a durable Redis, and the start-up warning about a Redis that can lose writes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import httpx
import pytest

from musicrec.services.common.testing import ServiceProcess
from musicrec.storage.events import RedisEventStore, SqliteEventStore

pytestmark = pytest.mark.integration

THREADS = 4


def _burst(url: str, stop: threading.Event, acked: list[int], failed: list[str], offset: int) -> None:
    """Puts of fresh users (user u listens to item u % 1000 + 1) until ``stop``; records the acknowledged."""
    with httpx.Client(timeout=5) as client:
        user = offset
        while not stop.is_set():
            try:
                response = client.post(f"{url}/put", params={"user_id": user, "item_id": user % 1000 + 1})
                if response.status_code == 200 and response.json() == {"result": "ok"}:
                    acked.append(user)
                else:
                    failed.append(str(response.status_code))
            except httpx.HTTPError as exc:
                failed.append(type(exc).__name__)
                time.sleep(0.01)
            user += THREADS


def _kill_mid_burst(service: ServiceProcess, kill, min_acked: int = 300) -> tuple[list[int], list[str]]:
    acked: list[int] = []
    failed: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_burst, args=(service.url, stop, acked, failed, 10_000 + i))
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < min_acked and time.monotonic() < deadline:
        time.sleep(0.01)
    kill()  # while the threads are still sending
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(30)
    return list(acked), failed


def _missing(url: str, users: list[int]) -> list[int]:
    missing = []
    with httpx.Client(timeout=10) as client:
        for user in users:
            events = client.post(f"{url}/get", params={"user_id": user, "k": 10}).json()["events"]
            if events != [user % 1000 + 1]:
                missing.append(user)
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-FULL", "sqlite-NORMAL", "redis"])
def test_every_acknowledged_put_survives_a_kill_9_of_the_service(backend, tmp_path, request):
    if backend.startswith("sqlite"):
        env = {"MUSICREC_EVENTS__BACKEND": "sqlite",
               "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "e.sqlite3"),
               "MUSICREC_EVENTS__SQLITE_SYNCHRONOUS": backend.removeprefix("sqlite-")}
    else:
        env = {"MUSICREC_EVENTS__BACKEND": "redis",
               "MUSICREC_EVENTS__REDIS_URL": request.getfixturevalue("durable_redis_server").url}
    with ServiceProcess("events_service:app", env=env) as service:
        acked, failed = _kill_mid_burst(service, service.kill)
        assert len(acked) >= 300 and failed, (len(acked), failed[:5])  # killed while puts were in flight
        service.start()
        assert _missing(service.url, acked) == []


@pytest.mark.slow
def test_a_durable_redis_server_killed_mid_burst_keeps_every_acknowledged_put(durable_redis_server):
    env = {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": durable_redis_server.url}
    with ServiceProcess("events_service:app", env=env) as service:
        acked, failed = _kill_mid_burst(service, durable_redis_server.kill)
        assert len(acked) >= 300 and failed, (len(acked), failed[:5])
        durable_redis_server.start()  # same directory: the append-only file is replayed
        assert _missing(service.url, acked) == []
        assert "Redis persistence" not in service.log_path.read_text()  # appendonly yes, fsync always


def test_a_redis_that_can_lose_writes_is_named_at_start_up(redis_server):
    env = {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": redis_server.url}
    with ServiceProcess("events_service:app", env=env) as service:
        deadline = time.monotonic() + 10
        while "Redis persistence" not in service.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = service.log_path.read_text()
    assert ("WARNING" in log and "events: Redis persistence: appendonly no and no save points: a Redis "
            "restart loses every acknowledged put; set appendonly yes") in log


def test_persistence_risks_read_from_the_server(redis_server):
    async def risks() -> list[str]:
        store = RedisEventStore(redis_server.url)
        try:
            found = [await store.persistence_risks()]
            await store._redis.config_set("appendonly", "yes")
            await store._redis.config_set("appendfsync", "everysec")
            found.append(await store.persistence_risks())
            await store._redis.config_set("appendfsync", "always")
            found.append(await store.persistence_risks())
            return found
        finally:
            await store.close()

    no_aof, everysec, always = asyncio.run(risks())
    assert no_aof[0].startswith("appendonly no and no save points")
    assert everysec[0].startswith("appendfsync everysec: a crash can lose about the last second")
    assert always == []


@pytest.mark.parametrize(("setting", "pragma"), [("NORMAL", 1), ("FULL", 2), ("EXTRA", 3)])
def test_sqlite_synchronous_is_applied(tmp_path, setting, pragma):
    store = SqliteEventStore(tmp_path / "e.sqlite3", synchronous=setting)
    try:
        assert store._use(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == pragma
    finally:
        asyncio.run(store.close())
    with pytest.raises(ValueError, match="synchronous: expected one of NORMAL, FULL, EXTRA, found 'OFF'"):
        SqliteEventStore(tmp_path / "x.sqlite3", synchronous="OFF")
    assert sqlite3.connect(tmp_path / "e.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
