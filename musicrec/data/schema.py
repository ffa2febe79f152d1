"""The raw data contract: three parquet files, checked once at the border.

The description is declarative (:data:`RAW_FILES`); :func:`validate_raw` checks every file against it
through the parquet *schema* and footer only, so a 5 GB ``interactions.parquet`` is validated without
reading its rows. Everything that goes wrong raises :class:`RawDataError` with a one-line message that
names the file, the column, what was expected and what was found; the CLI prints it without a traceback
and exits with code 2 (:func:`exit_2_on_raw_data_error`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import click
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import files
from musicrec.columns import Raw

CATALOG_TYPES = ("album", "artist", "genre", "track")


class RawDataError(ValueError):
    """A raw file is missing or breaks the contract; the message is one line naming file and column."""


class Kind(Enum):
    """What a raw column must hold; each kind accepts the real file's dtype and compatible ones."""

    INTEGER = "integer (int8..int64, uint8..uint32)"
    STRING = "string"
    INTEGER_LIST = "list of integers"
    TIMESTAMP = "timestamp (any unit) or date"

    def accepts(self, dtype: pa.DataType) -> bool:
        if self is Kind.INTEGER:
            return _is_integer(dtype)
        if self is Kind.STRING:
            if pa.types.is_dictionary(dtype):
                return Kind.STRING.accepts(dtype.value_type)
            return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or _is_string_view(dtype)
        if self is Kind.INTEGER_LIST:
            return _is_list(dtype) and _is_integer(dtype.value_type)
        return pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)


def _is_integer(dtype: pa.DataType) -> bool:
    # uint64 could overflow the int64 ids downstream, so it is refused.
    unsigned = pa.types.is_unsigned_integer(dtype) and dtype.bit_width <= 32
    return pa.types.is_signed_integer(dtype) or unsigned


def _is_string_view(dtype: pa.DataType) -> bool:
    return getattr(pa.types, "is_string_view", lambda _: False)(dtype)


def _is_list(dtype: pa.DataType) -> bool:
    checks = ("is_list", "is_large_list", "is_list_view", "is_large_list_view", "is_fixed_size_list")
    return any(getattr(pa.types, name, lambda _: False)(dtype) for name in checks)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str  # the dtype of the real file, shown in error messages
    kind: Kind
    nullable: bool = False


@dataclass(frozen=True)
class FileSpec:
    filename: str
    columns: tuple[ColumnSpec, ...]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


TRACKS = FileSpec(
    files.TRACKS,
    (
        ColumnSpec(Raw.TrackId, "int64", Kind.INTEGER),
        ColumnSpec(Raw.Albums, "list<int64>", Kind.INTEGER_LIST, nullable=True),
        ColumnSpec(Raw.Artists, "list<int64>", Kind.INTEGER_LIST, nullable=True),
        ColumnSpec(Raw.Genres, "list<int64>", Kind.INTEGER_LIST, nullable=True),
    ),
)
CATALOG_NAMES = FileSpec(
    files.CATALOG_NAMES,
    (
        ColumnSpec(Raw.Id, "int64", Kind.INTEGER),
        ColumnSpec(Raw.Type, "string", Kind.STRING),
        ColumnSpec(Raw.Name, "string", Kind.STRING, nullable=True),
    ),
)
INTERACTIONS = FileSpec(
    files.INTERACTIONS,
    (
        ColumnSpec(Raw.UserId, "int32", Kind.INTEGER),
        ColumnSpec(Raw.TrackId, "int32", Kind.INTEGER),
        ColumnSpec(Raw.TrackSeq, "int16", Kind.INTEGER),
        ColumnSpec(Raw.StartedAt, "timestamp", Kind.TIMESTAMP),
    ),
)
RAW_FILES = (TRACKS, CATALOG_NAMES, INTERACTIONS)


@dataclass(frozen=True)
class RawFile:
    """A validated raw file: its path, arrow schema and row count (from the footer)."""

    spec: FileSpec
    path: Path
    schema: pa.Schema
    num_rows: int


@dataclass(frozen=True)
class RawData:
    """The three validated raw files of one directory."""

    tracks: RawFile
    catalog_names: RawFile
    interactions: RawFile


