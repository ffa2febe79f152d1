"""Tiny literal artifacts with hand-computed answers, shared by the unit and integration tests.

Users: 1, 2 and 3 are warm (personal lists), 99 is cold. Items 5xx are what users listen to online;
their similar tracks are chosen so the expected online and blended answers can be worked out by hand
(see the tests). A track's artist is its id modulo 7 (``ARTIST``), except 106, which has none.

By default the files are those of a train before the learned blend (no ``blend.json``, no
``user_artists.parquet``); ``write_artifacts(..., weights=WEIGHTS, top_artists=TOP_ARTISTS)`` adds them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.models.blending import FusionWeights

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
ARTIST = {i: i % 7 for i in NAMES if i != 106}
WEIGHTS = FusionWeights(online=0.1, artist=0.0, offset=20.0, recency_decay=0.5)
TOP_ARTISTS = {WARM_USER: [5, 4], WARM_USER_2: [5, 1]}  # most played first


def ranked_lists(rows: list[tuple[int, int, int]]) -> pa.Table:
    """``recommendations.parquet``'s columns from ``(user, item, rank)`` rows (score = 1 / rank)."""
    return pa.table({
        "user_id": pa.array([u for u, _, _ in rows], pa.int32()),
        "item_id": pa.array([i for _, i, _ in rows], pa.int32()),
        "score": pa.array([1.0 / r for _, _, r in rows], pa.float32()),
        "rank": pa.array([r for _, _, r in rows], pa.int32()),
    })


def write_artifacts(
    directory: Path,
    weights: FusionWeights | None = None,
    top_artists: Mapping[int, list[int]] | None = None,
    artist: Mapping[int, int] = ARTIST,
) -> Path:
    """Write recommendations, personal_als, top_popular, similar and items parquet files; ``blend.json``
    with ``weights`` and ``user_artists.parquet`` with ``top_artists`` when given."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(u, i, r) for u, items in PERSONAL.items() for r, i in enumerate(items, start=1)]
    # Written in reverse order: the index must sort by user and rank itself.
    rows = rows[::-1]
    ranked = ranked_lists(rows)
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
        "artists": [[f"Artist {artist[i]}"] if i in artist else [] for i in ids],
        "albums": [[f"Album {i % 5}"] for i in ids],
        "genres": [["pop", "rock"] if i % 2 else ["rap"] for i in ids],
        "artist_ids": pa.array([[artist[i]] if i in artist else [] for i in ids], pa.list_(pa.int32())),
    }), directory / "items.parquet")
    if weights is not None:
        write_blend(directory, weights.to_dict())
    if top_artists is not None:
        write_user_artists(directory, top_artists)
    return directory


def write_blend(directory: Path, weights: object) -> None:
    """``blend.json`` as the pipeline writes it (the service reads ``weights`` only)."""
    document = {"weights": weights, "fitted_on": {"users": 10}}
    (directory / "blend.json").write_text(json.dumps(document), encoding="utf-8")


def write_user_artists(directory: Path, top_artists: Mapping[int, list[int]]) -> None:
    """``user_artists.parquet``: each user's most played artists, rank 1 first (rows in reverse order)."""
    rows = [(u, a, r) for u, artists in top_artists.items() for r, a in enumerate(artists, start=1)][::-1]
    pq.write_table(pa.table({
        "user_id": pa.array([u for u, _, _ in rows], pa.int32()),
        "artist_id": pa.array([a for _, a, _ in rows], pa.int32()),
        "plays": pa.array([100 - r for _, _, r in rows], pa.int32()),
        "rank": pa.array([r for _, _, r in rows], pa.int16()),
    }), directory / "user_artists.parquet")
