"""The ranker's inference with one batch at a time against ``[ranker] inference_workers`` batches at once.

Reads a prepared dataset and the ALS model the ALS step saved (``als_model``), prepares what every batch
shares once (:func:`musicrec.models.ranker.prepare_inference`), takes every user's ALS candidates from
that model as the pipeline's ALS step hands them over, and fits a stand-in CatBoost stage of the
configured shape on the first batch (stand-in labels: scoring costs trees x depth x rows whatever the
trees learnt). Then it times :func:`~musicrec.models.ranker.score_batches` over every user in each
configuration (workers x users per batch), alternating their order ``--repeat`` times, and checks
that every configuration gives the same lists. Prints the wall and CPU seconds and the peak RSS of
each run, then the medians and their ratio to the first configuration.

    .venv/bin/python -m bench.ranker_inference --prepared data/bench/prepared \\
        --als data/bench/artifacts/als_model --runs 1x50000 2x25000 2x50000
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import polars as pl
import psutil

from bench.machine import describe
from bench.ranker_common import add_input_args, batch_frame, load_inputs, stand_in_stage
from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.models.ranker import prepare_inference, score_batches


class PeakRss:
    """The process's RSS at the start of a ``with`` block and its peak, sampled every 0.2 s (MB)."""

    def __enter__(self) -> PeakRss:
        self.start = psutil.Process().memory_info().rss / 2**20
        self.peak, self._stop = self.start, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, proc.memory_info().rss / 2**20)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_args(parser, als_required=True)
    parser.add_argument("--runs", nargs="+", default=["1x50000", "2x25000", "2x50000"],
                        help="WORKERSxBATCH_USERS of each configuration timed; the first is the reference")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each worker count, alternated")
    args = parser.parse_args()
    settings = load_settings()
    print(describe(), flush=True)
    train, items, als = load_inputs(args)
    start = time.perf_counter()
    prepared = prepare_inference(train, settings, None, als)
    als_top = als.recommend(prepared.users, settings.ranker.n_candidates, show_progress=False)
    print(f"shared preparation for {len(prepared.users):,} users and their ALS candidates: "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    stage = stand_in_stage(batch_frame(train, items, als, prepared, settings, prepared.users[:5000], als_top),
                           settings)
    print(f"stand-in CatBoost stage: {len(stage.models)} model(s), at most {settings.ranker.iterations} "
          f"trees of depth {settings.ranker.depth}", flush=True)

    configs = [tuple(int(x) for x in run.split("x")) for run in args.runs]
    walls: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    peaks: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    lists: dict[tuple[int, int], pl.DataFrame] = {}
    for r in range(args.repeat):
        for workers, batch_users in (configs if r % 2 == 0 else configs[::-1]):
            run = settings.model_copy(update={"ranker": settings.ranker.model_copy(
                update={"inference_workers": workers})})
            cpu, wall = time.process_time(), time.perf_counter()
            with PeakRss() as rss:
                recs = score_batches(stage, train, items, run, als, prepared,
                                     als_top=als_top, batch_users=batch_users)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            walls[workers, batch_users].append(wall)
            peaks[workers, batch_users].append(rss.peak - rss.start)
            lists.setdefault((workers, batch_users), recs)
            print(f"{workers} worker(s) x batches of {batch_users:,} users: {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU ({cpu / wall:.2f} cores), peak RSS {rss.peak:,.0f} MB "
                  f"(+{rss.peak - rss.start:,.0f} over its start), "
                  f"{recs.height:,} rows", flush=True)
    first, ref = lists[configs[0]], f"{configs[0][0]}x{configs[0][1]}"
    for config, recs in lists.items():
        same = recs.select(C.User, C.Item, C.Rank).equals(first.select(C.User, C.Item, C.Rank))
        close = np.allclose(recs.get_column(C.Score).to_numpy(), first.get_column(C.Score).to_numpy())
        print(f"{config[0]}x{config[1]}: lists identical to {ref}'s: {same and close}")
    base = statistics.median(walls[configs[0]])
    print(f"\n| workers x batch users | median wall s ({args.repeat} runs) | over {ref} "
          "| RSS peak - start, MB |")
    print("|---|---:|---:|---:|")  # the largest of the runs
    for config in configs:
        median = statistics.median(walls[config])
        peak = max(peaks[config])
        print(f"| {config[0]} x {config[1]:,} | {median:.1f} | {median / base:.2f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
