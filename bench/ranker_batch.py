"""Where one batch of the ranker's inference spends its time: candidates and features of 50,000 users.

The full-size inference is ~27 such batches, each about as slow as the previous code's (issue 15);
this profiles one without fitting the ranker: it reads a saved ALS model (the ``als_model`` directory
the ALS step writes), prepares what every batch shares (per-period columns, recent popular tracks,
the neighbours of every user's last listens) and runs ``candidates.generate`` and ``features.build``
for the first ``--users`` users under cProfile, then times CatBoost's scoring of them with a model of
the default shape. Nothing is written.

    .venv/bin/python -m bench.ranker_batch --prepared data/bench/prepared --als data/bench/artifacts/als_model
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from bench.machine import describe
from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.models.als import AlsRecommender
from musicrec.models.ranker import batch_listens
from musicrec.models.ranker import candidates as cand
from musicrec.models.ranker import features as feat
from musicrec.models.ranker.labels import period_end
from musicrec.pipeline.split import time_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--als", type=Path, default=Path("data/bench/artifacts/als_model"),
                        help="an ALS model fitted on the same train period (the ALS step's als_model)")
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--users", type=int, default=50_000, help="users in the batch (the pipeline's)")
    parser.add_argument("--top", type=int, default=20, help="how many functions to print")
    args = parser.parse_args()
    settings = load_settings()
    print(describe(), flush=True)
    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    als = AlsRecommender.load(args.als)
    until = period_end(train)
    users = np.unique(train.get_column(C.User).to_numpy())

    start = time.perf_counter()
    stats = feat.period_stats(train, until, settings.popular.recent_days, als)
    shared = cand.shared_tracks(train, until, settings)
    near = cand.recent_neighbours(als, cand.last_listens(train, users, settings.ranker.last_listens))
    # the pipeline's ALS step has built the recommendations' index (above [als] ann_min_items tracks)
    # when it listed every user; the batches reuse it
    als.recommend(users[:1], settings.ranker.n_candidates, show_progress=False)
    print(f"shared preparation for {len(users):,} users: {time.perf_counter() - start:.1f} s", flush=True)

    batch = users[:args.users]
    profile = cProfile.Profile()
    profile.enable()
    start = time.perf_counter()
    mine = batch_listens(train, batch)  # as score_candidates does
    pairs = cand.generate(mine, batch, until, als, settings, shared, near)
    generated = time.perf_counter()
    frame = feat.build(pairs, mine, items, until, als, settings.popular.recent_days,
                       settings.ranker.last_listens, stats)
    built = time.perf_counter()
    profile.disable()
    print(f"batch of {len(batch):,} users: candidates {generated - start:.1f} s ({pairs.height:,} rows), "
          f"features {built - generated:.1f} s (under cProfile)", flush=True)
    pstats.Stats(profile).sort_stats("cumulative").print_stats("musicrec", args.top)
    print(f"CatBoost scoring of the batch: {catboost_seconds(frame, settings):.1f} s "
          f"(a model of the default shape, {settings.ranker.threads} threads)", flush=True)


def catboost_seconds(frame: pl.DataFrame, settings) -> float:
    """Seconds to score ``frame`` with a CatBoost model of the ranker's default shape ([tuning]'s
    default point: 500 trees of depth 4), fitted here on a sample with a stand-in label: scoring costs
    trees x depth x rows whatever the trees learnt."""
    from catboost import CatBoostClassifier

    sample = frame.sample(min(frame.height, 20_000), seed=0)
    label = (sample.get_column("als_rank") <= 10).cast(pl.Int8).to_numpy()
    model = CatBoostClassifier(iterations=500, depth=4, learning_rate=0.03, verbose=False, random_seed=0,
                               thread_count=settings.ranker.threads)
    model.fit(sample.select(feat.FEATURES).to_numpy(), label)
    start = time.perf_counter()
    x = frame.select(feat.FEATURES).to_numpy()  # as CatBoostStage.predict does
    model.predict(x, prediction_type="RawFormulaVal")
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
