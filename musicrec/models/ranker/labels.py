"""Labels without leakage: the last ``label_days`` of the train period are the future to predict.

``history`` (train minus the label window) is all that ALS, the candidates and the features see;
``window`` (the label window) only decides which candidates are positives. The test period is
never passed in at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np
import polars as pl

from musicrec.columns import Columns as C


@dataclass(frozen=True)
class LabelSplit:
    history: pl.DataFrame
    window: pl.DataFrame
    cutoff: datetime
    until: datetime


def period_end(events: pl.DataFrame) -> datetime:
    """Midnight after the last listen: the (exclusive) end of the period, i.e. the split date.

    >>> from datetime import datetime as d
    >>> period_end(pl.DataFrame({"started_at": [d(2022, 12, 15), d(2022, 12, 10, 13)]}))
    datetime.datetime(2022, 12, 16, 0, 0)
    """
    if events.height == 0:
        raise ValueError("the ranker needs a non-empty train period")
    last = events.get_column(C.Datetime).max()
    return datetime.combine(last.date(), time()) + timedelta(days=1)


def label_split(train: pl.DataFrame, label_days: int, until: datetime | None = None) -> LabelSplit:
    """``history`` = listens before ``until - label_days``; ``window`` = ``[until - label_days, until)``.

    ``until`` defaults to the end of ``train`` (:func:`period_end`); an earlier ``until`` gives an
    earlier window, whose history is then shorter too.
    """
    until = period_end(train) if until is None else until
    cutoff = until - timedelta(days=label_days)
    before = pl.col(C.Datetime) < cutoff
    history = train.filter(before)
    window = train.filter(~before & (pl.col(C.Datetime) < until))
    if history.height == 0 or window.height == 0:
        raise ValueError(
            f"[ranker] label_days = {label_days} leaves the feature period or the label window empty "
            f"(train ends {until:%Y-%m-%d}); use fewer label days or more data"
        )
    return LabelSplit(history, window, cutoff, until)


def training_users(split: LabelSplit, max_users: int, seed: int) -> np.ndarray:
    """Users with history and label-window listens; a seeded sample of ``max_users`` of them."""
    users = np.intersect1d(split.history.get_column(C.User).unique().to_numpy(),
                           split.window.get_column(C.User).unique().to_numpy())
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def attach_labels(candidates: pl.DataFrame, window: pl.DataFrame) -> pl.DataFrame:
    """``label`` = 1 when the user listened to the candidate in the label window, else 0.

    >>> cands = pl.DataFrame({"user_id": [1, 1], "item_id": [5, 6]})
    >>> attach_labels(cands, pl.DataFrame({"user_id": [1, 2], "item_id": [6, 5]})).rows()
    [(1, 5, 0), (1, 6, 1)]
    """
    positives = (
        window.select(pl.col(C.User).cast(candidates.schema[C.User]),
                      pl.col(C.Item).cast(candidates.schema[C.Item]))
        .unique().with_columns(pl.lit(1, dtype=pl.Int8).alias("label"))
    )
    return (
        candidates.join(positives, on=[C.User, C.Item], how="left", maintain_order="left")
        .with_columns(pl.col("label").fill_null(0))
    )


def sample_negatives(labelled: pl.DataFrame, per_positive: int, seed: int) -> pl.DataFrame:
    """Keep users with a positive; all their positives plus ``per_positive`` x as many random negatives.

    The sample is seeded, so the same data gives the same training set.
    """
    rng = np.random.default_rng(seed)
    frame = labelled.with_columns(pl.Series("_r", rng.random(labelled.height)))
    frame = frame.with_columns(pl.col("label").sum().over(C.User).alias("_pos"))
    frame = frame.filter(pl.col("_pos") > 0)
    negatives = (
        frame.filter(pl.col("label") == 0)
        .sort([C.User, "_r"])
        .filter(pl.int_range(pl.len()).over(C.User) < per_positive * pl.col("_pos"))
    )
    out = pl.concat([frame.filter(pl.col("label") == 1), negatives])
    return out.drop("_r", "_pos").sort([C.User, C.Item])
