"""Offline metrics as pure, vectorised functions over polars frames.

Conventions shared by every per-user metric:

* ``recs`` has ``user_id, item_id, rank``; only the order given by ``rank`` matters (a list with gaps
  or duplicates is re-ranked 1, 2, ... after dropping a user's repeated tracks).
* ``truth`` has ``user_id, item_id``: what each user listened to in the test period (duplicates ignored).
* ``users`` is the FIXED set the metric is averaged over. A user of ``users`` without recommendations
  scores zero, users outside it are ignored, so two models are always compared on the same users.
* Precision@k divides by ``k`` (a list shorter than ``k`` is not rewarded for being short).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from musicrec.columns import Columns as C

_POS = "_pos"


def top_k(recs: pl.DataFrame, k: int, users: np.ndarray | None = None) -> pl.DataFrame:
    """The first ``k`` distinct tracks of each user's list: ``user_id, item_id, _pos`` (1-based).

    A frame this function returned (it has ``_pos``) is only cut to ``k``: a list scored at several k,
    or by several metrics, is ranked once (:func:`musicrec.evaluation.runner.score_list`).

    >>> r = pl.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [5, 5, 6, 7], "rank": [2, 3, 9, 1]})
    >>> top_k(r, 2).rows()
    [(1, 5, 1), (1, 6, 2), (2, 7, 1)]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, found {k}")
    frame = recs if users is None else recs.filter(pl.col(C.User).is_in(pl.Series(users).implode()))
    if _POS in frame.columns:  # already a top_k (of k or more): cut, not ranked again
        return frame.filter(pl.col(_POS) <= k).select(C.User, C.Item, _POS)
    return (
        frame.select(C.User, C.Item, C.Rank)
        .sort([C.User, C.Rank], maintain_order=True)
        .unique([C.User, C.Item], keep="first", maintain_order=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(_POS))
        .filter(pl.col(_POS) <= k)
        .select(C.User, C.Item, _POS)
    )


class Relevant:
    """``truth`` made ready once for many lists and k: its distinct ``user_id, item_id`` pairs (Int64)
    and each user's count of them. Every function taking ``truth`` takes one as well (at full size the
    test period's 20M pairs would be made distinct again for each model and k)."""

    def __init__(self, truth: pl.DataFrame):
        self.pairs = truth.select(pl.col(C.User).cast(pl.Int64), pl.col(C.Item).cast(pl.Int64)).unique()
        self.counts = self.pairs.group_by(C.User).agg(pl.len().alias("relevant"))


Truth = pl.DataFrame | Relevant


def _per_user(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> pl.DataFrame:
    """One row per user of ``users``: ``hits, relevant, dcg, idcg, ap_sum`` (zeros where absent)."""
    users_frame = pl.DataFrame({C.User: np.asarray(users)}).with_columns(pl.col(C.User).cast(pl.Int64))
    ready = truth if isinstance(truth, Relevant) else Relevant(truth)
    relevant = ready.pairs
    hits = (
        top_k(recs, k, users)
        .with_columns(pl.col(C.User).cast(pl.Int64), pl.col(C.Item).cast(pl.Int64))
        .join(relevant, on=[C.User, C.Item], how="semi")
        .sort([C.User, _POS])
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.User).alias("_nth"))
        .group_by(C.User)
        .agg(
            pl.len().alias("hits"),
            (1.0 / (pl.col(_POS) + 1).log(2)).sum().alias("dcg"),
            (pl.col("_nth") / pl.col(_POS)).sum().alias("ap_sum"),
        )
    )
    n_rel = ready.counts
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    out = (
        users_frame.join(hits, on=C.User, how="left")
        .join(n_rel, on=C.User, how="left")
        .with_columns(pl.col("hits", "relevant").fill_null(0), pl.col("dcg", "ap_sum").fill_null(0.0))
    )
    idcg = discounts[np.minimum(out.get_column("relevant").to_numpy(), k)]
    return out.with_columns(pl.Series("idcg", idcg))


