"""Recall and speed of the approximate (faiss IVF) searches against the exact ones, on a trained ALS model.

    .venv/bin/python -m bench.neighbours data/bench/artifacts/als_model            # 1/10 scale
    .venv/bin/python -m bench.neighbours <run>/als_model --queries 20000 --nprobe 16 32 64
    .venv/bin/python -m bench.neighbours <run>/als_model --lists 0 2000 1000 --nprobe 0   # [als] ann_lists

For a sample of tracks (their 10 nearest by cosine, as the similar tracks and the ranker's last-listen
neighbours are searched) and of users (their top 50 unheard tracks, as ``AlsRecommender.recommend``):
the exact search's time, then per number of clusters (``--lists``, 0 = ~4 sqrt(tracks)) and ``nprobe``
the whole call's time (index build included, timed apart as well) and its recall (the share of the exact
results it returns). Measured in the same run, so the ratio is what to compare on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.machine import describe
from musicrec.models import ann
from musicrec.models.als import AlsRecommender, cosine_neighbours


def _recall(approx, exact, key: str, value: str) -> float:
    a = {k: set(v) for k, v in approx.group_by(key).agg(value).iter_rows()}
    e = {k: set(v) for k, v in exact.group_by(key).agg(value).iter_rows()}
    return float(np.mean([len(a.get(k, set()) & v) / len(v) for k, v in e.items() if v]))


def _name(lists: int, n_items: int) -> str:
    """``4,000 lists`` (the default's count spelt out) for the table."""
    return f"{min(lists or ann.n_lists(n_items), n_items):,} lists"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("als_model", type=Path, help="a directory written by AlsRecommender.save")
    parser.add_argument("--queries", type=int, default=5_000, help="sampled tracks and users")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[0, 16, 32, 64, 128],
                        help="0 = the default share of the clusters (1/40)")
    parser.add_argument("--lists", type=int, nargs="+", default=[0],
                        help="clusters of the index ([als] ann_lists); 0 = ~4 sqrt(tracks)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = AlsRecommender.load(args.als_model)
    rng = np.random.default_rng(args.seed)
    n_items, n_users = len(model.item_ids), len(model.user_ids)
    print(describe())
    print(f"model: {n_users:,} users, {n_items:,} tracks, {model.item_factors.shape[1]} factors; "
          f"{args.queries:,} sampled tracks and users")
    rows = np.sort(rng.choice(n_items, min(args.queries, n_items), replace=False))
    users = model.user_ids.external[np.sort(rng.choice(n_users, min(args.queries, n_users), replace=False))]
    threads = model.params.blas_threads
    unit = model.item_factors / np.maximum(np.linalg.norm(model.item_factors, axis=1, keepdims=True), 1e-30)

    print("| search | method | seconds (index build) | x exact speed | recall |")
    print("|---|---|---:|---:|---:|")
    exact_nb, t_nb = _timed(lambda: cosine_neighbours(model.item_factors, rows, 10, model.item_ids, threads))
    print(f"| 10 nearest tracks (cosine) | exact | {t_nb:.1f} | 1.0 | 1.000 |")
    points = [(lists, nprobe) for lists in args.lists for nprobe in args.nprobe]
    for lists, nprobe in points:
        # built again by the search
        _, t_build = _timed(lambda p=nprobe, c=lists: ann.IvfIndex(unit, p, threads, lists=c))
        approx, t = _timed(lambda p=nprobe, c=lists: cosine_neighbours(
            model.item_factors, rows, 10, model.item_ids, threads, ann_min_items=1, nprobe=p, lists=c))
        print(f"| | ivf {_name(lists, n_items)} nprobe {nprobe} | {t:.1f} ({t_build:.1f}) | {t_nb / t:.1f} | "
              f"{_recall(approx, exact_nb, 'item_id_1', 'item_id_2'):.3f} |", flush=True)

    # exact: the saved model's own settings would go through the index above [als] ann_min_items tracks
    model.params = model.params.model_copy(update={"ann_min_items": 0})
    exact_rec, t_rec = _timed(lambda: model.recommend(users, 50, show_progress=False))
    print(f"| top 50 unheard tracks (ALS) | exact | {t_rec:.1f} | 1.0 | 1.000 |")
    for lists, nprobe in points:
        model.params = model.params.model_copy(update={"ann_min_items": 1, "ann_nprobe": nprobe,
                                                       "ann_lists": lists})
        _, t_build = _timed(lambda p=nprobe, c=lists: ann.IvfIndex(model.item_factors, p, threads, mips=True,
                                                                   lists=c))
        approx, t = _timed(lambda: model.recommend(users, 50, show_progress=False))
        print(f"| | ivf {_name(lists, n_items)} nprobe {nprobe} | {t:.1f} ({t_build:.1f}) | "
              f"{t_rec / t:.1f} | {_recall(approx, exact_rec, 'user_id', 'item_id'):.3f} |", flush=True)


if __name__ == "__main__":
    main()
