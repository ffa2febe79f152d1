"""ALS benchmarks: the sweep behind the ``[als]`` defaults and the scoring-time profile, as markdown tables.

* ``sweep``: on a prepared dataset split at ``--split-date``, fit :class:`AlsRecommender` on the train
  part for each grid point (``--point factors,iterations,regularization,alpha``; other ``[als]`` keys
  from ``config.ini``) and score 10 recommendations per warm test user with the evaluation runner's
  metrics (relevant = the user's test listens, heard tracks filtered, as ``musicrec train`` scores ALS).
  Fit seconds are the median over ``--repeats`` fits; the factors are seeded, so the metrics do not vary.
  The all-time popular list, personalised as the runner does, is the reference row.
* ``scoring``: on a saved model (``<artifacts>/als_model``), seconds (median over ``--repeats``) to
  recommend 50 tracks to N users exact and with ``[als] recommend_top_items``, NDCG@10 of both on the
  warm users of the artifacts' split (``split.json`` re-applied to the prepared events, as the pipeline
  does), and seconds for the exact cosine neighbours of N tracks as ``build_similar`` computes them.

    .venv/bin/python -m bench.als sweep --prepared data/quality/demo/prepared --split-date 2022-12-16
    .venv/bin/python -m bench.als sweep --prepared DIR --point 64,10,0.05,5 --point 32,10,0.05,5 --repeats 1
    .venv/bin/python -m bench.als scoring --artifacts data/bench/artifacts --prepared data/bench/prepared
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from bench import machine
from musicrec.columns import Columns as C
from musicrec.config import Als, ConfigError, Settings, Similar, load_settings
from musicrec.evaluation.metrics import ranking_metrics
from musicrec.evaluation.runner import personalise
from musicrec.models.als import AlsRecommender, cosine_neighbours
from musicrec.models.ids import IdMap
from musicrec.models.popular import top_popular
from musicrec.pipeline import artifacts as A
from musicrec.pipeline.split import SplitError, TimeSplit, time_split

log = logging.getLogger("bench.als")

K = 10  # metrics at 10, of 10 recommendations in the sweep
N_RECS = 50  # recommendations per user in the scoring profile, as [als] n_recs


@dataclass(frozen=True)
class Point:
    """One grid point of the sweep."""

    factors: int
    iterations: int
    regularization: float
    alpha: float


# the four rows docs/benchmarks.md reports: the defaults and one change of each kind around them
DEFAULT_POINTS = (
    Point(64, 15, 0.05, 10.0),
    Point(64, 10, 0.05, 5.0),
    Point(64, 10, 0.05, 2.0),
    Point(128, 10, 0.05, 5.0),
)


def parse_point(text: str) -> Point:
    """``"64,10,0.05,5"`` -> :class:`Point` (factors, iterations, regularization, alpha).

    >>> parse_point("32,5,0.1,2")
    Point(factors=32, iterations=5, regularization=0.1, alpha=2.0)
    """
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        point = Point(int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3]))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--point {text!r}: expected factors,iterations,regularization,alpha e.g. 64,10,0.05,5"
        ) from None
    if point.factors < 1 or point.iterations < 1 or point.regularization < 0 or point.alpha <= 0:
        raise argparse.ArgumentTypeError(
            f"--point {text!r}: factors and iterations must be >= 1, regularization >= 0, alpha > 0")
    return point


def _median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` calls of ``fn`` and the last call's result."""
    seconds, result = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def _truth(split: TimeSplit) -> pl.DataFrame:
    """Relevant pairs: every (user, track) of the test period, as the evaluation runner defines them."""
    return split.test.select(C.User, C.Item).unique()


