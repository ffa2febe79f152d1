"""Runs the pipeline's steps in order, one log line per stage, and keeps the manifest up to date."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from musicrec.config import Settings, fixed_keys
from musicrec.models import tuning
from musicrec.pipeline import artifacts as A
from musicrec.pipeline.steps import STEP_NAMES, STEPS, Context, Step, check_inputs
from musicrec.storage.artifacts import ArtifactStore
from musicrec.storage.location import open_store

log = logging.getLogger(__name__)

PARAM_SECTIONS = ("split", "tuning", "popular", "als", "similar", "ranker", "blend", "evaluation")


def configured_params(settings: Settings) -> dict[str, Any]:
    """The settings sections as given, a key left to tuning recorded as ``"auto"`` (the manifest's
    ``params``; tuning.json and each step's ``params`` hold the values used)."""
    params = {name: getattr(settings, name).model_dump(mode="json") for name in PARAM_SECTIONS}
    if settings.tuning.enabled:
        for name in ("als", "ranker"):
            section = getattr(settings, name)
            params[name].update({key: "auto" for key in section.tunable if key not in fixed_keys(section)})
    return params


class PeakMemory:
    """Samples this process's resident memory in a background thread; ``peak_mb`` after ``with``."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peak_mb = self.last_mb = 0.0
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _sample(self) -> None:
        self.last_mb = self._process.memory_info().rss / 2**20
        self.peak_mb = max(self.peak_mb, self.last_mb)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def release_memory() -> float:
    """Collect garbage and hand the C heap's free pages back to the system (glibc's ``malloc_trim``; a
    no-op elsewhere); this process's resident MB after. A step's freed numpy and scipy buffers below
    glibc's mmap threshold otherwise stay in the heap and count in every later step's peak."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    return psutil.Process().memory_info().rss / 2**20


