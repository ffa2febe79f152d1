"""Popularity baselines: the most played tracks overall and in a recent window."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from musicrec.columns import Columns as C


def top_popular(events: pl.DataFrame, n: int = 100) -> pl.DataFrame:
    """The ``n`` most played tracks: columns ``item_id, rank (1-based), plays, users``.

    Ordered by plays, then distinct users, then the smaller ``item_id`` (so ties are deterministic).

    >>> ev = pl.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [7, 7, 8, 7, 9]})
    >>> top_popular(ev, n=2).rows()
    [(7, 1, 3, 2), (8, 2, 1, 1)]
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, found {n}")
    counts = events.group_by(C.Item).agg(
        pl.len().cast(pl.Int64).alias(C.Plays),
        pl.col(C.User).n_unique().cast(pl.Int64).alias(C.Users),
    )
    top = counts.sort([C.Plays, C.Users, C.Item], descending=[True, True, False]).head(n)
    return top.select(
        pl.col(C.Item).cast(pl.Int32),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias(C.Rank),
        C.Plays,
        C.Users,
    )


def recent_popular(events: pl.DataFrame, n: int, days: int, until: datetime) -> pl.DataFrame:
    """:func:`top_popular` over the listens in ``[until - days, until)`` (``until`` itself excluded)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, found {days}")
    start = until - timedelta(days=days)
    window = events.filter((pl.col(C.Datetime) >= start) & (pl.col(C.Datetime) < until))
    return top_popular(window, n)


class PopularRecommender:
    """:class:`~musicrec.models.base.Recommender`: the train period's most played tracks for everyone
    (:func:`top_popular`'s order), minus the ones the user listened to; a user absent from the train
    period gets the top tracks as they are.

    >>> ev = pl.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [7, 7, 8, 7, 9]})
    >>> PopularRecommender().fit(ev).recommend([1, 4], n=2).select("user_id", "item_id", "rank").rows()
    [(1, 8, 1), (1, 9, 2), (4, 7, 1), (4, 8, 2)]
    """

    _BATCH = 10_000  # users whose lists are built at once

    def __init__(self) -> None:
        self.ranking = pl.DataFrame(schema={C.Item: pl.Int32, C.Rank: pl.Int32, C.Plays: pl.Int64,
                                            C.Users: pl.Int64})
        self.heard = pl.DataFrame(schema={C.User: pl.Int32, C.Item: pl.Int32})

    def fit(self, train: pl.DataFrame) -> PopularRecommender:
        if train.height == 0:
            raise ValueError("cannot fit the popular model on an empty events frame")
        self.ranking = top_popular(train, max(1, train.get_column(C.Item).n_unique()))
        self.heard = train.select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32)).unique()
        return self

    def top(self, n: int) -> pl.DataFrame:
        """The ``n`` most played tracks (:func:`top_popular` of the train period)."""
        return self.ranking.head(n)

    def recommend(self, user_ids: np.ndarray, n: int) -> pl.DataFrame:
        if n < 1:
            raise ValueError(f"n must be >= 1, found {n}")
        users = pl.Series(C.User, np.unique(np.asarray(user_ids)), dtype=pl.Int32)
        parts = []
        for start in range(0, len(users), self._BATCH):
            batch = users.slice(start, self._BATCH).to_frame()
            heard = self.heard.join(batch, on=C.User, how="semi")
            most = heard.group_by(C.User).len().get_column("len").max() or 0
            parts.append(
                batch.join(self.ranking.head(n + most), how="cross")
                .join(heard, on=[C.User, C.Item], how="anti")
                .sort([C.User, C.Rank]).group_by(C.User, maintain_order=True).head(n)
            )
        out = pl.concat(parts) if parts else pl.DataFrame(schema={C.User: pl.Int32, **self.ranking.schema})
        return out.select(
            C.User, C.Item, pl.col(C.Plays).cast(pl.Float32).alias(C.Score),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(C.Rank),
        )

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.ranking.write_parquet(d / "ranking.parquet")
        self.heard.write_parquet(d / "heard.parquet")

    @classmethod
    def load(cls, directory: str | Path) -> PopularRecommender:
        d = Path(directory)
        model = cls()
        model.ranking = pl.read_parquet(d / "ranking.parquet")
        model.heard = pl.read_parquet(d / "heard.parquet")
        return model

