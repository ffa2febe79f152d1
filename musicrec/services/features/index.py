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
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.columns import Columns as C

log = logging.getLogger(__name__)

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

    BATCH_ROWS = 1 << 20  # rows read at a time by from_parquet

    def __init__(self, keys: np.ndarray, offsets: np.ndarray, neighbours: np.ndarray, scores: np.ndarray):
        self.keys = _narrow(keys)  # int32 when the ids fit (they do from the pipeline): half the memory
        self.offsets = _narrow(offsets)
        self.neighbours = neighbours
        self.scores = scores
        self.run_id = "none"  # the training run it was read from (the X-Model-Version header)

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
        """Read ``item_id_1``, ``item_id_2``, ``score`` (``source`` is optional and not needed here).

        The file is read one batch at a time into arrays allocated once, so the peak memory is the
        index plus one batch; a file that is not in the pipeline's order (by ``item_id_1``, best score
        first) is read whole and sorted instead.
        """
        path = Path(path)
        if not path.exists():
            raise SimilarArtifactError(f"{path}: file not found (run `python -m musicrec train` first)")
        start = time.perf_counter()
        try:
            file = pq.ParquetFile(path, memory_map=True)
            schema = file.schema_arrow
            missing = [col for col in REQUIRED if col not in schema.names]
            if missing:
                raise SimilarArtifactError(f"{path}: missing column(s) {missing}; found {schema.names}")
            for name, check, expected in ((C.Item1, pa.types.is_integer, "integers"),
                                          (C.Item2, pa.types.is_integer, "integers"),
                                          (C.Score, _is_number, "numbers")):
                kind = schema.field(name).type
                if not check(kind):
                    raise SimilarArtifactError(f"{path}: column {name!r} must hold {expected}, found {kind}")
            index = cls._read_sorted(file, path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            if isinstance(exc, SimilarArtifactError):
                raise
            raise SimilarArtifactError(f"{path}: not a readable parquet file: {exc}") from exc
        finally:
            # Only numpy arrays are kept: hand arrow's freed read buffers back to the OS.
            pa.default_memory_pool().release_unused()
        if index is None:  # not in the pipeline's order
            table = pq.read_table(path, columns=list(REQUIRED))
            columns = {name: table.column(name).to_numpy() for name in REQUIRED}
            del table
            index = cls.build(columns[C.Item1], columns[C.Item2], columns[C.Score])
            del columns
            pa.default_memory_pool().release_unused()
        log.info("features: loaded %s: %d items, %d pairs in %.2f s", path, len(index), index.n_pairs,
                 time.perf_counter() - start)
        return index

    @classmethod
    def _read_sorted(cls, file: pq.ParquetFile, path: Path) -> SimilarIndex | None:
        """The index of a file already ordered by ``item_id_1``, then score descending; None otherwise."""
        n = file.metadata.num_rows
        schema = file.schema_arrow
        neighbours = np.empty(n, dtype=_dtype(schema.field(C.Item2).type, np.int32))
        scores = np.empty(n, dtype=_dtype(schema.field(C.Score).type, np.float32))
        starts: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        nulls = dict.fromkeys(REQUIRED, 0)
        done = 0
        last_item, last_score = None, None
        batches = file.iter_batches(batch_size=cls.BATCH_ROWS, columns=list(REQUIRED), use_threads=False)
        for batch in batches:
            for name in REQUIRED:
                nulls[name] += batch.column(name).null_count
            if any(nulls.values()):
                name = next(name for name, count in nulls.items() if count)
                raise SimilarArtifactError(f"{path}: column {name!r} has {nulls[name]} null value(s)")
            item_1 = batch.column(C.Item1).to_numpy().astype(np.int64, copy=False)
            score = batch.column(C.Score).to_numpy()
            rows = len(item_1)
            if rows == 0:
                continue
            if last_item is not None:  # the two batches must join in order too
                item_1_all = np.concatenate(([last_item], item_1))
                score_all = np.concatenate(([last_score], score))
            else:
                item_1_all, score_all = item_1, score
            same = item_1_all[1:] == item_1_all[:-1]
            if not np.all((item_1_all[1:] > item_1_all[:-1]) | (same & (score_all[1:] <= score_all[:-1]))):
                return None
            new_key = ~same if last_item is not None else np.concatenate(([True], ~same))
            firsts = np.flatnonzero(new_key)
            starts.append(firsts + done)
            keys.append(item_1[firsts])
            neighbours[done:done + rows] = batch.column(C.Item2).to_numpy()
            scores[done:done + rows] = score
            done += rows
            last_item, last_score = item_1[-1], score[-1]
            del batch, item_1, score, item_1_all, score_all, same
        start_rows = np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)
        offsets = np.append(start_rows, done).astype(np.int64)
        all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
        return cls(all_keys.astype(np.int64), offsets, neighbours[:done], scores[:done])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_pairs(self) -> int:
        return len(self.neighbours)

    def lookup(self, item_id: int, k: int) -> tuple[list[int], list[float]]:
        """Up to ``k`` similar item ids and their scores (rounded to 6 decimals), best first."""
        try:
            # the query in the keys' own dtype: an int32 index searched for a Python int would be
            # converted to int64 first, a copy of every key per lookup
            key = self.keys.dtype.type(item_id)
        except OverflowError:  # an id the keys' dtype cannot hold: not among them
            return [], []
        i = int(self.keys.searchsorted(key))
        if i == len(self.keys) or self.keys[i] != key:
            return [], []
        start = self.offsets[i]
        stop = min(self.offsets[i + 1], start + k)
        # float32 -> float64 -> 6 decimals: 0.9 stays 0.9 in JSON instead of 0.8999999761581421.
        scores = np.round(self.scores[start:stop].astype(np.float64), 6)
        return self.neighbours[start:stop].tolist(), scores.tolist()


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def _dtype(kind: pa.DataType, default: type) -> np.dtype:
    """The numpy dtype the column's values are kept in: the file's own when it is numeric (int32 ids and
    float32 scores from the pipeline), else ``default``."""
    try:
        dtype = np.dtype(kind.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(default)
    return dtype if dtype.kind in "iuf" else np.dtype(default)


def _narrow(values: np.ndarray) -> np.ndarray:
    """int32 when every value fits, else int64."""
    if len(values) == 0 or (values.min() >= -(2**31) and values.max() < 2**31):
        return values.astype(np.int32, copy=False)
    return values.astype(np.int64, copy=False)
