"""Implicit-feedback ALS: a wrapper around ``implicit``'s CPU model that speaks external ids and polars.

The user-item matrix holds the number of listens of each (user, track) pair (1 for the Yandex data,
which has no repeated pairs: a binary matrix); ``alpha`` turns it into the confidence ``alpha * n``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.topk import topk
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from musicrec.columns import Columns as C
from musicrec.config import Als
from musicrec.models import ann
from musicrec.models.ids import IdMap

# implicit marks filtered-out items with -FLT_MAX; anything this low is not a recommendation.
_FILTERED = -1e37
# Scores of one batch are a dense (batch x items) float32 block: keep it around 200 MB.
_BLOCK_CELLS = 50_000_000
# Tracks per search of a neighbour index (musicrec.models.ann)
_ANN_BATCH = 20_000
# Users per search of the recommendations' index, taken in the order of how many tracks they heard, so
# each search asks for about as many results as its users need
_ANN_USER_BATCH = 2_000
# The most results one user may ask of the index (n + heard tracks): a user past it is scored exactly
_ANN_MAX_K = 1_000


def user_item_matrix(events: pl.DataFrame, users: IdMap, items: IdMap) -> sp.csr_matrix:
    """CSR matrix (users x items) of listen counts; rows/columns are the maps' internal ids."""
    rows = users.to_internal(events.get_column(C.User).to_numpy())
    cols = items.to_internal(events.get_column(C.Item).to_numpy())
    ones = np.ones(len(rows), dtype=np.float32)
    # COO -> CSR sums repeated (user, track) pairs into counts, without a group-by over all listens
    matrix = sp.coo_matrix((ones, (rows, cols)), shape=(len(users), len(items))).tocsr()
    matrix.sort_indices()
    return matrix


