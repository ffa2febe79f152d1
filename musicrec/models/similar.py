"""Similar tracks (i2i): collaborative neighbours for played tracks, content neighbours for the rest.

* ``source = "als"``: tracks with at least ``min_item_listens`` listens get their nearest tracks by
  cosine of ALS item factors, among those same well-played tracks (factors of rarely played tracks are
  mostly regularisation noise).
* ``source = "content"``: every other catalogue track (and any track whose ALS list is short) gets
  neighbours by TF-IDF cosine over a sparse item x (genre, artist) matrix, genre columns weighted by
  ``genre_weight`` and artist columns by ``artist_weight``. To stay sparse at a million tracks the
  candidates of a track are the tracks sharing one of its artists plus the most played tracks of each
  of its genres; candidates are then scored exactly, ties going to the more played track.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from tqdm.auto import tqdm

from musicrec.columns import Columns as C
from musicrec.config import Similar
from musicrec.data.catalog import list_column
from musicrec.models.als import AlsRecommender, cosine_neighbours
from musicrec.models.ids import IdMap

SOURCE_ALS = "als"
SOURCE_CONTENT = "content"
_SCHEMA = {C.Item1: pl.Int32, C.Item2: pl.Int32, C.Score: pl.Float32, C.Source: pl.String}
# Most played tracks of each genre and of each artist kept as content candidates, per neighbour asked for.
_CANDIDATES_PER_K = 10
_BATCH = 2_000


def build_similar(
    items: pl.DataFrame, events: pl.DataFrame, als: AlsRecommender, params: Similar,
    show_progress: bool = True, queries: np.ndarray | None = None,
) -> pl.DataFrame:
    """``k`` similar tracks for every catalogue track: ``item_id_1, item_id_2, score, source``.

    No self pairs; sorted by ``item_id_1``, then score descending, then ``item_id_2``. ``events`` are
    the listens the ALS model was fit on (they decide which tracks count as well played). ``queries``
    limits the rows to these tracks' neighbours (each chosen among all tracks, exactly as without it).
    """
    k = params.k
    plays = events.group_by(C.Item).agg(pl.len().alias(C.Plays))
    played = plays.filter(pl.col(C.Plays) >= params.min_item_listens).get_column(C.Item).to_numpy()
    known = als.item_ids.to_internal(played, strict=False)
    collab_rows = np.sort(known[known >= 0])
    if len(collab_rows) > 1:
        collab_ids = IdMap(als.item_ids.external[collab_rows])
        rows = np.arange(len(collab_rows))
        if queries is not None:
            rows = collab_ids.to_internal(np.unique(np.asarray(queries)), strict=False)
            rows = rows[rows >= 0]
        p = als.params
        collab = cosine_neighbours(als.item_factors[collab_rows], rows, k, collab_ids, p.blas_threads,
                                   show_progress, p.ann_min_items, p.ann_nprobe, p.ann_lists)
        collab = collab.with_columns(pl.lit(SOURCE_ALS).alias(C.Source))
    else:
        collab = pl.DataFrame(schema=_SCHEMA)

    counts = collab.group_by(C.Item1).agg(pl.len().alias("have"))
    asked = items if queries is None else items.filter(pl.col(C.Item).is_in(pl.Series(queries).implode()))
    needy = (
        asked.select(pl.col(C.Item).cast(pl.Int32))
        .join(counts, left_on=C.Item, right_on=C.Item1, how="left")
        .filter(pl.col("have").fill_null(0) < k)
    )
    content = content_neighbours(items, plays, needy.get_column(C.Item).to_numpy(), k, params, show_progress)
    content = (
        content.join(collab.select(C.Item1, C.Item2), on=[C.Item1, C.Item2], how="anti")
        .join(needy, left_on=C.Item1, right_on=C.Item, how="left")
        .filter(pl.int_range(pl.len()).over(C.Item1) < k - pl.col("have").fill_null(0))
        .drop("have")
    )
    out = pl.concat([collab.select(list(_SCHEMA)), content.select(list(_SCHEMA))])
    return out.cast(_SCHEMA).sort([C.Item1, C.Score, C.Item2], descending=[False, True, False])


def content_matrix(items: pl.DataFrame, params: Similar) -> sp.csr_matrix:
    """Rows = ``items`` rows; columns = genres then artists; TF-IDF weights times the section weight,
    rows L2-normalised (so a row product is a cosine)."""
    blocks = []
    for column, weight in ((_pick(items, C.GenreIds, C.Genres), params.genre_weight),
                           (_pick(items, C.ArtistIds, C.Artists), params.artist_weight)):
        long = items.select(pl.int_range(pl.len()).alias("row"), column).explode(column).drop_nulls()
        codes = long.get_column(column).to_numpy()
        values, cols = np.unique(codes, return_inverse=True)
        m = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (long.get_column("row").to_numpy(), cols)),
                          shape=(items.height, len(values)))
        m.data[:] = 1.0  # a track listing the same artist twice still has it once
        df = np.asarray((m > 0).sum(axis=0)).ravel()
        idf = np.log((1 + items.height) / (1 + df)) + 1.0
        blocks.append(m @ sp.diags((weight * idf).astype(np.float32)))
    x = sp.hstack(blocks, format="csr", dtype=np.float32)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.diags((1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32)) @ x


def content_neighbours(
    items: pl.DataFrame, plays: pl.DataFrame, item_ids: np.ndarray, k: int, params: Similar,
    show_progress: bool = True,
) -> pl.DataFrame:
    """Top-``k`` content neighbours of ``item_ids`` among all of ``items`` (see the module docstring)."""
    items = items.sort(C.Item)
    ids = IdMap(items.get_column(C.Item).to_numpy())
    x = content_matrix(items, params)
    play_count = np.zeros(len(ids), dtype=np.int64)
    idx = ids.to_internal(plays.get_column(C.Item).to_numpy(), strict=False)
    play_count[idx[idx >= 0]] = plays.get_column(C.Plays).to_numpy()[idx >= 0]

    genres = _binary(items, _pick(items, C.GenreIds, C.Genres))
    artists = _binary(items, _pick(items, C.ArtistIds, C.Artists))
    # bounded candidate lists keep every batch small even for a genre or artist with 100k tracks
    top_of_genre = _top_per_column(genres, play_count, _CANDIDATES_PER_K * k)
    top_of_artist = _top_per_column(artists, play_count, _CANDIDATES_PER_K * k)

    queries = ids.to_internal(np.asarray(item_ids), strict=False)
    queries = np.unique(queries[queries >= 0])
    frames = []
    for start in tqdm(range(0, len(queries), _BATCH), desc="similar (content)", unit="batch",
                      disable=not show_progress or len(queries) <= _BATCH):
        q = queries[start:start + _BATCH]
        cand = (artists[q] @ top_of_artist + genres[q] @ top_of_genre).tocoo()
        qi, ci = q[cand.row], cand.col
        keep = qi != ci
        qi, ci = qi[keep], ci[keep]
        score = np.asarray(x[qi].multiply(x[ci]).sum(axis=1)).ravel().astype(np.float32)
        frames.append(pl.DataFrame({C.Item1: qi, C.Item2: ci, C.Score: score, "p": play_count[ci]}))
    if not frames:
        return pl.DataFrame(schema=_SCHEMA)
    ranked = (
        pl.concat(frames)
        .filter(pl.col(C.Score) > 0)
        .sort([C.Item1, C.Score, "p", C.Item2], descending=[False, True, True, False])
        .group_by(C.Item1, maintain_order=True).head(k)
    )
    ext = ids.external
    return ranked.select(
        pl.Series(C.Item1, ext[ranked.get_column(C.Item1).to_numpy()]).cast(pl.Int32),
        pl.Series(C.Item2, ext[ranked.get_column(C.Item2).to_numpy()]).cast(pl.Int32),
        pl.col(C.Score).cast(pl.Float32),
        pl.lit(SOURCE_CONTENT).alias(C.Source),
    )


def _pick(items: pl.DataFrame, ids_column: str, names_column: str) -> str:
    column = list_column(items, ids_column, names_column)
    if column is not None:
        return column
    raise ValueError(f"items needs a {ids_column!r} or {names_column!r} list column, found {items.columns}")


def _binary(items: pl.DataFrame, column: str) -> sp.csr_matrix:
    long = items.select(pl.int_range(pl.len()).alias("row"), column).explode(column).drop_nulls()
    _, cols = np.unique(long.get_column(column).to_numpy(), return_inverse=True)
    m = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (long.get_column("row").to_numpy(), cols)),
                      shape=(items.height, int(cols.max()) + 1 if len(cols) else 0))
    m.data[:] = 1.0
    return m


def _top_per_column(m: sp.csr_matrix, weight: np.ndarray, top: int) -> sp.csr_matrix:
    """Columns x rows CSR keeping, for each column, only its ``top`` rows of highest ``weight``."""
    t = m.T.tocsr()
    rows, cols = [], []
    for c in range(t.shape[0]):
        members = t.indices[t.indptr[c]:t.indptr[c + 1]]
        # highest weight first, smaller id first among equals
        order = np.lexsort((members, -weight[members]))[:top]
        rows.append(np.full(len(order), c))
        cols.append(members[order])
    r = np.concatenate(rows) if rows else np.array([], dtype=np.int64)
    cc = np.concatenate(cols) if cols else np.array([], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, cc)), shape=t.shape)
