"""The model contract popular, ALS and the ranker keep; ``tests/models/test_contract.py`` runs one
shared test over all of them (as implicit's ``recommender_base_test.py`` does for its models)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np
import polars as pl


@runtime_checkable
class Recommender(Protocol):
    """Fit on a train frame of listens (``user_id, item_id, started_at``), recommend per user.

    ``recommend(user_ids, n)`` answers ``user_id, item_id, score (float32), rank (int32, 1-based)``,
    best first, at most ``n`` rows per user and never a track the user listened to in the train frame;
    ``save(directory)`` then ``load(directory)`` gives a model that recommends the same rows.
    """

    def fit(self, train: pl.DataFrame) -> Self: ...

    def recommend(self, user_ids: np.ndarray, n: int) -> pl.DataFrame: ...

    def save(self, directory: str | Path) -> None: ...

    @classmethod
    def load(cls, directory: str | Path) -> Self: ...
