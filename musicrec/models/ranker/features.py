"""Second-stage features of (user, candidate track) pairs, all computed from ``history`` alone.

Every quantity is relative to ``until`` (the end of the history) and scale-free (shares, logs, days),
so features computed at training time (history = train minus the label window) and at inference
(history = the whole train period) mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.topk import topk

from musicrec.columns import Columns as C
from musicrec.data.catalog import list_column
from musicrec.models.als import AlsRecommender
from musicrec.models.ids import IdMap
from musicrec.models.ranker import candidates
from musicrec.models.ranker.candidates import by_users, last_listens

FEATURES = (
    # candidate stage
    "als_score", "als_rank", "recent_rank", "similar_score", "src_als", "src_recent", "src_similar",
    "n_sources",
    # track
    "item_share_log", "item_recent_share_log", "item_week_share_log", "item_trend", "item_age_days",
    "item_last_days", "item_decay3_log", "item_decay14_log",
    # user
    "user_listens_log", "user_recent_listens_log", "user_days_since_last", "user_tenure_days",
    "user_pop_mean", "user_fresh_mean",
    # user x track
    "sim_last_max", "sim_last_mean", "genre_affinity", "artist_affinity", "pop_gap", "fresh_gap",
    "nbr_recent",
    # the same tastes over the user's last TASTE_LAST listens only (what they play lately)
    "user_pop_last", "user_fresh_last", "pop_gap_last", "fresh_gap_last", "genre_affinity_last",
    # the track appeared after the user's last listen (positive: new since their last visit)
    "new_since_last",
)
# how many last listens the recent-taste features look at
TASTE_LAST = 20
_MISSING_RANK = 1_000
_EPS = 1e-7
_WEEK = 7
_BATCH = 500_000
_NEIGHBOURS = 20
# most users a neighbour is searched among (keeps the search linear in the number of users)
_MAX_REFERENCE = 50_000
# half-lives (days) of the exponentially decayed popularity features
_HALF_LIVES = (3, 14)


def _days(expr: pl.Expr, until: datetime) -> pl.Expr:
    return (pl.lit(until) - expr).dt.total_seconds().cast(pl.Float32) / 86_400.0


def item_stats(history: pl.DataFrame, until: datetime, recent_days: int) -> pl.DataFrame:
    """Per track: log shares of all, recent and last-week listens, trend, age and days since last play.

    >>> from datetime import datetime as d
    >>> h = pl.DataFrame({"user_id": [1, 2, 2], "item_id": [5, 5, 6],
    ...                   "started_at": [d(2022, 1, 1), d(2022, 1, 9), d(2022, 1, 9)]})
    >>> s = item_stats(h, d(2022, 1, 10), recent_days=3).sort("item_id")
    >>> s.select("item_id", "item_age_days", "item_last_days").rows()
    [(5, 9.0, 1.0), (6, 1.0, 1.0)]
    """
    recent_start = until - timedelta(days=recent_days)
    week_start = until - timedelta(days=_WEEK)
    is_recent = pl.col(C.Datetime) >= recent_start
    is_week = pl.col(C.Datetime) >= week_start
    total = max(history.height, 1)
    total_recent = max(int(history.select(is_recent.sum()).item()), 1)
    total_week = max(int(history.select(is_week.sum()).item()), 1)
    age = _days(pl.col(C.Datetime), until)
    decayed = ["_d" + str(h) for h in _HALF_LIVES]

    def per_track(part: pl.DataFrame) -> pl.DataFrame:
        return (
            part.with_columns(*((0.5 ** (age / h)).alias("_w" + str(h)) for h in _HALF_LIVES))
            .group_by(C.Item)
            .agg(
                pl.len().alias("_plays"),
                is_recent.sum().alias("_recent"),
                is_week.sum().alias("_week"),
                pl.col(C.Datetime).min().alias("_first"),
                pl.col(C.Datetime).max().alias("_last"),
                *(pl.col("_w" + str(h)).sum().alias("_d" + str(h)) for h in _HALF_LIVES),
            )
        )

    # slices of at most CHUNK_ROWS listens (zero-copy), their per-track sums added up: the weight
    # columns of 200M listens at once took ~9 GB; up to 1/10 scale it is one slice, as before
    rows = candidates.CHUNK_ROWS
    parts = [per_track(history.slice(start, rows)) for start in range(0, total, rows)]
    tracks = parts[0] if len(parts) == 1 else (
        pl.concat(parts).group_by(C.Item).agg(
            *(pl.col(c).sum() for c in ("_plays", "_recent", "_week", *decayed)),
            pl.col("_first").min(), pl.col("_last").max())
    )
    return (
        tracks
        .with_columns(*((pl.col("_d" + str(h)) / pl.col("_d" + str(h)).sum()).alias("_d" + str(h))
                        for h in _HALF_LIVES))
        .select(
            pl.col(C.Item).cast(pl.Int32),
            *((pl.col("_d" + str(h)) + _EPS).log().cast(pl.Float32).alias(f"item_decay{h}_log")
              for h in _HALF_LIVES),
            (pl.col("_plays") / total + _EPS).log().cast(pl.Float32).alias("item_share_log"),
            (pl.col("_recent") / total_recent + _EPS).log().cast(pl.Float32).alias("item_recent_share_log"),
            (pl.col("_week") / total_week + _EPS).log().cast(pl.Float32).alias("item_week_share_log"),
            ((pl.col("_recent") / total_recent + _EPS).log() - (pl.col("_plays") / total + _EPS).log())
            .cast(pl.Float32).alias("item_trend"),
            _days(pl.col("_first"), until).alias("item_age_days"),
            _days(pl.col("_last"), until).alias("item_last_days"),
        )
    )


def user_stats(history: pl.DataFrame, until: datetime, recent_days: int) -> pl.DataFrame:
    """Per user: log listens (all and recent), days since the last and the first listen."""
    recent_start = until - timedelta(days=recent_days)
    return (
        by_users(history, lambda part: part.group_by(C.User).agg(  # groups of users: bounded memory
            pl.len().alias("_n"),
            (pl.col(C.Datetime) >= recent_start).sum().alias("_recent"),
            pl.col(C.Datetime).min().alias("_first"),
            pl.col(C.Datetime).max().alias("_last"),
        ))
        .select(
            pl.col(C.User).cast(pl.Int32),
            pl.col("_n").log1p().cast(pl.Float32).alias("user_listens_log"),
            pl.col("_recent").log1p().cast(pl.Float32).alias("user_recent_listens_log"),
            _days(pl.col("_last"), until).alias("user_days_since_last"),
            _days(pl.col("_first"), until).alias("user_tenure_days"),
        )
    )


@dataclass(frozen=True)
class TagMatrix:
    """The tracks' values of one list column (genres, artists) as a CSR matrix: row ``r`` = track
    ``tracks.external[r]``, a column per distinct value, the count of that value in the track's list."""

    tracks: IdMap
    matrix: sp.csr_matrix


