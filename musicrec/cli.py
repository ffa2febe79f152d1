"""The ``python -m musicrec`` command line. Each area owns its sub-commands in its own module."""

from __future__ import annotations

import importlib
import sys

import click

from musicrec.config import ConfigError


class LazyGroup(click.Group):
    """A click group whose commands are ``(module, attribute)`` pairs imported on first use.

    `--help` stays fast and one area's heavy imports (catboost, uvicorn) are not paid by another's
    command.
    """

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy:
            return None
        module, attr = self.lazy[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise click.ClickException(f"command {name!r} is not available: {exc}") from exc


@click.group(
    cls=LazyGroup,
    lazy={
        "data": ("musicrec.data.cli", "data"),
        "prepare": ("musicrec.data.prepare", "prepare_command"),
        "train": ("musicrec.pipeline.cli", "train_command"),
        "serve": ("musicrec.services.cli", "serve_command"),
        "runs": ("musicrec.storage.cli", "runs"),
    },
)
def main() -> None:
    """musicrec: synthetic/real data, training pipeline and recommendation services."""


def run() -> None:
    try:
        main(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
