"""Peak memory and time of each part of the ranker's training frame, one call at a time.

What a 200M-listen history costs where: the ALS fit, the candidates of ``[ranker] max_train_users``
users, then each feature function alone over the whole history. The process's RSS is sampled every
0.2 s; each line gives the RSS before the call and the peak above it. ALS runs ``--iterations``
iterations (1 by default: the memory of a fit does not depend on them). Nothing is written.

    .venv/bin/python -m bench.feature_memory --prepared data/bench-full/prepared     # the real size
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import psutil

from bench.machine import describe
from musicrec.config import load_settings
from musicrec.models.als import AlsRecommender
from musicrec.models.ranker import candidates as cand
from musicrec.models.ranker import features as feat
from musicrec.models.ranker.labels import attach_labels, label_split, sample_negatives, training_users
from musicrec.pipeline.split import time_split

_PROC = psutil.Process()
_PEAK = [0.0]


def _sample() -> None:
    while True:
        _PEAK[0] = max(_PEAK[0], _PROC.memory_info().rss / 2**30)
        time.sleep(0.2)


def _measure(name: str, call):
    gc.collect()
    base = _PROC.memory_info().rss / 2**30
    _PEAK[0] = base
    start = time.perf_counter()
    out = call()
    print(f"| {name} | {time.perf_counter() - start:.1f} | {base:.1f} | +{_PEAK[0] - base:.1f} |", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--iterations", type=int, default=1, help="ALS iterations")
    args = parser.parse_args()
    threading.Thread(target=_sample, daemon=True).start()
    settings = load_settings(als={"iterations": args.iterations})
    cfg, recent_days = settings.ranker, settings.popular.recent_days
    print(describe(), flush=True)
    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    print("| part of the training frame | seconds | RSS before (GB) | peak above it (GB) |")
    print("|---|---:|---:|---:|")
    split = _measure("label split", lambda: label_split(train, cfg.label_days))
    history, until = split.history, split.cutoff
    users = training_users(split, cfg.max_train_users, cfg.seed)
    als = _measure(f"ALS fit ({args.iterations} iterations)",
                   lambda: AlsRecommender(settings.als).fit(history, show_progress=False))
    pairs = _measure(f"candidates of {len(users):,} users",
                     lambda: cand.generate(history, users, until, als, settings))
    labelled = sample_negatives(attach_labels(pairs, split.window), cfg.negatives_per_positive, cfg.seed)
    keyed = labelled.with_row_index("_row")
    _measure("item_stats", lambda: feat.item_stats(history, until, recent_days))
    _measure("user_stats", lambda: feat.user_stats(history, until, recent_days))
    _measure("user_taste", lambda: feat.user_taste(history, feat.TASTE_LAST))
    _measure("similarity_to_last", lambda: feat.similarity_to_last(keyed, history, als, cfg.last_listens))
    _measure("neighbour_recent", lambda: feat.neighbour_recent(keyed, history, als, until, recent_days))
    _measure("every feature (features.build)",
             lambda: feat.build(labelled, history, items, until, als, recent_days, cfg.last_listens))


if __name__ == "__main__":
    main()
