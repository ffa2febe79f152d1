"""Synthetic Yandex-Music-like raw data in exactly the real files' schema.

``python -m musicrec data synth --users N --tracks M --events E --seed S --out DIR`` or
:func:`generate` from Python. Modules: ``names`` (genre families, made-up names), ``catalog``
(genres/artists/albums/tracks, popularity, release days), ``users`` (activity, active interval,
mainstream-ness), ``listens`` (runs of tracks from taste, popularity and new releases), ``history``
(distinct listens per user, in time order), ``writer`` (streaming writer and summary).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from musicrec.data.synth.writer import SynthError, SynthSummary, generate

__all__ = ["SynthError", "SynthSummary", "generate", "synth_command"]


@click.command("synth")
@click.option("--users", type=int, required=True, help="Number of users (each listens at least once).")
@click.option("--tracks", type=int, required=True, help="Number of tracks in the catalogue.")
@click.option("--events", type=int, required=True, help="Number of listens, exactly (no repeated pairs).")
@click.option("--seed", type=int, default=42, show_default=True, help="Same arguments, same bytes.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for tracks.parquet, catalog_names.parquet, interactions.parquet.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth_command(users: int, tracks: int, events: int, seed: int, out_dir: Path, quiet: bool) -> None:
    """Generate synthetic raw data in the Yandex Music schema (replaces files of the same names).

    \b
    1/10 of the real size (~40 s):  --users 137272 --tracks 100000 --events 22262990
    real size (~5 min, 1.2 GB):     --users 1372715 --tracks 1000000 --events 222629898
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        summary = generate(users, tracks, events, seed, out_dir, show_progress=not quiet)
    except SynthError as exc:
        raise click.UsageError(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
