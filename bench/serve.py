"""Latency and throughput of the recommendations service with its two neighbours, as real processes,
against a bare FastAPI endpoint measured in the same run.

    .venv/bin/python -m bench.serve --scale full --workdir data/bench/serve   # 661,812 users x 50, 1M x 10
    .venv/bin/python -m bench.serve --users 20000 --items 20000 --requests 2000 --concurrency 1 16
    .venv/bin/python -m bench.serve --artifacts artifacts          # on trained artifacts instead
    .venv/bin/python -m bench.serve --service-workers 2 --events-backend redis --only /recommendations

Starts events, features and recommendations (one uvicorn worker each, no access log, as ``musicrec
serve``) over ``--artifacts`` or over synthetic artifacts shaped like the pipeline's, plus
``bench/bare.py`` (``POST /bare``: a list of 100 ints) with the same uvicorn settings; gives half of
the sampled users 3 online events; then, for each endpoint and each ``--concurrency`` level, sends
``--requests`` requests over keep-alive connections and prints req/s, its ratio to the bare endpoint's
at the same level (measured before and after the endpoints; the mean is the reference), p50/p95/p99
and errors, and each service's RSS after start and after the run.

``--service-workers N`` runs N uvicorn workers for each of the three services (``--workers``: the
recommendations service only); ``--events-backend redis`` starts a private ``redis-server`` (no
persistence) for the events service; ``--only PATH`` measures that endpoint alone.

``--answers FILE`` checks that the services answer as before: the first run writes the exact bytes
of a fixed sample of answers (each endpoint, ``explain=true``, error envelopes) to FILE, later runs
compare with it and exit with code 1 when any differs.

The load generator is this process (plain asyncio sockets: httpx's own ~1 ms per request would
dominate what is measured); the services are other processes on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import psutil
import pyarrow.parquet as pq

from bench.machine import describe
from musicrec.client.samples import pick_examples
from musicrec.services.common.testing import RedisServer, ServiceProcess, free_port
from musicrec.storage.artifacts import LocalArtifactStore

# the real size: users with a personal list x 50 recommendations, tracks x 10 similar
SCALES = {"full": (661_812, 1_000_000)}
BLEND = {"weights": {"online": 0.02, "artist": 0.05, "offset": 5.0, "recency_decay": 0.5}}
RECS_PER_USER, SIMILAR_PER_ITEM, TOP_ARTISTS = 50, 10, 3


def synthetic_artifacts(directory: Path, users: int, items: int, seed: int = 0) -> Path:
    """Artifacts shaped like the pipeline's, so the learned blend is what gets measured.

    ``recommendations.parquet`` / ``personal_als.parquet``: 50 distinct ranked tracks per user,
    popularity-skewed; user ids are a sorted sample of about twice as many ids (about half the real
    users have a list). ``similar.parquet``: 10 per track, best first. ``top_popular.parquet``: 100.
    ``items.parquet``: ``item_id`` int32, ``name``, ``artist_ids`` list<int32> (one artist per ~8
    tracks, a second one on 10% of tracks). ``user_artists.parquet``: each user's top 3 artists.
    ``blend.json``: the learned blend's weights.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    # Popularity-skewed item draws, like real listening data, then redrawn until no user has a track twice.
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    weights /= weights.sum()
    recs = rng.choice(items, size=(users, RECS_PER_USER), p=weights).astype(np.int32)
    for _ in range(20):
        order = np.argsort(recs, axis=1, kind="stable")
        ordered = np.take_along_axis(recs, order, axis=1)
        dup_rows, dup_cols = np.nonzero(ordered[:, 1:] == ordered[:, :-1])
        if len(dup_rows) == 0:
            break
        recs[dup_rows, order[dup_rows, dup_cols + 1]] = rng.integers(0, items, len(dup_rows), dtype=np.int32)
    user_ids = np.sort(rng.choice(int(users * 2.07), size=users, replace=False)).astype(np.int32)
    ranks = np.tile(np.arange(1, RECS_PER_USER + 1, dtype=np.int32), users)
    ranked = pl.DataFrame({"user_id": np.repeat(user_ids, RECS_PER_USER), "item_id": recs.ravel(),
                           "score": (1.0 / ranks).astype(np.float32), "rank": ranks})
    ranked.write_parquet(directory / "recommendations.parquet")
    ranked.write_parquet(directory / "personal_als.parquet")
    del ranked, recs, ranks
    top = np.arange(100, dtype=np.int32)
    pl.DataFrame({"item_id": top, "rank": top + 1, "plays": (10_000 - top).astype(np.int64),
                  "users": (5_000 - top).astype(np.int64)}).write_parquet(directory / "top_popular.parquet")
    neighbours = rng.integers(0, items, (items, SIMILAR_PER_ITEM), dtype=np.int32)
    scores = -np.sort(-rng.random((items, SIMILAR_PER_ITEM), dtype=np.float32), axis=1)
    pl.DataFrame({"item_id_1": np.repeat(np.arange(items, dtype=np.int32), SIMILAR_PER_ITEM),
                  "item_id_2": neighbours.ravel(), "score": scores.ravel(),
                  "source": ["als"] * (items * SIMILAR_PER_ITEM)}).write_parquet(
        directory / "similar.parquet")
    del neighbours, scores
    n_artists = max(1, items // 8)
    first = rng.integers(0, n_artists, items, dtype=np.int32)
    second = np.where(rng.random(items) < 0.1, rng.integers(0, n_artists, items, dtype=np.int32), -1)
    artist_ids = [[a] if b < 0 else [a, b] for a, b in zip(first.tolist(), second.tolist(), strict=True)]
    pl.DataFrame({"item_id": np.arange(items, dtype=np.int32), "name": [f"Track {i}" for i in range(items)],
                  "artist_ids": pl.Series(artist_ids, dtype=pl.List(pl.Int32))}).write_parquet(
        directory / "items.parquet")
    del artist_ids
    ranks = np.tile(np.arange(1, TOP_ARTISTS + 1, dtype=np.int16), users)
    pl.DataFrame({"user_id": np.repeat(user_ids, TOP_ARTISTS),
                  "artist_id": rng.integers(0, n_artists, users * TOP_ARTISTS, dtype=np.int32),
                  "plays": (100 - ranks * 10).astype(np.int32), "rank": ranks}).write_parquet(
        directory / "user_artists.parquet")
    (directory / "blend.json").write_text(json.dumps(BLEND, indent=2) + "\n", encoding="utf-8")
    return directory


def cached_artifacts(workdir: Path, users: int, items: int) -> Path:
    """Synthetic artifacts under ``workdir``, generated once per size and reused by later runs."""
    directory = workdir / f"artifacts-{users}x{items}"
    done = directory / ".complete"
    if not done.exists():
        synthetic_artifacts(directory, users, items)
        done.touch()
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


def rss_mb(process: ServiceProcess) -> float:
    """Resident memory of a service process and its children (uvicorn workers), in MB."""
    root = psutil.Process(process.process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def cpu_seconds(processes: list[psutil.Process]) -> list[float]:
    """User + system CPU seconds of each service process (its uvicorn workers included), then of this
    process alone (the services are its children too)."""
    out = []
    for root in processes[:-1]:
        times = [p.cpu_times() for p in [root, *root.children(recursive=True)]]
        out.append(sum(t.user + t.system for t in times))
    own = processes[-1].cpu_times()
    return [*out, own.user + own.system]


def print_rss(moment: str, services: dict[str, ServiceProcess]) -> None:
    print(f"RSS {moment}: " + ", ".join(f"{name} {rss_mb(s):,.0f} MB" for name, s in services.items()),
          flush=True)


def answer_requests(warm: np.ndarray, online_users: np.ndarray, cold: int) -> list[str]:
    """A fixed sample of requests whose exact answers must not change: ``path?query``."""
    requests = ["/recommendations_default?k=100", "/recommendations_default?k=7&explain=true"]
    for user in online_users[:100].tolist():
        requests += [f"/recommendations?user_id={user}&k=100",
                     f"/recommendations?user_id={user}&k=20&explain=true",
                     f"/recommendations_online?user_id={user}&k=50",
                     f"/recommendations_online?user_id={user}&k=10&explain=true"]
    for user in [*warm[:100].tolist(), cold]:
        requests += [f"/recommendations_offline?user_id={user}&k=100",
                     f"/recommendations_offline?user_id={user}&k=20&explain=true",
                     f"/recommendations?user_id={user}&k=30",
                     f"/recommendations?user_id={user}&k=10&explain=true"]
    requests += ["/recommendations_offline?user_id=-1&k=5", "/recommendations_offline?user_id=1&k=0",
                 "/recommendations_offline?user_id=abc&k=abc", "/recommendations_offline?k=5",
                 "/recommendations?user_id=1&k=1001", "/recommendations_default?k=1.5",
                 "/recommendations_online?user_id=-5&k=0", "/recommendations_offline?user_id=1&explain=maybe",
                 "/no_such_route"]
    return requests


def check_answers(url: str, requests: list[str], path: Path) -> int:
    """Write the answers to ``path`` the first time; later, compare with it. The number that differ."""
    with httpx.Client(base_url=url, timeout=30) as client:
        answers = []
        for request in requests:
            response = client.post(request)
            answers.append({"request": request, "status": response.status_code,
                            "body": response.content.decode()})
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
        print(f"answers: {len(answers)} written to {path}")
        return 0
    before = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    differ = [(old, new) for old, new in zip(before, answers, strict=False) if old != new]
    if len(before) != len(answers):
        differ.append(({"request": f"{len(before)} answers"}, {"request": f"{len(answers)} answers"}))
    print(f"answers: {len(answers) - len(differ)} of {len(answers)} identical to {path}")
    for old, new in differ[:3]:
        print(f"  {old['request']}:\n    before {old.get('status')} {old.get('body')}\n"
              f"    now    {new.get('status')} {new.get('body')}")
    return len(differ)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, help="trained artifacts (default: synthetic ones)")
    parser.add_argument("--scale", choices=sorted(SCALES), help="synthetic artifacts of the real size "
                        "(full: 661,812 users x 50 recommendations, 1,000,000 tracks x 10 similar)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path,
                        help="keep the synthetic artifacts here and reuse them (default: a temporary dir)")
    parser.add_argument("--answers", type=Path, help="write, then compare, a sample of exact answers")
    parser.add_argument("--requests", type=int, default=2_000, help="per endpoint and concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn workers of the recommendations service")
    parser.add_argument("--neighbours", choices=["http", "direct"], default="http",
                        help="[serving] neighbours of the recommendations service")
    parser.add_argument("--service-workers", type=int,
                        help="uvicorn workers of each of the three services (overrides --workers)")
    parser.add_argument("--events-backend", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--only", metavar="PATH", help="measure this endpoint only, e.g. /recommendations")
    args = parser.parse_args()
    users, items = SCALES[args.scale] if args.scale else (args.users, args.items)
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        started = time.perf_counter()
        if args.artifacts:
            artifacts = args.artifacts
        elif args.workdir:
            artifacts = cached_artifacts(args.workdir, users, items)
        else:
            artifacts = synthetic_artifacts(tmp_dir / "artifacts", users, items)
        print(f"artifacts: {artifacts} ({time.perf_counter() - started:.1f} s)", flush=True)
        workers = {"recommendations": args.service_workers or args.workers,
                   "features": args.service_workers or 1, "events": args.service_workers or 1}
        with contextlib.ExitStack() as stack:
            redis_url = (stack.enter_context(RedisServer()).url if args.events_backend == "redis" else None)
            print(f"workers per service: {workers}; events backend: {args.events_backend}", flush=True)
            differ = run(artifacts, tmp_dir, args.requests, args.concurrency, args.answers, workers,
                         args.neighbours, redis_url, args.only)
    print(describe())
    if differ:
        sys.exit(f"{differ} answers differ from {args.answers}")


def run(artifacts: Path, tmp: Path, n_requests: int, levels: list[int], answers: Path | None,
        workers: dict[str, int] | int = 1, neighbours: str = "http", redis_url: str | None = None,
        only: str | None = None) -> int:
    if isinstance(workers, int):
        workers = {"recommendations": workers, "features": 1, "events": 1}
    ports = {name: free_port() for name in ("recommendations", "features", "events", "bare")}
    env = {
        "MUSICREC_PATHS__ARTIFACTS_DIR": str(artifacts.resolve()),
        "MUSICREC_EVENTS__BACKEND": "redis" if redis_url else "sqlite",
        "MUSICREC_EVENTS__REDIS_URL": redis_url or "redis://127.0.0.1:6379/0",
        "MUSICREC_EVENTS__SQLITE_PATH": str(tmp / "events.sqlite3"),
        "MUSICREC_SERVING__LOG_LEVEL": "WARNING",
        "MUSICREC_SERVING__NEIGHBOURS": neighbours,
        **{f"MUSICREC_URLS__{key}": f"http://127.0.0.1:{ports[name]}" for key, name in (
            ("RECOMMENDATIONS_URL", "recommendations"), ("FEATURES_STORE_URL", "features"),
            ("EVENTS_STORE_URL", "events"))},
    }
    with (ServiceProcess("events_service:app", env=env, port=ports["events"],
                         workers=workers["events"]) as events,
          ServiceProcess("features_service:app", env=env, port=ports["features"],
                         startup_timeout_s=300, workers=workers["features"]) as features,
          ServiceProcess("recommendations_service:app", env=env, port=ports["recommendations"],
                         startup_timeout_s=300, workers=workers["recommendations"]) as recs,
          ServiceProcess("bench.bare:app", port=ports["bare"]) as bare):
        services = {"recommendations": recs, "features": features, "events": events, "bare": bare}
        print("start-up (spawn to a healthy /health): " + ", ".join(
            f"{name} {s.startup_s:.1f} s" for name, s in services.items()), flush=True)
        print_rss("after start", services)
        rng = np.random.default_rng(1)
        users = pq.read_table(artifacts / "recommendations.parquet", columns=["user_id"]).column(0)
        warm = np.unique(users.to_numpy())
        del users
        sample = rng.choice(warm, size=min(len(warm), 1_000), replace=False)
        items = pq.read_table(artifacts / "similar.parquet", columns=["item_id_1"]).column(0).to_numpy()
        online_users = sample[: len(sample) // 2]
        with httpx.Client(base_url=events.url) as client:
            for user in online_users:
                for item in rng.choice(items, 3):
                    params = {"user_id": int(user), "item_id": int(item)}
                    client.post("/put", params=params).raise_for_status()
        del items
        cold = pick_examples(LocalArtifactStore(artifacts)).cold_user
        print(f"{len(warm):,} warm users; {len(online_users)} of the sampled users have 3 online events")
        differ = 0
        if answers is not None:
            differ = check_answers(recs.url, answer_requests(sample[len(sample) // 2:], online_users, cold),
                                   answers)

        def queries(pool: np.ndarray, k: int) -> list[str]:
            return [f"user_id={int(u)}&k={k}" for u in rng.choice(pool, n_requests)]

        cold_users = [f"user_id={cold + i}&k=100" for i in range(n_requests)]
        cases = [
            (recs.url, "/recommendations_offline", "warm", queries(sample, 100)),
            (recs.url, "/recommendations_offline", "cold", cold_users),
            (recs.url, "/recommendations_default", "", ["k=100"] * n_requests),
            (recs.url, "/recommendations_online", "3 events", queries(online_users, 50)),
            (recs.url, "/recommendations", "3 events", queries(online_users, 100)),
            (recs.url, "/recommendations", "no events", queries(sample[len(sample) // 2:], 100)),
        ]
        if only:
            cases = [case for case in cases if case[1] == only]
        reference = (bare.url, "/bare", "(reference)", [""] * n_requests)
        results: list[tuple[str, str, int, float, list[float], int]] = []
        processes = [psutil.Process(s.process.pid) for s in (recs, events, features, bare)]
        processes.append(psutil.Process())  # this process: the load generator
        cpu_lines = []
        for url, path, label, batch in [reference, *cases, reference]:
            asyncio.run(load(url, path, batch[:50], 4))  # warm-up: connections, caches
            for concurrency in levels:
                before = cpu_seconds(processes)
                rps, lat, errors = asyncio.run(load(url, path, batch, concurrency))
                after = cpu_seconds(processes)
                used = [(b - a) / len(batch) * 1e6 for a, b in zip(before, after, strict=True)]
                results.append((path, label, concurrency, rps, lat, errors))
                cpu_lines.append(f"{path:<26} {label:<12} {concurrency:>4} "
                                 + " ".join(f"{u:>9.0f}" for u in used) + f" {sum(used):>9.0f}")
        print_rss("after the run", services)
        report(results, levels)
        print("CPU microseconds per request by process (user + system; a busy machine adds to it)")
        print(f"{'endpoint':<26} {'users':<12} {'conc':>4} {'recs':>9} {'events':>9} {'features':>9} "
              f"{'bare':>9} {'client':>9} {'total':>9}")
        print("\n".join(cpu_lines))
    return differ


def report(results: list[tuple[str, str, int, float, list[float], int]], levels: list[int]) -> None:
    """One line per endpoint and level; the ratio is to the mean of the two bare measurements."""
    bare = {level: [rps for path, _, c, rps, _, _ in results if path == "/bare" and c == level]
            for level in levels}
    reference = {level: float(np.mean(values)) for level, values in bare.items()}
    print("bare endpoint req/s before / after the endpoints: "
          + "; ".join(f"{level} in flight {v[0]:,.0f} / {v[-1]:,.0f}" for level, v in bare.items()))
    print(f"{'endpoint':<26} {'users':<12} {'conc':>4} {'req/s':>7} {'x bare':>6} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for index, (path, label, concurrency, rps, lat, errors) in enumerate(results):
        if path == "/bare" and index >= len(levels):
            continue  # the second reference measurement is in the line above
        p50, p95, p99 = (np.percentile(lat, q) * 1000 for q in (50, 95, 99))
        print(f"{path:<26} {label:<12} {concurrency:>4} {rps:>7.0f} {rps / reference[concurrency]:>6.2f} "
              f"{p50:>7.2f} {p95:>7.2f} {p99:>7.2f} {errors:>6}")


if __name__ == "__main__":
    main()
