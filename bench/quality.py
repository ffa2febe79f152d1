"""Quality benchmark: split -> popular -> ALS -> similar -> ranker -> evaluate on one prepared dataset.

Prints the markdown metrics table and writes ``metrics.json`` / ``metrics.md`` to ``--out``. The
models are the package's own, configured by ``config.ini`` + ``MUSICREC_*`` variables, exactly as
``python -m musicrec train`` configures them.

    MUSICREC_SPLIT__SPLIT_DATE=2022-12-16 PYTHONPATH=. .venv/bin/python bench/quality.py \\
        --prepared data/prepared --out data/quality-demo
    MUSICREC_SPLIT__SPLIT_DATE=1998-03-20 PYTHONPATH=. .venv/bin/python bench/quality.py \\
        --prepared data/movielens/prepared --out data/quality-ml100k

Tune with ``--validation-days N``: the test period is dropped and the split moves N days earlier, so
hyperparameters are chosen on the train period only.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from musicrec.config import load_settings
from musicrec.evaluation.report import render_markdown
from musicrec.evaluation.runner import evaluate
from musicrec.models.als import AlsRecommender
from musicrec.models.popular import top_popular
from musicrec.models.similar import build_similar
from musicrec.pipeline.split import time_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="directory with events/items.parquet")
    parser.add_argument("--out", type=Path, required=True, help="where metrics.json / metrics.md go")
    parser.add_argument("--no-ranker", action="store_true", help="baselines only")
    parser.add_argument("--validation-days", type=int, default=0,
                        help="tune without touching the test period: drop the listens from the split date "
                             "on and split this many days earlier instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
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


if __name__ == "__main__":
    main()