def _mean(values: pl.Series | np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if len(values) else 0.0


def precision_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Mean over ``users`` of (relevant tracks in the top ``k``) / ``k``.

    User 1 hits 1 of 2 slots, user 2 hits nothing, user 3 has no list: (1/2 + 0 + 0) / 3.

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [11, 15, 14, 10]})
    >>> round(precision_at_k(recs, truth, 2, np.array([1, 2, 3])), 4)
    0.1667
    """
    per = _per_user(recs, truth, k, users)
    return _mean(per.get_column("hits") / k)


def recall_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Mean over ``users`` of (relevant tracks in the top ``k``) / (their relevant tracks); 0 if none.

    User 1 finds 1 of its 2 test tracks, users 2 and 3 none: (1/2 + 0 + 0) / 3.

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [11, 15, 14, 10]})
    >>> round(recall_at_k(recs, truth, 2, np.array([1, 2, 3])), 4)
    0.1667
    """
    return _mean(recall_per_user(recs, truth, k, users))


def recall_per_user(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> np.ndarray:
    """Each user's recall@k, in the order of ``users`` (the terms :func:`recall_at_k` averages).

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [11, 15, 14, 10]})
    >>> recall_per_user(recs, truth, 2, np.array([3, 1, 2])).tolist()
    [0.0, 0.5, 0.0]
    """
    per = _per_user(recs, truth, k, users)
    order = pl.DataFrame({C.User: np.asarray(users)}).with_columns(pl.col(C.User).cast(pl.Int64))
    per = order.join(per, on=C.User, how="left", maintain_order="left")
    rel = per.get_column("relevant").to_numpy()
    return np.where(rel > 0, per.get_column("hits").to_numpy() / np.maximum(rel, 1), 0.0)


def f1_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Mean over ``users`` of each user's own F1 (not the F1 of the averaged precision and recall).

    User 1: P = 1/2, R = 1/2, F1 = 1/2; user 2: 0. Mean 0.25 (the F1 of mean P and mean R would also
    be 0.25 here, but with uneven users the two differ).

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [11, 15, 14]})
    >>> f1_at_k(recs, truth, 2, np.array([1, 2]))
    0.25
    """
    per = _per_user(recs, truth, k, users)
    hits = per.get_column("hits").to_numpy().astype(np.float64)
    rel = per.get_column("relevant").to_numpy()
    # F1 = 2PR/(P+R) = 2*hits / (k + relevant)
    return _mean(np.where(hits > 0, 2 * hits / (k + rel), 0.0))


def ndcg_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Mean over ``users`` of DCG@k / ideal DCG@k with binary relevance and gain 1/log2(position + 1).

    User 1 has a hit at position 2 and 2 relevant tracks: (1/log2 3) / (1 + 1/log2 3) = 0.3869;
    user 2 has none: 0. Mean 0.1934.

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [11, 15, 14]})
    >>> round(ndcg_at_k(recs, truth, 2, np.array([1, 2])), 4)
    0.1934
    """
    return _mean(ndcg_per_user(recs, truth, k, users))