def sweep(split: TimeSplit, points: Sequence[Point], base: Als, repeats: int = 1) -> list[dict[str, Any]]:
    """One row per point: its parameters, ``fit_s`` (median of ``repeats`` fits), ``ndcg@10`` and
    ``precision@10``.

    Metrics are of 10 recommendations (heard tracks filtered) on ``split.warm_users``.
    """
    warm, truth = split.warm_users, _truth(split)
    rows = []
    for i, point in enumerate(points, 1):
        params = base.model_copy(update=asdict(point))
        log.info("point %d/%d: %s", i, len(points), point)
        def fit(p: Als = params) -> AlsRecommender:
            return AlsRecommender(p).fit(split.train, show_progress=False)

        seconds, model = _median_seconds(fit, repeats)
        metrics = ranking_metrics(model.recommend(warm, K, show_progress=False), truth, (K,), warm)
        rows.append({**asdict(point), "fit_s": seconds,
                     f"ndcg@{K}": metrics[f"ndcg@{K}"], f"precision@{K}": metrics[f"precision@{K}"]})
    return rows


def popular_reference(split: TimeSplit, n: int) -> dict[str, float]:
    """NDCG/precision@10 of the all-time popular list on the warm users, heard tracks skipped."""
    warm = split.warm_users
    seen = split.train.select(C.User, C.Item).unique()
    recs = personalise(top_popular(split.train, n), warm, seen, K)
    metrics = ranking_metrics(recs, _truth(split), (K,), warm)
    return {f"ndcg@{K}": metrics[f"ndcg@{K}"], f"precision@{K}": metrics[f"precision@{K}"]}


@dataclass
class Scoring:
    """What :func:`scoring` measured; ``recs`` holds each variant's lists for the warm users scored."""

    users: int  # users timed
    model_users: int
    model_items: int
    top_items: int
    scored_items: dict[str, int]
    seconds: dict[str, float]
    metrics: dict[str, dict[str, float]]
    eval_users: int
    top10_overlap: float  # share of the exact top-10 the top-items lists keep
    similar_pool: int  # tracks with >= [similar] min_item_listens listens: the ALS neighbour pool
    similar_tracks: int
    similar_seconds: float
    recs: dict[str, pl.DataFrame]


