"""Tiny servable runs whose items never overlap, so an answer tells which run it came from."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.storage.runs import RunStore
from tests.services.recommendations.artifacts import ranked_lists

USERS = (1, 2, 3)


def items_of(base: int) -> set[int]:
    """Every item id a run written with ``base`` can answer with."""
    return set(range(base, base + 100))


def write_run_files(directory: Path, base: int) -> Path:
    """recommendations / personal_als / top_popular / similar parquet files with ids in ``items_of(base)``:
    users 1-3 get ``base+1..base+5``, popular is ``base+50..base+59``, ``base+1`` has two similar tracks."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(u, base + i, i) for u in USERS for i in range(1, 6)]
    ranked = ranked_lists(rows)
    pq.write_table(ranked, directory / "recommendations.parquet")
    pq.write_table(ranked, directory / "personal_als.parquet")
    pq.write_table(pa.table({"item_id": pa.array(range(base + 50, base + 60), pa.int32()),
                             "rank": pa.array(range(1, 11), pa.int32())}), directory / "top_popular.parquet")
    pq.write_table(pa.table({"item_id_1": pa.array([base + 1, base + 1], pa.int32()),
                             "item_id_2": pa.array([base + 2, base + 3], pa.int32()),
                             "score": pa.array([0.9, 0.5], pa.float32())}), directory / "similar.parquet")
    return directory


def add_run(runs: RunStore, base: int, switch: bool = True) -> str:
    """A new complete run with ids around ``base`` (made current with ``switch``); its id."""
    run_id = runs.create()
    store = runs.run(run_id)
    staging = Path(runs.location) / ".staging" / run_id if not runs.location.startswith("s3://") else None
    assert staging is not None, "local runs only"
    write_run_files(staging, base)
    for path in staging.iterdir():
        store.copy_file(path, path.name)
    store.write_json("manifest.json", {"run_id": run_id, "status": "complete", "base": base})
    if switch:
        runs.switch(run_id)
    return run_id
