"""``SimilarIndex``: similar tracks per track in three flat arrays, O(log n) per lookup.

``keys`` holds the sorted unique ``item_id_1``; the neighbours of ``keys[i]`` are
``neighbours[offsets[i]:offsets[i + 1]]`` (best score first) with their ``scores``. A lookup is one
``np.searchsorted`` and a slice, never a scan of a DataFrame.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from musicrec.columns import Columns as C

log = logging.getLogger(__name__)

SIMILAR_FILE = "similar.parquet"
REQUIRED = (C.Item1, C.Item2, C.Score)


class SimilarArtifactError(ValueError):
    """``similar.parquet`` is missing or malformed; the message names the file and the column."""


class SimilarIndex:
    """Similar items of each item, best first.

    >>> index = SimilarIndex.build(item_1=[7, 3, 7, 7], item_2=[1, 9, 2, 3], score=[0.2, 0.5, 0.9, 0.4])
    >>> index.lookup(7, k=2)
    ([2, 3], [0.9, 0.4])
    >>> index.lookup(3, k=10)
    ([9], [0.5])
    >>> index.lookup(5, k=10)
    ([], [])
    >>> len(index), index.n_pairs
    (2, 4)
    """

    def __init__(self, keys: np.ndarray, offsets: np.ndarray, neighbours: np.ndarray, scores: np.ndarray):
        self.keys = keys
        self.offsets = offsets
        self.neighbours = neighbours
        self.scores = scores

    @classmethod
    def build(cls, item_1, item_2, score) -> SimilarIndex:
        """Sort pairs by ``item_1``, then score descending (ties keep their input order)."""
        item_1 = np.asarray(item_1, dtype=np.int64)
        item_2 = np.asarray(item_2)
        score = np.asarray(score)
        if not np.issubdtype(item_2.dtype, np.integer):
            item_2 = item_2.astype(np.int64)
        if not np.issubdtype(score.dtype, np.floating):
            score = score.astype(np.float32)
        same = item_1[1:] == item_1[:-1]
        # The pipeline writes the file already in this order: checking it costs ~25 ms on 10M rows,
        # sorting ~3 s.
        if not np.all((item_1[1:] > item_1[:-1]) | (same & (score[1:] <= score[:-1]))):
            # lexsort sorts by the last key first; the row number makes ties keep the input order.
            order = np.lexsort((np.arange(len(item_1)), -score, item_1))
            item_1, item_2, score = item_1[order], item_2[order], score[order]
            same = item_1[1:] == item_1[:-1]
        starts = np.flatnonzero(np.concatenate(([len(item_1) > 0], ~same)))
        offsets = np.append(starts, len(item_1)).astype(np.int64)
        return cls(item_1[starts], offsets, item_2, score)

    @classmethod
    def from_parquet(cls, path: Path | str) -> SimilarIndex:
        """Read ``item_id_1``, ``item_id_2``, ``score`` (``source`` is optional and not needed here)."""
        path = Path(path)
        if not path.exists():
            raise SimilarArtifactError(f"{path}: file not found (run `python -m musicrec train` first)")
        start = time.perf_counter()
        try:
            names = pq.read_schema(path).names
            missing = [col for col in REQUIRED if col not in names]
            if missing:
                raise SimilarArtifactError(f"{path}: missing column(s) {missing}; found {names}")
            table = pq.read_table(path, columns=list(REQUIRED))
        except (OSError, ValueError) as exc:
            if isinstance(exc, SimilarArtifactError):
                raise
            raise SimilarArtifactError(f"{path}: not a readable parquet file: {exc}") from exc
        columns = {}
        for name in REQUIRED:
            column = table.column(name)
            if column.null_count:
                raise SimilarArtifactError(f"{path}: column {name!r} has {column.null_count} null value(s)")
            columns[name] = column.to_numpy()
        for name, kind, expected in ((C.Item1, np.integer, "integers"), (C.Item2, np.integer, "integers"),
                                     (C.Score, np.number, "numbers")):
            dtype = columns[name].dtype
            if not np.issubdtype(dtype, kind):
                raise SimilarArtifactError(f"{path}: column {name!r} must hold {expected}, found {dtype}")
        index = cls.build(columns[C.Item1], columns[C.Item2], columns[C.Score])
        log.info("features: loaded %s: %d items, %d pairs in %.2f s", path, len(index), index.n_pairs,
                 time.perf_counter() - start)
        return index

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_pairs(self) -> int:
        return len(self.neighbours)

    def lookup(self, item_id: int, k: int) -> tuple[list[int], list[float]]:
        """Up to ``k`` similar item ids and their scores (rounded to 6 decimals), best first."""
        i = int(np.searchsorted(self.keys, item_id))
        if i == len(self.keys) or self.keys[i] != item_id:
            return [], []
        start = self.offsets[i]
        stop = min(self.offsets[i + 1], start + k)
        # float32 -> float64 -> 6 decimals: 0.9 stays 0.9 in JSON instead of 0.8999999761581421.
        scores = np.round(self.scores[start:stop].astype(np.float64), 6)
        return self.neighbours[start:stop].tolist(), scores.tolist()
