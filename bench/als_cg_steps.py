"""Seconds per ALS iteration with each number of implicit's conjugate-gradient steps, same run.

implicit's CPU solver makes ``1 + cg_steps`` passes over every listen per half-iteration (a residual,
then one per step; its default and the pipeline's 3), so fewer steps should cost about that much less.
This times single iterations (:meth:`AlsRecommender.more`) on the train period's matrix, built once,
the settings alternating ``--repeat`` times so a noisy machine slows each alike; it prints the median
seconds per iteration of each setting and its ratio to the first. The pipeline has no setting for it
(2 steps cost the ranker 2% at 1/10, docs/benchmarks.md): the steps are set here on implicit's model.

    .venv/bin/python -m bench.als_cg_steps --prepared data/bench/prepared --cg-steps 3 2 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from pathlib import Path

import polars as pl
from implicit.cpu.als import AlternatingLeastSquares

from bench.machine import describe
from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.models import als as als_module
from musicrec.models.als import AlsRecommender
from musicrec.pipeline.split import time_split


def _with_steps(steps: int) -> type:
    """implicit's ALS class with ``cg_steps`` set (not a constructor argument of its CPU model)."""
    class Steps(AlternatingLeastSquares):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.cg_steps = steps

    return Steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--cg-steps", type=int, nargs="+", default=[3, 2])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if any(steps < 1 for steps in args.cg_steps) or args.repeat < 1:
        parser.error("--cg-steps and --repeat take positive integers")
    params = load_settings().als  # "auto" keys are their defaults here (tuning is not run)
    events = pl.read_parquet(args.prepared / "events.parquet", columns=[C.User, C.Item, C.Datetime])
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    print(f"{describe()}\ntrain: {train.height:,} listens; ALS {params.factors} factors", flush=True)
    # one model, its matrix built once; every timed iteration goes on from the factors of the last
    model = AlsRecommender(params).fit(train, show_progress=False, iterations=1)
    del train
    seconds: dict[int, list[float]] = {steps: [] for steps in args.cg_steps}
    for _ in range(args.repeat):
        for steps in args.cg_steps:
            als_module.AlternatingLeastSquares = _with_steps(steps)  # what AlsRecommender builds
            start = time.perf_counter()
            model.more(1)
            seconds[steps].append(time.perf_counter() - start)
            print(f"cg_steps {steps}: {seconds[steps][-1]:.2f} s", flush=True)
    first = statistics.median(seconds[args.cg_steps[0]])
    print(f"\n| cg_steps | seconds per iteration (runs) | median | / cg_steps {args.cg_steps[0]} |")
    print("|---:|---|---:|---:|")
    for steps, runs in seconds.items():
        median = statistics.median(runs)
        print(f"| {steps} | {' / '.join(f'{s:.2f}' for s in runs)} | {median:.2f} | {median / first:.2f} |")


if __name__ == "__main__":
    main()
