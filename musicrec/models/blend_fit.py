"""Fitting the learned blend of ``/recommendations`` on a validation window at the end of the train period.

The window is the last ``[blend] window_days`` of the train period; the test period is never passed
in. For users with history before the window and more than ``[evaluation] online_history`` listens
in it, the first listens of the window play the online listens (the events service's list), and the
blend is scored on two horizons: the ``session_length`` listens right after them (``session``) and
all the rest of the window (``long``). The offline list at the window's start is the served model
replayed there: the ranker trained on the history before the window alone (it takes its own label
window from the end of that history, as the ranker step does from the end of the train period) and
ALS fitted on that history for its candidates; ALS alone when the ALS list is the one served. The
similar tracks of the online listens come from that same ALS with the same rule as
``similar.parquet``, so nothing learnt from the window leaks into the fit.

Every grid point of :class:`~musicrec.config.Blend` (offset x online weight x artist weight) is
scored with a vectorised twin of :func:`musicrec.models.blending.fuse` (the tests check both rank
alike); the chosen point maximises the smaller of its two NDCG@10 ratios over the offline list among
the points that are below it on neither horizon (``mean``, their mean, is kept for bench/blend_weights.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings
from musicrec.data.catalog import track_artists
from musicrec.models.als import WarmStarts
from musicrec.models.blending import FusionWeights, listen_artists, online_scores
from musicrec.models.ranker import RankerRecommender
from musicrec.models.ranker.labels import period_end
from musicrec.models.similar import build_similar

log = logging.getLogger(__name__)

K = 10  # NDCG@10: the metric the blend is chosen on
HORIZONS = ("session", "long")


@dataclass(frozen=True)
class OnlineHorizons:
    """The online evaluation of one period: per user, the online listens and the two target sets."""

    context: dict[int, list[int]]  # the first listens of the period, newest first (as /get returns them)
    session: dict[int, set[int]]  # the next session_length listens after them
    long: dict[int, set[int]]  # every listen after them
    eligible: int = 0  # the users with more than the context's listens, of whom these are a sample or all

    @property
    def users(self) -> np.ndarray:
        return np.array(sorted(self.context), dtype=np.int64)


def online_horizons(
    period: pl.DataFrame, users: np.ndarray, history: int, session_length: int, limit: int = 0, seed: int = 0
) -> OnlineHorizons:
    """Split each user's listens of ``period`` (in listen order) into the online context and the targets.

    Only users of ``users`` with more than ``history`` listens in the period take part; past ``limit``
    of them (0: no limit) a seeded sample of ``limit``, chosen before their listens become Python sets
    (every eligible user's would take GBs at full size).

    >>> period = pl.DataFrame({"user_id": [1, 1, 1, 1, 1, 2], "item_id": [5, 6, 7, 8, 9, 5]})
    >>> h = online_horizons(period, np.array([1, 2]), history=2, session_length=2)
    >>> h.context, sorted(h.session[1]), sorted(h.long[1]), h.eligible
    ({1: [6, 5]}, [7, 8], [7, 8, 9], 1)
    >>> online_horizons(pl.concat([period, period.with_columns(pl.col("user_id") + 1)]), np.array([1, 2, 3]),
    ...                 history=2, session_length=2, limit=1, seed=0).eligible
    2
    """
    ordered = (
        period.filter(pl.col(C.User).is_in(pl.Series(np.asarray(users)).implode()))
        .select(C.User, C.Item)
        .filter(pl.len().over(C.User) > history)
    )
    eligible = np.sort(ordered.get_column(C.User).unique().to_numpy()).astype(np.int64)
    if limit and len(eligible) > limit:
        chosen = np.random.default_rng(seed).choice(eligible, limit, replace=False)
        ordered = ordered.filter(pl.col(C.User).is_in(pl.Series(chosen).implode()))
    grouped = ordered.group_by(C.User, maintain_order=True).agg(pl.col(C.Item))
    context, session, long = {}, {}, {}
    for user, listens in grouped.iter_rows():
        listens = [int(i) for i in listens]
        context[int(user)] = listens[:history][::-1]
        session[int(user)] = set(listens[history:history + session_length])
        long[int(user)] = set(listens[history:])
    return OnlineHorizons(context, session, long, len(eligible))


def neighbour_lists(similar: pl.DataFrame, k: int) -> dict[int, tuple[list[int], list[float]]]:
    """``similar.parquet`` as the features service answers it: track -> (similar ids, scores), best first."""
    grouped = (
        similar.sort([C.Item1, C.Score], descending=[False, True], maintain_order=True)
        .group_by(C.Item1, maintain_order=True)
        .agg(pl.col(C.Item2).head(k), pl.col(C.Score).head(k))
    )
    return {
        int(i): (list(a), list(s))
        for i, a, s in zip(grouped.get_column(C.Item1).to_list(), grouped.get_column(C.Item2).to_list(),
                           grouped.get_column(C.Score).to_list(), strict=True)
    }


def item_artists(items: pl.DataFrame) -> Callable[[int], int | None]:
    """A track's artist (:func:`musicrec.data.catalog.track_artists`) as a lookup; None without one."""
    first = track_artists(items)
    return dict(zip(first.get_column(C.Item).to_list(), first.get_column(C.Artist).to_list(),
                    strict=True)).get


def ndcg(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Binary NDCG@k of one list (the same definition as :func:`musicrec.evaluation.metrics.ndcg_at_k`).

    >>> round(ndcg([3, 1, 2], {1, 9}), 4)
    0.3869
    """
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    if ideal == 0:
        return 0.0
    return sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant) / ideal


# --- the vectorised twin of fuse --------------------------------------------------------------------
@dataclass(frozen=True)
class Candidates:
    """Every user's fuse candidates as flat arrays (one row per user x candidate)."""

    user: np.ndarray  # position of the user in ``users`` (rows grouped by user)
    item: np.ndarray
    rank: np.ndarray  # offline rank, inf when the track is not in the offline list
    online: np.ndarray  # online_scores value (0 when not similar to a listen)
    artist: np.ndarray  # listen_artists value of the track's artist (0 when none)
    hits: dict[str, np.ndarray]  # horizon -> 1.0 when the track is a target of the user
    ideal: dict[str, np.ndarray]  # horizon -> ideal DCG@K per user
    users: np.ndarray
    tie: np.ndarray  # the rows in tie-break order (offline rank, online score descending, item)
    start: np.ndarray  # first row of each user


def candidates(
    offline: dict[int, list[int]], horizons: OnlineHorizons,
    neighbours: dict[int, tuple[list[int], list[float]]], artist_of: Callable[[int], int | None],
    recency_decay: float,
) -> Candidates:
    """The candidates :func:`~musicrec.models.blending.fuse` would rank for each user, with their terms."""
    users = horizons.users
    rows: list[tuple[int, int, float, float, float]] = []
    for u, user in enumerate(users.tolist()):
        events = horizons.context[user]
        excluded = set(events)
        near = online_scores([neighbours.get(e, ((), ())) for e in events], excluded, recency_decay)
        artists = listen_artists(events, artist_of, recency_decay)
        seen: set[int] = set()
        for rank, item in enumerate(offline.get(user, ()), 1):
            if item in excluded or item in seen:
                continue
            seen.add(item)
            rows.append((u, item, float(rank), near[item][0] if item in near else 0.0,
                         artists.get(artist_of(item), (0.0, 0))[0]))
        for item, (value, _) in near.items():
            if item not in seen:
                rows.append((u, item, math.inf, value, artists.get(artist_of(item), (0.0, 0))[0]))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    user, item = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    hits, ideal = {}, {}
    for name in HORIZONS:
        targets = getattr(horizons, name)
        hits[name] = np.fromiter((i in targets[users[x]] for x, i in zip(user.tolist(), item.tolist(),
                                                                         strict=True)), dtype=np.float64,
                                 count=len(item))
        ideal[name] = np.array([sum(1 / math.log2(i + 2) for i in range(min(K, len(targets[x]))))
                                for x in users.tolist()])
    tie = np.lexsort((item, -arr[:, 3], arr[:, 2]))
    start = np.searchsorted(user, np.arange(len(users)))  # rows are grouped by user, in user order
    return Candidates(user, item, arr[:, 2], arr[:, 3], arr[:, 4], hits, ideal, users, tie, start)


def top_k_positions(c: Candidates, weights: FusionWeights, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``c`` that fuse puts in each user's top ``k``, and their 0-based positions.

    Same order as :func:`~musicrec.models.blending.fuse`: score descending, then offline rank, then
    online score descending, then the smaller track id.
    """
    offline_part = np.where(np.isfinite(c.rank), 1.0 / (weights.offset + c.rank), 0.0)
    score = offline_part + weights.online * c.online + weights.artist * c.artist
    # the tie-break order does not depend on the weights: a stable sort by (user, -score) of the rows
    # taken in that order gives fuse's order with two sort keys instead of five
    order = c.tie[np.lexsort((-score[c.tie], c.user[c.tie]))]
    position = np.arange(len(order)) - c.start[c.user[order]]
    keep = position < k
    return order[keep], position[keep]


def ndcg_per_user(c: Candidates, weights: FusionWeights) -> dict[str, np.ndarray]:
    """NDCG@K of every user's fused list on each horizon (users without targets score 0)."""
    rows, position = top_k_positions(c, weights)
    discount = 1.0 / np.log2(position + 2)
    out = {}
    for horizon in HORIZONS:
        dcg = np.bincount(c.user[rows], weights=c.hits[horizon][rows] * discount, minlength=len(c.users))
        out[horizon] = np.divide(dcg, c.ideal[horizon], out=np.zeros_like(dcg), where=c.ideal[horizon] > 0)
    return out


def grid(settings: Settings) -> list[FusionWeights]:
    cfg = settings.blend
    return [FusionWeights(online=w, artist=a, offset=o, recency_decay=cfg.recency_decay)
            for o in cfg.offsets for w in cfg.online_weights for a in cfg.artist_weights]


OBJECTIVES = {
    "worst": "the smaller of the session and long NDCG@10 ratios over the offline list",
    "mean": "the mean of the session and long NDCG@10 ratios over the offline list",
}


def choose(c: Candidates, offline_ndcg: dict[str, float], points: list[FusionWeights],
           objective: str = "worst") -> dict[str, Any]:
    """Score every grid point; the best has the highest ``objective`` (:data:`OBJECTIVES`) among the
    points that are worse than the offline list on neither horizon (any point when none is).

    ``worst`` (the default) takes the point whose smaller ratio is the largest, then the larger mean:
    the session's gain does not buy a loss on the long horizon, where the validation window flatters
    large weights (docs/quality.md, "The selection rule")."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, not {objective!r}")
    tried, ratios = [], []
    for weights in points:
        scores = {h: float(v.mean()) for h, v in ndcg_per_user(c, weights).items()}
        ratios.append({h: scores[h] / offline_ndcg[h] if offline_ndcg[h] > 0 else 0.0 for h in HORIZONS})
        mean, worst = sum(ratios[-1].values()) / len(HORIZONS), min(ratios[-1].values())
        tried.append({"weights": weights.to_dict(), "ndcg@10": scores,
                      "objective": worst if objective == "worst" else mean, "mean_ratio": mean,
                      "worse_on_neither": worst >= 1.0})
    best = best_point(ratios, objective)
    return {"weights": tried[best]["weights"], "best": tried[best], "tried": tried}


def best_point(ratios: Sequence[dict[str, float]], objective: str = "worst") -> int:
    """The index of the point :func:`choose` takes, from each point's NDCG@10 ratios over the offline
    list per horizon: the highest ``objective`` among the points worse on neither horizon (any point
    when none is); ties keep the larger mean, then the earlier (simpler: smaller weights come first in
    the grid) point.

    >>> best_point([{"session": 1.3, "long": 0.99}, {"session": 1.1, "long": 1.05},
    ...             {"session": 1.2, "long": 1.02}])
    1
    >>> best_point([{"session": 1.3, "long": 1.01}, {"session": 1.1, "long": 1.05}], "mean")
    0
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, not {objective!r}")

    def key(i: int) -> tuple[float, float, int]:
        values = [ratios[i][h] for h in HORIZONS]
        mean = sum(values) / len(values)
        return (min(values) if objective == "worst" else mean, mean, -i)

    allowed = ([i for i, r in enumerate(ratios) if min(r[h] for h in HORIZONS) >= 1.0]
               or list(range(len(ratios))))
    return max(allowed, key=key)


# --- the fit ------------------------------------------------------------------------------------------
def validation_split(train: pl.DataFrame, window_days: int) -> tuple[pl.DataFrame, pl.DataFrame, Any]:
    """``history`` (before the window), ``window`` (the last ``window_days`` of ``train``) and the cut."""
    end = period_end(train)
    cut = end - timedelta(days=window_days)
    before = pl.col(C.Datetime) < cut
    history, window = train.filter(before), train.filter(~before)
    if history.height == 0 or window.height == 0:
        raise ValueError(f"[blend] window_days = {window_days} leaves the history or the validation window "
                         f"empty (train ends {end:%Y-%m-%d}); use fewer days or more data")
    return history, window, cut


def fit_blend(train: pl.DataFrame, items: pl.DataFrame, settings: Settings,
              show_progress: bool = False, offline_model: str = "ranker",
              starts: WarmStarts | None = None) -> dict[str, Any]:
    """Fit the blend's weights on the end of ``train``; the ``blend.json`` document.

    ``offline_model``: the model whose list the service blends, replayed at the window's start
    (``ranker``: trained on the history before the window, like the ranker step; ``als``).
    ``starts``: the run's :class:`~musicrec.models.als.WarmStarts`: the ranker's frame is built first
    (its ALS at its own, earlier cutoff), then ALS at the window's start may start from that fit."""
    start = time.perf_counter()
    cfg, history_n = settings.blend, settings.evaluation.online_history
    history, window, cut = validation_split(train, cfg.window_days)
    del train  # the pipeline passes its only reference: not held while the frames are built
    candidates_users = np.intersect1d(history.get_column(C.User).unique().to_numpy(),
                                      window.get_column(C.User).unique().to_numpy())
    horizons = online_horizons(window, candidates_users, history_n, settings.evaluation.session_length,
                               cfg.max_users, cfg.seed)
    users = horizons.users
    if len(users) == 0:
        raise ValueError(f"no user has history before {cut:%Y-%m-%d} and more than {history_n} listens "
                         f"after it: the blend cannot be fitted (use a longer [blend] window_days)")
    log.info("blend: validation window from %s, %d users", cut.date(), len(users))
    offline_list, ranker = offline_model, None
    if cfg.als_iterations:  # the replay's ALS fits only: the served models keep [als] iterations
        settings = settings.model_copy(
            update={"als": settings.als.model_copy(update={"iterations": cfg.als_iterations})})
    if offline_model == "ranker":
        # the served model replayed at the window's start: the ranker trained on the history alone (its
        # own label window is the end of the history), then ranking the validation users' candidates
        try:
            ranker = RankerRecommender(settings, items).fit(history, show_progress=show_progress,
                                                            starts=starts)
        except ValueError as exc:  # e.g. too little history before the window for a label window
            log.warning("blend: the ranker cannot be trained on the history before %s (%s): the "
                        "validation's offline list is ALS", cut.date(), exc)
            offline_list = f"als (the ranker could not be trained on the history: {exc})"
    als = (starts or WarmStarts()).fit(history, cut, settings.als, show_progress)
    if ranker is not None:
        ranker.als = als  # its candidates' ALS: fitted on the same history with [als]
        recs = ranker.recommend(users, settings.ranker.n_recs)
    else:
        recs = als.recommend(users, settings.als.n_recs, show_progress=False)
    offline = {int(u): [int(i) for i in lst] for u, lst in
               recs.sort([C.User, C.Rank]).group_by(C.User, maintain_order=True).agg(C.Item).iter_rows()}
    listened = np.unique(np.concatenate([np.asarray(v) for v in horizons.context.values()]))
    similar = build_similar(items, history, als, settings.similar, show_progress=False, queries=listened)
    neighbours = neighbour_lists(similar, settings.similar.k)
    artist_of = item_artists(items)
    c = candidates(offline, horizons, neighbours, artist_of, cfg.recency_decay)
    offline_ndcg = {h: float(np.mean([ndcg(offline.get(u, []), getattr(horizons, h)[u])
                                      for u in users.tolist()])) for h in HORIZONS}
    chosen = choose(c, offline_ndcg, grid(settings))
    doc = {
        "weights": chosen["weights"],
        "validation": {
            "window_start": cut.isoformat(), "window_days": cfg.window_days, "users": len(users),
            "offline_list": offline_list, "offline_ndcg@10": offline_ndcg,
            "chosen_ndcg@10": chosen["best"]["ndcg@10"],
            "objective": f"worst: {OBJECTIVES['worst']}, among the points worse than it "
                         "on neither",
        },
        "tried": chosen["tried"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    log.info("blend: chosen %s: validation NDCG@10 session %.4f (offline %.4f), long %.4f (offline %.4f)",
             chosen["weights"], chosen["best"]["ndcg@10"]["session"], offline_ndcg["session"],
             chosen["best"]["ndcg@10"]["long"], offline_ndcg["long"])
    return doc
