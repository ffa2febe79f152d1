"""A training run as a versioned run: written under ``runs/<run-id>/``, made current only when complete.

:func:`train_run` is what ``python -m musicrec train`` does: a fresh run (or, for ``--step``, a copy of the
current run with those steps redone), every step in it, then the ``CURRENT`` switch and the clean-up of old
runs. A failing step raises before the switch, so the services keep the run they serve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from musicrec.config import Settings
from musicrec.pipeline import artifacts as A
from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.runs import COMPLETE, FAILED, FLAT, RUNNING, RunError, RunStore

log = logging.getLogger(__name__)


@dataclass
class Published:
    """What :func:`train_run` did: the run, where it is, whether it became current, what was pruned."""

    run_id: str
    location: str
    switched: bool
    missing: list[str]
    pruned: list[str]
    manifest: dict[str, Any]


def train_run(
    settings: Settings,
    runs: RunStore,
    steps: Sequence[str] | None = None,
    prepared_dir: Path | None = None,
    run_id: str | None = None,
    show_progress: bool = True,
    resume: bool = False,
) -> Published:
    """Train into a run and make it current when it can be served.

    ``run_id`` continues an existing run that is not current (a current run is never modified: readers
    may be loading it). Without it a new run is created: empty for a full train, a copy of the current run
    when only some ``steps`` are asked (their inputs come from it); without a current run, a copy of the
    artifacts of the flat layout when the location has them (the migration to runs).

    ``resume`` (what ``train`` does unless ``--force`` or ``--step``): continue the newest run that did not
    finish (killed or failed, newer than the current one), else start from a copy of the current run; in
    either, a step whose data, code and settings are those of its last success is skipped
    (:func:`~musicrec.pipeline.runner.run_pipeline`'s ``skip_unchanged``).
    """
    current = runs.current()
    stamp: dict[str, Any] = {}
    resumed = None
    if resume and run_id is None:
        run_id, resumed = _resumable(runs, current)
    if resumed:
        log.info("continuing run %s, which did not finish (%s); its steps that succeeded with the same "
                 "data, code and settings are skipped", run_id, resumed)
    elif run_id is not None:
        if run_id not in runs.run_ids():
            raise RunError(f"no run {run_id!r} in {runs.location}/runs/ (see `python -m musicrec runs list`)")
        if run_id == current:
            raise RunError(f"run {run_id} is the current one and is never modified; run `train` without "
                           "--run to redo steps in a copy of it")
    else:
        # resume: a new run starts as a copy of the current one and redoes only the steps that changed
        seed = (current or (FLAT if runs.has_flat_artifacts() else None)) if steps or resume else None
        run_id = runs.create(seed_from=seed)
        stamp = {"run_id": run_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "copied_from": seed}
        if seed == FLAT:
            log.warning("%s holds artifacts of the flat layout (no CURRENT): run %s starts as a copy of "
                        "them; once it is current the services serve runs/%s and the files at the top of "
                        "%s are no longer read", runs.location, run_id, run_id, runs.location)
        elif seed:
            log.info("run %s in %s (a copy of the current run %s)", run_id, runs.run_location(run_id), seed)
        else:
            log.info("run %s in %s", run_id, runs.run_location(run_id))
    store = runs.run(run_id)
    # "running" until every step succeeded: a failed run (even a copy that has every file) is never made
    # current, by this command or by `runs promote`
    A.update_manifest(store, **stamp, status=RUNNING)
    try:
        run_pipeline(settings, steps, prepared_dir=prepared_dir, store=store, show_progress=show_progress,
                     skip_unchanged=resume)
    except BaseException:
        try:
            A.update_manifest(store, status=FAILED)
        except Exception:  # the step's error matters more; the run stays "running", also never promoted
            log.warning("could not mark run %s as failed", run_id)
        raise
    manifest = A.update_manifest(store, status=COMPLETE)
    missing = runs.missing(run_id)
    switched, pruned = False, []
    if not missing:
        runs.switch(run_id)
        switched = True
        pruned = runs.prune(settings.runs.keep)
    else:
        log.info("run %s lacks %s: %s/CURRENT not switched", run_id, ", ".join(missing), runs.location)
    return Published(run_id, runs.run_location(run_id), switched, missing, pruned, manifest)


def _resumable(runs: RunStore, current: str | None) -> tuple[str | None, str | None]:
    """The newest run, newer than the current one, whose training did not finish (killed: "running";
    or "failed"), with its status; (None, None) when there is none."""
    for run_id in sorted(runs.run_ids(), reverse=True):
        if current is not None and run_id <= current:
            break  # run ids sort by creation time: older runs are not continued
        status = runs.info(run_id, current).status
        if status in (RUNNING, FAILED):
            return run_id, status
    return None, None