def tag_matrix(items: pl.DataFrame, column: str) -> TagMatrix:
    """:class:`TagMatrix` of ``items``' list column ``column`` (ids or names); tracks without a value
    have no row."""
    tags = (items.select(pl.col(C.Item).cast(pl.Int32), pl.col(column)).explode(column).drop_nulls()
            .with_columns(pl.col(column).rank("dense").cast(pl.Int64).alias("_tag") - 1))
    tracks = IdMap.from_values(tags.get_column(C.Item).to_numpy())
    codes = tags.get_column("_tag").to_numpy()
    rows = tracks.to_internal(tags.get_column(C.Item).to_numpy())
    matrix = sp.csr_matrix((np.ones(len(codes), dtype=np.float32), (rows, codes)),
                           shape=(len(tracks), int(codes.max()) + 1 if len(codes) else 0))
    matrix.sort_indices()
    return TagMatrix(tracks, matrix)


def affinity(pairs: pl.DataFrame, history: pl.DataFrame, items: pl.DataFrame, column: str,
             name: str, tags: TagMatrix | None = None) -> pl.DataFrame:
    """``user_id, item_id, <name>`` in the order of ``pairs``: the largest share of the user's listens
    having one of the track's ``column`` values (genres, artists); 0 when none. ``tags``:
    :func:`tag_matrix` of ``items`` and ``column`` (computed here when not given).

    User 1 listened to two rock tracks and one pop track; a rock+jazz candidate gets 2/3.

    >>> items = pl.DataFrame({"item_id": [1, 2, 3, 4], "genre_ids": [[7], [7], [8], [7, 9]]})
    >>> h = pl.DataFrame({"user_id": [1, 1, 1], "item_id": [1, 2, 3]})
    >>> pairs = pl.DataFrame({"user_id": [1], "item_id": [4]})
    >>> affinity(pairs, h, items, "genre_ids", "genre_affinity").rows()
    [(1, 4, 0.6666666865348816)]
    """
    keyed = pairs.select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32))
    out = np.zeros(keyed.height, dtype=np.float32)
    if column not in items.columns or keyed.height == 0:
        return keyed.with_columns(pl.Series(name, out))
    tags = tag_matrix(items, column) if tags is None else tags
    pair_users = keyed.get_column(C.User).to_numpy()
    users = np.unique(pair_users)
    listened = (  # only the pairs' users: inference calls this per batch of users
        history.select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32))
        .filter(pl.col(C.User).is_in(pl.Series(users).implode()))
    )
    who = np.searchsorted(users, listened.get_column(C.User).to_numpy())
    what = tags.tracks.to_internal(listened.get_column(C.Item).to_numpy(), strict=False)
    totals = np.bincount(who, minlength=len(users))
    tagged = what >= 0
    plays = sp.csr_matrix((np.ones(int(tagged.sum()), dtype=np.float32), (who[tagged], what[tagged])),
                          shape=(len(users), len(tags.tracks)))
    # listens of each (user, value), as the share of the user's listens
    shares = (plays @ tags.matrix).tocsr()
    shares.sum_duplicates()
    per_row = np.diff(shares.indptr)
    shares.data = (shares.data.astype(np.float64) / np.repeat(totals, per_row)).astype(np.float32)
    # each pair once per value of its track, then the largest share over them
    track = tags.tracks.to_internal(keyed.get_column(C.Item).to_numpy(), strict=False)
    known = np.flatnonzero(track >= 0)
    if len(known) == 0:
        return keyed.with_columns(pl.Series(name, out))
    n_values = np.diff(tags.matrix.indptr)[track[known]]
    first = np.repeat(tags.matrix.indptr[track[known]] - np.cumsum(n_values) + n_values, n_values)
    values = tags.matrix.indices[first + np.arange(int(n_values.sum()))]
    rows = np.repeat(np.searchsorted(users, pair_users[known]), n_values)
    sampled = np.asarray(shares[rows, values]).ravel()
    out[known] = np.maximum.reduceat(sampled, np.cumsum(n_values) - n_values)
    return keyed.with_columns(pl.Series(name, out))