def validate_file(raw_dir: Path | str, spec: FileSpec) -> RawFile:
    """Check a file's presence, columns, dtypes and key nulls from its footer only (no rows read)."""
    path = Path(raw_dir) / spec.filename
    if not path.is_file():
        expected = ", ".join(f"{c.name} {c.dtype}" for c in spec.columns)
        raise RawDataError(f"{spec.filename}: file not found in {raw_dir} (expected columns: {expected})")
    try:
        metadata = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise RawDataError(f"{spec.filename}: not a readable parquet file ({_one_line(exc)})") from None
    for column in spec.columns:
        if column.name not in schema.names:
            found = ", ".join(schema.names) or "none"
            raise RawDataError(
                f"{spec.filename}: column {column.name!r} is missing "
                f"(expected {column.dtype}); found columns: {found}"
            )
        found_type = schema.field(column.name).type
        if not column.kind.accepts(found_type):
            raise RawDataError(
                f"{spec.filename}: column {column.name!r}: expected {column.dtype} "
                f"({column.kind.value}), found {found_type}"
            )
        if not column.nullable and (nulls := _null_count(metadata, column.name)):
            raise RawDataError(f"{spec.filename}: column {column.name!r}: expected no nulls, found {nulls:,}")
    return RawFile(spec, path, schema, metadata.num_rows)


def _null_count(metadata: pq.FileMetaData, name: str) -> int:
    """Nulls of a flat column summed from row-group statistics (0 when the writer kept none)."""
    # Parquet numbers leaf columns, not arrow fields: find the leaf by its path.
    leaves = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if name not in leaves:
        return 0
    index = leaves.index(name)
    total = 0
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is not None and stats.has_null_count:
            total += stats.null_count
    return total


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def validate_catalog_types(raw_file: RawFile) -> None:
    """Refuse ``type`` values outside :data:`CATALOG_TYPES` (reads only that one column)."""
    found = (
        pl.scan_parquet(raw_file.path)
        .select(pl.col(Raw.Type).cast(pl.String))
        .group_by(Raw.Type)
        .len()
        .sort(Raw.Type, nulls_last=True)
        .collect()
    )
    bad = found.filter(pl.col(Raw.Type).is_null() | ~pl.col(Raw.Type).is_in(CATALOG_TYPES))
    if bad.height:
        values = ", ".join(f"{value!r} ({count:,} rows)" for value, count in bad.iter_rows())
        raise RawDataError(
            f"{raw_file.spec.filename}: column {Raw.Type!r}: expected one of "
            f"{{{', '.join(CATALOG_TYPES)}}}, found {values}"
        )


def validate_raw(raw_dir: Path | str) -> RawData:
    """Validate the three raw files of ``raw_dir`` and return them; raise :class:`RawDataError` otherwise."""
    tracks, catalog, interactions = (validate_file(raw_dir, spec) for spec in RAW_FILES)
    validate_catalog_types(catalog)
    return RawData(tracks, catalog, interactions)


@dataclass(frozen=True)
class ReferenceReport:
    """Interactions whose track is not in ``tracks.parquet`` (counted, not fatal)."""

    interactions: int
    unknown_track_interactions: int
    unknown_tracks: int


def check_references(raw: RawData) -> ReferenceReport:
    """Count interactions that reference tracks absent from ``tracks.parquet``, streaming over the file."""
    known = pl.scan_parquet(raw.tracks.path).select(pl.col(Raw.TrackId).cast(pl.Int64)).unique()
    unknown = (
        pl.scan_parquet(raw.interactions.path)
        .select(pl.col(Raw.TrackId).cast(pl.Int64))
        .join(known, on=Raw.TrackId, how="anti")
        .select(pl.len().alias("rows"), pl.col(Raw.TrackId).n_unique().alias("tracks"))
        .collect(engine="streaming")
    )
    rows, tracks = unknown.row(0)
    return ReferenceReport(raw.interactions.num_rows, rows, tracks)


class _ExitCode2(click.ClickException):
    exit_code = 2


@contextmanager
def exit_2_on_raw_data_error() -> Iterator[None]:
    """In a click command: print a :class:`RawDataError` as ``Error: <message>`` and exit with code 2."""
    try:
        yield
    except RawDataError as exc:
        raise _ExitCode2(str(exc)) from None
