"""First stage: candidate tracks per user from three sources, never a track the user already heard.

* ``als``: the ALS top ``n_candidates`` (fit on the history only);
* ``recent``: the ``recent_candidates`` most played tracks of the last ``[popular] recent_days``;
* ``similar``: tracks close (cosine of ALS item factors) to the user's ``last_listens`` last listens,
  the newest weighing most, as the online rule does.

Every frame here is computed from ``history`` (listens before ``until``) and nothing later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings
from musicrec.models.als import AlsRecommender
from musicrec.models.popular import recent_popular

# recency weight of the i-th last listen (0 = newest) in the similar-to-recent score
_DECAY = 0.7
# listens per group of users in by_users (a sort of them takes a few GB)
CHUNK_ROWS = 25_000_000
# neighbours fetched per recent listen
_NEIGHBOURS = 20

CANDIDATE_COLUMNS = (C.User, C.Item, "als_rank", "recent_rank", "similar_score")


def last_listens(history: pl.DataFrame, users: np.ndarray, n: int) -> pl.DataFrame:
    """Each user's ``n`` last listens: ``user_id, item_id, age`` (0 = newest), in listen order.

    Events are ordered by time; ties keep the row order of ``history`` (the listen order).

    >>> from datetime import datetime as d
    >>> h = pl.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 6, 7],
    ...                   "started_at": [d(2022, 1, 1), d(2022, 1, 2), d(2022, 1, 2)]})
    >>> last_listens(h, np.array([1]), 2).rows()
    [(1, 7, 0), (1, 6, 1)]
    """
    mine = history.filter(pl.col(C.User).is_in(pl.Series(users).implode()))
    return by_users(mine, lambda part: (
        part.with_row_index("_row")
        .sort([C.User, C.Datetime, "_row"], descending=[False, True, True])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over(C.User).alias("age"))
        .filter(pl.col("age") < n)
        .select(C.User, C.Item, "age")
    ), order=[C.User, "age"])


def user_groups_of(history: pl.DataFrame) -> int:
    """How many groups of users (``user_id % k``) keep each under about ``CHUNK_ROWS`` listens."""
    return max(1, -(-history.height // CHUNK_ROWS))


def by_users(history: pl.DataFrame, per_users: Callable[[pl.DataFrame], pl.DataFrame],
             order: list[str] | None = None) -> pl.DataFrame:
    """``per_users(history)`` computed on disjoint groups of users (``user_id % k``) of at most about
    ``CHUNK_ROWS`` listens each, concatenated (sorted by ``order`` when given).

    For a function whose answer for a user depends only on that user's listens (in their row order):
    the answer is the same, and a sort or a window over 200M listens needs 1/k of the memory. Below
    ``CHUNK_ROWS`` listens (everything up to 1/10 scale) it is one call on the whole frame.
    """
    k = user_groups_of(history)
    if k <= 1:
        return per_users(history)
    out = pl.concat([per_users(history.filter(pl.col(C.User) % k == j)) for j in range(k)])
    return out.sort(order) if order else out


def recent_neighbours(als: AlsRecommender, recent: pl.DataFrame, show_progress: bool = False) -> pl.DataFrame:
    """The ALS neighbours (``item_id_1, item_id_2, score``) of every track in ``recent`` (last listens)."""
    return als.similar_items(recent.get_column(C.Item).unique().to_numpy(), _NEIGHBOURS, show_progress)


def similar_to_recent(als: AlsRecommender, recent: pl.DataFrame, n: int,
                      near: pl.DataFrame | None = None) -> pl.DataFrame:
    """Up to ``n`` tracks per user by ``sum_i decay**age_i * cosine(track, last listen i)``.

    ``near`` is :func:`recent_neighbours` of (at least) these last listens, computed here when not given."""
    if n == 0 or recent.height == 0:
        return pl.DataFrame(schema={C.User: pl.Int32, C.Item: pl.Int32, "similar_score": pl.Float32})
    if near is None:
        near = recent_neighbours(als, recent)
    return (
        recent.join(near, left_on=C.Item, right_on=C.Item1)
        .group_by([C.User, C.Item2])
        .agg((pl.col(C.Score) * pl.lit(_DECAY).pow(pl.col("age"))).sum().alias("similar_score"))
        .rename({C.Item2: C.Item})
        .sort([C.User, "similar_score", C.Item], descending=[False, True, False])
        .group_by(C.User, maintain_order=True).head(3 * n)  # spare room for heard tracks
        .select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32),
                pl.col("similar_score").cast(pl.Float32))
    )


def shared_tracks(history: pl.DataFrame, until: datetime, settings: Settings) -> pl.DataFrame:
    """The candidates every user gets: ``item_id, recent_rank`` for the ``[ranker] recent_candidates``
    most played tracks of the last ``[popular] recent_days`` before ``until`` (none when 0)."""
    cfg = settings.ranker
    if cfg.recent_candidates <= 0:
        return pl.DataFrame(schema={C.Item: pl.Int32, "recent_rank": pl.Int32})
    recent = recent_popular(history, cfg.recent_candidates, settings.popular.recent_days, until)
    return recent.select(pl.col(C.Item).cast(pl.Int32), pl.col(C.Rank).cast(pl.Int32).alias("recent_rank"))


def generate(
    history: pl.DataFrame, users: np.ndarray, until: datetime, als: AlsRecommender, settings: Settings,
    shared: pl.DataFrame | None = None, near: pl.DataFrame | None = None, als_top: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Candidates of ``users``: ``user_id, item_id, als_rank, recent_rank, similar_score``
    (nulls where a source did not propose the track); the user's heard tracks are removed.

    ``shared`` is :func:`shared_tracks` of the same history and ``near`` :func:`recent_neighbours` of
    (at least) these users' last listens (each computed here when not given): a caller that generates
    candidates for users in batches computes them once. ``als_top``: ``als.recommend`` of (at least) these
    users with at least ``[ranker] n_candidates`` tracks each (the pipeline's ALS step lists every user
    once), asked of ``als`` here when not given."""
    cfg = settings.ranker
    users = np.asarray(users)
    heard = (  # only these users' pairs: inference calls this per batch of users over the whole history
        history.filter(pl.col(C.User).is_in(pl.Series(users).implode()))
        .select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32)).unique()
    )

    als_part = (
        als.recommend(users, cfg.n_candidates, filter_listened=True, show_progress=False) if als_top is None
        else als_top.filter(pl.col(C.User).is_in(pl.Series(users).implode())
                            & (pl.col(C.Rank) <= cfg.n_candidates))
    ).select(
        pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32),
        pl.col(C.Rank).cast(pl.Int32).alias("als_rank"),
    )
    frames = [als_part.select(C.User, C.Item)]

    shared = shared_tracks(history, until, settings) if shared is None else shared
    frames.append(pl.DataFrame({C.User: users.astype(np.int32)}).join(shared.select(C.Item), how="cross"))

    similar_part = similar_to_recent(als, last_listens(history, users, cfg.last_listens),
                                     cfg.similar_candidates, near)
    similar_part = (
        similar_part.join(heard, on=[C.User, C.Item], how="anti")
        .group_by(C.User, maintain_order=True).head(cfg.similar_candidates)
    )
    frames.append(similar_part.select(C.User, C.Item))

    out = (
        pl.concat(frames).unique(maintain_order=True)
        .join(heard, on=[C.User, C.Item], how="anti")
        .join(als_part, on=[C.User, C.Item], how="left")
        .join(similar_part, on=[C.User, C.Item], how="left")
        .join(shared, on=C.Item, how="left")
    )
    return out.select(CANDIDATE_COLUMNS).sort([C.User, C.Item])
