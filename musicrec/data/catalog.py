"""The item catalogue: ``tracks.parquet`` + ``catalog_names.parquet`` -> one row per track with names.

Names are resolved per type (album 1 and genre 1 are different things). Every list is sorted by
catalogue id and the name lists are aligned with the id lists, so the output never depends on hash
order or on the order of the raw files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from musicrec.columns import Columns, Raw
from musicrec.data.schema import RawData, RawDataError

# (raw list column of tracks.parquet, catalogue type, prepared column of names, prepared column of ids)
ATTRIBUTES = (
    (Raw.Artists, "artist", Columns.Artists, Columns.ArtistIds),
    (Raw.Albums, "album", Columns.Albums, Columns.AlbumIds),
    (Raw.Genres, "genre", Columns.Genres, Columns.GenreIds),
)
ITEMS_SCHEMA = pa.schema(
    [
        pa.field(Columns.Item, pa.int32(), nullable=False),
        pa.field(Columns.Name, pa.string(), nullable=False),
        *(pa.field(a[2], pa.list_(pa.string()), nullable=False) for a in ATTRIBUTES),
        *(pa.field(a[3], pa.list_(pa.int32()), nullable=False) for a in ATTRIBUTES),
    ]
)


@dataclass
class CatalogStats:
    tracks: int = 0
    required: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    unnamed_ids: dict[str, int] = field(default_factory=dict)
    duplicate_names: int = 0
    dropped: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={Raw.TrackId: pl.Int64}))


def build_items(raw: RawData, keep_incomplete: bool = False) -> tuple[pl.DataFrame, CatalogStats]:
    """Items sorted by ``item_id``, and what was dropped or could not be named.

    A track is complete when it has a name and at least one id of each attribute the dataset has at
    all. An attribute no track has (MovieLens has no artists or albums) is not required, otherwise
    every track would be dropped; it is listed in ``CatalogStats.absent``. ``keep_incomplete`` keeps
    every track: a missing track name becomes ``"track <id>"``, empty lists stay empty. An id without
    a name of its type is named ``"<type> <id>"`` and counted in ``unnamed_ids``.
    """
    tracks = _read_tracks(raw)
    names, duplicates = _read_names(raw)
    stats = CatalogStats(tracks=tracks.height, duplicate_names=duplicates, required=[Columns.Name])
    items = tracks.select(pl.col(Raw.TrackId)).join(
        names.filter(pl.col(Raw.Type) == "track").select(pl.col(Raw.Id).alias(Raw.TrackId), Raw.Name),
        on=Raw.TrackId,
        how="left",
        maintain_order="left",
    )
    complete = pl.col(Raw.Name).is_not_null()
    for raw_column, kind, names_column, ids_column in ATTRIBUTES:
        pairs = (
            tracks.select(Raw.TrackId, pl.col(raw_column).alias(Raw.Id))
            .explode(Raw.Id)
            .drop_nulls(Raw.Id)
            .unique()
            .sort(Raw.TrackId, Raw.Id)
            .join(names.filter(pl.col(Raw.Type) == kind).drop(Raw.Type), on=Raw.Id, how="left",
                  maintain_order="left")
        )
        check_int32(pairs[Raw.Id], raw.tracks.spec.filename, raw_column)
        stats.unnamed_ids[kind] = pairs.filter(pl.col(Raw.Name).is_null())[Raw.Id].n_unique()
        lists = pairs.group_by(Raw.TrackId, maintain_order=True).agg(
            pl.col(Raw.Name).fill_null(pl.format(f"{kind} {{}}", pl.col(Raw.Id))).alias(names_column),
            pl.col(Raw.Id).cast(pl.Int32).alias(ids_column),
        )
        items = items.join(lists, on=Raw.TrackId, how="left", maintain_order="left").with_columns(
            pl.col(names_column).fill_null(pl.lit([], pl.List(pl.String))),
            pl.col(ids_column).fill_null(pl.lit([], pl.List(pl.Int32))),
        )
        if pairs.height:
            stats.required.append(names_column)
            complete = complete & (pl.col(ids_column).list.len() > 0)
        else:
            stats.absent.append(names_column)
    items = items.with_columns(complete.alias("complete"))
    if keep_incomplete:
        items = items.with_columns(pl.col(Raw.Name).fill_null(pl.format("track {}", pl.col(Raw.TrackId))))
    else:
        stats.dropped = items.filter(~pl.col("complete")).select(Raw.TrackId)
        items = items.filter(pl.col("complete"))
    items = items.with_columns(pl.col(Raw.TrackId).cast(pl.Int32).alias(Columns.Item))
    return items.sort(Columns.Item).select(ITEMS_SCHEMA.names), stats


def _read_tracks(raw: RawData) -> pl.DataFrame:
    columns = [Raw.TrackId, *(a[0] for a in ATTRIBUTES)]
    tracks = pl.read_parquet(raw.tracks.path, columns=columns).with_columns(
        pl.col(Raw.TrackId).cast(pl.Int64), *(pl.col(a[0]).cast(pl.List(pl.Int64)) for a in ATTRIBUTES)
    )
    duplicated = tracks.filter(pl.col(Raw.TrackId).is_duplicated())[Raw.TrackId]
    if duplicated.len():
        raise RawDataError(
            f"{raw.tracks.spec.filename}: column {Raw.TrackId!r}: expected unique ids, found "
            f"{duplicated.n_unique():,} repeated (e.g. {duplicated.min()})"
        )
    check_int32(tracks[Raw.TrackId], raw.tracks.spec.filename, Raw.TrackId)
    return tracks


def _read_names(raw: RawData) -> tuple[pl.DataFrame, int]:
    """Names per (type, id); where a pair repeats, the smallest name wins so the result is stable."""
    names = (
        pl.read_parquet(raw.catalog_names.path, columns=[Raw.Id, Raw.Type, Raw.Name])
        .with_columns(
            pl.col(Raw.Id).cast(pl.Int64), pl.col(Raw.Type).cast(pl.String), pl.col(Raw.Name).cast(pl.String)
        )
        .drop_nulls(Raw.Name)
    )
    unique = names.group_by(Raw.Type, Raw.Id).agg(pl.col(Raw.Name).min())
    return unique, names.height - unique.height


def check_int32(values: pl.Series, filename: str, column: str) -> None:
    """Prepared ids are int32: an id beyond that range is a data error, not a silent wrap-around."""
    if values.len() and (values.min() < -(2**31) or values.max() >= 2**31):
        raise RawDataError(
            f"{filename}: column {column!r}: expected ids that fit int32, "
            f"found {values.min()}..{values.max()}"
        )


def track_artists(items: pl.DataFrame) -> pl.DataFrame:
    """Each track's artist, the first of its ``artist_ids``: ``item_id, artist_id`` (int64), for the
    tracks that have one (none without the column, e.g. MovieLens).

    >>> items = pl.DataFrame({"item_id": [1, 2, 3], "artist_ids": [[7, 8], [], [9]]})
    >>> track_artists(items).rows()
    [(1, 7), (3, 9)]
    """
    if Columns.ArtistIds not in items.columns:
        return pl.DataFrame(schema={Columns.Item: pl.Int64, Columns.Artist: pl.Int64})
    return items.select(
        pl.col(Columns.Item).cast(pl.Int64),
        pl.col(Columns.ArtistIds).list.first().cast(pl.Int64).alias(Columns.Artist),
    ).drop_nulls()


def list_column(items: pl.DataFrame, ids: str, names: str) -> str | None:
    """The column of ``items`` that lists a track's genres (or artists): ``ids`` (e.g.
    ``Columns.GenreIds``) when present, else ``names`` (``Columns.Genres``), else None.

    >>> list_column(pl.DataFrame({"genres": [["rock"]]}), Columns.GenreIds, Columns.Genres)
    'genres'
    """
    return ids if ids in items.columns else names if names in items.columns else None