def _sample(values: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` of ``values`` (all when ``n`` is 0 or more than there are), seeded, sorted."""
    values = np.asarray(values)
    if n <= 0 or n >= len(values):
        return np.sort(values)
    return np.sort(np.random.default_rng(seed).choice(values, n, replace=False))


def scoring(
    model: AlsRecommender, split: TimeSplit, similar: Similar, n_users: int = 10_000, top_items: int = 25_000,
    eval_users: int = 0, repeats: int = 3, seed: int = 42,
) -> Scoring:
    """Time exact vs ``recommend_top_items = top_items`` scoring of ``N_RECS`` tracks for ``n_users`` users,
    score both on ``eval_users`` warm users (0 = all), time the ALS neighbours of ``n_users`` tracks.

    The neighbours are computed as :func:`musicrec.models.similar.build_similar` does: exact cosine over
    the tracks with at least ``similar.min_item_listens`` train listens (counted from the model's matrix,
    which holds the train listens of each pair), ``similar.k`` per track.
    """
    fast = copy.copy(model)
    fast.params = model.params.model_copy(update={"recommend_top_items": top_items})
    variants = {"exact": model, "top_items": fast}
    timed = _sample(model.user_ids.external, n_users, seed)
    warm = _sample(split.warm_users, eval_users, seed)
    truth = _truth(split)
    seconds, metrics, recs, scored = {}, {}, {}, {}
    threads = model.params.blas_threads or None
    for name, variant in variants.items():
        log.info("recommend %d for %s users (%s)", N_RECS, f"{len(timed):,}", name)
        with threadpool_limits(threads, "blas"):
            seconds[name], _ = _median_seconds(
                lambda v=variant: v.recommend(timed, N_RECS, show_progress=False), repeats)
            recs[name] = variant.recommend(warm, N_RECS, show_progress=False)
        metrics[name] = ranking_metrics(recs[name], truth, (K,), warm)
        items = variant.scored_items()
        scored[name] = len(model.item_ids) if items is None else len(items)

    top10 = {name: frame.filter(pl.col(C.Rank) <= K).select(C.User, C.Item) for name, frame in recs.items()}
    kept = top10["exact"].join(top10["top_items"], on=[C.User, C.Item], how="semi").height
    overlap = kept / max(1, top10["exact"].height)

    plays = np.asarray(model.user_items.sum(axis=0)).ravel()
    pool = np.flatnonzero(plays >= similar.min_item_listens)
    queries = _sample(np.arange(len(pool)), n_users, seed)
    log.info("cosine neighbours of %s tracks among %s", f"{len(queries):,}", f"{len(pool):,}")
    with threadpool_limits(threads, "blas"):
        similar_seconds, _ = _median_seconds(
            lambda: cosine_neighbours(model.item_factors[pool], queries, similar.k,
                                      IdMap(model.item_ids.external[pool]), model.params.blas_threads),
            repeats)
    return Scoring(
        users=len(timed), model_users=len(model.user_ids), model_items=len(model.item_ids),
        top_items=top_items, scored_items=scored, seconds=seconds, metrics=metrics, eval_users=len(warm),
        top10_overlap=overlap,
        similar_pool=len(pool), similar_tracks=len(queries), similar_seconds=similar_seconds, recs=recs,
    )


# -- command line ------------------------------------------------------------------------------------
def _load_split(events_path: Path, split_date: dt.datetime) -> TimeSplit:
    if not events_path.exists():
        sys.exit(f"missing {events_path}: run `python -m musicrec prepare --out {events_path.parent}`")
    events = pl.read_parquet(events_path, columns=[C.User, C.Item, C.Datetime])
    try:
        return time_split(events, split_date)
    except SplitError as exc:
        sys.exit(f"split date: {exc}")


def _describe(split: TimeSplit, name: str) -> str:
    return (f"{name} split {split.split_date:%Y-%m-%d}: {split.train.height:,} train / {split.test.height:,} "
            f"test listens, {len(split.warm_users):,} warm test users")


def _run_sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = _settings()
    base = settings.als
    if args.threads is not None:
        base = base.model_copy(update={"blas_threads": args.threads})
    split = _load_split(args.prepared / A.EVENTS_FILE, dt.datetime.combine(args.split_date, dt.time()))
    header = _describe(split, str(args.prepared))
    log.info("%s; %d points", header, len(args.point))
    rows = sweep(split, args.point, base, args.repeats)
    popular = popular_reference(split, settings.popular.n)
    default = Point(settings.als.factors, settings.als.iterations, settings.als.regularization,
                    settings.als.alpha)
    print(f"\n{header}; {K} recommendations, heard tracks filtered; fit seconds: median of {args.repeats}; "
          f"blas_threads={base.blas_threads} (0 = all cores); seed={base.seed}; bold = config.ini [als]")
    print(machine.describe() + "\n")
    print(f"| factors | iterations | regularization | alpha | fit s | NDCG@{K} | precision@{K} |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [f"{row['factors']}", f"{row['iterations']}", f"{row['regularization']:g}",
                 f"{row['alpha']:g}", f"{row['fit_s']:.1f}", f"{row[f'ndcg@{K}']:.4f}",
                 f"{row[f'precision@{K}']:.4f}"]
        if Point(**{k: row[k] for k in ("factors", "iterations", "regularization", "alpha")}) == default:
            cells = [f"**{c}**" for c in cells]
        print("| " + " | ".join(cells) + " |")
    print(f"| all-time popular (top {settings.popular.n}) | | | | | {popular[f'ndcg@{K}']:.4f} | "
          f"{popular[f'precision@{K}']:.4f} |")
    best = max(rows, key=lambda r: r[f"ndcg@{K}"])
    print(f"\nbest NDCG@{K}: factors={best['factors']} iterations={best['iterations']} "
          f"regularization={best['regularization']:g} alpha={best['alpha']:g}")
    return rows


def _run_scoring(args: argparse.Namespace) -> Scoring:
    settings = _settings()
    model_dir, split_json = args.artifacts / A.ALS_MODEL, args.artifacts / A.SPLIT
    for path in (model_dir / "params.json", split_json):
        if not path.exists():
            sys.exit(f"missing {path}: run `python -m musicrec train --artifacts {args.artifacts}` first")
    if args.top_items < 1:
        sys.exit(f"--top-items must be >= 1, found {args.top_items}")
    model = AlsRecommender.load(model_dir)
    if args.threads is not None:
        model.params = model.params.model_copy(update={"blas_threads": args.threads})
    split_date = dt.datetime.fromisoformat(json.loads(split_json.read_text())["split_date"])
    split = _load_split(args.prepared / A.EVENTS_FILE, split_date)
    missing = np.setdiff1d(split.warm_users, model.user_ids.external)
    if len(missing):
        sys.exit(f"{args.prepared} does not match {model_dir}: {len(missing):,} warm users of the split are "
                 "unknown to the model (give the prepared dir the artifacts were trained on)")
    header = _describe(split, str(args.prepared))
    log.info("%s; model %s users x %s tracks", header, f"{len(model.user_ids):,}", f"{len(model.item_ids):,}")
    s = scoring(model, split, settings.similar, args.users, args.top_items, args.eval_users, args.repeats,
                args.seed)

    def full(seconds: float, done: int, total: int) -> str:
        return f"{seconds * total / max(1, done):.0f} s for {total:,}"

    print(f"\nmodel {model_dir}: {s.model_users:,} users x {s.model_items:,} tracks, "
          f"factors={model.params.factors}; {header}; seconds: median of {args.repeats}; "
          f"blas_threads={model.params.blas_threads} (0 = all cores); NDCG@{K} and precision@{K} of the "
          f"{N_RECS} recommendations on {s.eval_users:,} warm users")
    print(machine.describe() + "\n")
    print(f"| what | n | scored tracks | seconds | linear projection | NDCG@{K} | precision@{K} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in (("exact", "recommend, exact"),
                        ("top_items", f"recommend, recommend_top_items = {s.top_items}")):
        m = s.metrics[name]
        print(f"| ALS {label} ({N_RECS} recs) | {s.users:,} users | {s.scored_items[name]:,} | "
              f"{s.seconds[name]:.2f} | {full(s.seconds[name], s.users, s.model_users)} users | "
              f"{m[f'ndcg@{K}']:.4f} | {m[f'precision@{K}']:.4f} |")
    print(f"| exact cosine neighbours (k={settings.similar.k}, tracks with >= "
          f"{settings.similar.min_item_listens} listens) | {s.similar_tracks:,} tracks | "
          f"{s.similar_pool:,} | {s.similar_seconds:.2f} | "
          f"{full(s.similar_seconds, s.similar_tracks, s.similar_pool)} tracks | | |")
    print(f"\ntop-{K} of recommend_top_items = {s.top_items} keeps {s.top10_overlap:.1%} "
          f"of the exact top-{K}")
    return s


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        sys.exit(str(exc))


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]] | Scoring:
    """Run a sub-command; returns the sweep rows or the :class:`Scoring` (tests use them)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repeats", type=int, default=3, help="timings are the median of this many runs")
    common.add_argument("--threads", type=int, default=None,
                        help="[als] blas_threads (default: config / saved model; 0 = all cores)")

    p = sub.add_parser("sweep", parents=[common], help="NDCG@10 of ALS over a grid of hyperparameters")
    p.add_argument("--prepared", type=Path, required=True, help="directory with events.parquet")
    p.add_argument("--split-date", type=dt.date.fromisoformat, default=dt.date(2022, 12, 16))
    p.add_argument("--point", type=parse_point, action="append",
                   help="factors,iterations,regularization,alpha (repeatable; default: 4 documented rows)")

    p = sub.add_parser("scoring", parents=[common], help="ALS scoring and neighbour times of a saved model")
    p.add_argument("--artifacts", type=Path, required=True, help="dir with als_model/ and split.json")
    p.add_argument("--prepared", type=Path, required=True, help="the prepared dir those artifacts came from")
    p.add_argument("--users", type=int, default=10_000, help="users (and tracks) timed")
    p.add_argument("--top-items", type=int, default=25_000, help="recommend_top_items of the fast variant")
    p.add_argument("--eval-users", type=int, default=0, help="warm users scored (0 = all)")
    p.add_argument("--seed", type=int, default=42, help="seed of the user / track samples")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, found {args.repeats}")
    if args.threads is not None and args.threads < 0:
        parser.error(f"--threads must be >= 0, found {args.threads}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "sweep":
        args.point = args.point or list(DEFAULT_POINTS)
        return _run_sweep(args)
    return _run_scoring(args)


if __name__ == "__main__":
    main()
