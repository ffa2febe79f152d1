"""How long a hot reload takes, and what requests see meanwhile, at a given artifact size.

    .venv/bin/python -m bench.reload --scale tenth --workdir data/bench/serve
    .venv/bin/python -m bench.reload --users 20000 --items 20000 --repeats 3

Synthetic artifacts shaped like the pipeline's (``bench.serve.synthetic_artifacts``; ``tenth``: 66,181
users x 50 recommendations, 100,000 tracks x 10 similar, a tenth of ``bench.serve --scale full``) are put
into two runs of one location (hard links: the same files). The features and recommendations services
(one worker each, and the events service they need) start on the first run; then ``--repeats`` times the
other run is made current and ``POST /admin/reload`` is sent to both services, while a load loop sends
``/recommendations_offline`` at ``--concurrency`` in flight. Printed: each service's load seconds as it
reports them (median and max), its resident memory before and at the end, and the load loop's requests,
errors and latency percentiles during the reloads against the same loop before them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq

from bench.machine import describe
from bench.serve import cached_artifacts, load, rss_mb, synthetic_artifacts
from musicrec.config import load_settings
from musicrec.services.common.testing import ServiceProcess
from musicrec.storage.runs import RunStore

SCALES = {"tenth": (66_181, 100_000), "full": (661_812, 1_000_000)}
TOKEN = "bench"


def _runs(artifacts: Path, location: Path) -> tuple[RunStore, list[str]]:
    runs = RunStore.open(location, load_settings())
    ids = []
    for _ in range(2):
        run_id = runs.create()
        target = location / "runs" / run_id
        target.mkdir(parents=True)
        for path in artifacts.iterdir():
            if path.is_file() and not path.name.startswith("."):
                try:
                    os.link(path, target / path.name)
                except OSError:  # another file system
                    shutil.copyfile(path, target / path.name)
        ids.append(run_id)
    runs.switch(ids[0])
    return runs, ids


def _percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "no requests"
    ms = np.array(latencies) * 1000
    return " / ".join(f"{np.percentile(ms, q):.1f}" for q in (50, 99)) + f" / {ms.max():.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES))
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, help="keep the synthetic artifacts here and reuse them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    users, items = SCALES[args.scale] if args.scale else (args.users, args.items)
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        artifacts = (cached_artifacts(args.workdir, users, items) if args.workdir
                     else synthetic_artifacts(tmp_dir / "artifacts", users, items))
        runs, ids = _runs(artifacts, tmp_dir / "location")
        env = {"MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_dir / "location"),
               "MUSICREC_SERVING__LOG_LEVEL": "WARNING", "MUSICREC_SERVING__RELOAD_INTERVAL_S": "0",
               "MUSICREC_SERVING__ADMIN_TOKEN": TOKEN,
               "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_dir / "events.sqlite3")}
        events = ServiceProcess("events_service:app", env=env)
        features = ServiceProcess("features_service:app", env=env, startup_timeout_s=600)
        env = {**env, "MUSICREC_URLS__EVENTS_STORE_URL": events.url,
               "MUSICREC_URLS__FEATURES_STORE_URL": features.url}
        recs = ServiceProcess("recommendations_service:app", env=env, startup_timeout_s=600)
        with events, features, recs:
            services = {"features": features, "recommendations": recs}
            warm = np.unique(pq.read_table(artifacts / "recommendations.parquet", columns=["user_id"])
                             .column(0).to_numpy())
            queries = [f"user_id={int(u)}&k=100" for u in np.random.default_rng(1).choice(warm, 200_000)]
            print(f"{len(warm):,} users with a list, {items:,} tracks; RSS MB after start: "
                  + ", ".join(f"{name} {rss_mb(s):,.0f}" for name, s in services.items()), flush=True)
            before = asyncio.run(load(recs.url, "/recommendations_offline", queries[:4000], args.concurrency))
            seconds: dict[str, list[float]] = {name: [] for name in services}
            peak = {name: rss_mb(s) for name, s in services.items()}
            during: list[tuple[float, list[float], int]] = []
            stop = threading.Event()

            def background() -> None:
                start = 0
                while not stop.is_set():
                    batch = queries[start:start + 500]
                    start = (start + 500) % (len(queries) - 500)
                    during.append(asyncio.run(load(recs.url, "/recommendations_offline", batch,
                                                   args.concurrency)))

            def sample_rss() -> None:
                while not stop.is_set():
                    for name, service in services.items():
                        peak[name] = max(peak[name], rss_mb(service))
                    time.sleep(0.05)

            threads = [threading.Thread(target=background), threading.Thread(target=sample_rss)]
            for thread in threads:
                thread.start()
            try:
                for repeat in range(args.repeats):
                    runs.switch(ids[(repeat + 1) % 2])
                    for name, service in services.items():
                        answer = httpx.post(f"{service.url}/admin/reload", timeout=600,
                                            headers={"Authorization": f"Bearer {TOKEN}"})
                        answer.raise_for_status()
                        seconds[name].append(answer.json()["seconds"])
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            print("| service | reload s, median | max | RSS MB before | peak during reloads |")
            print("|---|---|---|---|---|")
            for name, values in seconds.items():
                print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} | "
                      f"{rss_mb(services[name]):,.0f} | {peak[name]:,.0f} |")
            requests = sum(len(lat) for _, lat, _ in during)
            errors = sum(e for _, _, e in during)
            latencies = [x for _, lat, _ in during for x in lat]
            print(f"/recommendations_offline at {args.concurrency} in flight, p50 / p99 / max ms: before "
                  f"{_percentiles(before[1])} ({before[2]} errors); during {args.repeats} reloads of both "
                  f"services {_percentiles(latencies)} ({requests:,} requests, {errors} errors)")
        if not args.workdir:
            shutil.rmtree(tmp_dir / "artifacts", ignore_errors=True)


if __name__ == "__main__":
    main()
