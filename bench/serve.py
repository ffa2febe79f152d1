"""Latency and throughput of the recommendations service with its two neighbours, as real processes.

    .venv/bin/python -m bench.serve --users 20000 --items 20000 --requests 2000 --concurrency 1 8 32
    .venv/bin/python -m bench.serve --artifacts artifacts          # on trained artifacts instead

Starts events, features and recommendations (one uvicorn worker each) over ``--artifacts`` or over
synthetic artifacts of ``--users`` x 50 recommendations and ``--items`` x 10 similar tracks; gives
half of the sampled users 3 online events; then, for each endpoint and each ``--concurrency`` level,
sends ``--requests`` requests over keep-alive connections and prints req/s, p50/p95/p99 and errors.
The load generator is this process (plain asyncio sockets: httpx's own ~1 ms per request would
dominate what is measured); the services are three other processes on the same 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.client.samples import pick_examples
from musicrec.services.common.testing import ServiceProcess, free_port


def synthetic_artifacts(directory: Path, users: int, items: int, seed: int = 0) -> Path:
    """Artifacts shaped like the pipeline's: 50 ranked items per user, 10 similar per item, top 100."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    # Popularity-skewed item draws, like real listening data; duplicates within a user are harmless
    # (the index keeps the best rank) but rare at these sizes.
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    weights /= weights.sum()
    user_ids = np.repeat(np.arange(users, dtype=np.int32), 50)
    recs = rng.choice(items, size=users * 50, p=weights).astype(np.int32)
    ranks = np.tile(np.arange(1, 51, dtype=np.int32), users)
    table = pa.table({"user_id": user_ids, "item_id": recs, "score": (1.0 / ranks).astype(np.float32),
                      "rank": ranks})
    pq.write_table(table, directory / "recommendations.parquet")
    pq.write_table(table, directory / "personal_als.parquet")
    top = np.arange(100, dtype=np.int32)
    pq.write_table(pa.table({"item_id": top, "rank": top + 1, "plays": (10_000 - top).astype(np.int64),
                             "users": (5_000 - top).astype(np.int64)}), directory / "top_popular.parquet")
    item_1 = np.repeat(np.arange(items, dtype=np.int32), 10)
    pq.write_table(pa.table({"item_id_1": item_1,
                             "item_id_2": rng.integers(0, items, len(item_1), dtype=np.int32),
                             "score": np.sort(rng.random(len(item_1), dtype=np.float32))[::-1],
                             "source": pa.array(["als"] * len(item_1))}), directory / "similar.parquet")
    return directory


async def load(url: str, path: str, queries: list[str], concurrency: int) -> tuple[float, list[float], int]:
    """``POST path?query`` for every query over ``concurrency`` connections: (req/s, latencies, errors).

    A non-200 or a degraded answer counts as an error."""
    host, port = url.removeprefix("http://").split(":")
    pending = list(queries)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while pending:
                query = pending.pop()
                start = time.perf_counter()
                request = f"POST {path}?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if head.split(b" ", 2)[1] != b"200" or b'"degraded":true' in body:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(queries) / (time.perf_counter() - start), latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, help="trained artifacts (default: synthetic ones)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2_000, help="per endpoint and concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        started = time.perf_counter()
        artifacts = args.artifacts or synthetic_artifacts(tmp_dir / "artifacts", args.users, args.items)
        print(f"artifacts: {artifacts} ({time.perf_counter() - started:.1f} s)")
        run(artifacts, tmp_dir, args.requests, args.concurrency)


def rss_mb(process: ServiceProcess) -> float:
    """Resident memory of a service process and its children (uvicorn workers), in MB."""
    root = psutil.Process(process.process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def print_rss(moment: str, services: dict[str, ServiceProcess]) -> None:
    print(f"RSS {moment}: " + ", ".join(f"{name} {rss_mb(s):,.0f} MB" for name, s in services.items()))


def run(artifacts: Path, tmp: Path, n_requests: int, levels: list[int]) -> None:
    ports = {name: free_port() for name in ("recommendations", "features", "events")}
    env = {
        "MUSICREC_PATHS__ARTIFACTS_DIR": str(artifacts.resolve()),
        "MUSICREC_EVENTS__BACKEND": "sqlite",
        "MUSICREC_EVENTS__SQLITE_PATH": str(tmp / "events.sqlite3"),
        "MUSICREC_SERVING__LOG_LEVEL": "WARNING",
        **{f"MUSICREC_URLS__{key}": f"http://127.0.0.1:{ports[name]}" for key, name in (
            ("RECOMMENDATIONS_URL", "recommendations"), ("FEATURES_STORE_URL", "features"),
            ("EVENTS_STORE_URL", "events"))},
    }
    with (ServiceProcess("events_service:app", env=env, port=ports["events"]) as events,
          ServiceProcess("features_service:app", env=env, port=ports["features"],
                         startup_timeout_s=300) as features,
          ServiceProcess("recommendations_service:app", env=env, port=ports["recommendations"],
                         startup_timeout_s=300) as recs):
        services = {"recommendations": recs, "features": features, "events": events}
        print_rss("after start", services)
        rng = np.random.default_rng(1)
        users = pq.read_table(artifacts / "recommendations.parquet", columns=["user_id"]).column(0)
        warm = np.unique(users.to_numpy())
        sample = rng.choice(warm, size=min(len(warm), 1_000), replace=False)
        items = pq.read_table(artifacts / "similar.parquet", columns=["item_id_1"]).column(0).to_numpy()
        online_users = sample[: len(sample) // 2]
        with httpx.Client(base_url=events.url) as client:
            for user in online_users:
                for item in rng.choice(items, 3):
                    params = {"user_id": int(user), "item_id": int(item)}
                    client.post("/put", params=params).raise_for_status()
        cold = pick_examples(artifacts).cold_user
        print(f"{len(warm):,} warm users; {len(online_users)} of the sampled users have 3 online events")

        def queries(pool: np.ndarray, k: int) -> list[str]:
            return [f"user_id={int(u)}&k={k}" for u in rng.choice(pool, n_requests)]

        cases = [
            ("/recommendations_offline", "warm", queries(sample, 100)),
            ("/recommendations_offline", "cold", [f"user_id={cold + i}&k=100" for i in range(n_requests)]),
            ("/recommendations_default", "", ["k=100"] * n_requests),
            ("/recommendations_online", "with events", queries(online_users, 50)),
            ("/recommendations", "with events", queries(online_users, 100)),
            ("/recommendations", "no events", queries(sample[len(sample) // 2:], 100)),
        ]
        print(f"{'endpoint':<26} {'users':<12} {'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'p99 ms':>7} {'errors':>6}")
        for path, label, batch in cases:
            asyncio.run(load(recs.url, path, batch[:50], 4))  # warm-up: connections, caches
            for concurrency in levels:
                rps, lat, errors = asyncio.run(load(recs.url, path, batch, concurrency))
                p50, p95, p99 = (np.percentile(lat, q) * 1000 for q in (50, 95, 99))
                print(f"{path:<26} {label:<12} {concurrency:>4} {rps:>7.0f} {p50:>7.2f} {p95:>7.2f} "
                      f"{p99:>7.2f} {errors:>6}", flush=True)
        print_rss("after the run", services)


if __name__ == "__main__":
    main()
