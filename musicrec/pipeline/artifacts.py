"""Artifact names (the seed's file names, which the services read) and the run manifest.

Modelling choice, recorded in every manifest: all models are fit on the listens before the split
date; the very artifacts evaluated on the test period are the ones served. Nothing is refit on the
full history, so the reported metrics describe exactly what the services answer.
"""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import musicrec
from musicrec.storage.artifacts import ArtifactStore

SPLIT = "split.json"
TUNING = "tuning.json"  # the settings tuning chose on the end of the train period, every tried point
TOP_POPULAR = "top_popular.parquet"
TOP_RECENT = "top_recent.parquet"
ALS_MODEL = "als_model"
PERSONAL_ALS = "personal_als.parquet"
SIMILAR = "similar.parquet"
RANKER_RECS = "ranker_recs.parquet"
METRICS_JSON = "metrics.json"
METRICS_MD = "metrics.md"
RECOMMENDATIONS = "recommendations.parquet"
BLEND = "blend.json"  # the learned blend's weights (fitted on the end of the train period)
USER_ARTISTS = "user_artists.parquet"  # each user's most played artists (explanations)
ITEMS = "items.parquet"
MANIFEST = "manifest.json"

# prepared inputs (in the prepared directory, written by `python -m musicrec prepare`)
EVENTS_FILE = "events.parquet"
ITEMS_FILE = "items.parquet"

MODELLING_NOTE = (
    "All models are fit on the listens before split_date; the artifacts evaluated on the test period "
    "are the ones served (no refit on the full history), so the metrics describe what is served."
)


def file_fingerprint(paths: list[Path]) -> dict[str, Any]:
    """SHA-256 and size of each file plus one combined hash (order-independent by file name)."""
    files = {}
    for path in sorted(paths, key=lambda p: p.name):
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
        files[path.name] = {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}
    combined = hashlib.sha256("".join(f"{n}:{f['sha256']}" for n, f in files.items()).encode()).hexdigest()
    return {"sha256": combined, "files": files}


def code_version() -> dict[str, str | None]:
    """Package version and the git commit of the checkout (None outside a git work tree)."""
    root = Path(musicrec.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"package": musicrec.__version__, "git_commit": commit}


def update_manifest(store: ArtifactStore, **sections: Any) -> dict[str, Any]:
    """Merge ``sections`` into ``manifest.json`` (dict sections merge one level deep) and rewrite it."""
    manifest: dict[str, Any] = store.read_json(MANIFEST) if store.exists(MANIFEST) else {}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest["note"] = MODELLING_NOTE
    manifest["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    store.write_json(MANIFEST, manifest)
    return manifest
