"""What bench/ranker_batch.py and bench/ranker_inference.py share: their inputs (a prepared dataset's
train period and the ALS model the ALS step saved for it) and a stand-in CatBoost stage."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings
from musicrec.models.als import AlsRecommender
from musicrec.models.ranker import FEATURES, Inference, batch_listens
from musicrec.models.ranker import candidates as cand
from musicrec.models.ranker import features as feat
from musicrec.models.ranker.model import GROUP, CatBoostStage
from musicrec.pipeline.split import time_split


def add_input_args(parser: argparse.ArgumentParser, als_required: bool = False) -> None:
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--als", type=Path, required=als_required,
                        default=None if als_required else Path("data/bench/artifacts/als_model"),
                        help="an ALS model fitted on the same train period (the ALS step's als_model)")
    parser.add_argument("--split-date", default="2022-12-16")


def load_inputs(args: argparse.Namespace) -> tuple[pl.DataFrame, pl.DataFrame, AlsRecommender]:
    """The train period before ``--split-date``, the items and the ALS model of ``args``."""
    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    return train, items, AlsRecommender.load(args.als)


def batch_frame(train: pl.DataFrame, items: pl.DataFrame, als: AlsRecommender, prepared: Inference,
                settings: Settings, batch: np.ndarray, als_top: pl.DataFrame | None = None) -> pl.DataFrame:
    """Candidates and features of ``batch`` (sorted user ids), as one inference batch builds them."""
    mine = batch_listens(train, batch)
    top = None if als_top is None else als_top.filter(
        pl.col(C.User).is_between(int(batch[0]), int(batch[-1])))
    pairs = cand.generate(mine, batch, prepared.until, als, settings, prepared.shared, prepared.near, top)
    return feat.build(pairs, mine, items, prepared.until, als, settings.popular.recent_days,
                      settings.ranker.last_listens, prepared.stats)


def stand_in_stage(frame: pl.DataFrame, settings: Settings, rows: int = 200_000) -> CatBoostStage:
    """A CatBoost stage of the configured shape ([ranker] depth, iterations, ensemble) fitted on at most
    ``rows`` rows of a feature frame, with a stand-in label (ALS's top 10): scoring costs trees x depth x
    rows whatever the trees learnt."""
    users = frame.get_column(C.User).unique().sort()
    keep = users.head(max(1, rows * len(users) // max(frame.height, 1)))
    sample = frame.filter(pl.col(C.User).is_in(keep.implode()))
    labelled = sample.with_columns((pl.col("als_rank") <= 10).cast(pl.Int8).alias("label"),
                                   pl.col(C.User).cast(pl.Int64).alias(GROUP))
    return CatBoostStage(settings.ranker, FEATURES).fit(labelled)
