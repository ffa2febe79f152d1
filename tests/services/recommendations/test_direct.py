"""``[serving] neighbours = direct``: the event store and similar tracks read in process, same answers."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from musicrec.config import load_settings
from musicrec.services.recommendations.app import create_app
from musicrec.storage.events import SqliteEventStore
from tests.services.recommendations.artifacts import (
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import Neighbours, make_client

EVENTS = {WARM_USER: [501, 500, 502], WARM_USER_2: [500, 103]}
REQUESTS = [f"{path}?user_id={user}&k={k}{extra}" for path in ("/recommendations", "/recommendations_online")
            for user in (*EVENTS, 99) for k in (3, 10) for extra in ("", "&explain=true")]


def _store_events(path, events: dict[int, list[int]]) -> None:
    async def put() -> None:
        store = SqliteEventStore(path)
        for user, items in events.items():
            for item in reversed(items):  # newest last
                await store.put(user, item)
        await store.close()

    asyncio.run(put())


def test_direct_mode_answers_as_the_services_do(tmp_path):
    artifacts = write_artifacts(tmp_path / "artifacts", weights=WEIGHTS, top_artists=TOP_ARTISTS)
    _store_events(tmp_path / "events.sqlite3", EVENTS)
    neighbours = Neighbours()
    neighbours.events.update(EVENTS)
    with make_client(artifacts, neighbours, blend="learned", max_per_artist=0) as client:
        expected = [client.post(request).content for request in REQUESTS]
    settings = load_settings(paths={"artifacts_dir": str(artifacts)},
                             events={"backend": "sqlite", "sqlite_path": str(tmp_path / "events.sqlite3")},
                             serving={"blend": "learned", "max_per_artist": 0, "neighbours": "direct"})
    with TestClient(create_app(settings)) as client:
        assert [client.post(request).content for request in REQUESTS] == expected
        ready = client.get("/ready").json()
    assert ready["status"] == "ready" and "in process" in ready["checks"]["features"]["detail"]


def test_direct_mode_without_similar_tracks_degrades(tmp_path):
    artifacts = write_artifacts(tmp_path / "artifacts", weights=WEIGHTS, top_artists=TOP_ARTISTS)
    (artifacts / "similar.parquet").unlink()
    _store_events(tmp_path / "events.sqlite3", EVENTS)
    settings = load_settings(paths={"artifacts_dir": str(artifacts)},
                             events={"backend": "sqlite", "sqlite_path": str(tmp_path / "events.sqlite3")},
                             serving={"neighbours": "direct"})
    with TestClient(create_app(settings)) as client:
        answer = client.post(f"/recommendations?user_id={WARM_USER}&k=3").json()
        assert answer["degraded"] is True
        assert client.get("/ready").status_code == 503