def similarity_to_last(pairs: pl.DataFrame, history: pl.DataFrame, als: AlsRecommender,
                       n_last: int) -> tuple[np.ndarray, np.ndarray]:
    """Max and mean cosine (ALS item factors) between each pair's track and the user's last listens.

    Zero where the track or the user's last listens are unknown to the model.
    """
    users = pairs.get_column(C.User).to_numpy()
    uniq, user_row = np.unique(users, return_inverse=True)
    last = last_listens(history, uniq, n_last)
    factors = als.item_factors
    norms = np.linalg.norm(factors, axis=1)
    unit = (factors / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
    unit = np.vstack([unit, np.zeros((1, unit.shape[1]), dtype=np.float32)])  # row -1: unknown
    table = np.full((len(uniq), n_last), -1, dtype=np.int64)
    if last.height:
        rows = np.searchsorted(uniq, last.get_column(C.User).to_numpy())
        table[rows, last.get_column("age").to_numpy()] = als.item_ids.to_internal(
            last.get_column(C.Item).to_numpy(), strict=False)
    items = als.item_ids.to_internal(pairs.get_column(C.Item).to_numpy(), strict=False)
    best = np.zeros(len(users), dtype=np.float32)
    mean = np.zeros(len(users), dtype=np.float32)
    for start in range(0, len(users), _BATCH):
        sl = slice(start, start + _BATCH)
        lasts = table[user_row[sl]]
        x = unit[items[sl]]
        # one gathered (batch, factors) block per last listen: 7x faster than one (batch, n_last, factors)
        # einsum over the whole gather, and the same sums in the same order
        cos = np.stack([np.einsum("bf,bf->b", x, unit[lasts[:, j]]) for j in range(lasts.shape[1])], axis=1)
        valid = lasts >= 0
        count = valid.sum(axis=1)
        best[sl] = np.where(count > 0, np.where(valid, cos, -1.0).max(axis=1), 0.0)
        mean[sl] = np.where(count > 0, np.where(valid, cos, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)
    return best, mean


def user_taste(history: pl.DataFrame, last: int, users: np.ndarray | None = None) -> pl.DataFrame:
    """Per user: how mainstream and how early their listening is, over all listens and lately.

    ``user_pop_mean``: mean log share of listens of the tracks the user heard (high = mainstream);
    ``user_fresh_mean``: mean log1p of the track's age in days when the user heard it (low = an early
    listener of new releases); ``user_pop_last`` / ``user_fresh_last``: the same over each user's
    ``last`` most recent listens (the tracks' shares and ages still come from all of ``history``).

    >>> from datetime import datetime as d
    >>> h = pl.DataFrame({"user_id": [1, 2, 2, 2], "item_id": [5, 5, 6, 6],
    ...                   "started_at": [d(2022, 1, 1), d(2022, 1, 4), d(2022, 1, 4), d(2022, 1, 4)]})
    >>> t = user_taste(h, last=1).sort("user_id")
    >>> [round(x, 3) for x in t.get_column("user_fresh_mean")], t.get_column("user_fresh_last").to_list()
    ([0.0, 0.462], [0.0, 0.0])

    ``users``: only these users' rows (the tracks' shares and ages still from all of ``history``).
    """
    total = max(history.height, 1)
    per_item = history.group_by(C.Item).agg(
        (pl.len() / total).log().alias("_pop"), pl.col(C.Datetime).min().alias("_first"))

    def taste(part: pl.DataFrame) -> pl.DataFrame:
        listens = (  # newest first; ties keep the listen (row) order, as last_listens does
            part.with_row_index("_r")
            .sort([C.User, C.Datetime, "_r"], descending=[False, True, True])
            .join(per_item, on=C.Item, maintain_order="left")
            .with_columns(((pl.col(C.Datetime) - pl.col("_first")).dt.total_seconds() / 86_400.0)
                          .log1p().alias("_fresh"),
                          (pl.int_range(pl.len()).over(C.User) < last).alias("_is_last"))
        )
        return (
            listens.group_by(C.User)
            .agg(pl.col("_pop").mean().cast(pl.Float32).alias("user_pop_mean"),
                 pl.col("_fresh").mean().cast(pl.Float32).alias("user_fresh_mean"),
                 pl.col("_pop").filter("_is_last").mean().cast(pl.Float32).alias("user_pop_last"),
                 pl.col("_fresh").filter("_is_last").mean().cast(pl.Float32).alias("user_fresh_last"))
            .with_columns(pl.col(C.User).cast(pl.Int32))
        )

    # per user, in groups of users: the sort of a 200M-listen history alone took ~10 GB
    return by_users(_of_users(history, users), taste)


def _of_users(history: pl.DataFrame, users: np.ndarray | None) -> pl.DataFrame:
    return history if users is None else history.filter(pl.col(C.User).is_in(pl.Series(users).implode()))


@dataclass(frozen=True)
class RecentListeners:
    """Among whom :func:`neighbour_recent` searches a user's taste neighbours, and what they played lately.

    ``reference``: the sorted internal ALS ids of the users searched among; ``heard``: a binary CSR
    matrix, row ``r`` = the tracks (internal ALS ids) ``reference[r]`` played in the last
    ``recent_days``; ``unit``: every user's ALS factors scaled to unit length (zero rows stay zero)."""

    reference: np.ndarray
    heard: sp.csr_matrix
    unit: np.ndarray


def recent_listeners(history: pl.DataFrame, als: AlsRecommender, until: datetime,
                     recent_days: int) -> RecentListeners:
    """:class:`RecentListeners` of ``history``: all users are searched among, or, past ``_MAX_REFERENCE``
    users, the ``_MAX_REFERENCE`` most active in the last ``recent_days`` (only their listens count anyway):
    the search costs queries x reference users. One pass over ``history``: batched inference computes it
    once for every batch."""
    factors = als.user_factors
    norms = np.linalg.norm(factors, axis=1)
    unit = np.ascontiguousarray(factors / np.where(norms > 0, norms, 1.0)[:, None], dtype=np.float32)
    recent = (
        history.filter(pl.col(C.Datetime) >= until - timedelta(days=recent_days))
        .select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32)).unique()
    )
    reference = np.arange(len(unit))
    if len(reference) > _MAX_REFERENCE:
        active = (recent.group_by(C.User).agg(pl.len().alias("_n"))
                  .sort(["_n", C.User], descending=[True, False]).head(_MAX_REFERENCE))
        reference = np.sort(als.user_ids.to_internal(active.get_column(C.User).to_numpy(), strict=False))
        reference = reference[reference >= 0]
    who = als.user_ids.to_internal(recent.get_column(C.User).to_numpy(), strict=False)
    what = als.item_ids.to_internal(recent.get_column(C.Item).to_numpy(), strict=False)
    row = np.minimum(np.searchsorted(reference, who), max(len(reference) - 1, 0))
    ok = (who >= 0) & (what >= 0) & (reference[row] == who) if len(reference) else np.zeros(0, dtype=bool)
    heard = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (row[ok], what[ok])),
                          shape=(len(reference), len(als.item_ids)))
    return RecentListeners(reference, heard, unit)


