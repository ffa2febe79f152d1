"""Show recommended track ids as a readable table: track, artists and genres by name, and why.

Names come from ``items.parquet`` of an artifact store (the current run's: ``musicrec.storage.runs.
current_store``); only the rows asked for are read. When the file (or a track) is missing the table
shows the ids alone, so a fresh checkout still works.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq

from musicrec.api import Explanation
from musicrec.columns import Columns as C
from musicrec.files import ITEMS as ITEMS_FILE
from musicrec.storage.artifacts import ArtifactStore

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Track:
    """What a person recognises a track by."""

    name: str
    artists: str
    genres: str
    artist_ids: tuple[int, ...] = ()  # aligned with artist_names
    artist_names: tuple[str, ...] = ()

    def artist(self, artist_id: int) -> str | None:
        """The name of the track's artist ``artist_id`` (None when it is not one of them)."""
        named = dict(zip(self.artist_ids, self.artist_names, strict=False))
        return named.get(artist_id)


def load_tracks(store: ArtifactStore, item_ids: Sequence[int]) -> dict[int, Track]:
    """Names of ``item_ids`` from the store's ``items.parquet``; empty when it is missing or unreadable."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return {}
    try:
        if not store.exists(ITEMS_FILE):
            return {}
        path = store.local_file(ITEMS_FILE)
        names = pq.read_schema(path).names
        columns = [c for c in (C.Item, C.Name, C.Artists, C.Genres, C.ArtistIds) if c in names]
        table = pq.read_table(path, columns=columns, filters=[(C.Item, "in", ids)]).to_pylist()
    except Exception as exc:  # noqa: BLE001 - names are a nicety: show ids rather than fail
        log.warning("cannot read track names from %s: %s", store.describe(ITEMS_FILE), exc)
        return {}
    return {
        int(row[C.Item]): Track(
            name=str(row.get(C.Name) or ""),
            artists=_join(row.get(C.Artists)),
            genres=_join(row.get(C.Genres)),
            artist_ids=tuple(int(a) for a in row.get(C.ArtistIds) or ()),
            artist_names=tuple(str(a) for a in row.get(C.Artists) or ()),
        )
        for row in table
    }


def _join(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def listens(explanations: Sequence[Explanation] | None) -> list[int]:
    """The online listens the explanations talk about (their names are needed too)."""
    return [e.listen for e in explanations or () if e.listen is not None]


def why(explanation: Explanation, item: int, tracks: dict[int, Track]) -> str:
    """One explanation in words, with track and artist names.

    >>> tracks = {7: Track("Song", "Band", "rock", (3,), ("Band",)), 9: Track("Hit", "Other", "pop")}
    >>> why(Explanation(source="online", reason="similar_to_listen", listen=9), 7, tracks)
    'similar to Hit (you just played it)'
    >>> why(Explanation(source="personal", reason="top_artist", artist_id=3), 7, tracks)
    'by Band, an artist you play most'
    """
    listen = _track_name(explanation.listen, tracks)
    reason = explanation.reason
    if reason == "similar_to_listen":
        return f"similar to {listen} (you just played it)"
    if reason == "same_artist_as_listen":
        return f"same artist as {listen} (you just played it)"
    if reason == "top_artist":
        track = tracks.get(int(item))
        artist_id = explanation.artist_id
        name = (track.artist(artist_id) if track and artist_id is not None else None) or f"artist {artist_id}"
        return f"by {name}, an artist you play most"
    if reason == "personal_taste":
        return "matches your listening history"
    if reason == "popular_now":
        return "popular now"
    return reason


def _track_name(item: int | None, tracks: dict[int, Track]) -> str:
    track = tracks.get(int(item)) if item is not None else None
    return track.name if track and track.name else f"track {item}"


def format_table(
    item_ids: Sequence[int],
    tracks: dict[int, Track],
    sources: Sequence[str] | None = None,
    width: int = 40,
    reasons: Sequence[str] | None = None,
) -> str:
    """A fixed-width table, one row per recommended track, in the given order; ``reasons``: a "why"
    column (see :func:`why`).

    >>> print(format_table([7, 9], {7: Track("Song", "Band", "rock")}))
    #  item_id  track  artists  genres
    1        7  Song   Band     rock
    2        9  ?      ?        ?
    """
    headers = ["#", "item_id", "track", "artists", "genres"] + (["source"] if sources else [])
    headers += ["why"] if reasons else []
    rows = []
    for pos, item in enumerate(item_ids, start=1):
        track = tracks.get(int(item))
        cells = [str(pos), str(item)]
        names = (track.name, track.artists, track.genres) if track else ("?", "?", "?")
        cells += [_cut(text, width) for text in names]
        if sources:
            cells.append(sources[pos - 1] if pos - 1 < len(sources) else "")
        if reasons:
            cells.append(reasons[pos - 1] if pos - 1 < len(reasons) else "")
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
