"""ALS quality after each iteration on tuning's validation window: from scratch and warm-started.

Every ALS fit of a ``train`` (tune's ranker frame, the ALS step, the blend's two) runs ``[als]
iterations`` from random factors; at full size each iteration is ~43 s. This measures what fewer
iterations, or a warm start, would cost, on the validation window ``tune`` uses (the end of the train
period, never the test period):

* ``cold``: ALS on the history before the window, scored after each iteration (NDCG@10 of the top 10
  unheard tracks, recall@100: the ranker's ALS candidates) for the window's sampled users;
* ``warm``: ALS fitted from scratch (``[als] iterations``) on the history before ``--warm-days``
  earlier, then continued on the history before the window from those factors, scored likewise.

Each row's ratio is over ``cold`` at ``[als] iterations``, with its paired bootstrap interval (95%).

    .venv/bin/python -m bench.als_iterations --prepared data/bench/prepared
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from bench.machine import describe
from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.evaluation.metrics import bootstrap_ratio_interval, ndcg_per_user, recall_per_user
from musicrec.models.als import AlsRecommender
from musicrec.models.tuning import validation_window
from musicrec.pipeline.split import time_split

K, CANDIDATES = 10, 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--max-iterations", type=int, default=15)
    parser.add_argument("--warm-days", type=int, default=7,
                        help="days earlier the warm start's model stops (the pipeline's fits are 7 apart)")
    parser.add_argument("--resamples", type=int, default=2_000)
    args = parser.parse_args()
    settings = load_settings()
    params = settings.als  # "auto" keys are their defaults here (tuning is not run)
    print(describe(), flush=True)
    events = pl.read_parquet(args.prepared / "events.parquet", columns=[C.User, C.Item, C.Datetime])
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    val = validation_window(train, settings.tuning)
    if isinstance(val, str):
        raise SystemExit(val)
    print(f"validation window from {val.cut:%Y-%m-%d} ({val.days} days): {len(val.users):,} users; history "
          f"{val.history.height:,} listens; ALS {params.factors} factors, alpha {params.alpha}, "
          f"regularization {params.regularization}", flush=True)

    def score(model: AlsRecommender) -> tuple[np.ndarray, np.ndarray]:
        recs = model.recommend(val.users, CANDIDATES, show_progress=False)
        return (ndcg_per_user(recs, val.truth, K, val.users),
                recall_per_user(recs, val.truth, CANDIDATES, val.users))

    curves: dict[str, list[tuple[int, float, np.ndarray, np.ndarray]]] = {"cold": [], "warm": []}
    start = time.perf_counter()
    model = AlsRecommender(params).fit(val.history, show_progress=False, iterations=1)
    for it in range(1, args.max_iterations + 1):
        if it > 1:
            model.more(1)
        curves["cold"].append((it, time.perf_counter() - start, *score(model)))
    earlier = val.history.filter(pl.col(C.Datetime) < val.cut - timedelta(days=args.warm_days))
    if earlier.height == 0:
        raise SystemExit(f"no listens {args.warm_days} days before the window: use fewer --warm-days")
    begun = AlsRecommender(params).fit(earlier, show_progress=False)
    start = time.perf_counter()
    model = AlsRecommender(params).fit(val.history, show_progress=False, start=begun, iterations=1)
    for it in range(1, params.iterations + 1):
        if it > 1:
            model.more(1)
        curves["warm"].append((it, time.perf_counter() - start, *score(model)))

    reference = next(row for row in curves["cold"] if row[0] == params.iterations)
    print(f"\n| start | iterations | NDCG@{K} | / cold at {params.iterations} (95% interval) | "
          f"recall@{CANDIDATES} | seconds (scoring included) |")
    print("|---|---:|---:|---|---:|---:|")
    for name, rows in curves.items():
        for it, seconds, ndcg, recall in rows:
            lo, hi = bootstrap_ratio_interval(ndcg, reference[2], args.resamples)
            print(f"| {name} | {it} | {ndcg.mean():.4f} | {ndcg.mean() / reference[2].mean():.3f} "
                  f"({lo:.3f}-{hi:.3f}) | {recall.mean():.4f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