def neighbour_recent(pairs: pl.DataFrame, history: pl.DataFrame, als: AlsRecommender, until: datetime,
                     recent_days: int, n_neighbours: int = _NEIGHBOURS,
                     listeners: RecentListeners | None = None) -> pl.DataFrame:
    """``user_id, item_id, nbr_recent``: what the user's taste neighbours are playing now.

    Neighbours are the ``n_neighbours`` users closest by cosine of ALS user factors, searched among
    :func:`recent_listeners`'s reference users; the feature is the share of them (cosine-weighted) who
    listened to the track in the last ``recent_days``. ``listeners``: :func:`recent_listeners` of the
    same ``history`` (then ``history`` is not read), computed here when not given.
    """
    keyed = pairs.select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32))
    out = np.zeros(keyed.height, dtype=np.float32)
    users = np.unique(keyed.get_column(C.User).to_numpy())
    internal = als.user_ids.to_internal(users, strict=False)
    users, internal = users[internal >= 0], internal[internal >= 0]
    if len(users) == 0 or len(als.user_ids) < 2:
        return keyed.with_columns(pl.Series("nbr_recent", out))
    if listeners is None:
        listeners = recent_listeners(history, als, until, recent_days)
    unit, reference, heard = listeners.unit, listeners.reference, listeners.heard
    k = min(n_neighbours + 1, len(reference))
    if k < 2:
        return keyed.with_columns(pl.Series("nbr_recent", out))
    ref_unit = np.ascontiguousarray(unit[reference])
    # the pairs grouped by user (stable), so each batch of users takes one contiguous run of them
    pair_users = keyed.get_column(C.User).to_numpy()
    order = np.argsort(pair_users, kind="stable")
    sorted_users = pair_users[order]
    pair_items = als.item_ids.to_internal(keyed.get_column(C.Item).to_numpy(), strict=False)[order]
    batch = max(1, min(10_000, 50_000_000 // len(reference)))
    for start in range(0, len(internal), batch):
        q = internal[start:start + batch]
        own = np.searchsorted(reference, q)  # not one's own neighbour: filtered through a CSR
        is_ref = (own < len(reference)) & (reference[np.minimum(own, len(reference) - 1)] == q)
        own_csr = sp.csr_matrix((np.ones(int(is_ref.sum()), dtype=np.float32), own[is_ref],
                                 np.concatenate([[0], np.cumsum(is_ref)])), shape=(len(q), len(reference)))
        # implicit's fused, multithreaded dot product + top-k (no batch x reference score matrix)
        top, sims = topk(ref_unit, unit[q], k - 1, filter_query_items=own_csr,
                         num_threads=als.params.blas_threads)
        weights = np.clip(sims, 0, None).astype(np.float32)
        links = sp.csr_matrix((weights.ravel(), top.ravel(), np.arange(0, len(q) * (k - 1) + 1, k - 1)),
                              shape=(len(q), len(reference)))
        mine = users[start:start + batch]
        lo = np.searchsorted(sorted_users, mine[0], side="left")
        hi = np.searchsorted(sorted_users, mine[-1], side="right")
        rows = np.minimum(np.searchsorted(mine, sorted_users[lo:hi]), len(mine) - 1)
        cols = pair_items[lo:hi]
        known = (cols >= 0) & (mine[rows] == sorted_users[lo:hi])  # a user unknown to ALS scores 0
        r, c = rows[known], cols[known]
        # the cosine-weighted count of neighbours who heard each track (a sparse product), kept at the
        # pairs only by an elementwise product with them (linear in the product's entries)
        width = heard.shape[1]
        at_pairs = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(q), width))
        played = (links @ heard).multiply(at_pairs).tocoo()
        hit_keys = played.row.astype(np.int64) * width + played.col
        by_key = np.argsort(hit_keys)
        hit_keys, hit_values = hit_keys[by_key], np.append(played.data[by_key], np.float32(0))
        keys = r.astype(np.int64) * width + c
        at = np.searchsorted(hit_keys, keys)
        missed = hit_keys[np.minimum(at, len(hit_keys) - 1)] != keys if len(hit_keys) else slice(None)
        at[missed] = len(hit_keys)  # no neighbour heard it: the appended 0
        values = np.zeros(hi - lo, dtype=np.float32)
        values[known] = hit_values[at]
        wsum = weights.sum(axis=1)
        out[order[lo:hi]] = values / np.clip(wsum[rows], 1e-6, None)
    return keyed.with_columns(pl.Series("nbr_recent", out))


