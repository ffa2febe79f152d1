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

from bench.machine import describe
from bench.ranker_common import add_input_args, load_inputs, stand_in_stage
from musicrec.config import load_settings
from musicrec.models.ranker import batch_listens, prepare_inference
from musicrec.models.ranker import candidates as cand
from musicrec.models.ranker import features as feat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_args(parser)
    parser.add_argument("--users", type=int, default=50_000, help="users in the batch (the pipeline's)")
    parser.add_argument("--top", type=int, default=20, help="how many functions to print")
    args = parser.parse_args()
    settings = load_settings()
    print(describe(), flush=True)
    train, items, als = load_inputs(args)

    start = time.perf_counter()
    prepared = prepare_inference(train, settings, None, als)  # as the ranker step does
    # the pipeline's ALS step has built the recommendations' index (above [als] ann_min_items tracks)
    # when it listed every user; the batches reuse it
    als.recommend(prepared.users[:1], settings.ranker.n_candidates, show_progress=False)
    print(f"shared preparation for {len(prepared.users):,} users: {time.perf_counter() - start:.1f} s",
          flush=True)

    batch, until = prepared.users[:args.users], prepared.until
    profile = cProfile.Profile()
    profile.enable()
    start = time.perf_counter()
    mine = batch_listens(train, batch)  # as score_batches does
    pairs = cand.generate(mine, batch, until, als, settings, prepared.shared, prepared.near)
    generated = time.perf_counter()
    frame = feat.build(pairs, mine, items, until, als, settings.popular.recent_days,
                       settings.ranker.last_listens, prepared.stats)
    built = time.perf_counter()
    profile.disable()
    print(f"batch of {len(batch):,} users: candidates {generated - start:.1f} s ({pairs.height:,} rows), "
          f"features {built - generated:.1f} s (under cProfile)", flush=True)
    pstats.Stats(profile).sort_stats("cumulative").print_stats("musicrec", args.top)
    stage = stand_in_stage(frame, settings)
    start = time.perf_counter()
    stage.predict(frame)
    print(f"CatBoost scoring of the batch: {time.perf_counter() - start:.1f} s (a stand-in stage of the "
          f"configured shape: {settings.ranker.iterations} trees of depth {settings.ranker.depth}, "
          f"{settings.ranker.threads} threads)", flush=True)


if __name__ == "__main__":
    main()
