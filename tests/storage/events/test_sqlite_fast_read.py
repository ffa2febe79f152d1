"""The SQLite store's read on the event loop: same answers, and the threadpool path when it fails."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from musicrec.storage.events import SqliteEventStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_get_reads_on_the_loop_thread(tmp_path):
    store = SqliteEventStore(tmp_path / "e.sqlite3")
    for item in (1, 2, 3):
        await store.put(7, item)
    assert await store.get(7, 2) == [3, 2]
    assert getattr(store._local, "nowait_conn", None) is not None  # opened by this (the loop) thread
    await store.close()


async def test_a_busy_fast_read_falls_back_to_the_threadpool(tmp_path, monkeypatch):
    store = SqliteEventStore(tmp_path / "e.sqlite3")
    await store.put(7, 1)
    loop_thread = threading.get_ident()
    real_get = store._get

    def busy_on_the_loop(conn, user_id, k):
        if threading.get_ident() == loop_thread:
            raise sqlite3.OperationalError("database is locked")
        return real_get(conn, user_id, k)

    monkeypatch.setattr(store, "_get", busy_on_the_loop)
    assert await store.get(7, 10) == [1]
    await store.close()