def ndcg_per_user(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> np.ndarray:
    """Each user's NDCG@k, in the order of ``users`` (the terms :func:`ndcg_at_k` averages).

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [11, 15, 14]})
    >>> ndcg_per_user(recs, truth, 2, np.array([2, 1])).round(4).tolist()
    [0.0, 0.3869]
    """
    per = _per_user(recs, truth, k, users)
    order = pl.DataFrame({C.User: np.asarray(users)}).with_columns(pl.col(C.User).cast(pl.Int64))
    per = order.join(per, on=C.User, how="left", maintain_order="left")
    idcg = per.get_column("idcg").to_numpy()
    return np.where(idcg > 0, per.get_column("dcg").to_numpy() / np.where(idcg > 0, idcg, 1), 0.0)


def bootstrap_ratio_interval(
    a: np.ndarray, b: np.ndarray, n: int = 10_000, seed: int = 42, level: float = 0.95
) -> tuple[float, float]:
    """Paired bootstrap interval of ``mean(a) / mean(b)``: users are resampled with replacement and
    both models are scored on the same resample; the ``level`` percentile interval of the ratios.

    The ratio of means is a plain percentile with no spread when every user scores alike:

    >>> bootstrap_ratio_interval(np.array([0.5, 0.5, 0.5]), np.array([0.25, 0.25, 0.25]), n=100)
    (2.0, 2.0)
    >>> lo, hi = bootstrap_ratio_interval(np.array([1.0, 0.0, 0.5, 0.5]), np.array([0.5, 0.5, 0.5, 0.5]))
    >>> lo < 1.0 < hi
    True
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two equally long, non-empty per-user arrays, found {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    ratios = np.empty(n)
    for start in range(0, n, 1_000):  # bounded memory: 1,000 resamples x users at a time
        idx = rng.integers(0, a.size, size=(min(1_000, n - start), a.size))
        num, den = a[idx].mean(axis=1), b[idx].mean(axis=1)
        ratios[start:start + len(idx)] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.nanpercentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)


def map_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Mean over ``users`` of average precision: sum of precision@position at each hit / min(k, relevant).

    User 1: hits at positions 1 and 3 among 3 relevant -> (1/1 + 2/3) / 3 = 0.5556; user 2: 0.
    Mean 0.2778.

    >>> recs = pl.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 3, 1]})
    >>> truth = pl.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 12, 19, 14]})
    >>> round(map_at_k(recs, truth, 3, np.array([1, 2])), 4)
    0.2778
    """
    per = _per_user(recs, truth, k, users)
    denom = np.minimum(per.get_column("relevant").to_numpy(), k)
    return _mean(np.where(denom > 0, per.get_column("ap_sum").to_numpy() / np.maximum(denom, 1), 0.0))


def ranking_metrics(
    recs: pl.DataFrame, truth: Truth, ks: tuple[int, ...], users: np.ndarray
) -> dict[str, float]:
    """Precision, recall, F1, NDCG and MAP at each k in one pass per k: ``{"ndcg@10": ..., ...}``.

    >>> recs = pl.DataFrame({"user_id": [1, 1], "item_id": [10, 11], "rank": [1, 2]})
    >>> truth = pl.DataFrame({"user_id": [1], "item_id": [10]})
    >>> ranking_metrics(recs, truth, (1,), np.array([1, 2]))
    {'precision@1': 0.5, 'recall@1': 0.5, 'f1@1': 0.5, 'ndcg@1': 0.5, 'map@1': 0.5}
    """
    out: dict[str, float] = {}
    for k in ks:
        per = _per_user(recs, truth, k, users)
        hits = per.get_column("hits").to_numpy().astype(np.float64)
        rel = per.get_column("relevant").to_numpy()
        idcg = per.get_column("idcg").to_numpy()
        denom = np.minimum(rel, k)
        out[f"precision@{k}"] = _mean(hits / k)
        out[f"recall@{k}"] = _mean(np.where(rel > 0, hits / np.maximum(rel, 1), 0.0))
        out[f"f1@{k}"] = _mean(np.where(hits > 0, 2 * hits / (k + rel), 0.0))
        out[f"ndcg@{k}"] = _mean(np.where(idcg > 0, per.get_column("dcg").to_numpy() / np.where(
            idcg > 0, idcg, 1), 0.0))
        out[f"map@{k}"] = _mean(np.where(denom > 0, per.get_column("ap_sum").to_numpy() / np.maximum(
            denom, 1), 0.0))
    return out


REACH = "_reach"  # train users who listened to a track (novelty)


def novelty_at_k(recs: pl.DataFrame, train: pl.DataFrame | None, k: int, users: np.ndarray,
                 reach: tuple[pl.DataFrame, int] | None = None) -> float:
    """Mean self-information, in bits, of the recommended tracks: ``-log2(p(item))``.

    ``p(item)`` is the share of train users who listened to the track (a track nobody listened to
    counts as listened by one user). Averaged within each user's top ``k``, then over the users of
    ``users`` that have a list (an empty list has no novelty to average). Higher = less mainstream.

    Four train users; track 10 was heard by all of them (0 bits), track 11 by one (2 bits): user 1's
    list [10, 11] has novelty 1.0, user 2's [11] has 2.0. Mean 1.5.

    >>> train = pl.DataFrame({"user_id": [1, 2, 3, 4, 1], "item_id": [10, 10, 10, 10, 11]})
    >>> recs = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 11], "rank": [1, 2, 1]})
    >>> novelty_at_k(recs, train, 2, np.array([1, 2]))
    1.5

    ``reach``: ``(frame of item_id, _reach; the number of train users)`` counted beforehand (the
    evaluation scores several lists against one train period); ``train`` is then not read.
    """
    if reach is None:
        reach = (train.group_by(C.Item).agg(pl.col(C.User).n_unique().alias(REACH)),
                 train.get_column(C.User).n_unique())
    per_item, n_users = reach[0], max(reach[1], 1)
    per = (
        top_k(recs, k, users)
        .join(per_item, on=C.Item, how="left")
        .with_columns((-(pl.col(REACH).fill_null(1).clip(1, None) / n_users).log(2)).alias("_bits"))
        .group_by(C.User)
        .agg(pl.col("_bits").mean())
    )
    return _mean(per.get_column("_bits")) + 0.0  # + 0.0: no "-0.0" for an all-popular list


def unseen_share_at_k(recs: pl.DataFrame, train: pl.DataFrame, k: int, users: np.ndarray) -> float:
    """Share of each user's top ``k`` the user had not listened to in ``train`` (the original's "novelty").

    Averaged over the users of ``users`` that have a list. User 1 already heard 10: 1/2; user 2: 1.

    >>> train = pl.DataFrame({"user_id": [1, 2], "item_id": [10, 12]})
    >>> recs = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 11], "rank": [1, 2, 1]})
    >>> unseen_share_at_k(recs, train, 2, np.array([1, 2]))
    0.75
    """
    top = top_k(recs, k, users)
    seen = train.select(C.User, C.Item).unique().with_columns(pl.lit(True).alias("_seen"))
    per = (
        top.join(seen, on=[C.User, C.Item], how="left")
        .group_by(C.User)
        .agg((1.0 - pl.col("_seen").fill_null(False).cast(pl.Float64).mean()).alias("_unseen"))
    )
    return _mean(per.get_column("_unseen"))


def item_coverage_at_k(recs: pl.DataFrame, k: int, users: np.ndarray, n_items: int) -> float:
    """Distinct tracks in the top ``k`` of the users of ``users``, divided by the catalogue size.

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 11, 12], "rank": [1, 2, 1, 2]})
    >>> item_coverage_at_k(recs, 2, np.array([1, 2]), n_items=10)
    0.3
    >>> item_coverage_at_k(recs, 1, np.array([1, 2]), n_items=10)
    0.2
    """
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, found {n_items}")
    return top_k(recs, k, users).get_column(C.Item).n_unique() / n_items


def genre_diversity_at_k(
    recs: pl.DataFrame, items: pl.DataFrame, k: int, users: np.ndarray, genres: str = C.GenreIds
) -> float:
    """Intra-list diversity: mean Jaccard distance between the genre sets of each pair in a top ``k``.

    ``1 - |G_a & G_b| / |G_a | G_b|`` per pair (two tracks without genres count as identical),
    averaged over the pairs of a list, then over the users of ``users`` with at least two tracks.

    User 1: {rock} vs {rock, pop} -> 1/2; {rock} vs {jazz} -> 1; {rock, pop} vs {jazz} -> 1: 5/6.
    User 2: two rock tracks -> 0. Mean 5/12.

    >>> items = pl.DataFrame({"item_id": [10, 11, 12, 13], "genre_ids": [[1], [1, 2], [3], [1]]})
    >>> recs = pl.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": [10, 11, 12, 10, 13],
    ...                      "rank": [1, 2, 3, 1, 2]})
    >>> round(genre_diversity_at_k(recs, items, 3, np.array([1, 2])), 4)
    0.4167
    """
    top = top_k(recs, k, users)
    catalogue = items.select(pl.col(C.Item).cast(pl.Int64), genres).sort(C.Item)
    ids = catalogue.get_column(C.Item).to_numpy()
    long = catalogue.with_row_index("_row").explode(genres).drop_nulls(genres)
    _, codes = np.unique(long.get_column(genres).to_numpy(), return_inverse=True)
    g = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.float32), (long.get_column("_row").to_numpy(), codes)),
        shape=(len(ids), int(codes.max()) + 1 if len(codes) else 1),
    )
    g.data[:] = 1.0  # a genre listed twice counts once
    sizes = np.asarray(g.sum(axis=1)).ravel()
    # pairs (a, b) with a before b in the same list
    pairs = top.join(top, on=C.User, suffix="_b").filter(pl.col(_POS) < pl.col(f"{_POS}_b"))
    if pairs.height == 0:
        return 0.0
    pos = np.searchsorted(ids, pairs.get_column(C.Item).to_numpy())
    pos_b = np.searchsorted(ids, pairs.get_column(f"{C.Item}_b").to_numpy())
    known = (pos < len(ids)) & (pos_b < len(ids))
    known[known] &= (ids[pos[known]] == pairs.get_column(C.Item).to_numpy()[known])
    known[known] &= (ids[pos_b[known]] == pairs.get_column(f"{C.Item}_b").to_numpy()[known])
    a, b = np.where(known, pos, 0), np.where(known, pos_b, 0)
    inter = np.asarray(g[a].multiply(g[b]).sum(axis=1)).ravel()
    union = np.where(known, sizes[a] + sizes[b] - inter, 0.0)
    distance = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
    per = (
        pairs.select(C.User).with_columns(pl.Series("_d", distance))
        .group_by(C.User).agg(pl.col("_d").mean())
    )
    return _mean(per.get_column("_d"))


