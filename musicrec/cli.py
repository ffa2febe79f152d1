"""The ``python -m musicrec`` command line. Each area owns its sub-commands in its own module."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from musicrec.config import ConfigError

# (module, attribute) of each click command or group; imported lazily so that `--help` stays fast
# and one area's heavy imports (catboost, uvicorn) are not paid by another's command.
_COMMANDS = {
    "data": ("musicrec.data.cli", "data"),
    "prepare": ("musicrec.data.cli", "prepare"),
    "train": ("musicrec.pipeline.cli", "train"),
    "serve": ("musicrec.services.cli", "serve"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # Areas not built yet are left out of --help instead of breaking it.
        return sorted(name for name, (module, _) in _COMMANDS.items() if importlib.util.find_spec(module))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise click.ClickException(f"command {name!r} is not available: {exc}") from exc


@click.group(cls=_LazyGroup)
def main() -> None:
    """musicrec: synthetic/real data, training pipeline and recommendation services."""


def run() -> None:
    try:
        main(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
