"""Quality benchmark: split -> popular -> ALS -> similar -> ranker -> evaluate on one prepared dataset.

Prints the markdown metrics table and writes ``metrics.json`` / ``metrics.md`` to ``--out``. The
models are the package's own, configured by ``config.ini`` + ``MUSICREC_*`` variables, exactly as
``python -m musicrec train`` configures them.

    MUSICREC_SPLIT__SPLIT_DATE=2022-12-16 PYTHONPATH=. .venv/bin/python bench/quality.py \\
        --prepared data/prepared --out data/quality-demo
    MUSICREC_SPLIT__SPLIT_DATE=1998-03-20 PYTHONPATH=. .venv/bin/python bench/quality.py \\
        --prepared data/movielens/prepared --out data/quality-ml100k

``--compare NEW OLD`` scores two artifact directories' ALS and ranker lists of the same split on the
same warm test users and prints each NDCG@10 ratio NEW / OLD with a paired bootstrap 95% interval (how
docs/quality.md compares tuned with hand-set settings):

    PYTHONPATH=. .venv/bin/python bench/quality.py --prepared data/quality/demo/prepared \
        --compare data/quality/demo/tuned-artifacts data/quality/demo/base-artifacts

Tune with ``--validation-days N``: the test period is dropped and the split moves N days earlier, so
hyperparameters are chosen on the train period only. ``--folds 14,21,28 --seeds 1,2,42`` runs that for
every fold and ranker seed and prints only the ranker's NDCG@10 over the best baseline per fold and
the means (no online section, nothing written but ``folds.json``):

    MUSICREC_SPLIT__SPLIT_DATE=1998-03-20 MUSICREC_ALS__FACTORS=16 PYTHONPATH=. .venv/bin/python \
        bench/quality.py --prepared data/movielens/prepared --out data/quality/ml100k-folds \
        --folds 14,21,28,35,42,56,70 --seeds 1,2,42
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings, load_settings
from musicrec.evaluation.metrics import bootstrap_ratio_interval, ndcg_per_user, ranking_metrics
from musicrec.evaluation.report import render_markdown
from musicrec.evaluation.runner import BASELINES, evaluate, personalise
from musicrec.models.als import AlsRecommender
from musicrec.models.popular import recent_popular, top_popular
from musicrec.models.similar import build_similar
from musicrec.pipeline.split import time_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="directory with events/items.parquet")
    parser.add_argument("--out", type=Path, help="where metrics.json / metrics.md go (all but --compare)")
    parser.add_argument("--no-ranker", action="store_true", help="baselines only")
    parser.add_argument("--validation-days", type=int, default=0,
                        help="tune without touching the test period: drop the listens from the split date "
                             "on and split this many days earlier instead")
    parser.add_argument("--folds", type=_ints, default=None,
                        help="comma-separated validation days, one fold each (implies validation mode)")
    parser.add_argument("--seeds", type=_ints, default=None,
                        help="comma-separated [ranker] seeds for --folds")
    parser.add_argument("--fold-length", type=int, default=0,
                        help="with --folds: each fold's test period is this many days from its split (0 = "
                             "up to the real split date, so the folds' test periods overlap); e.g. "
                             "--folds 33,66,99 --fold-length 33 gives three disjoint months")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("NEW", "OLD"), default=None,
                        help="compare two artifact directories' ALS and ranker lists (paired bootstrap)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    events = pl.read_parquet(args.prepared / "events.parquet")
    if args.compare:
        compare(events, *args.compare)
        return
    if args.out is None:
        parser.error("--out is required (but with --compare)")
    items = pl.read_parquet(args.prepared / "items.parquet")
    if args.folds:
        folds(events, items, settings, args.folds, args.seeds or [settings.ranker.seed], args.out,
              args.fold_length)
        return
    timings = {}

    start = time.perf_counter()
    split = time_split(events, settings.split.split_date, settings.split.test_fraction)
    if args.validation_days:
        cut = split.split_date - timedelta(days=args.validation_days)
        split = time_split(split.train, cut)
        logging.info("validation mode: test period = [%s, %s), never the real test period", cut,
                     cut + timedelta(days=args.validation_days))
    popular = top_popular(split.train, settings.popular.n)
    als = AlsRecommender(settings.als).fit(split.train, show_progress=False)
    als_recs = als.recommend(als.user_ids.external, settings.als.n_recs, show_progress=False)
    similar = build_similar(items, split.train, als, settings.similar, show_progress=False)
    timings["baselines_s"] = round(time.perf_counter() - start, 1)
    recs = {"top_popular": popular, "als": als_recs}
    if not args.no_ranker:
        from musicrec.models.ranker import train_and_recommend

        start = time.perf_counter()
        recs["ranker"] = train_and_recommend(split.train, items, settings)
        timings["ranker_s"] = round(time.perf_counter() - start, 1)

    start = time.perf_counter()
    metrics = evaluate(split, recs, items, settings, similar=similar)
    timings["evaluate_s"] = round(time.perf_counter() - start, 1)
    metrics["timings"] = timings
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    text = render_markdown(metrics) + f"\nTimings (s): {json.dumps(timings)}\n"
    (args.out / "metrics.md").write_text(text)
    print(text)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, found {text!r}") from None


def compare(events: pl.DataFrame, new: Path, old: Path, resamples: int = 5_000) -> None:
    """NDCG@10 of ``new``'s and ``old``'s ALS and ranker lists on the warm test users of ``new``'s split
    (``split.json``; both must share it), with the paired bootstrap 95% interval of new / old."""
    split_date = json.loads((new / "split.json").read_text())["split_date"]
    if json.loads((old / "split.json").read_text())["split_date"] != split_date:
        raise SystemExit(f"{new} and {old} were split at different dates")
    split = time_split(events, datetime.fromisoformat(split_date))
    truth, warm = split.test.select(C.User, C.Item).unique(), split.warm_users
    for model, name in (("als", "personal_als.parquet"), ("ranker", "ranker_recs.parquet")):
        a, b = (ndcg_per_user(pl.read_parquet(d / name), truth, 10, warm) for d in (new, old))
        lo, hi = bootstrap_ratio_interval(a, b, n=resamples)
        print(f"{model}: NDCG@10 {a.mean():.4f} vs {b.mean():.4f} = {a.mean() / b.mean():.3f} x "
              f"(95% interval {lo:.3f}-{hi:.3f}, {len(warm):,} users, {resamples:,} resamples)")


def folds(events: pl.DataFrame, items: pl.DataFrame, settings: Settings, days: list[int],
          seeds: list[int], out: Path, length: int = 0) -> None:
    """Ranker NDCG@10 / best baseline on each validation fold and seed; prints and writes folds.json.

    Fold ``n`` splits ``n`` days before the real split date; its test period runs to the real split
    date, or ``length`` days when ``length`` > 0 (disjoint folds when the ``days`` are ``length`` apart).
    """
    from musicrec.models.ranker import train_and_recommend

    full = time_split(events, settings.split.split_date, settings.split.test_fraction)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for seed in seeds:
        run = settings.model_copy(update={"ranker": settings.ranker.model_copy(update={"seed": seed})})
        for n in days:
            cut = full.split_date - timedelta(days=n)
            upto = full.train if length <= 0 else full.train.filter(
                pl.col(C.Datetime) < cut + timedelta(days=length))
            split = time_split(upto, cut)
            warm, train = split.warm_users, split.train
            seen = train.select(C.User, C.Item).unique()
            truth = split.test.select(C.User, C.Item).unique()
            als = AlsRecommender(run.als).fit(train, show_progress=False)
            lists = {
                "top_popular": top_popular(train, run.popular.n),
                "recent_popular": recent_popular(train, run.popular.n, run.popular.recent_days,
                                                 split.split_date),
                "als": als.recommend(als.user_ids.external, run.als.n_recs, show_progress=False),
                "ranker": train_and_recommend(train, items, run),
            }
            ndcg = {}
            for name, frame in lists.items():
                personal = frame if C.User in frame.columns else personalise(frame, warm, seen, 10)
                ndcg[name] = ranking_metrics(personal, truth, (10,), warm)["ndcg@10"]
            best = max((k for k in ndcg if k in BASELINES), key=ndcg.get)
            ndcg["ratio"] = ndcg["ranker"] / ndcg[best] if ndcg[best] > 0 else float("nan")
            results.setdefault(str(seed), {})[str(n)] = {**ndcg, "users": len(warm), "best": best}
            print(f"seed {seed} fold {n:3d}: {len(warm)} users, ranker {ndcg['ranker']:.4f}, "
                  f"{best} {ndcg[best]:.4f}, ratio {ndcg['ratio']:.3f}", flush=True)
    means = {seed: float(np.mean([f["ratio"] for f in per.values()])) for seed, per in results.items()}
    for seed, mean in means.items():
        ratios = " ".join(f"{f['ratio']:.2f}" for f in results[seed].values())
        print(f"seed {seed}: mean ratio {mean:.3f} ({ratios})")
    print(f"mean over seeds and folds: {np.mean(list(means.values())):.3f}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "folds.json").write_text(json.dumps({"folds": results, "mean_ratio": means, "fold_length": length},
                                               indent=2))


if __name__ == "__main__":
    main()
