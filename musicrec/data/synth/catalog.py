"""The synthetic catalogue: genres, artists, albums and tracks with popularity and release days.

Internally everything is numbered so that one range of track indices is one album, one artist or one
main genre: tracks are sorted by album, albums by artist, artists by main genre. Sampling "a track of
this artist, by popularity" is then a single ``searchsorted`` into one cumulative weight array. The
external ids written to the files are sparse and shuffled, so nothing in the ids leaks that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from musicrec.columns import Raw
from musicrec.data.synth.names import GENRE_FAMILY, GENRES, artist_names, title_names

BACK_CATALOGUE = -1  # release day of everything published before 2022
TRACKS_PER_ARTIST = 6.5
TRACKS_PER_ALBUM = 2.6
NEW_ALBUM_SHARE = 0.28  # albums released during 2022
DEAD_TRACK_SHARE = 0.015  # tracks nobody can find (never played, as ~2% of the real catalogue)
PERIODS = 24  # popularity drifts from one half-month to the next
# No track takes more than ~HIT_CAP times the mean track's share: at 1M tracks the top track is then
# heard by a few percent of users, as in the real data, instead of by a third of them.
HIT_CAP = 200.0
DRIFT_SIGMA, DRIFT_CORRELATION = 1.5, 0.85  # log-popularity noise per period, AR(1) across periods

TRACKS_SCHEMA = pa.schema(
    [
        pa.field(Raw.TrackId, pa.int64()),
        pa.field(Raw.Albums, pa.list_(pa.int64())),
        pa.field(Raw.Artists, pa.list_(pa.int64())),
        pa.field(Raw.Genres, pa.list_(pa.int64())),
    ]
)
NAMES_SCHEMA = pa.schema(
    [pa.field(Raw.Id, pa.int64()), pa.field(Raw.Type, pa.string()), pa.field(Raw.Name, pa.string())]
)


@dataclass(frozen=True)
class Catalog:
    """Arrays indexed by internal track / artist / album / genre index (see the module docstring)."""

    track_ids: np.ndarray  # external id of each internal track
    track_album: np.ndarray
    track_artist: np.ndarray  # main artist
    track_genre: np.ndarray  # main genre (the artist's)
    track_release: np.ndarray  # day of 2022 (0..364) or BACK_CATALOGUE
    track_weight: np.ndarray  # popularity, 0 for dead tracks
    cum_weight: np.ndarray  # len = tracks + 1; cum_weight[i] = sum of weights of tracks < i
    period_cum: np.ndarray  # flat (PERIODS, tracks + 1): per period cumulative shares, row p offset by 2p
    album_range: np.ndarray  # (albums, 2): [first, last + 1) internal track index
    artist_range: np.ndarray
    genre_range: np.ndarray
    artist_genre: np.ndarray
    artist_cum_weight: np.ndarray  # artists' popularity, cumulative, for drawing favourite artists
    genre_artist_range: np.ndarray  # (genres, 2): artists of each main genre
    genre_weight: np.ndarray
    new_order: np.ndarray  # internal indices of 2022 releases sorted by release day
    new_release: np.ndarray  # their release days
    new_cum_weight: np.ndarray  # their cumulative weights
    alive: np.ndarray  # internal indices of tracks that can be played
    capacity: int  # most distinct tracks one user can hear (alive back-catalogue tracks)

    @property
    def tracks(self) -> int:
        return len(self.track_ids)


def _ranges(sorted_owner: np.ndarray, owners: int) -> np.ndarray:
    bounds = np.searchsorted(sorted_owner, np.arange(owners + 1))
    return np.stack([bounds[:-1], bounds[1:]], axis=1)


def _sparse_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct positive ids with gaps (as real catalogue ids), in random order."""
    ids = np.cumsum(rng.geometric(0.35, n)).astype(np.int64)
    return rng.permutation(ids)


def _assign(rng: np.random.Generator, children: int, parents: int, weight: np.ndarray) -> np.ndarray:
    """Sorted parent of each child: every parent gets one child, the rest go by ``weight``."""
    extra = rng.choice(parents, children - parents, p=weight / weight.sum())
    return np.sort(np.concatenate([np.arange(parents), extra]))