@dataclass(frozen=True)
class PeriodStats:
    """The columns of a period that do not depend on the candidates: per track, per user, and who played
    what lately (the taste neighbours'). Batched inference computes them once for every batch."""

    items: pl.DataFrame
    users: pl.DataFrame
    listeners: RecentListeners


def period_stats(history: pl.DataFrame, until: datetime, recent_days: int,
                 als: AlsRecommender, users: np.ndarray | None = None) -> PeriodStats:
    """:class:`PeriodStats` of the period ``history`` (ending at ``until``; ``als`` fitted on it).
    ``users``: the per-user columns of these users only (a training frame's or the blend's few
    thousand, not the 1.3M of a full-size history); the per-track ones always cover every track."""
    per_user = (
        user_stats(_of_users(history, users), until, recent_days)
        .join(user_taste(history, TASTE_LAST, users), on=C.User, how="left")
    )
    return PeriodStats(item_stats(history, until, recent_days), per_user,
                       recent_listeners(history, als, until, recent_days))


def build(candidates: pl.DataFrame, history: pl.DataFrame, items: pl.DataFrame, until: datetime,
          als: AlsRecommender, recent_days: int, n_last: int,
          stats: PeriodStats | None = None) -> pl.DataFrame:
    """Candidates plus every column of :data:`FEATURES` (float32, no nulls), same row order.

    ``stats`` is :func:`period_stats` of the whole period (``until``, ``recent_days``, ``als``),
    computed here from ``history`` when not given. With ``stats``, ``history`` need only hold the
    candidates' users' listens: every column that reads other users' listens comes from ``stats``
    (batched inference passes each batch its own users' listens, not the whole period's)."""
    if stats is None:
        users = candidates.get_column(C.User).unique().to_numpy()  # a frame's few thousand users
        stats = period_stats(history, until, recent_days, als, users)
    item_frame, user_frame = stats.items, stats.users
    pairs = candidates.with_row_index("_row")
    sim_max, sim_mean = similarity_to_last(pairs, history, als, n_last)
    genre_col = list_column(items, C.GenreIds, C.Genres) or C.GenreIds
    artist_col = list_column(items, C.ArtistIds, C.Artists) or C.ArtistIds
    genres = tag_matrix(items, genre_col) if genre_col in items.columns else None
    recent = last_listens(history, pairs.get_column(C.User).unique().to_numpy(), TASTE_LAST)
    # columns computed in the pairs' row order: no join back on (user, track)
    aligned = (
        affinity(pairs, history, items, genre_col, "genre_affinity", genres),
        affinity(pairs, recent, items, genre_col, "genre_affinity_last", genres),
        affinity(pairs, history, items, artist_col, "artist_affinity"),
        neighbour_recent(pairs, history, als, until, recent_days, listeners=stats.listeners),
    )
    out = (
        pairs.with_columns(
            pl.Series("als_score", als.score(pairs)).fill_nan(None),
            pl.Series("sim_last_max", sim_max),
            pl.Series("sim_last_mean", sim_mean),
            *(frame.get_column(frame.columns[-1]) for frame in aligned),
            pl.col("als_rank").is_not_null().cast(pl.Float32).alias("src_als"),
            pl.col("recent_rank").is_not_null().cast(pl.Float32).alias("src_recent"),
            pl.col("similar_score").is_not_null().cast(pl.Float32).alias("src_similar"),
        )
        .with_columns(pl.sum_horizontal("src_als", "src_recent", "src_similar")
                      .alias("n_sources"))
        .join(item_frame, on=C.Item, how="left")
        .join(user_frame, on=C.User, how="left")
        .with_columns((pl.col("item_share_log") - pl.col("user_pop_mean")).alias("pop_gap"),
                      (pl.col("item_age_days").log1p() - pl.col("user_fresh_mean")).alias("fresh_gap"),
                      (pl.col("item_share_log") - pl.col("user_pop_last")).alias("pop_gap_last"),
                      (pl.col("item_age_days").log1p() - pl.col("user_fresh_last")).alias("fresh_gap_last"),
                      (pl.col("user_days_since_last") - pl.col("item_age_days")).alias("new_since_last"))
        .sort("_row")
    )
    fills = {"als_rank": _MISSING_RANK, "recent_rank": _MISSING_RANK, "item_age_days": -1.0,
             "item_last_days": -1.0, "item_share_log": np.log(_EPS), "item_recent_share_log": np.log(_EPS),
             "item_week_share_log": np.log(_EPS), "item_decay3_log": np.log(_EPS),
             "item_decay14_log": np.log(_EPS)}
    return out.with_columns(
        *(pl.col(f).cast(pl.Float32).fill_null(fills.get(f, 0.0)).alias(f) for f in FEATURES)
    ).drop("_row")
