"""`python -m musicrec data ...`: generate or import raw data."""

from __future__ import annotations

import click

from musicrec.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "synth": ("musicrec.data.synth", "synth_command"),
        "movielens": ("musicrec.data.movielens", "movielens_command"),
    },
)
def data() -> None:
    """Raw data: generate synthetic Yandex-Music-like files or import a real dataset."""
