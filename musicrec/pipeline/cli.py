"""``python -m musicrec train``: run the training pipeline (all steps, or the ones named)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from musicrec.config import load_settings
from musicrec.pipeline.split import SplitError
from musicrec.pipeline.steps import STEP_NAMES, MissingInputError


@click.command("train")
@click.option("--step", "steps", multiple=True, type=click.Choice(STEP_NAMES),
              help="Run only this step (repeatable); earlier steps' outputs are read from the artifacts dir.")
@click.option("--prepared", type=click.Path(path_type=Path, file_okay=False),
              help="Prepared data directory (default: [paths] prepared_dir).")
@click.option("--artifacts", metavar="DIR|s3://BUCKET/PREFIX",
              help="Artifacts directory or S3 location (default: [paths] artifacts_dir; S3: see [s3]).")
@click.option("--run", "run_id", metavar="RUN_ID",
              help="Redo the --step(s) in this existing run, which must not be the current one (default: a "
                   "new run; with --step it starts as a copy of the current run).")
@click.option("--force", is_flag=True,
              help="Rerun every step in a new, empty run (default: continue a run that did not finish, or "
                   "copy the current run, and skip the steps whose data, code and settings are unchanged).")
@click.option("--progress/--no-progress", default=True, help="Show tqdm progress bars.")
@click.option("--no-tune", is_flag=True,
              help="Do not tune: the [als] and [ranker] keys left to tuning take their defaults "
                   "(as [tuning] enabled = false).")
def train_command(
    steps: tuple[str, ...], prepared: Path | None, artifacts: str | None, run_id: str | None, force: bool,
    progress: bool, no_tune: bool,
) -> None:
    """Train: split -> tune -> popular -> als -> similar -> ranker -> blend -> evaluate -> export.

    Models are fit on the listens before the split date; the same artifacts are evaluated and served.
    ``tune`` chooses the [als] and [ranker] settings not given explicitly on the end of the train period.
    The run is written to ARTIFACTS/runs/<run-id>/; ARTIFACTS/CURRENT is switched to it only when every
    step succeeded and the run holds what the services need. A step whose prepared data, code and settings
    are those of its last successful run is skipped (a killed train continues where it stopped; a changed
    [ranker] key reruns the ranker and what follows); --force or --step reruns.
    """
    from musicrec.pipeline.publish import train_run  # heavy imports only when the command runs
    from musicrec.storage.errors import S3StoreError
    from musicrec.storage.runs import RunError, RunStore

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if no_tune:
        off = settings.tuning.model_copy(update={"enabled": False})
        settings = settings.model_copy(update={"tuning": off})
    try:
        runs = RunStore.open(artifacts or settings.paths.artifacts_dir, settings)
    except ValueError as exc:  # s3:// without a bucket
        raise click.ClickException(str(exc)) from None
    try:
        done = train_run(settings, runs, steps, prepared_dir=prepared, run_id=run_id, show_progress=progress,
                         resume=not force and not steps and run_id is None)
    except (MissingInputError, SplitError, S3StoreError, RunError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"artifacts in {done.location} (see manifest.json)")
    if done.switched:
        click.echo(f"{runs.location}/CURRENT -> {done.run_id}")
        if done.pruned:
            click.echo(f"deleted old runs ([runs] keep = {settings.runs.keep}): {', '.join(done.pruned)}")
    else:
        click.echo(f"run {done.run_id} lacks {', '.join(done.missing)}: CURRENT not switched (add steps with "
                   f"`--run {done.run_id} --step ...`, then `python -m musicrec runs promote {done.run_id}`)")