def genre_popularity() -> np.ndarray:
    """Share of listens of each genre: families and genres inside a family both Zipf-like."""
    rank_in_family = np.arange(len(GENRES)) - np.searchsorted(GENRE_FAMILY, GENRE_FAMILY)
    weight = 1.0 / (GENRE_FAMILY + 1.0) ** 0.9 / (rank_in_family + 1.0) ** 1.3
    return weight / weight.sum()


def _soft_cap(weight: np.ndarray) -> np.ndarray:
    """Weights squashed smoothly below ``HIT_CAP`` x their mean (small ones unchanged)."""
    cap = HIT_CAP * weight.mean()
    return weight / (1.0 + weight / cap)


def _period_cum(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    """Cumulative popularity of each half-month: the base weight times a slowly drifting factor.

    Rows are normalised to end at 1 and offset by 2 per period, so the flat array is increasing and
    one ``searchsorted`` serves every period (see ``listens._weighted``).
    """
    rows = np.empty((PERIODS, len(weight) + 1))
    rows[:, 0] = 0.0
    noise = rng.standard_normal(len(weight)).astype(np.float32)
    for p in range(PERIODS):
        if p:
            noise = DRIFT_CORRELATION * noise + np.sqrt(1 - DRIFT_CORRELATION**2) * rng.standard_normal(
                len(weight), dtype=np.float32)
        np.cumsum(_soft_cap(weight * np.exp(DRIFT_SIGMA * noise)), out=rows[p, 1:])
        rows[p] /= max(rows[p, -1], 1e-300)
        rows[p] += 2.0 * p
    return rows.ravel()


def period_of(day: np.ndarray) -> np.ndarray:
    """Half-month (0..PERIODS-1) of a day of 2022; days before 2022 count as the first."""
    return np.clip(day, 0, 364) * PERIODS // 365


def build_catalog(rng: np.random.Generator, tracks: int) -> Catalog:
    """A catalogue of ``tracks`` tracks with heavy-tailed popularity (lognormal artists x tracks)."""
    n_artists = max(1, round(tracks / TRACKS_PER_ARTIST))
    n_albums = min(tracks, max(n_artists, round(tracks / TRACKS_PER_ALBUM)))
    genre_weight = genre_popularity()

    artist_genre = np.sort(rng.choice(len(GENRES), n_artists, p=genre_weight))
    artist_pop = rng.lognormal(0.0, 2.0, n_artists)
    album_artist = _assign(rng, n_albums, n_artists, artist_pop**0.6)
    album_release = np.where(rng.random(n_albums) < NEW_ALBUM_SHARE, rng.integers(0, 365, n_albums),
                             BACK_CATALOGUE)
    album_release[0] = BACK_CATALOGUE  # so that even a one-track catalogue has a playable track
    album_pop = artist_pop[album_artist] * rng.lognormal(0.0, 0.6, n_albums)
    track_album = _assign(rng, tracks, n_albums, album_pop**0.3)
    track_artist = album_artist[track_album]
    track_genre = artist_genre[track_artist]
    track_release = album_release[track_album]
    weight = album_pop[track_album] * rng.lognormal(0.0, 1.8, tracks)
    weight[(rng.random(tracks) < DEAD_TRACK_SHARE) & (np.arange(tracks) > 0)] = 0.0
    weight = _soft_cap(weight)
    alive = np.flatnonzero(weight > 0)
    period_cum = _period_cum(rng, weight)

    new_order = np.flatnonzero(track_release >= 0)
    new_order = new_order[np.argsort(track_release[new_order], kind="stable")]
    # a 2022 release that catches on is played far more than its back-catalogue weight says
    new_weight = weight[new_order] * rng.lognormal(0.0, 1.0, len(new_order))
    return Catalog(
        track_ids=_sparse_ids(rng, tracks),
        track_album=track_album,
        track_artist=track_artist,
        track_genre=track_genre,
        track_release=track_release,
        track_weight=weight,
        cum_weight=np.concatenate([[0.0], np.cumsum(weight)]),
        period_cum=period_cum,
        album_range=_ranges(track_album, n_albums),
        artist_range=_ranges(track_artist, n_artists),
        genre_range=_ranges(track_genre, len(GENRES)),
        artist_genre=artist_genre,
        artist_cum_weight=np.concatenate([[0.0], np.cumsum(artist_pop)]),
        genre_artist_range=_ranges(artist_genre, len(GENRES)),
        genre_weight=genre_weight,
        new_order=new_order,
        new_release=track_release[new_order],
        new_cum_weight=np.concatenate([[0.0], np.cumsum(new_weight)]),
        alive=alive,
        capacity=int(np.count_nonzero(track_release[alive] == BACK_CATALOGUE)),
    )


def _lists(rng: np.random.Generator, first: np.ndarray, extra: list[tuple[np.ndarray, float]]) -> pa.Array:
    """List array of ``first`` followed by each candidate of ``extra`` kept with its probability."""
    n = len(first)
    columns, keep = [first], [np.ones(n, bool)]
    for candidate, probability in extra:
        columns.append(candidate)
        fresh = np.all([candidate != c for c in columns[:-1]], axis=0)
        keep.append((rng.random(n) < probability) & fresh & keep[-1])
    values = np.stack(columns, axis=1)[np.stack(keep, axis=1)]
    offsets = np.concatenate([[0], np.cumsum(np.sum(keep, axis=0))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int64()))


def tracks_table(rng: np.random.Generator, cat: Catalog, album_ids: np.ndarray,
                 artist_ids: np.ndarray) -> pa.Table:
    """``tracks.parquet``: one album, 1-2 artists (a featured one of the same genre), 1-3 genres."""
    n = cat.tracks
    lo, hi = cat.genre_artist_range[cat.track_genre].T
    featured = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    family = GENRE_FAMILY[cat.track_genre]
    family_lo = np.searchsorted(GENRE_FAMILY, family)
    family_hi = np.searchsorted(GENRE_FAMILY, family, side="right")
    related = [family_lo + (rng.random(n) * (family_hi - family_lo)).astype(np.int64) for _ in range(2)]
    order = np.argsort(cat.track_ids)
    genre_ids = np.arange(1, len(GENRES) + 1)
    albums = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)),
                                      pa.array(album_ids[cat.track_album[order]], pa.int64()))
    artists = _lists(rng, artist_ids[cat.track_artist[order]], [(artist_ids[featured[order]], 0.12)])
    genres = _lists(rng, genre_ids[cat.track_genre[order]],
                    [(genre_ids[related[0][order]], 0.45), (genre_ids[related[1][order]], 0.25)])
    return pa.Table.from_arrays([pa.array(cat.track_ids[order]), albums, artists, genres],
                                schema=TRACKS_SCHEMA)