class AlsRecommender:
    """Personal recommendations from implicit ALS (wrapped, not subclassed); a
    :class:`~musicrec.models.base.Recommender`.

    Deterministic for a fixed ``params.seed``: the factors are seeded and BLAS runs single-threaded
    while fitting (implicit's own threads solve independent rows, so their number does not change the
    factors); scoring batches use ``params.blas_threads`` BLAS threads (0 = all cores).
    """

    def __init__(self, params: Als):
        self.params = params
        self.user_ids = IdMap.from_values(np.array([], dtype=np.int32))
        self.item_ids = IdMap.from_values(np.array([], dtype=np.int32))
        self.user_factors = np.zeros((0, params.factors), dtype=np.float32)
        self.item_factors = np.zeros((0, params.factors), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)
        self.warm_start: object = None  # the cutoff of the fit this one started from (WarmStarts)
        # recommend's index, built once per fitted model and the settings it depends on
        self._index: tuple[tuple[int, int, int], ann.IvfIndex] | None = None

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, events: pl.DataFrame, show_progress: bool = True, start: AlsRecommender | None = None,
            iterations: int | None = None) -> AlsRecommender:
        """Fit on ``events`` (``user_id``, ``item_id``); users and tracks seen there become known.

        ``start``: a warm start, a model with as many factors fitted on earlier listens. The users and
        tracks it knows start from its factors, the others from small random values as usual, and
        ``iterations`` (``[als] iterations`` when None) go on from there. Nothing leaks in as long as
        ``start`` saw no listen that is not in ``events`` (an earlier cutoff of the same history)."""
        if events.height == 0:
            raise ValueError("cannot fit ALS on an empty events frame")
        if start is not None and start.item_factors.shape[1] != self.params.factors:
            raise ValueError(f"a warm start needs {self.params.factors} factors, the start model has "
                             f"{start.item_factors.shape[1]}")
        self.user_ids = IdMap.from_values(events.get_column(C.User).to_numpy())
        self.item_ids = IdMap.from_values(events.get_column(C.Item).to_numpy())
        self.user_items = user_item_matrix(events, self.user_ids, self.item_ids)
        factors = None if start is None else (
            self._start_factors(start.user_ids, start.user_factors, self.user_ids, 0),
            self._start_factors(start.item_ids, start.item_factors, self.item_ids, 1))
        return self._iterate(self.params.iterations if iterations is None else iterations, factors,
                             show_progress)

    def more(self, iterations: int, show_progress: bool = False) -> AlsRecommender:
        """``iterations`` more iterations on the listens of the last :meth:`fit`, from the current factors
        (implicit's iterations keep no state but the factors: k, then j more, are k + j)."""
        return self._iterate(iterations, (self.user_factors, self.item_factors), show_progress)

    def _iterate(self, iterations: int, factors: tuple[np.ndarray, np.ndarray] | None,
                 show_progress: bool) -> AlsRecommender:
        """Run implicit's ALS on ``user_items`` from ``factors`` (users, tracks), or from its own random
        start when None; keep the result."""
        p = self.params
        with threadpool_limits(1, "blas"):  # set first: implicit warns about a threaded BLAS otherwise
            model = AlternatingLeastSquares(
                factors=p.factors, regularization=p.regularization, alpha=1.0,  # see _confidence
                iterations=iterations, num_threads=p.blas_threads, random_state=p.seed)
            if factors is not None:  # implicit initialises only the factors it is not given
                model.user_factors, model.item_factors = factors
            model.fit(self._confidence(), show_progress=show_progress)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._index = None
        return self

    def _confidence(self) -> sp.csr_matrix:
        """``alpha * user_items``, sharing its index arrays: implicit, given ``alpha``, would copy the whole
        matrix to scale it (indices and all: 1.5 GB at full size); the model is built with alpha 1."""
        m = self.user_items
        return sp.csr_matrix((m.data * np.float32(self.params.alpha), m.indices, m.indptr), shape=m.shape)

    def _start_factors(self, known: IdMap, factors: np.ndarray, ids: IdMap, stream: int) -> np.ndarray:
        """Factors of ``ids``: those of ``known`` copied, the rest seeded uniform in [0, 0.01) as implicit
        starts them."""
        rng = np.random.default_rng([self.params.seed, stream])
        out = rng.random((len(ids), self.params.factors), dtype=np.float32) * np.float32(0.01)
        at = known.to_internal(ids.external, strict=False)
        out[at >= 0] = factors[at[at >= 0]]
        return out

    # -- inference -----------------------------------------------------------------------------------
    def recommend(
        self, user_ids: np.ndarray, n: int, filter_listened: bool = True, show_progress: bool = True
    ) -> pl.DataFrame:
        """Top-``n`` tracks per known user: ``user_id, item_id, score (float32), rank (1-based)``.

        Users unknown to the model get no rows. With ``filter_listened`` a track the user listened to
        in the fit data is never recommended (so a user may get fewer than ``n`` rows). With
        ``params.recommend_top_items = N > 0`` only the N most played tracks are scored (a full-scale
        speed knob: the cost is users x scored tracks).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, found {n}")
        users = np.unique(np.asarray(user_ids))
        internal = self.user_ids.to_internal(users, strict=False)
        users, internal = users[internal >= 0], internal[internal >= 0]
        scored = self.scored_items()
        factors = self.item_factors[scored] if scored is not None else self.item_factors
        ids_map = IdMap(self.item_ids.external[scored]) if scored is not None else self.item_ids
        n = min(n, len(ids_map))

        def heard_of(rows: np.ndarray) -> sp.csr_matrix:
            return self.user_items[rows] if scored is None else self.user_items[rows][:, scored]

        if ann.use_ann(len(ids_map), self.params.ann_min_items):
            frames = self._recommend_ann(users, internal, factors, ids_map, n, filter_listened, heard_of,
                                         show_progress)
            return _concat(frames, (C.User, C.Item), rank=True)
        batch = max(1, min(10_000, _BLOCK_CELLS // max(1, len(ids_map))))
        frames = []
        # scoring is one BLAS matmul per batch: let BLAS use the configured threads (0 = all cores)
        with threadpool_limits(self.params.blas_threads or None, "blas"):
            for start in tqdm(range(0, len(users), batch), desc="als recommend", unit="batch",
                              disable=not show_progress or len(users) <= batch):
                rows = internal[start:start + batch]
                heard = heard_of(rows) if filter_listened else None
                ids, scores = topk(factors, self.user_factors[rows], n, filter_query_items=heard,
                                   num_threads=self.params.blas_threads)
                frames.append(_long_frame(users[start:start + batch], ids, scores, ids_map, (C.User, C.Item)))
        return _concat(frames, (C.User, C.Item), rank=True)

    def _recommend_ann(self, users, internal, factors, ids_map, n, filter_listened, heard_of, show_progress):
        """:meth:`recommend` through an IVF index (``[als] ann_min_items``): each user asks the index for
        ``n`` plus the number of tracks they heard, the heard ones are dropped, and a user left with
        fewer than ``n`` (or who heard more than the index can return) is scored exactly."""
        p = self.params
        key = (p.ann_nprobe, p.ann_lists, p.recommend_top_items, p.seed)
        if self._index is None or self._index[0] != key:  # the ranker's inference asks 50,000 users at a time
            self._index = (key, ann.IvfIndex(factors, p.ann_nprobe, p.blas_threads, p.seed, mips=True,
                                                  lists=p.ann_lists))
        index = self._index[1]
        heard_count = np.diff(self.user_items.indptr)[internal]
        if not filter_listened:
            heard_count = np.zeros_like(heard_count)
        order = np.argsort(heard_count, kind="stable")  # batches of alike users ask alike k
        frames, exact = [], []
        for start in tqdm(range(0, len(order), _ANN_USER_BATCH), desc="als recommend (ivf)", unit="batch",
                          disable=not show_progress or len(order) <= _ANN_USER_BATCH):
            sel = order[start:start + _ANN_USER_BATCH]
            fits = n + heard_count[sel] <= _ANN_MAX_K
            exact.append(sel[~fits])
            sel = sel[fits]
            if not len(sel):
                continue
            rows = internal[sel]
            k = int(min(n + heard_count[sel].max(), len(ids_map)))
            ids, scores = index.search(self.user_factors[rows], k)
            valid = ids >= 0
            if filter_listened:
                valid &= ~ann.heard_mask(ids, heard_of(rows))
            ids, scores, short = ann.first_valid(ids, scores, valid, n, _FILTERED)
            exact.append(sel[short])
            keep = ~short
            frames.append(_long_frame(users[sel[keep]], ids[keep], scores[keep], ids_map, (C.User, C.Item)))
        rest = np.sort(np.concatenate(exact)) if exact else np.array([], dtype=np.int64)
        with threadpool_limits(p.blas_threads or None, "blas"):
            for start in range(0, len(rest), 1_000):
                sel = rest[start:start + 1_000]
                rows = internal[sel]
                ids, scores = topk(factors, self.user_factors[rows], n,
                                   filter_query_items=heard_of(rows) if filter_listened else None,
                                   num_threads=p.blas_threads)
                frames.append(_long_frame(users[sel], ids, scores, ids_map, (C.User, C.Item)))
        return frames

    def scored_items(self) -> np.ndarray | None:
        """Sorted internal ids of the tracks :meth:`recommend` scores; None = all of them."""
        top = self.params.recommend_top_items
        if top == 0 or top >= len(self.item_ids):
            return None
        plays = np.asarray(self.user_items.sum(axis=0)).ravel()
        order = np.lexsort((np.arange(len(plays)), -plays))  # most played first, smaller id on ties
        return np.sort(order[:top])

    def score(self, pairs: pl.DataFrame) -> np.ndarray:
        """Dot product of user and track factors for each row; NaN where the user or track is unknown."""
        u = self.user_ids.to_internal(pairs.get_column(C.User).to_numpy(), strict=False)
        i = self.item_ids.to_internal(pairs.get_column(C.Item).to_numpy(), strict=False)
        out = np.full(len(u), np.nan, dtype=np.float32)
        ok = np.flatnonzero((u >= 0) & (i >= 0))
        for start in range(0, len(ok), 1_000_000):
            sel = ok[start:start + 1_000_000]
            out[sel] = np.einsum("ij,ij->i", self.user_factors[u[sel]], self.item_factors[i[sel]])
        return out

    def similar_items(self, item_ids: np.ndarray, n: int, show_progress: bool = False) -> pl.DataFrame:
        """``n`` nearest known tracks by cosine of item factors: ``item_id_1, item_id_2, score``.

        Unknown tracks get no rows; a track is never its own neighbour.
        """
        items = np.unique(np.asarray(item_ids))
        internal = self.item_ids.to_internal(items, strict=False)
        items, internal = items[internal >= 0], internal[internal >= 0]
        return cosine_neighbours(self.item_factors, internal, n, self.item_ids, self.params.blas_threads,
                                 show_progress, self.params.ann_min_items, self.params.ann_nprobe,
                                 self.params.ann_lists)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write params, id maps, factors and the fit matrix (used to filter listened tracks)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "params.json").write_text(self.params.model_dump_json(indent=2))
        self.user_ids.save(d / "user_ids.npy")
        self.item_ids.save(d / "item_ids.npy")
        np.save(d / "user_factors.npy", self.user_factors)
        np.save(d / "item_factors.npy", self.item_factors)
        # uncompressed: at full size compressing the 200M-entry matrix takes tens of seconds to save ~1 GB
        sp.save_npz(d / "user_items.npz", self.user_items, compressed=False)

    @classmethod
    def load(cls, directory: str | Path) -> AlsRecommender:
        """Read a model written by :meth:`save`."""
        d = Path(directory)
        model = cls(Als(**json.loads((d / "params.json").read_text())))
        model.user_ids = IdMap.load(d / "user_ids.npy")
        model.item_ids = IdMap.load(d / "item_ids.npy")
        model.user_factors = np.load(d / "user_factors.npy")
        model.item_factors = np.load(d / "item_factors.npy")
        model.user_items = sp.load_npz(d / "user_items.npz").tocsr()
        return model


class WarmStarts:
    """The ALS fits of one ``train`` run, by cutoff, as starting points of later fits (a warm start).

    A run fits ALS at several cutoffs of the same train period (tune's ranker frame 7 days before its
    end, the ALS step at its end, the blend's two 14 and 21 days before it). :meth:`fit` starts a fit
    from the kept fit with the latest earlier cutoff and the same factors, alpha and regularization,
    and runs ``[als] warm_iterations`` instead of ``iterations``; from scratch when there is none (or
    ``warm_iterations`` is 0). Only an earlier cutoff of the same period is a start, so a fit never
    sees a listen its own history does not hold. A start, once used, is dropped (the new fit, later,
    serves any later cutoff better), and what is kept is factors and ids, not the fit's matrix.
    Within one run the same steps make the same fits; a step rerun alone (a resumed run) fits from
    scratch, as good by ``bench/als_iterations.py``, not bit-identical.
    """

    def __init__(self) -> None:
        self._kept: list[tuple[object, tuple[int, float, float], AlsRecommender]] = []

    def fit(self, events: pl.DataFrame, cutoff: object, params: Als,
            show_progress: bool = False) -> AlsRecommender:
        """ALS on ``events`` (the listens before ``cutoff``), warm-started when it can be."""
        key = (params.factors, params.alpha, params.regularization)
        earlier = [k for k in self._kept if k[1] == key and k[0] < cutoff]  # type: ignore[operator]
        start = max(earlier, key=lambda k: k[0]) if earlier and params.warm_iterations else None
        model = AlsRecommender(params)
        if start is None:
            model.fit(events, show_progress=show_progress)
        else:
            self._kept.remove(start)
            model.fit(events, show_progress=show_progress, start=start[2], iterations=params.warm_iterations)
        model.warm_start = None if start is None else start[0]
        light = AlsRecommender(params)  # the factors and ids only (shared, not copied)
        light.user_ids, light.item_ids = model.user_ids, model.item_ids
        light.user_factors, light.item_factors = model.user_factors, model.item_factors
        self._kept.append((cutoff, key, light))
        return model


def cosine_neighbours(
    factors: np.ndarray, rows: np.ndarray, n: int, ids: IdMap, num_threads: int = 0,
    show_progress: bool = False, ann_min_items: int = 0, nprobe: int = 0, lists: int = 0,
) -> pl.DataFrame:
    """Top-``n`` cosine neighbours of ``factors[rows]`` among all rows, in memory-bounded batches.

    Never materialises the item x item matrix: each batch scores ``batch x items`` cells only. With
    ``ann_min_items`` tracks or more (0 = never) the search goes through an IVF index
    (:mod:`musicrec.models.ann`); a row it leaves short of ``n`` neighbours is searched exactly.
    """
    norms = np.linalg.norm(factors, axis=1).astype(np.float32)
    unit = factors / np.where(norms > 0, norms, 1.0)[:, None]
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    n_items = len(unit)
    k = min(n + 1, n_items)  # +1: the track itself is among its nearest
    frames = []
    if ann.use_ann(n_items, ann_min_items) and len(rows):
        index = ann.IvfIndex(unit, nprobe, num_threads, lists=lists)
        short_rows = []
        for start in tqdm(range(0, len(rows), _ANN_BATCH), desc="similar (als, ivf)", unit="batch",
                          disable=not show_progress or len(rows) <= _ANN_BATCH):
            query = rows[start:start + _ANN_BATCH]
            nbr, scores = index.search(unit[query], k)
            valid = (nbr >= 0) & (nbr != query[:, None])
            nbr, scores, short = ann.first_valid(nbr, scores, valid, min(n, n_items - 1), _FILTERED)
            short_rows.append(query[short])
            keep = ~short
            frames.append(_long_frame(ids.to_external(query[keep]), nbr[keep], scores[keep], ids,
                                      (C.Item1, C.Item2)))
        rows = np.concatenate(short_rows)  # the rest is searched exactly below
    batch = max(1, min(10_000, _BLOCK_CELLS // max(1, n_items)))
    with threadpool_limits(num_threads or None, "blas"):
        for start in tqdm(range(0, len(rows), batch), desc="similar (als)", unit="batch",
                          disable=not show_progress or len(rows) <= batch):
            query = rows[start:start + batch]
            # filter each query's own row through a one-entry-per-row CSR
            own = sp.csr_matrix((np.ones(len(query), dtype=np.float32), query, np.arange(len(query) + 1)),
                                shape=(len(query), n_items))
            nbr, scores = topk(unit, unit[query], k, filter_query_items=own, num_threads=num_threads)
            frames.append(_long_frame(ids.to_external(query), nbr[:, :n], scores[:, :n], ids,
                                      (C.Item1, C.Item2)))
    return _concat(frames, (C.Item1, C.Item2), rank=False)


def _long_frame(
    keys: np.ndarray, ids: np.ndarray, scores: np.ndarray, item_map: IdMap, names: tuple[str, str]
) -> pl.DataFrame:
    keep = scores > _FILTERED
    width = ids.shape[1] if ids.ndim == 2 else 0
    key_col = np.repeat(keys, width).reshape(-1, width) if width else np.empty((len(keys), 0))
    return pl.DataFrame({
        names[0]: key_col[keep].astype(np.int32),
        names[1]: item_map.to_external(ids[keep]).astype(np.int32),
        C.Score: scores[keep].astype(np.float32),
    })


def _concat(frames: list[pl.DataFrame], names: tuple[str, str], rank: bool) -> pl.DataFrame:
    schema = {names[0]: pl.Int32, names[1]: pl.Int32, C.Score: pl.Float32}
    out = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    # topk returns each row best-first; a stable sort on the key keeps that order
    out = out.sort(names[0], maintain_order=True)
    if rank:
        out = out.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(names[0]).alias(C.Rank))
    return out
