"""The ranker feature ``sim_last_*`` (cosine of a candidate to the user's last listens): the current
``features.similarity_to_last`` against the previous code's single (batch, n_last, factors) einsum,
measured in the same run on the same inputs.

    .venv/bin/python -m bench.similarity_to_last

Inputs like a 1/10-scale inference batch: 1,000,000 (user, candidate) rows, 6,000 users with 5 last
listens each, 100,000 tracks x 64 ALS factors. Prints the median of 5 repeats of each and checks that
both give the same values bit for bit.
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

import numpy as np
import polars as pl

from bench.machine import describe
from musicrec.models.ids import IdMap
from musicrec.models.ranker import features


def _previous(pairs: pl.DataFrame, table: np.ndarray, user_row: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The sums of the code before 2026-12-06: one einsum over (batch, n_last, factors)."""
    items = pairs.get_column("item_id").to_numpy()
    out = np.zeros((len(items), table.shape[1]), dtype=np.float32)
    for start in range(0, len(items), features._BATCH):
        sl = slice(start, start + features._BATCH)
        out[sl] = np.einsum("bf,blf->bl", unit[items[sl]], unit[table[user_row[sl]]])
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    n_rows, n_users, n_tracks, n_last = 1_000_000, 6_000, 100_000, 5
    factors = rng.standard_normal((n_tracks, 64)).astype(np.float32)
    als = SimpleNamespace(item_factors=factors, item_ids=IdMap.from_values(np.arange(n_tracks)))
    users = np.sort(rng.integers(0, n_users, n_rows)).astype(np.int32)
    pairs = pl.DataFrame({"user_id": users, "item_id": rng.integers(0, n_tracks, n_rows).astype(np.int32)})
    start = pl.datetime(2022, 1, 1)
    history = pl.DataFrame({"user_id": np.repeat(np.arange(n_users), n_last).astype(np.int32),
                            "item_id": rng.integers(0, n_tracks, n_users * n_last).astype(np.int32)})
    history = history.with_columns((start + pl.duration(minutes=pl.int_range(pl.len()))).alias("started_at"))

    norms = np.linalg.norm(factors, axis=1)
    unit = np.vstack([factors / norms[:, None], np.zeros((1, 64), dtype=np.float32)]).astype(np.float32)
    uniq, user_row = np.unique(users, return_inverse=True)
    last = features.last_listens(history, uniq, n_last)
    table = np.full((len(uniq), n_last), -1, dtype=np.int64)
    table[np.searchsorted(uniq, last.get_column("user_id").to_numpy()), last.get_column("age").to_numpy()] = (
        last.get_column("item_id").to_numpy())

    timings: dict[str, list[float]] = {"previous (one einsum)": [], "current (one block per listen)": []}
    for _ in range(5):
        t = time.perf_counter()
        cos = _previous(pairs, table, user_row, unit)
        timings["previous (one einsum)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        best, _mean = features.similarity_to_last(pairs, history, als, n_last)
        timings["current (one block per listen)"].append(time.perf_counter() - t)
    previous_best = cos.max(axis=1)
    print(describe())
    for name, values in timings.items():
        print(f"{name}: median {statistics.median(values):.2f} s over {len(values)} runs")
    ratio = statistics.median(timings["previous (one einsum)"]) / statistics.median(
        timings["current (one block per listen)"])
    print(f"current is {ratio:.1f}x faster; identical maxima: {bool(np.array_equal(previous_best, best))}")


if __name__ == "__main__":
    main()