def names_table(rng: np.random.Generator, cat: Catalog, album_ids: np.ndarray,
                artist_ids: np.ndarray) -> pa.Table:
    """``catalog_names.parquet``: every album, artist, genre and track named, sorted by type then id."""
    parts = [
        ("album", album_ids, title_names(rng, len(album_ids), suffixes=False)),
        ("artist", artist_ids, artist_names(rng, len(artist_ids))),
        ("genre", np.arange(1, len(GENRES) + 1), pa.array(GENRES)),
        ("track", cat.track_ids, title_names(rng, cat.tracks, suffixes=True)),
    ]
    tables = []
    for kind, ids, names in parts:
        order = np.argsort(ids)
        tables.append(pa.Table.from_arrays(
            [pa.array(ids[order], pa.int64()), pa.array(np.full(len(ids), kind)),
             names.take(pa.array(order))],
            schema=NAMES_SCHEMA,
        ))
    return pa.concat_tables(tables)


def catalog_tables(rng: np.random.Generator, cat: Catalog) -> tuple[pa.Table, pa.Table]:
    """The two catalogue files, with sparse shuffled album and artist ids."""
    album_ids = _sparse_ids(rng, len(cat.album_range))
    artist_ids = _sparse_ids(rng, len(cat.artist_range))
    return tracks_table(rng, cat, album_ids, artist_ids), names_table(rng, cat, album_ids, artist_ids)

