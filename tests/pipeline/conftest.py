"""Tiny prepared data: two user groups with their own tracks, one month of listens."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from musicrec.config import load_settings


def write_prepared(directory, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(40):
        base = 100 if u < 20 else 200
        for i in range(20):
            if rng.random() < 0.6:
                day = int(rng.integers(0, 31))
                rows.append((u, base + i, datetime(2022, 12, 1) + timedelta(days=day)))
    rows.append((99, 300, datetime(2022, 12, 25)))  # a cold user with a test listen only
    events = pl.DataFrame(rows, schema={"user_id": pl.Int32, "item_id": pl.Int32,
                                        "started_at": pl.Datetime("us")}, orient="row")
    events = events.sort("user_id", "started_at", maintain_order=True)
    item_ids = list(range(100, 120)) + list(range(200, 220)) + [300, 301]
    items = pl.DataFrame({
        "item_id": item_ids,
        "name": [f"track {i}" for i in item_ids],
        "artists": [[f"artist {i % 5}"] for i in item_ids],
        "albums": [[f"album {i // 10}"] for i in item_ids],
        "genres": [["rock" if i < 200 else "pop"] for i in item_ids],
        "artist_ids": [[i % 5] for i in item_ids],
        "album_ids": [[i // 10] for i in item_ids],
        "genre_ids": [[1 if i < 200 else 2] for i in item_ids],
    }, schema_overrides={"item_id": pl.Int32, "artist_ids": pl.List(pl.Int32), "album_ids": pl.List(pl.Int32),
                         "genre_ids": pl.List(pl.Int32)})
    directory.mkdir(parents=True, exist_ok=True)
    events.write_parquet(directory / "events.parquet")
    items.write_parquet(directory / "items.parquet")
    return events, items


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prepared")
    write_prepared(directory)
    return directory


@pytest.fixture(scope="session")
def settings():
    return load_settings(
        split={"split_date": "2022-12-20"},
        popular={"n": 10, "recent_days": 7},
        als={"factors": 2, "iterations": 10, "regularization": 0.01, "alpha": 10.0, "n_recs": 5,
             "blas_threads": 1, "seed": 3},
        similar={"k": 3, "min_item_listens": 3},
        ranker={"n_recs": 4},
    )
