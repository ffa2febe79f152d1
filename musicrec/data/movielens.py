"""``python -m musicrec data movielens DIR``: MovieLens 100k -> the raw Yandex Music schema.

Mapping, and what is deliberately *not* invented:

* movies become tracks (``track_id`` = MovieLens item id, ``track`` name = the title as the layout
  gives it: RecBole strips the year, ``u.item`` keeps "Toy Story (1995)");
* their genres become genres, named as in the data; genre ids are 1.. in the alphabetical order of the
  names, so both layouts give the same ids. MovieLens' "unknown" genre flag means "no genre": it gives
  an empty list, not a genre; the placeholder title "unknown" likewise gives no track name;
* every rating becomes one listen (the rating value is dropped: a rating is an interaction whatever its
  value); ``track_seq`` numbers each user's ratings 1.. by timestamp (ties: by item id) and
  ``started_at`` is the unix timestamp;
* MovieLens has no artists and no albums, so both lists are empty. A fake artist per genre combination
  or per release year would make artist-based similarity look meaningful when it is not. ``prepare``
  therefore does not require an attribute no track has (see :mod:`musicrec.data.catalog`).

Two layouts are read: RecBole atomic files (``ml-100k.inter`` + ``ml-100k.item``, tab separated,
``name:type`` headers, UTF-8) and the original GroupLens files (``u.data`` tab separated, ``u.item``
pipe separated in latin-1 with 19 genre flags whose names come from ``u.genre``, or MovieLens'
documented list when ``u.genre`` is absent).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import click
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.columns import Raw
from musicrec.data.schema import CATALOG_NAMES, INTERACTIONS, TRACKS, RawDataError, exit_2_on_raw_data_error

# Column order of u.genre in the MovieLens 100k README (used only when u.genre is missing).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
NO_GENRE = "unknown"
NO_TITLE = ("unknown", "unkonwn")  # RecBole's file spells the placeholder of item 267 "unkonwn"


@dataclass(frozen=True)
class Movie:
    item_id: int
    title: str | None
    genres: tuple[str, ...]


@dataclass(frozen=True)
class ImportSummary:
    layout: str
    out_dir: Path
    tracks: int
    genres: int
    users: int
    interactions: int

    def __str__(self) -> str:
        return (
            f"MovieLens ({self.layout}) -> {self.out_dir}: {self.tracks:,} tracks, {self.genres} genres, "
            f"{self.interactions:,} listens of {self.users:,} users"
        )


def import_movielens(src_dir: Path | str, out_dir: Path | str) -> ImportSummary:
    """Convert MovieLens 100k in ``src_dir`` (either layout) into the three raw files in ``out_dir``."""
    src = Path(src_dir)
    if len(inter := sorted(src.glob("*.inter"))) == 1 and inter[0].with_suffix(".item").is_file():
        layout, movies = "recbole", _recbole_items(inter[0].with_suffix(".item"))
        ratings = _recbole_inter(inter[0])
    elif (src / "u.data").is_file() and (src / "u.item").is_file():
        layout, movies, ratings = "grouplens", _grouplens_items(src), _grouplens_data(src / "u.data")
    else:
        raise RawDataError(
            f"{src}: no MovieLens files found (expected ml-100k.inter + ml-100k.item, or u.data + u.item)"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    genre_ids = {name: i for i, name in enumerate(sorted({g for m in movies for g in m.genres}), 1)}
    movies = sorted(movies, key=lambda m: m.item_id)
    pq.write_table(_tracks_table(movies, genre_ids), out / TRACKS.filename)
    pq.write_table(_names_table(movies, genre_ids), out / CATALOG_NAMES.filename)
    interactions = _interactions_table(ratings)
    pq.write_table(interactions, out / INTERACTIONS.filename, row_group_size=1_000_000)
    users = len(set(interactions[Raw.UserId].to_pylist()))
    return ImportSummary(layout, out, len(movies), len(genre_ids), users, interactions.num_rows)


def _tracks_table(movies: list[Movie], genre_ids: dict[str, int]) -> pa.Table:
    ids = pa.list_(pa.int64())
    return pa.table(
        {
            Raw.TrackId: pa.array([m.item_id for m in movies], pa.int64()),
            Raw.Albums: pa.array([[] for _ in movies], ids),
            Raw.Artists: pa.array([[] for _ in movies], ids),
            Raw.Genres: pa.array([sorted(genre_ids[g] for g in m.genres) for m in movies], ids),
        }
    )


def _names_table(movies: list[Movie], genre_ids: dict[str, int]) -> pa.Table:
    genres = sorted((i, "genre", name) for name, i in genre_ids.items())
    titles = [(m.item_id, "track", m.title) for m in movies if m.title is not None]
    rows = genres + titles
    return pa.table(
        {
            Raw.Id: pa.array([r[0] for r in rows], pa.int64()),
            Raw.Type: pa.array([r[1] for r in rows], pa.string()),
            Raw.Name: pa.array([r[2] for r in rows], pa.string()),
        }
    )


def _interactions_table(ratings: pl.DataFrame) -> pa.Table:
    listens = ratings.sort(Raw.UserId, "timestamp", Raw.TrackId).with_columns(
        pl.int_range(1, pl.len() + 1).over(Raw.UserId).cast(pl.Int16).alias(Raw.TrackSeq),
        pl.from_epoch(pl.col("timestamp"), time_unit="s").cast(pl.Datetime("us")).alias(Raw.StartedAt),
    )
    schema = pa.schema(
        [(Raw.UserId, pa.int32()), (Raw.TrackId, pa.int32()), (Raw.TrackSeq, pa.int16()),
         (Raw.StartedAt, pa.timestamp("us"))]
    )
    return listens.select(schema.names).to_arrow().cast(schema)


def _ratings(frame: pl.DataFrame, path: Path, columns: list[str]) -> pl.DataFrame:
    """user, item, unix seconds from the first three of ``columns``; a bad value names file and column."""
    user, item, timestamp = columns
    try:
        return frame.select(
            pl.col(user).cast(pl.Int32).alias(Raw.UserId),
            pl.col(item).cast(pl.Int32).alias(Raw.TrackId),
            pl.col(timestamp).cast(pl.Float64).cast(pl.Int64).alias("timestamp"),
        )
    except pl.exceptions.PolarsError as exc:
        reason = _first_line(exc)
        raise RawDataError(f"{path.name}: expected integer ids and unix timestamps ({reason})") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _read_tsv(path: Path, has_header: bool) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", has_header=has_header, quote_char=None, infer_schema=False)


def _recbole_header(path: Path, frame: pl.DataFrame, wanted: list[str]) -> list[str]:
    """Map ``user_id`` to the header ``user_id:token``; a missing field names the file and field."""
    by_field = {column.split(":", 1)[0]: column for column in frame.columns}
    for name in wanted:
        if name not in by_field:
            found = ", ".join(frame.columns)
            raise RawDataError(f"{path.name}: column {name!r} is missing; found columns: {found}")
    return [by_field[name] for name in wanted]


def _recbole_inter(path: Path) -> pl.DataFrame:
    frame = _read_tsv(path, has_header=True)
    return _ratings(frame, path, _recbole_header(path, frame, ["user_id", "item_id", "timestamp"]))


def _recbole_items(path: Path) -> list[Movie]:
    frame = _read_tsv(path, has_header=True)
    item, title, genres = _recbole_header(path, frame, ["item_id", "movie_title", "class"])
    movies = []
    for line, (item_id, name, classes) in enumerate(frame.select(item, title, genres).iter_rows(), 2):
        movies.append(_movie(path, line, item_id, name, (classes or "").split()))
    return movies


def _movie(path: Path, line: int, item_id: str, title: str | None, genres: list[str]) -> Movie:
    if not (item_id or "").strip().isdigit():
        raise RawDataError(f"{path.name}: line {line}: expected an integer item id, found {item_id!r}")
    title = (title or "").strip()
    return Movie(
        int(item_id),
        None if title.lower() in NO_TITLE or not title else title,
        tuple(sorted({g for g in genres if g != NO_GENRE})),
    )


def _grouplens_data(path: Path) -> pl.DataFrame:
    frame = _read_tsv(path, has_header=False)
    if frame.width != 4:
        raise RawDataError(
            f"{path.name}: expected 4 tab-separated columns (user, item, rating, time), found {frame.width}"
        )
    return _ratings(frame, path, frame.columns[:1] + frame.columns[1:2] + frame.columns[3:4])


def _grouplens_items(src: Path) -> list[Movie]:
    genre_path = src / "u.genre"
    names = list(ML100K_GENRES)
    if genre_path.is_file():
        lines = genre_path.read_text(encoding="latin-1").splitlines()
        pairs = sorted((int(i), name) for name, i in (ln.rsplit("|", 1) for ln in lines if ln.strip()))
        names = [name for _, name in pairs]
    path = src / "u.item"
    text = path.read_text(encoding="latin-1")
    movies = []
    for line, fields in enumerate(csv.reader(io.StringIO(text), delimiter="|", quoting=csv.QUOTE_NONE), 1):
        if not fields:
            continue
        if len(fields) != 5 + len(names):
            raise RawDataError(
                f"{path.name}: line {line}: expected {5 + len(names)} '|'-separated fields "
                f"(5 + {len(names)} genre flags), found {len(fields)}"
            )
        genres = [name for name, flag in zip(names, fields[5:], strict=True) if flag == "1"]
        movies.append(_movie(path, line, fields[0], fields[1], genres))
    return movies


@click.command("movielens")
@click.argument("src_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("data/movielens/raw"),
    show_default=True,
    help="Where to write tracks.parquet, catalog_names.parquet and interactions.parquet.",
)
def movielens_command(src_dir: Path, out_dir: Path) -> None:
    """Convert MovieLens 100k (RecBole ml-100k.* or GroupLens u.*) in SRC_DIR into the raw schema."""
    with exit_2_on_raw_data_error():
        summary = import_movielens(src_dir, out_dir)
    click.echo(str(summary))
    click.echo(f"next: python -m musicrec prepare --raw {out_dir} --out {out_dir.parent / 'prepared'}")
