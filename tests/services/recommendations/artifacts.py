"""Tiny literal artifacts with hand-computed answers, shared by the unit and integration tests.

Users: 1, 2 and 3 are warm (personal lists), 99 is cold. Items 5xx are what users listen to online;
their similar tracks are chosen so the expected online and blended answers can be worked out by hand
(see the tests).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WARM_USER = 1
WARM_USER_2 = 2
WARM_USER_3 = 3
COLD_USER = 99
PERSONAL = {WARM_USER: [101, 102, 103, 104, 105], WARM_USER_2: [103, 106], WARM_USER_3: [105, 101]}
POPULAR = [201, 202, 103, 203, 204, 205]  # 103 is also personal: backfill must skip it
SIMILAR = {
    500: [(301, 0.9), (302, 0.6), (101, 0.5)],
    501: [(302, 0.8), (304, 0.7), (500, 0.4)],
    502: [(303, 0.9)],
    101: [(102, 0.9), (201, 0.3)],
}
NAMES = {i: f"Track {i}" for i in {*POPULAR, *sum(PERSONAL.values(), []), *SIMILAR, 301, 302, 303, 304, 106}}


def write_artifacts(directory: Path) -> Path:
    """Write recommendations, personal_als, top_popular, similar and items parquet files."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(u, i, r) for u, items in PERSONAL.items() for r, i in enumerate(items, start=1)]
    # Written in reverse order: the index must sort by user and rank itself.
    rows = rows[::-1]
    ranked = pa.table({
        "user_id": pa.array([u for u, _, _ in rows], pa.int32()),
        "item_id": pa.array([i for _, i, _ in rows], pa.int32()),
        "score": pa.array([1.0 / r for _, _, r in rows], pa.float32()),
        "rank": pa.array([r for _, _, r in rows], pa.int32()),
    })
    pq.write_table(ranked, directory / "recommendations.parquet")
    pq.write_table(ranked, directory / "personal_als.parquet")
    pq.write_table(pa.table({
        "item_id": pa.array(POPULAR, pa.int32()),
        "rank": pa.array(range(1, len(POPULAR) + 1), pa.int32()),
        "plays": pa.array([100 - r for r in range(len(POPULAR))], pa.int64()),
        "users": pa.array([50 - r for r in range(len(POPULAR))], pa.int64()),
    }), directory / "top_popular.parquet")
    pairs = [(a, b, s) for a, sims in SIMILAR.items() for b, s in sims]
    pq.write_table(pa.table({
        "item_id_1": pa.array([a for a, _, _ in pairs], pa.int32()),
        "item_id_2": pa.array([b for _, b, _ in pairs], pa.int32()),
        "score": pa.array([s for _, _, s in pairs], pa.float32()),
        "source": pa.array(["als"] * len(pairs), pa.string()),
    }), directory / "similar.parquet")
    ids = sorted(NAMES)
    pq.write_table(pa.table({
        "item_id": pa.array(ids, pa.int32()),
        "name": [NAMES[i] for i in ids],
        "artists": [[f"Artist {i % 7}"] for i in ids],
        "albums": [[f"Album {i % 5}"] for i in ids],
        "genres": [["pop", "rock"] if i % 2 else ["rap"] for i in ids],
    }), directory / "items.parquet")
    return directory
