"""Show recommended track ids as a readable table: track, artists and genres by name.

Names come from ``items.parquet`` in the artifacts directory; only the rows asked for are read. When the
file (or a track) is missing the table shows the ids alone, so a fresh checkout still works.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from musicrec.columns import Columns as C

log = logging.getLogger(__name__)

ITEMS_FILE = "items.parquet"


@dataclass(frozen=True)
class Track:
    """What a person recognises a track by."""

    name: str
    artists: str
    genres: str


def load_tracks(artifacts_dir: Path, item_ids: Sequence[int]) -> dict[int, Track]:
    """Names of ``item_ids`` from ``items.parquet``; empty when the file is missing or unreadable."""
    path = Path(artifacts_dir) / ITEMS_FILE
    ids = sorted({int(i) for i in item_ids})
    if not ids or not path.exists():
        return {}
    try:
        names = pq.read_schema(path).names
        columns = [c for c in (C.Item, C.Name, C.Artists, C.Genres) if c in names]
        table = pq.read_table(path, columns=columns, filters=[(C.Item, "in", ids)]).to_pylist()
    except Exception as exc:  # noqa: BLE001 - names are a nicety: show ids rather than fail
        log.warning("cannot read track names from %s: %s", path, exc)
        return {}
    return {
        int(row[C.Item]): Track(
            name=str(row.get(C.Name) or ""),
            artists=_join(row.get(C.Artists)),
            genres=_join(row.get(C.Genres)),
        )
        for row in table
    }


def _join(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def format_table(
    item_ids: Sequence[int], tracks: dict[int, Track], sources: Sequence[str] | None = None, width: int = 40
) -> str:
    """A fixed-width table, one row per recommended track, in the given order.

    >>> print(format_table([7, 9], {7: Track("Song", "Band", "rock")}))
    #  item_id  track  artists  genres
    1        7  Song   Band     rock
    2        9  ?      ?        ?
    """
    headers = ["#", "item_id", "track", "artists", "genres"] + (["source"] if sources else [])
    rows = []
    for pos, item in enumerate(item_ids, start=1):
        track = tracks.get(int(item))
        cells = [str(pos), str(item)]
        names = (track.name, track.artists, track.genres) if track else ("?", "?", "?")
        cells += [_cut(text, width) for text in names]
        if sources:
            cells.append(sources[pos - 1] if pos - 1 < len(sources) else "")
        rows.append(cells)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    numeric = {0, 1}

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(parts).rstrip()

    return "\n".join(line(r) for r in [headers, *rows])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