def run_pipeline(
    settings: Settings,
    steps: Sequence[str] | None = None,
    prepared_dir: Path | None = None,
    store: ArtifactStore | None = None,
    show_progress: bool = True,
    skip_unchanged: bool = False,
) -> dict[str, Any]:
    """Run ``steps`` (default: all, in DAG order) and return the final manifest.

    Inputs of each step are checked before it starts; a missing one raises
    :class:`~musicrec.pipeline.steps.MissingInputError` naming the file and the step that makes it.
    ``skip_unchanged``: a step is skipped when the store's manifest says it succeeded with the same
    settings, on the same prepared data (fingerprint) and code, and its outputs are there; once one step
    runs, every later one runs too (their inputs may have changed).
    """
    wanted = list(STEP_NAMES) if not steps else list(steps)
    unknown = [s for s in wanted if s not in STEP_NAMES]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps are: {', '.join(STEP_NAMES)}")
    ctx = Context(
        settings=settings,
        prepared_dir=Path(prepared_dir or settings.paths.prepared_dir),
        store=store or open_store(settings.paths.artifacts_dir, settings),
        show_progress=show_progress,
    )
    selected = [s for s in STEPS if s.name in wanted]  # DAG order, whatever order was asked
    for step in selected:
        check_inputs(step, ctx)  # fail before any work when the very first input is missing
        break

    inputs = [ctx.prepared_dir / name for name in (A.EVENTS_FILE, A.ITEMS_FILE)]
    fingerprint = A.file_fingerprint([path for path in inputs if path.exists()])
    before = ctx.store.read_json(A.MANIFEST) if ctx.store.exists(A.MANIFEST) else {}
    previous = before.get("data", {})
    code = A.code_version()
    reusable = (skip_unchanged and previous.get("sha256") == fingerprint["sha256"]
                and before.get("code") == code)
    if "tune" not in wanted and ctx.store.exists(A.TUNING):  # the settings the last tuning chose
        ctx.settings = tuning.apply(settings, ctx.store.read_json(A.TUNING))
    if len(selected) < len(STEPS) and previous.get("sha256") not in (None, fingerprint["sha256"]):
        log.warning("the prepared data changed since the last run (fingerprint %s -> %s): outputs of "
                    "steps not rerun now describe the old data; rerun the whole `train`",
                    previous["sha256"][:12], fingerprint["sha256"][:12])
    manifest = A.update_manifest(
        ctx.store,
        code=code,
        data={"prepared_dir": str(ctx.prepared_dir), **fingerprint},
        params=configured_params(settings),
    )
    total = time.perf_counter()
    done_before = before.get("steps", {}) if reusable else {}
    for step in selected:
        if done_before and _unchanged(step, ctx, done_before.get(step.name, {})):
            log.info("stage=%s skipped: unchanged since %s (same data, code and settings; train --force "
                     "reruns it)", step.name, done_before[step.name].get("finished_at", "?"))
            if step.name == "tune" and ctx.store.exists(A.TUNING):  # later steps use what it chose
                ctx.settings = tuning.apply(settings, ctx.store.read_json(A.TUNING))
            continue
        done_before = {}  # this step runs: every later one must too
        check_inputs(step, ctx)
        log.info("stage=%s started: %s", step.name, step.doc)
        start = time.perf_counter()
        with PeakMemory() as memory:
            rows = step.run(ctx)
        seconds = time.perf_counter() - start
        left = memory.last_mb
        after = release_memory()
        log.info("stage=%s status=ok seconds=%.1f rows=%s peak_rss_mb=%.0f rss_after_mb=%.0f (%.0f before "
                 "the release)", step.name, seconds, rows, memory.peak_mb, after, left)
        record: dict[str, Any] = {
            "status": "ok", "seconds": round(seconds, 2), "peak_rss_mb": round(memory.peak_mb),
            "rss_after_mb": round(after),  # what the step leaves held, after release_memory()
            "rows": rows, "finished_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            # the settings this step ran with (top-level "params" is the latest run's, maybe partial)
            "params": _step_params(step, ctx),
        }
        sections: dict[str, Any] = {"steps": {step.name: record}, "rows": rows}
        if step.name == "split":
            sections["split"] = ctx.store.read_json(A.SPLIT)
        if "tuning" in ctx.cache and step.name == "tune":
            sections["tuning"] = ctx.cache["tuning"]  # chosen settings, every tried point, seconds
        if "als_info" in ctx.cache and step.name == "als":
            sections["als"] = ctx.cache["als_info"]  # whether it started from tune's frame fit
        if "ranker_info" in ctx.cache and step.name == "ranker":
            sections["ranker"] = ctx.cache["ranker_info"]
        if "blend" in ctx.cache and step.name == "blend":
            sections["blend"] = ctx.cache["blend"]  # chosen weights + validation scores (blend.json has all)
        if "metrics" in ctx.cache and step.name == "evaluate":
            sections["metrics"] = ctx.cache["metrics"]
        if "final_source" in ctx.cache and step.name == "export":
            sections["final_recommendations"] = ctx.cache["final_source"]
        manifest = A.update_manifest(ctx.store, **sections)
    log.info("pipeline done: %d step(s) in %.1f s, artifacts in %s", len(selected),
             time.perf_counter() - total, ctx.store.describe(""))
    return manifest


def _step_params(step: Step, ctx: Context) -> dict[str, Any]:
    """The settings ``step`` runs with; for ``tune``, the ones it is given (it chooses the rest)."""
    source = ctx.configured if step.name == "tune" and ctx.configured is not None else ctx.settings
    return {name: getattr(source, name).model_dump(mode="json") for name in step.params}


def _unchanged(step: Step, ctx: Context, record: dict[str, Any]) -> bool:
    """The step's last run (``record`` in the manifest) succeeded with these settings and left its outputs."""
    return (record.get("status") == "ok" and record.get("params") == _step_params(step, ctx)
            and all(ctx.store.exists(name) for name in step.outputs))
