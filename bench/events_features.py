"""Latency and throughput of the events and features services, as real uvicorn processes.

    .venv/bin/python -m bench.events_features --items 1000000 --requests 2000 --concurrency 32

Features: builds a synthetic ``similar.parquet`` (``--items`` tracks x 10 neighbours), times the index
load and direct lookups, then HTTP ``/similar_items`` and ``/similar_items/batch`` (100 ids).
Events: ``--requests`` puts then gets with ``--concurrency`` clients in flight, on SQLite with 1 and 2
workers and on Redis (when ``redis-server`` is installed). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl

from musicrec.services.common.testing import RedisServer, ServiceProcess, redis_server_binary
from musicrec.services.features.index import SimilarIndex


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


async def _raw_load(url: str, path: str, params: list[dict], concurrency: int) -> tuple[float, list[float]]:
    """Send ``params`` to ``POST path`` with ``concurrency`` keep-alive connections; (req/s, latencies).

    Plain sockets, not httpx: with many requests in flight httpx's own overhead (~1 ms a request on
    this machine) is what would be measured."""
    host, port = url.removeprefix("http://").split(":")
    queue = list(params)
    latencies: list[float] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                query = "&".join(f"{k}={v}" for k, v in queue.pop().items())
                start = time.perf_counter()
                writer.write(f"POST {path}?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
                             .encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                if status != 200:
                    raise RuntimeError(f"{path}?{query}: HTTP {status}")
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(params) / (time.perf_counter() - start), latencies


def _report(name: str, rps: float, lat: list[float]) -> None:
    print(f"{name:<48} {rps:8.0f} req/s  p50 {_pct(lat, 50):6.2f} ms  p95 {_pct(lat, 95):6.2f} ms")


def bench_features(items: int, n_requests: int, tmp: Path) -> None:
    rng = np.random.default_rng(0)
    item_1 = np.repeat(np.arange(items, dtype=np.int32), 10)
    frame = pl.DataFrame({"item_id_1": item_1,
                          "item_id_2": rng.integers(0, items, len(item_1), dtype=np.int32),
                          "score": rng.random(len(item_1), dtype=np.float32)})
    frame.write_parquet(tmp / "similar.parquet")
    start = time.perf_counter()
    index = SimilarIndex.from_parquet(tmp / "similar.parquet")
    seconds = time.perf_counter() - start
    arrays = (index.keys, index.offsets, index.neighbours, index.scores)
    mib = sum(a.nbytes for a in arrays) / 2**20
    print(f"features: load {items:,} items x 10 from parquet: {seconds:.2f} s, index {mib:.0f} MiB")
    queries = rng.integers(0, items, 100_000)
    start = time.perf_counter()
    for q in queries:
        index.lookup(int(q), 10)
    print(f"features: direct lookup k=10: {(time.perf_counter() - start) / len(queries) * 1e6:.1f} us each")
    with ServiceProcess("features_service:app", env={"MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp)},
                        startup_timeout_s=120) as svc:
        params = [{"item_id": int(q), "k": 10} for q in queries[:n_requests]]
        for concurrency in (1, 8):
            result = asyncio.run(_raw_load(svc.url, "/similar_items", params, concurrency))
            _report(f"features: /similar_items, {concurrency} in flight", *result)
        lat = []
        with httpx.Client(base_url=svc.url) as client:
            for i in range(200):
                ids = queries[i * 100:(i + 1) * 100].tolist()
                start = time.perf_counter()
                client.post("/similar_items/batch", json={"item_ids": ids, "k": 10}).raise_for_status()
                lat.append(time.perf_counter() - start)
        print(f"features: batch of 100 ids: p50 {_pct(lat, 50):.2f} ms  p95 {_pct(lat, 95):.2f} ms")


def bench_events(n_requests: int, concurrency: int, tmp: Path) -> None:
    users = 500
    puts = [{"user_id": i % users, "item_id": i} for i in range(n_requests)]
    gets = [{"user_id": i % users, "k": 10} for i in range(n_requests)]
    setups: list[tuple[str, dict[str, str], int]] = [
        ("sqlite", {"MUSICREC_EVENTS__SQLITE_PATH": str(tmp / "w1.sqlite3")}, 1),
        ("sqlite", {"MUSICREC_EVENTS__SQLITE_PATH": str(tmp / "w2.sqlite3")}, 2),
    ]
    redis = RedisServer().start() if redis_server_binary() else None
    if redis is not None:
        setups.append(("redis", {"MUSICREC_EVENTS__REDIS_URL": redis.url}, 1))
    try:
        for backend, env, workers in setups:
            env = {"MUSICREC_EVENTS__BACKEND": backend, "MUSICREC_SERVING__LOG_LEVEL": "WARNING", **env}
            with ServiceProcess("events_service:app", env=env, workers=workers) as svc:
                for in_flight in (1, concurrency):
                    label = f"events {backend}, {workers}w, {in_flight} in flight"
                    _report(f"{label}: /put", *asyncio.run(_raw_load(svc.url, "/put", puts, in_flight)))
                    _report(f"{label}: /get", *asyncio.run(_raw_load(svc.url, "/get", gets, in_flight)))
    finally:
        if redis is not None:
            redis.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_features(args.items, args.requests, Path(tmp))
        bench_events(args.requests, args.concurrency, Path(tmp))


if __name__ == "__main__":
    main()
