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

# the names live in musicrec.files; the pipeline's steps read them as A.<NAME>
from musicrec.files import (  # noqa: F401
    ALS_MODEL,
    BLEND,
    EVENTS_FILE,
    ITEMS,
    ITEMS_FILE,
    MANIFEST,
    METRICS_JSON,
    METRICS_MD,
    PERSONAL_ALS,
    RANKER_RECS,
    RECOMMENDATIONS,
    SIMILAR,
    SPLIT,
    TOP_POPULAR,
    TOP_RECENT,
    TUNING,
    USER_ARTISTS,
)
from musicrec.storage.artifacts import ArtifactStore

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
