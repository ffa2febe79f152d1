"""``python -m musicrec runs list|promote RUN_ID|rollback``: the versioned runs of an artifacts location."""

from __future__ import annotations

import click

from musicrec.config import load_settings

ARTIFACTS = click.option("--artifacts", metavar="DIR|s3://BUCKET/PREFIX",
                         help="Artifacts location (default: [paths] artifacts_dir).")


def _runs(artifacts: str | None):
    from musicrec.storage.runs import RunStore

    settings = load_settings()
    try:
        return RunStore.open(artifacts or settings.paths.artifacts_dir, settings), settings
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _guard(call):
    from musicrec.storage.errors import S3StoreError
    from musicrec.storage.runs import RunError

    try:
        return call()
    except (RunError, S3StoreError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group("runs")
def runs() -> None:
    """List the training runs, switch the current one, roll back."""


@runs.command("list")
@ARTIFACTS
def list_command(artifacts: str | None) -> None:
    """One line per run, oldest first: id, time, data fingerprint, key metrics; `*` marks the current one."""
    store, _ = _runs(artifacts)
    infos = _guard(store.list)
    if not infos:
        click.echo(f"no runs in {store.location}/runs/" + ("" if store.current() else
                                                          " (run `python -m musicrec train`)"))
        return
    for info in infos:
        metrics = " ".join(f"{name}={value:g}" for name, value in info.metrics.items()) or "-"
        problem = info.problem()
        state = f"  not servable: {problem}" if problem else ""
        click.echo(f"{'*' if info.current else ' '} {info.run_id}  {info.created_at or '-':25}  "
                   f"data={info.data_sha256[:12] or '-':12}  {metrics}{state}")


@runs.command("promote")
@ARTIFACTS
@click.argument("run_id")
def promote_command(artifacts: str | None, run_id: str) -> None:
    """Make RUN_ID the current run (the services load it at their next reload)."""
    store, _ = _runs(artifacts)
    _guard(lambda: store.switch(run_id))
    click.echo(f"{store.location}/CURRENT -> {run_id}")


@runs.command("rollback")
@ARTIFACTS
def rollback_command(artifacts: str | None) -> None:
    """Make the run that was current before the current one current again."""
    store, _ = _runs(artifacts)
    pointer = _guard(store.rollback)
    click.echo(f"{store.location}/CURRENT -> {pointer['run_id']}")


@runs.command("prune")
@ARTIFACTS
def prune_command(artifacts: str | None) -> None:
    """Delete old runs as `train` does after a switch ([runs] keep)."""
    store, settings = _runs(artifacts)
    pruned = _guard(lambda: store.prune(settings.runs.keep))
    click.echo(f"deleted: {', '.join(pruned)}" if pruned else "nothing to delete")
