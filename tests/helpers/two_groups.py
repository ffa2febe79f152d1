"""Listens of two taste groups over 45 days, shared by the ranker tests and the model contract test."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from musicrec.config import load_settings

T0 = datetime(2022, 11, 1)
SCHEMA = {"user_id": pl.Int32, "item_id": pl.Int32, "started_at": pl.Datetime("us")}
HOT = 150  # played by many users in the feature period: always a recent-popular candidate


def make_events(seed: int = 0) -> pl.DataFrame:
    """Two taste groups over 45 days (group A: tracks 100..129, group B: 200..229), one hot track.

    Track 300 is listened to only after 2022-12-10 (the test period in these tests).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(60):
        base = 100 if u < 30 else 200
        for i in range(30):
            if rng.random() < 0.35:
                rows.append((u, base + i, T0 + timedelta(days=int(rng.integers(0, 45)))))
        if u % 2 == 0:
            rows.append((u, HOT, T0 + timedelta(days=int(rng.integers(0, 20)))))
        if u % 3 == 0:
            rows.append((u, 300, T0 + timedelta(days=int(rng.integers(40, 45)))))
    events = pl.DataFrame(rows, schema=SCHEMA, orient="row").unique(["user_id", "item_id"], keep="first")
    return events.sort(["user_id", "started_at", "item_id"])


def make_items() -> pl.DataFrame:
    ids = list(range(100, 130)) + list(range(200, 230)) + [HOT, 300]
    return pl.DataFrame({
        "item_id": ids,
        "genre_ids": [[1] if i < 200 else [2] for i in ids],
        "artist_ids": [[i % 7] for i in ids],
    }, schema_overrides={"item_id": pl.Int32, "genre_ids": pl.List(pl.Int32),
                         "artist_ids": pl.List(pl.Int32)})


SETTINGS = load_settings(
    popular={"n": 10, "recent_days": 14},
    als={"factors": 4, "iterations": 5, "regularization": 0.01, "alpha": 10.0, "blas_threads": 1, "seed": 3},
    ranker={"iterations": 30, "depth": 3, "label_days": 7, "windows": 2, "n_candidates": 15,
            "recent_candidates": 5, "similar_candidates": 5, "last_listens": 3, "negatives_per_positive": 3,
            "threads": 1, "n_recs": 8, "seed": 5, "valid_fraction": 0.2},
)
SPLIT_DATE = datetime(2022, 12, 10)
