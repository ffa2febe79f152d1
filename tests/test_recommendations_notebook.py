"""recommendations.ipynb executed end to end (nbclient, the venv's kernel) on small data in a tmp dir.

The notebook's parameters come from ``MUSICREC_NB_*`` variables, so it never touches the repository's
``data/`` or ``artifacts/``. Raw data: ``python -m musicrec data synth`` through the notebook itself when
the generator is in the package, else small raw files in the real schema written here first (the
notebook then uses them as found, as it would the real Yandex files).
"""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "recommendations.ipynb"
USERS, TRACKS, EVENTS = 1500, 1500, 60_000


def _has_synth() -> bool:
    try:
        return hasattr(importlib.import_module("musicrec.data.synth"), "synth_command")
    except ImportError:
        return False


HAS_SYNTH = _has_synth()
HAS_RANKER = importlib.util.find_spec("musicrec.models.ranker") is not None
MIN_IMAGES = 7  # 2 distributions, genres, weekly listens, user groups, 2 metric comparisons (+ ranker)


def write_raw(directory: Path, seed: int = 7) -> None:
    """Small raw files in the real dtypes: Zipf-popular tracks, users who prefer one genre, Sep-Dec 2022."""
    rng = np.random.default_rng(seed)
    n_genres, n_artists = 12, 300
    track_ids = np.arange(1, TRACKS + 1)
    genre = rng.integers(1, n_genres + 1, TRACKS)
    artist = rng.integers(1, n_artists + 1, TRACKS)
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "track_id": pa.array(track_ids, pa.int64()),
        "albums": pa.array([[int(a) // 2 + 1] for a in artist], pa.list_(pa.int64())),
        "artists": pa.array([[int(a)] for a in artist], pa.list_(pa.int64())),
        "genres": pa.array([[int(g)] for g in genre], pa.list_(pa.int64())),
    }), directory / "tracks.parquet")
    names = [(int(i), "track", f"Track {i}") for i in track_ids]
    names += [(a, "album", f"Album {a}") for a in range(1, n_artists // 2 + 2)]
    names += [(a, "artist", f"Artist {a}") for a in range(1, n_artists + 1)]
    names += [(g, "genre", f"genre{g}") for g in range(1, n_genres + 1)]
    pq.write_table(pa.table({
        "id": pa.array([n[0] for n in names], pa.int64()),
        "type": [n[1] for n in names],
        "name": [n[2] for n in names],
    }), directory / "catalog_names.parquet")

    popularity = 1.0 / np.arange(1, TRACKS + 1) ** 0.9
    rows = []
    per_user = rng.multinomial(EVENTS, rng.dirichlet(np.full(USERS, 0.7)))
    start = datetime(2022, 9, 1)
    for user, n in enumerate(per_user, 1):
        weights = popularity * np.where(genre == rng.integers(1, n_genres + 1), 8.0, 1.0)
        n = int(min(max(n, 1), TRACKS // 2))
        tracks = rng.choice(track_ids, n, replace=False, p=weights / weights.sum())
        first = rng.integers(0, 100 * 86_400)
        times = np.sort(first + rng.integers(0, 121 * 86_400 - first, n))
        rows.append(pl.DataFrame({
            "user_id": np.full(n, user, np.int32), "track_id": tracks.astype(np.int32),
            "track_seq": np.arange(1, n + 1, dtype=np.int16),
            "started_at": [start + timedelta(seconds=int(t)) for t in times],
        }))
    pl.concat(rows).write_parquet(directory / "interactions.parquet")


def execute(path: Path, env: dict[str, str], timeout_s: int = 120) -> nbformat.NotebookNode:
    """Run every cell with the ``python3`` kernel of the venv, cwd at the repository root."""
    notebook = nbformat.read(path, as_version=4)
    saved = os.environ.copy()
    os.environ.update(env)  # the kernel inherits the environment of the process that starts it
    try:
        NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def test_notebook_tells_the_whole_story_on_small_data(tmp_path):
    work = tmp_path / "nb"
    if not HAS_SYNTH:
        write_raw(work / "raw")
    env = {
        "MUSICREC_NB_WORKDIR": str(work), "MUSICREC_NB_USERS": str(USERS), "MUSICREC_NB_TRACKS": str(TRACKS),
        "MUSICREC_NB_EVENTS": str(EVENTS), "MUSICREC_NB_SEED": "7",
        # belt and braces: anything that falls back to config.ini [paths] lands in the tmp dir too
        "MUSICREC_PATHS__RAW_DIR": str(tmp_path / "raw"),
        "MUSICREC_PATHS__PREPARED_DIR": str(tmp_path / "prepared"),
        "MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "MUSICREC_RANKER__ITERATIONS": "100",  # the story, not the quality: keep the test short
    }
    notebook = execute(NOTEBOOK, env)

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [f"{out['ename']}: {out['evalue']}" for out in outputs if out.get("output_type") == "error"]
    assert not errors
    artifacts = work / "artifacts"
    for name in ("manifest.json", "split.json", "top_popular.parquet", "top_recent.parquet",
                 "personal_als.parquet", "similar.parquet", "metrics.json", "metrics.md",
                 "recommendations.parquet", "items.parquet"):
        assert (artifacts / name).exists(), name
    assert (work / "prepared" / "events.parquet").exists()
    assert not (tmp_path / "artifacts").exists()

    # the metrics table (metrics.md rendered as markdown) names every evaluated model
    markdown = "\n".join(out["data"]["text/markdown"] for out in outputs
                         if "text/markdown" in out.get("data", {}))
    assert "# Offline metrics" in markdown
    models = {"random", "top_popular", "recent_popular", "als"} | ({"ranker"} if HAS_RANKER else set())
    for model in models:
        assert f"| {model} |" in markdown, model
    for model in ("online", "offline", "blended"):
        assert f"| {model} |" in markdown, model

    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= MIN_IMAGES + HAS_RANKER
    text = "\n".join(out.get("text", "") for out in outputs)
    assert "ALS top 10 for user" in text and "[als] track" in text and "[content] track" in text
    html = "\n".join(out["data"].get("text/html", "") for out in outputs if "data" in out)
    assert "listened_later" in html and "Track " in html and "Artist " in html  # lists carry names
