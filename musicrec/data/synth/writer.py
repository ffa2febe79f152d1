"""Write the three raw files of a synthetic dataset, streaming the interactions chunk by chunk of users.

The output is a pure function of ``(users, tracks, events, seed)``: every random stream is a numpy
Generator seeded from those four numbers and the stream's position (catalogue, users, chunk k), the
chunk size is a constant, and the parquet writer settings are fixed, so the same arguments give
byte-identical files on any machine with the same library versions.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from musicrec.columns import Raw
from musicrec.data.synth.catalog import BACK_CATALOGUE, build_catalog, catalog_tables
from musicrec.data.synth.history import chunk_listens
from musicrec.data.synth.users import MAX_LISTENS, SPLIT_DAY, build_users
from musicrec.files import CATALOG_NAMES, INTERACTIONS, RAW_FILES, TRACKS

log = logging.getLogger(__name__)

CHUNK_USERS = 16_384  # part of the output's definition: changing it changes the files
MAX_USERS = 200_000_000  # user ids stay well inside int32
MAX_TRACKS = 100_000_000  # sparse track ids stay inside int32
WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True}
INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field(Raw.UserId, pa.int32()),
        pa.field(Raw.TrackId, pa.int32()),
        pa.field(Raw.TrackSeq, pa.int16()),
        pa.field(Raw.StartedAt, pa.timestamp("ns")),
    ]
)
_YEAR_START_NS = np.datetime64("2022-01-01", "ns").astype(np.int64)
_DAY_NS = 86_400 * 10**9


class SynthError(ValueError):
    """Arguments that cannot describe a dataset; the message names the parameter."""


@dataclass
class SynthSummary:
    """What was generated (printed by the CLI, asserted by tests)."""

    out_dir: Path
    users: int
    tracks: int
    events: int
    artists: int
    albums: int
    genres: int
    new_release_tracks: int  # released during 2022
    never_played_tracks: int
    plays_median: float  # over played tracks
    plays_mean: float
    plays_max: int
    top1_share: float  # share of listens of the 1% most played tracks
    listens_median: float  # per user
    listens_max: int
    test_users: int  # users with a listen on or after 2022-12-16
    cold_users: int  # test users whose first listen is on or after 2022-12-16
    seconds: float = 0.0
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes

    def lines(self) -> list[str]:
        cold_share = self.cold_users / max(self.test_users, 1)
        sizes = ", ".join(f"{name} {size / 2**20:,.1f} MiB" for name, size in self.files.items())
        return [
            f"wrote {self.out_dir} in {self.seconds:.1f} s: {sizes}",
            f"catalogue: {self.tracks:,} tracks, {self.albums:,} albums, {self.artists:,} artists, "
            f"{self.genres} genres; {self.new_release_tracks:,} tracks released during 2022",
            f"listens: {self.events:,} by {self.users:,} users (per user median {self.listens_median:,.0f}, "
            f"max {self.listens_max:,})",
            f"plays per played track: median {self.plays_median:,.0f}, mean {self.plays_mean:,.1f}, "
            f"max {self.plays_max:,}; top 1% of tracks take {self.top1_share:.1%} of listens; "
            f"{self.never_played_tracks:,} tracks never played "
            f"({self.never_played_tracks / self.tracks:.1%})",
            f"test period (from 2022-12-16): {self.test_users:,} users ({self.test_users / self.users:.1%}), "
            f"{self.cold_users:,} of them cold ({cold_share:.1%})",
        ]


def _rng(seed: int, users: int, tracks: int, events: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, users, tracks, events], spawn_key=(stream,)))


def check_arguments(users: int, tracks: int, events: int, seed: int) -> None:
    """Raise :class:`SynthError` naming the parameter when the numbers cannot make a dataset."""
    for name, value, low, high in (("users", users, 1, MAX_USERS), ("tracks", tracks, 1, MAX_TRACKS),
                                   ("seed", seed, 0, 2**63 - 1)):
        if not low <= value <= high:
            raise SynthError(f"--{name} must be in {low:,}..{high:,}, got {value:,}")
    if events < users:
        raise SynthError(
            f"--events ({events:,}) must be at least --users ({users:,}): every user listens at least once"
        )
    if events > users * min(tracks, MAX_LISTENS):
        raise SynthError(
            f"--events ({events:,}) exceeds --users x --tracks ({users:,} x {min(tracks, MAX_LISTENS):,}): "
            f"a user hears a track at most once (and at most {MAX_LISTENS:,} tracks, track_seq is int16)"
        )


def generate(users: int, tracks: int, events: int, seed: int, out_dir: Path | str,
             show_progress: bool = False) -> SynthSummary:
    """Write ``tracks.parquet``, ``catalog_names.parquet`` and ``interactions.parquet`` to ``out_dir``.

    Exactly ``events`` listens by exactly ``users`` users (each at least one) over a catalogue of
    ``tracks`` tracks. Existing files of those names are replaced. Raises :class:`SynthError` for
    arguments that cannot make a dataset (e.g. more events than users x tracks).
    """
    start = time.perf_counter()
    check_arguments(users, tracks, events, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    cat = build_catalog(_rng(seed, users, tracks, events, 0), tracks)
    capacity = min(cat.capacity, MAX_LISTENS)
    if events > users * capacity:
        raise SynthError(
            f"--events ({events:,}) exceeds --users x {capacity:,}: in a catalogue of {tracks:,} tracks "
            f"a user can hear at most {capacity:,} distinct ones (those released before 2022); add --tracks"
        )
    tracks_table, names_table = catalog_tables(_rng(seed, users, tracks, events, 1), cat)
    pq.write_table(tracks_table, out / TRACKS, **WRITE_OPTIONS)
    pq.write_table(names_table, out / CATALOG_NAMES, **WRITE_OPTIONS)
    log.info("catalogue: %s tracks written", f"{tracks:,}")

    population = build_users(_rng(seed, users, tracks, events, 2), users, events, capacity)
    plays = np.zeros(tracks, np.int64)
    test_users = cold_users = 0
    partial = out / "interactions.parquet.partial"
    chunks = range(0, users, CHUNK_USERS)
    with pq.ParquetWriter(partial, INTERACTIONS_SCHEMA, **WRITE_OPTIONS) as writer:
        for k, first in enumerate(tqdm(chunks, desc="users", unit="chunk", disable=not show_progress)):
            block = population.slice(first, first + CHUNK_USERS)
            listens = chunk_listens(cat, block, _rng(seed, users, tracks, events, 3 + k))
            writer.write_table(pa.Table.from_arrays([
                pa.array(block.ids[listens.user], pa.int32()),
                pa.array(cat.track_ids[listens.track].astype(np.int32), pa.int32()),
                pa.array(listens.seq.astype(np.int16), pa.int16()),
                pa.array(_YEAR_START_NS + listens.day * _DAY_NS, pa.int64()).cast(pa.timestamp("ns")),
            ], schema=INTERACTIONS_SCHEMA))
            plays += np.bincount(listens.track, minlength=tracks)
            last_day = np.zeros(len(block), np.int64)
            np.maximum.at(last_day, listens.user, listens.day)
            first_day = listens.day[listens.seq == 1]  # seq 1 rows are in user order
            test_users += int(np.count_nonzero(last_day >= SPLIT_DAY))
            cold_users += int(np.count_nonzero(first_day >= SPLIT_DAY))
    os.replace(partial, out / INTERACTIONS)

    played = np.sort(plays[plays > 0])
    top = played[len(played) - max(1, tracks // 100):]
    summary = SynthSummary(
        out_dir=out, users=users, tracks=tracks, events=events,
        artists=len(cat.artist_range), albums=len(cat.album_range),
        genres=len(np.unique(tracks_table.column(Raw.Genres).combine_chunks().flatten())),
        new_release_tracks=int(np.count_nonzero(cat.track_release != BACK_CATALOGUE)),
        never_played_tracks=int(np.count_nonzero(plays == 0)),
        plays_median=float(np.median(played)), plays_mean=float(played.mean()), plays_max=int(played[-1]),
        top1_share=float(top.sum() / events),
        listens_median=float(np.median(population.listens)), listens_max=int(population.listens.max()),
        test_users=test_users, cold_users=cold_users,
        seconds=time.perf_counter() - start,
        files={name: (out / name).stat().st_size for name in RAW_FILES},
    )
    return summary