def hit_rate_at_k(recs: pl.DataFrame, truth: Truth, k: int, users: np.ndarray) -> float:
    """Share of ``users`` with at least one test track in their top ``k`` (no list = no hit).

    >>> recs = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 12], "rank": [1, 2, 1]})
    >>> truth = pl.DataFrame({"user_id": [1, 2, 3], "item_id": [11, 10, 10]})
    >>> round(hit_rate_at_k(recs, truth, 2, np.array([1, 2, 3])), 4)
    0.3333
    """
    per = _per_user(recs, truth, k, users)
    return _mean(per.get_column("hits").to_numpy() > 0)


def list_hit_rate(items: np.ndarray, truth: pl.DataFrame, users: np.ndarray) -> float:
    """Share of ``users`` with at least one test track in one shared list (e.g. popular for cold users).

    >>> truth = pl.DataFrame({"user_id": [7, 7, 8, 9], "item_id": [1, 2, 3, 2]})
    >>> list_hit_rate(np.array([2, 5]), truth, np.array([7, 8, 9, 10]))
    0.5
    """
    if len(users) == 0:
        return 0.0
    hit = (
        truth.filter(pl.col(C.Item).is_in(pl.Series(np.asarray(items)).implode()))
        .filter(pl.col(C.User).is_in(pl.Series(np.asarray(users)).implode()))
        .get_column(C.User).n_unique()
    )
    return hit / len(users)

