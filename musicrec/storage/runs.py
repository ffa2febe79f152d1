"""Versioned training runs under one artifacts location, and the ``CURRENT`` pointer that picks one.

Layout (a directory or ``s3://bucket/prefix``)::

    <location>/runs/<run-id>/...      one training run: every artifact and its manifest.json
    <location>/CURRENT                {"run_id": ..., "previous": [...], "switched_at": ...}

A run is written whole before anyone is pointed at it: ``train`` fills ``runs/<run-id>/`` and only then
writes ``CURRENT``, which is one atomic step (locally a temporary file flushed to disk and renamed over
the pointer; on S3 one ``PutObject``). A reader resolves the pointer once and reads every file of that
run, so it sees the whole old run or the whole new one. ``previous`` (newest first) travels in the same
write, so ``rollback`` is also one write.

A location without ``CURRENT`` but with artifacts at its top (the flat layout of earlier versions, or a
run directory given directly) is served as it is; :func:`resolve` says so in its ``note``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from musicrec import files as F
from musicrec.config import Settings
from musicrec.storage.artifacts import ArtifactStore
from musicrec.storage.errors import MissingArtifactError
from musicrec.storage.location import local_artifacts_dir, normalize_location, open_store

log = logging.getLogger(__name__)

POINTER = "CURRENT"
RUNS = "runs"
FLAT = "flat"  # the model version reported for a location without runs
RUNNING, FAILED, COMPLETE = "running", "failed", "complete"  # a run's manifest "status" (set by train)
HISTORY = 20  # previous runs remembered in the pointer (rollback targets)
# what a run needs before it may become current: one name of each group (the services' required files)
SERVABLE = (F.OFFLINE_FILES, (F.TOP_POPULAR,), (F.SIMILAR,))


class RunError(ValueError):
    """A run cannot be used as asked (unknown id, nothing to roll back to, not servable)."""


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by creation time (to the microsecond): ``20260101T120000.123456Z-3fa2c1``."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Resolved:
    """Where the served artifacts are: ``location`` (a directory or ``s3://``) and the run's id."""

    location: str
    run_id: str
    note: str = ""


@dataclass
class RunInfo:
    """One line of ``runs list``."""

    run_id: str
    current: bool
    created_at: str = ""
    data_sha256: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # servable files it lacks (an unfinished run)
    status: str = ""  # running, failed, complete ("" for a run written by hand or by an older train)

    def problem(self) -> str | None:
        """Why the run cannot be served, or None."""
        if self.status in (RUNNING, FAILED):
            return f"its training is {self.status}" if self.status == RUNNING else "its training failed"
        if self.missing:
            return f"it lacks {', '.join(self.missing)}"
        return None


class RunStore:
    """The runs of one artifacts location; ``root`` is its store (local or S3)."""

    def __init__(self, location: str | Path, root: ArtifactStore):
        self.location = normalize_location(location).rstrip("/")
        self.root = root

    @classmethod
    def open(cls, location: str | Path, settings: Settings) -> RunStore:
        return cls(location, open_store(location, settings))

    # -- reading ------------------------------------------------------------------------------------

    def pointer(self) -> dict[str, Any] | None:
        """The ``CURRENT`` document, or None when the location has none."""
        try:
            return self.root.read_json(POINTER)
        except MissingArtifactError:
            return None

    def current(self) -> str | None:
        pointer = self.pointer()
        return None if pointer is None else str(pointer["run_id"])

    def run_location(self, run_id: str) -> str:
        return f"{self.location}/{RUNS}/{run_id}"

    def run(self, run_id: str) -> ArtifactStore:
        """The store of one run."""
        return self.root.sub(f"{RUNS}/{run_id}")

    def run_ids(self) -> list[str]:
        """Every run id, oldest first."""
        return self.root.list_dirs(RUNS)

    def missing(self, run_id: str) -> list[str]:
        """The servable files the run lacks (empty: it can be made current)."""
        store = self.run(run_id)
        return [" or ".join(names) for names in SERVABLE if not any(map(store.exists, names))]

    def resolve(self) -> Resolved:
        """The location to serve from: the current run, or the location itself without a pointer."""
        run_id = self.current()
        if run_id is not None:
            return Resolved(self.run_location(run_id), run_id)
        note = (f"{self.location} has no {POINTER} pointer: serving the files at its top as they are "
                f"(the flat layout of earlier versions); `python -m musicrec train` writes versioned runs "
                f"into {self.location}/{RUNS}/ and switches {POINTER} when a run is complete")
        return Resolved(self.location, FLAT, note)

    def info(self, run_id: str, current: str | None) -> RunInfo:
        store = self.run(run_id)
        info = RunInfo(run_id, run_id == current, missing=self.missing(run_id))
        if store.exists(F.MANIFEST):
            manifest = store.read_json(F.MANIFEST)
            info.created_at = str(manifest.get("created_at") or manifest.get("updated_at") or "")
            info.data_sha256 = str(manifest.get("data", {}).get("sha256", ""))
            info.metrics = key_metrics(manifest)
            info.status = str(manifest.get("status", ""))
        return info

    def list(self) -> list[RunInfo]:
        """Every run, oldest first."""
        current = self.current()
        return [self.info(run_id, current) for run_id in self.run_ids()]

    # -- switching ----------------------------------------------------------------------------------

    def switch(self, run_id: str) -> dict[str, Any]:
        """Make ``run_id`` current (one atomic write); the old current run heads ``previous``."""
        if run_id not in self.run_ids():
            raise RunError(f"no run {run_id!r} in {self.location}/{RUNS}/ "
                           "(see `python -m musicrec runs list`)")
        problem = self.info(run_id, None).problem()
        if problem:
            raise RunError(f"run {run_id} cannot be served, {problem}")
        pointer = self.pointer() or {}
        old = pointer.get("run_id")
        previous = [r for r in [old, *pointer.get("previous", [])] if r and r != run_id][:HISTORY]
        return self._write(run_id, previous)

    def rollback(self) -> dict[str, Any]:
        """Make the run that was current before this one current again (skipping deleted runs)."""
        pointer = self.pointer()
        if pointer is None:
            raise RunError(f"{self.location} has no {POINTER} pointer: nothing to roll back")
        existing = set(self.run_ids())
        previous = [r for r in pointer.get("previous", []) if r in existing]
        if not previous:
            raise RunError(f"run {pointer['run_id']} is the only run left in {self.location}: "
                           "nothing to roll back to")
        return self._write(previous[0], previous[1:])

    def _write(self, run_id: str, previous: list[str]) -> dict[str, Any]:
        document = {"run_id": run_id, "previous": previous,
                    "switched_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.root.write_json(POINTER, document)
        log.info("%s/%s -> %s", self.location, POINTER, run_id)
        return document

    # -- creating and pruning -----------------------------------------------------------------------

    def create(self, seed_from: str | None = None) -> str:
        """A new run id (its directory appears with its first file); with ``seed_from``, the new run starts
        as a copy of that run's artifacts (``FLAT``: of the files at the top of a flat location)."""
        run_id = new_run_id()
        if seed_from == FLAT:
            self.root.copy_tree("", f"{RUNS}/{run_id}", skip=(RUNS, POINTER))
        elif seed_from is not None:
            self.root.copy_tree(f"{RUNS}/{seed_from}", f"{RUNS}/{run_id}")
        return run_id

    def has_flat_artifacts(self) -> bool:
        """Artifacts of the flat layout (a manifest at the top of the location)."""
        return self.root.exists(F.MANIFEST)

    def prune(self, keep: int) -> list[str]:
        """Delete old runs; return their ids.

        Kept: the current run, every run newer than it (unfinished, or waiting for ``promote``), and the
        ``keep - 1`` most recent rollback targets. ``keep = 0`` keeps every run.
        """
        current = self.current()
        if keep <= 0 or current is None:
            return []
        pointer = self.pointer() or {}
        existing = self.run_ids()
        kept = {current, *[r for r in existing if r > current]}
        kept.update([r for r in pointer.get("previous", []) if r in existing][:keep - 1])
        stale = [r for r in existing if r not in kept]
        for run_id in stale:
            self.root.delete_tree(f"{RUNS}/{run_id}")
            log.info("deleted old run %s/%s/%s", self.location, RUNS, run_id)
        return stale


def key_metrics(manifest: dict[str, Any]) -> dict[str, float]:
    """NDCG and recall at the largest k of the list the run serves (empty before ``evaluate``)."""
    metrics = manifest.get("metrics") or {}
    ks = metrics.get("ks") or []
    models = (metrics.get("warm") or {}).get("models") or {}
    served = manifest.get("final_recommendations")
    scores = models.get(served) if isinstance(served, str) else None
    if not ks or not scores:
        return {}
    k = max(ks)
    return {name: round(float(scores[name]), 5) for name in (f"ndcg@{k}", f"recall@{k}") if name in scores}


def resolve_location(location: str | Path, settings: Settings) -> Resolved:
    """The current run of ``location`` (or the location itself in the flat layout)."""
    return RunStore.open(location, settings).resolve()


def local_run_dir(location: str | Path, settings: Settings) -> Path:
    """The local directory of the current run's files: the run directory, or its S3 cache (filled by the
    services at start-up). The flat layout: the location itself (or its cache)."""
    return local_artifacts_dir(resolve_location(location, settings).location, settings)


def current_store(location: str | Path, settings: Settings) -> ArtifactStore:
    """The artifact store of the current run of ``location`` (the location itself in the flat layout):
    what the clients read names and examples from, through the same API the services use."""
    return open_store(resolve_location(location, settings).location, settings)
