"""Pick ids worth trying from an artifact store (the current run's): warm users, a cold user, tracks
with similar tracks.

Used by ``python -m musicrec serve`` (example commands) and ``tests.ipynb``. Only the first row group
of each file is read, so it is instant even on the full-size artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from musicrec.columns import Columns as C
from musicrec.files import OFFLINE_FILES, SIMILAR
from musicrec.storage.artifacts import ArtifactStore
from musicrec.storage.errors import MissingArtifactError


@dataclass(frozen=True)
class Examples:
    """``warm_users``: users with a personal list (smallest ids first); ``cold_user``: one without;
    ``items``: tracks that have similar tracks (for online events)."""

    warm_users: list[int]
    cold_user: int
    items: list[int]


def pick_examples(store: ArtifactStore, n_users: int = 2, n_items: int = 3) -> Examples:
    """Read the first row group of the offline list and of ``similar.parquet``."""
    name = next((n for n in OFFLINE_FILES if store.exists(n)), None)
    if name is None:
        raise MissingArtifactError(f"{store.describe(OFFLINE_FILES[0])}: no {' or '.join(OFFLINE_FILES)}")
    offline = store.local_file(name)
    users = sorted({int(u) for u in _first_group(offline, C.User)})
    similar = _first_group(store.local_file(SIMILAR), C.Item1) if store.exists(SIMILAR) else []
    items = list(dict.fromkeys(int(i) for i in similar))[:n_items]
    cold = _max_value(offline, C.User) + 1  # above every warm user: surely without a personal list
    return Examples(warm_users=users[:n_users], cold_user=cold, items=items)


def _first_group(path: Path, column: str) -> list[int]:
    if not path.exists():
        return []
    file = pq.ParquetFile(path)
    if file.num_row_groups == 0:
        return []
    return file.read_row_group(0, columns=[column]).column(column).to_pylist()


def _max_value(path: Path, column: str) -> int:
    """The column's maximum from the row-group statistics (no data read); a full read without them."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.names.index(column)
    maxima = []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            values = pq.read_table(path, columns=[column]).column(column).to_pylist()
            return max(values, default=0)
        maxima.append(int(stats.max))
    return max(maxima, default=0)
