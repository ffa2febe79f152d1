"""SQLite event store: one file, WAL mode, safe with several uvicorn workers and across restarts.

Each worker thread gets its own connection (sqlite3 connections must not be shared between threads
without a lock); calls that may wait run in the threadpool, never on the event loop. The one
exception is ``get``: it first tries a read on the loop with a connection that never waits (see there).
Each connection is used under its own lock, so ``close`` waits for a call in flight instead of
closing a connection another thread is using (which crashes the interpreter).

Writers of one process queue on a lock before they ask SQLite for the write lock: SQLite's own busy
handler sleeps and retries with growing pauses and is not fair, so with dozens of threads writing at
once one of them could wait past ``timeout_s`` although the writes take ~0.1 ms each. The busy
handler is left for writers in other processes (other uvicorn workers). The whole wait, from the call
(a wait for a threadpool thread included) through both locks, is bounded by ``timeout_s``.

A put that raises :class:`~musicrec.storage.errors.StorageUnavailable` was not applied: its
transaction did not begin, or was rolled back (at most once; a client may retry).

``synchronous`` (``[events] sqlite_synchronous``, default FULL) decides what an acknowledged put survives:
FULL and EXTRA a power loss, NORMAL a crash of the process only (docs/deployment.md has the cost).

A put is one ``BEGIN IMMEDIATE`` transaction: replace the (user, item) row, so a repeated track moves
to the front, then delete the user's rows beyond ``max_events``. Rows are ordered by the table's
rowid, which grows with every insert, so "newest first" holds across processes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from anyio.to_thread import run_sync as run_in_threadpool  # the threadpool the services use too

from musicrec.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")  # PRAGMA synchronous values offered (OFF is never safe)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    created_at REAL NOT NULL,  -- unix seconds, for inspection; order comes from id
    UNIQUE (user_id, item_id)
);
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id, id);
"""


class SqliteEventStore:
    """:class:`~musicrec.storage.events.base.EventStore` in a SQLite file at ``path``."""

    def __init__(self, path: Path | str, *, max_events: int = 10, timeout_s: float = 2.0,
                 synchronous: str = "FULL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous: expected one of {', '.join(SYNCHRONOUS)}, found {synchronous!r}")
        self.synchronous = synchronous
        self.path = Path(path)
        self.max_events = max_events
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._connections: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False

    # --- blocking part, always called from a worker thread ---------------------------------------
    def _connection(self, *, wait: bool = True) -> tuple[sqlite3.Connection, threading.Lock]:
        """This thread's connection and its lock; ``wait=False``: a separate one that never waits."""
        attr = "conn" if wait else "nowait_conn"
        pair = getattr(self._local, attr, None)
        if pair is not None:
            return pair
        if self._closed:
            raise StorageUnavailable("the event store is closed")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so a write takes the lock up front
        # (BEGIN IMMEDIATE) instead of failing on a read-to-write lock upgrade under contention.
        timeout_s = self.timeout_s if wait else 0.0
        conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL: FULL fsyncs the log at each commit (an acknowledged put survives a power loss); NORMAL
            # only at checkpoints (it survives a crash of this process, not of the OS)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.executescript(SCHEMA)
        except BaseException:
            conn.close()
            raise
        pair = (conn, threading.Lock())
        with self._lock:
            if self._closed:
                conn.close()
                raise StorageUnavailable("the event store is closed")
            self._connections.append(pair)
        setattr(self._local, attr, pair)
        return pair

    def _use(self, fn: Callable[[sqlite3.Connection], T], *, wait: bool = True) -> T:
        """``fn(connection)`` under the connection's lock; a closed store raises StorageUnavailable."""
        conn, lock = self._connection(wait=wait)
        with lock:
            if self._closed:
                raise StorageUnavailable("the event store is closed")
            return fn(conn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return self._use(fn)
        except (sqlite3.Error, OSError) as exc:  # OSError: the file's directory cannot be made
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StorageUnavailable(f"SQLite event store: {reason}", detail=f"{self.path}: {exc}") from exc

    def _put_serialised(self, user_id: int, item_id: int, deadline: float) -> None:
        if not self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise StorageUnavailable(f"SQLite event store: no write slot within {self.timeout_s:g} s",
                                     detail=str(self.path))
        try:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:  # the queue took all of it: do not begin a write nobody waits for
                raise StorageUnavailable(f"SQLite event store: no write slot within {self.timeout_s:g} s",
                                         detail=str(self.path))
            self._call(lambda conn: self._put(conn, user_id, item_id, remaining_ms))
        finally:
            self._write_lock.release()

    def _put(self, conn: sqlite3.Connection, user_id: int, item_id: int, busy_ms: int) -> None:
        # What is left of timeout_s after the in-process queue is what SQLite may wait for writers
        # in other processes.
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # REPLACE deletes the old (user, item) row and inserts a new one with a larger rowid.
            conn.execute(
                "INSERT OR REPLACE INTO events (user_id, item_id, created_at) VALUES (?, ?, ?)",
                (user_id, item_id, time.time()),
            )
            conn.execute(
                "DELETE FROM events WHERE user_id = ? AND id NOT IN "
                "(SELECT id FROM events WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                (user_id, user_id, self.max_events),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _get(self, conn: sqlite3.Connection, user_id: int, k: int) -> list[int]:
        rows = conn.execute(
            "SELECT item_id FROM events WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, min(k, self.max_events)),
        ).fetchall()
        return [row[0] for row in rows]

    def _ping(self, conn: sqlite3.Connection) -> str:
        conn.execute("SELECT 1 FROM events LIMIT 1").fetchall()
        return f"sqlite {self.path}"

    def _close_all(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn, lock in connections:
            with lock:  # waits for a call in flight on this connection
                conn.close()

    # --- async interface -------------------------------------------------------------------------
    async def put(self, user_id: int, item_id: int) -> None:
        await run_in_threadpool(self._put_serialised, user_id, item_id, time.monotonic() + self.timeout_s)

    async def get(self, user_id: int, k: int) -> list[int]:
        # Fast path on the event loop: an indexed read of at most max_events rows takes ~3 us, the
        # threadpool hop ~100 us (measured). In WAL mode readers do not wait for writers, and this
        # connection has busy_timeout 0, so it cannot stall the loop on a lock: on SQLITE_BUSY (or any
        # other error) the read is retried the usual way in the threadpool, which waits up to
        # timeout_s and maps errors to StorageUnavailable.
        try:
            return self._use(lambda conn: self._get(conn, user_id, k), wait=False)
        except (sqlite3.Error, OSError):
            pass
        return await run_in_threadpool(self._call, lambda conn: self._get(conn, user_id, k))

    async def ping(self) -> str:
        return await run_in_threadpool(self._call, self._ping)

    async def close(self) -> None:
        await run_in_threadpool(self._close_all)
