"""Popularity baselines: the most played tracks overall and in a recent window."""

from __future__ import annotations

from datetime import datetime, timedelta

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
