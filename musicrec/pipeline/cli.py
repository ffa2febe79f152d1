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
@click.option("--progress/--no-progress", default=True, help="Show tqdm progress bars.")
def train_command(
    steps: tuple[str, ...], prepared: Path | None, artifacts: str | None, progress: bool
) -> None:
    """Train: split -> popular -> als -> similar -> ranker -> evaluate -> export.

    Models are fit on the listens before the split date; the same artifacts are evaluated and served.
    """
    from musicrec.pipeline.runner import run_pipeline  # heavy imports only when the command runs
    from musicrec.storage.location import open_store
    from musicrec.storage.s3 import S3StoreError

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        store = open_store(artifacts or settings.paths.artifacts_dir, settings)
    except ValueError as exc:  # s3:// without a bucket
        raise click.ClickException(str(exc)) from None
    try:
        run_pipeline(settings, steps, prepared_dir=prepared, store=store, show_progress=progress)
    except (MissingInputError, SplitError, S3StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"artifacts in {store.describe('')} (see manifest.json)")
