"""Features computed on groups of users or slices of listens (the full-size memory bound) equal the
whole-frame ones."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from musicrec.models.ranker import candidates, features


@pytest.fixture
def history() -> pl.DataFrame:
    """300 users x ~40 listens over 60 days, with ties in time (two listens in the same second)."""
    rng = np.random.default_rng(5)
    n = 12_000
    start = datetime(2022, 10, 1)
    seconds = rng.integers(0, 60 * 86_400, n) // 60 * 60  # minute resolution: many ties per user
    return pl.DataFrame({
        "user_id": rng.integers(0, 300, n).astype(np.int32),
        "item_id": rng.zipf(1.5, n).astype(np.int32) % 500,
        "started_at": [start + timedelta(seconds=int(s)) for s in seconds],
    })


def test_groups_of_users_give_the_same_answer(history, monkeypatch):
    users = np.arange(0, 300, 2)
    whole_last = candidates.last_listens(history, users, 5)
    whole_taste = features.user_taste(history, 20).sort("user_id")
    until = datetime(2022, 12, 1)
    whole_items = features.item_stats(history, until, 14).sort("item_id")
    whole_users = features.user_stats(history, until, 14).sort("user_id")
    monkeypatch.setattr(candidates, "CHUNK_ROWS", 1_000)  # 12 groups of users
    calls = []
    real = pl.DataFrame.filter
    monkeypatch.setattr(pl.DataFrame, "filter", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    grouped_last = candidates.last_listens(history, users, 5)
    grouped_taste = features.user_taste(history, 20).sort("user_id")
    grouped_items = features.item_stats(history, until, 14).sort("item_id")
    assert features.user_stats(history, until, 14).sort("user_id").equals(whole_users)
    assert len(calls) > 12  # the groups were really made
    assert grouped_last.equals(whole_last)  # same rows in the same order: user, then newest first
    assert grouped_taste.columns == whole_taste.columns
    assert grouped_taste.get_column("user_id").equals(whole_taste.get_column("user_id"))
    for column in grouped_taste.columns[1:]:
        got, want = grouped_taste.get_column(column).to_numpy(), whole_taste.get_column(column).to_numpy()
        assert np.allclose(got, want, rtol=1e-6, atol=1e-7), column
    assert grouped_items.columns == whole_items.columns
    assert grouped_items.get_column("item_id").equals(whole_items.get_column("item_id"))
    for column in grouped_items.columns[1:]:
        got, want = grouped_items.get_column(column).to_numpy(), whole_items.get_column(column).to_numpy()
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6), column


def test_users_top_artists_on_groups_of_users_are_the_same(history, monkeypatch):
    from musicrec.pipeline.steps import user_artists

    items = pl.DataFrame({"item_id": np.arange(500, dtype=np.int32),
                          "artist_ids": [[int(i) % 37, int(i) % 11 + 100] for i in range(500)]})
    whole = user_artists(history, items)
    monkeypatch.setattr(candidates, "CHUNK_ROWS", 1_000)  # 12 groups of users
    chunked = user_artists(history, items)
    assert chunked.equals(whole)
    assert whole.height > 300 and whole.get_column("rank").max() == 3
