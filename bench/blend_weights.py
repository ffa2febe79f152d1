"""Fixed blend weights scored on the test period next to their validation-window scores (a diagnosis).

The blend step chooses its weights on the end of the train period only; this bench asks afterwards
how well that window predicted the test period. For each grid point asked for it replays the online
path of the evaluate step (:func:`musicrec.evaluation.runner.evaluate_online`: the first listens of
each warm test user are the online ones, the session and long horizons after them) with those
weights, and prints the learned list's NDCG@10 over the served offline list on both horizons with
the paired bootstrap interval, beside the ratios the validation window gave the same point
(``blend.json``'s ``tried``). By default the points are the ones each rule of ``blend_fit.OBJECTIVES``
(``worst``, the step's, and ``mean``) takes from ``blend.json``, and the zero point; ``--point`` adds others.

Never use it to choose weights: that would be choosing on the test period. It diagnoses the rule.

    .venv/bin/python -m bench.blend_weights --artifacts data/bench/artifacts --prepared data/bench/prepared
    .venv/bin/python -m bench.blend_weights --artifacts data/bench-full/artifacts \\
        --prepared data/bench-full/prepared --max-users 30000 --point 0,0.02,20
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from bench.machine import describe
from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.evaluation.runner import evaluate_online
from musicrec.models.blend_fit import HORIZONS, OBJECTIVES, best_point
from musicrec.models.blending import FusionWeights
from musicrec.pipeline.split import time_split


def validation_ratios(doc: dict[str, Any]) -> dict[tuple[float, float, float], dict[str, float]]:
    """(online, artist, offset) -> the validation window's NDCG@10 ratios over offline per horizon."""
    base = doc["validation"]["offline_ndcg@10"]
    return {(t["weights"]["online"], t["weights"]["artist"], t["weights"]["offset"]):
            {h: t["ndcg@10"][h] / base[h] if base[h] > 0 else 0.0 for h in HORIZONS} for t in doc["tried"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True,
                        help="a run's artifacts (split.json, blend.json, similar, the offline list)")
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--max-users", type=int, default=0,
                        help="a seeded sample of the test users (0: [evaluation] online_max_users)")
    parser.add_argument("--point", action="append", default=[], metavar="ONLINE,ARTIST,OFFSET",
                        help="more weights to score (repeatable)")
    args = parser.parse_args()
    a = args.artifacts
    try:
        doc = json.loads((a / "blend.json").read_text())
        split_date = datetime.fromisoformat(json.loads((a / "split.json").read_text())["split_date"])
        points = [tuple(float(x) for x in p.split(",")) for p in args.point]
    except (OSError, KeyError, ValueError) as exc:
        parser.error(f"{exc}: --artifacts needs a finished train run's split.json and blend.json, "
                     "--point three numbers ONLINE,ARTIST,OFFSET")
    if any(len(p) != 3 for p in points):
        parser.error("--point takes three numbers: ONLINE,ARTIST,OFFSET")
    settings = load_settings()
    if args.max_users:
        settings = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(
            update={"online_max_users": args.max_users})})
    print(describe(), flush=True)
    ratios = validation_ratios(doc)
    grid = list(ratios)
    chosen = {rule: grid[best_point([ratios[p] for p in grid], rule)] for rule in OBJECTIVES}
    served = (doc["weights"]["online"], doc["weights"]["artist"], doc["weights"]["offset"])
    wanted: dict[tuple, str] = {served: "blend.json "}
    for rule, point in chosen.items():
        wanted[point] = wanted.get(point, "") + f"{rule} "
    zero = next((p for p in ratios if p[0] == 0 and p[1] == 0), None)
    if zero is not None:
        wanted.setdefault(zero, "zero ")
    for p in points:
        wanted.setdefault(p, "asked ")

    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
    split = time_split(events, split_date)
    del events
    offline_file = a / ("ranker_recs.parquet" if (a / "ranker_recs.parquet").exists()
                        else "personal_als.parquet")
    offline = pl.read_parquet(offline_file)
    similar = pl.read_parquet(a / "similar.parquet")
    popular = pl.read_parquet(a / "top_popular.parquet").sort(C.Rank).get_column(C.Item).to_numpy()
    print(f"offline list: {offline_file.name}; blend.json chose {doc['weights']}", flush=True)

    print("\n| weights (online, artist, offset) | taken by | validation session / long | test session "
          "| test long | seconds |")
    print("|---|---|---|---|---|---:|")
    decay = settings.blend.recency_decay
    for point, why in wanted.items():
        start = time.perf_counter()
        weights = FusionWeights(online=point[0], artist=point[1], offset=point[2], recency_decay=decay)
        out = evaluate_online(split.test, split.warm_users, offline, similar, popular, settings, items,
                              weights)
        test = [out["horizons"][h]["over_offline"]["learned"] for h in HORIZONS]
        val = ratios.get(point)
        shown = "-" if val is None else f"{val['session']:.3f} / {val['long']:.3f}"
        cells = [f"{t['ratio']:.3f} ({t['ci95'][0]:.3f}-{t['ci95'][1]:.3f})" for t in test]
        print(f"| {point[0]:g}, {point[1]:g}, {point[2]:g} | {why.strip()} | {shown} | {cells[0]} "
              f"| {cells[1]} | {time.perf_counter() - start:.0f} |", flush=True)
    print(f"\ntest users: {out['users']:,} of {out['eligible']:,} eligible; {out['bootstrap_resamples']:,} "
          "bootstrap resamples")


if __name__ == "__main__":
    main()
