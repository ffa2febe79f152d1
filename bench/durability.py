"""What durability costs per write: the event store's ``put`` under each SQLite ``synchronous`` setting
and under Redis with each ``appendfsync`` policy, as a markdown table.

Each configuration gets a fresh store in ``--dir`` (put it on the disk the service will use: the cost is
the disk's fsync) and ``--writes`` puts from one thread, one after the other (the latency a single
client sees), then the same number from ``--concurrency`` threads at once (SQLite serialises writers,
so this is the throughput of the write path). Redis needs ``redis-server`` on the PATH (a private one per
policy, on a free port).

    .venv/bin/python -m bench.durability --dir data/bench/durability --writes 2000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from musicrec.services.common.testing import RedisServer, redis_server_binary
from musicrec.storage.events import RedisEventStore, SqliteEventStore
from musicrec.storage.events.sqlite_store import SYNCHRONOUS


def _sqlite(directory: Path, synchronous: str, writes: int, concurrency: int) -> tuple[list[float], float]:
    path = directory / f"events-{synchronous}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SqliteEventStore(path, max_events=10, timeout_s=30, synchronous=synchronous)
    latencies = []
    for i in range(writes):
        start = time.perf_counter()
        store._put_serialised(i, i % 1000)  # the blocking call the service runs in its threadpool
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: store._put_serialised(writes + i, i % 1000), range(writes)))
    rate = writes / (time.perf_counter() - start)
    asyncio.run(store.close())
    return latencies, rate


def _redis(policy: str, writes: int, concurrency: int) -> tuple[list[float], float]:
    with RedisServer() as server:
        async def run() -> tuple[list[float], float]:
            store = RedisEventStore(server.url, timeout_s=30)
            if policy != "off":
                await store._redis.config_set("appendonly", "yes")
                await store._redis.config_set("appendfsync", policy)
            latencies = []
            for i in range(writes):
                start = time.perf_counter()
                await store.put(i, i % 1000)
                latencies.append(time.perf_counter() - start)
            start = time.perf_counter()
            semaphore = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with semaphore:
                    await store.put(writes + i, i % 1000)

            await asyncio.gather(*(one(i) for i in range(writes)))
            rate = writes / (time.perf_counter() - start)
            await store.close()
            return latencies, rate

        return asyncio.run(run())


def _row(name: str, measure: Callable[[], tuple[list[float], float]] | Callable[[], Awaitable]) -> str:
    latencies, rate = measure()
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[int(len(ms) * 0.99) - 1]
    return f"| {name} | {statistics.median(ms):.3f} | {p99:.3f} | {rate:,.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("data/bench/durability"))
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print("| store | ms per put, median (one client) | p99 | puts/s with", args.concurrency, "writers |")
    print("|---|---|---|---|")
    for synchronous in SYNCHRONOUS:
        print(_row(f"SQLite synchronous={synchronous}",
                   lambda s=synchronous: _sqlite(args.dir, s, args.writes, args.concurrency)), flush=True)
    if redis_server_binary():
        for policy in ("off", "no", "everysec", "always"):
            label = "Redis appendonly no" if policy == "off" else f"Redis appendfsync {policy}"
            print(_row(label, lambda p=policy: _redis(p, args.writes, args.concurrency)), flush=True)
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
