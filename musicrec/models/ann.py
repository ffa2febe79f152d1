"""Approximate top-k by inner product over many tracks: a faiss inverted-file (IVF) index.

At a million tracks the exact searches (every query scored against every track, then a top-k of a
million scores per query) are most of the pipeline's time: the similar tracks, the ranker's
neighbours of the last listens and the ALS recommendations for 1.3M users. An IVF index clusters the
tracks once (k-means on a seeded sample) and scores a query only against the tracks of its
``nprobe`` nearest clusters: ~1% of the tracks at a million, with exact scores for what it returns
(``IndexIVFFlat`` keeps the vectors as they are). What it can miss is a track in a cluster it did not
probe; ``bench/neighbours.py`` measures that recall against the exact search.

Used above ``[als] ann_min_items`` tracks (0 = never): below that the exact search is fast enough and
stays the default, so small data keeps its exact (and byte-stable) lists.
"""

from __future__ import annotations

import os

import faiss
import numpy as np

# faiss marks a missing result with id -1 (fewer than k tracks in the probed clusters)
MISSING = -1
# k-means sample per cluster (faiss warns below 39) and iterations: bounded cost at a million tracks
_SAMPLE_PER_LIST = 64
_KMEANS_ITERATIONS = 10
_PROBE_DIVISOR = 40


def use_ann(n_items: int, min_items: int) -> bool:
    """Whether a search over ``n_items`` tracks goes through an index (``min_items`` = 0: never)."""
    return min_items > 0 and n_items >= min_items


def n_lists(n_items: int) -> int:
    """Number of clusters: ~sqrt(n) (1,000 at a million tracks). The usual rule for IVF, ~4 sqrt(n), makes
    an index whose k-means costs more than a million queries' search here (27-31 s against 2-3 s a build
    at full size), for 0.3-0.4 points of recall and no change of the ranker's NDCG@10 at 1/10
    (docs/benchmarks.md, "Fewer clusters in the IVF index")."""
    return int(np.clip(round(np.sqrt(n_items)), 1, 65_536))


def n_probe(lists: int, nprobe: int) -> int:
    """Clusters searched per query: ``nprobe``, or 0 = 1/40 of them (recall depends on the share probed:
    8 of 316 at 100,000 tracks, 25 of 1,000 at a million)."""
    return min(nprobe or max(1, round(lists / _PROBE_DIVISOR)), lists)


class IvfIndex:
    """Inner-product IVF index over ``vectors`` (rows = internal ids), searched ``nprobe`` lists deep
    (0 = :func:`n_probe`'s share).

    ``mips``: the vectors have different norms (ALS item factors scored against a user vector). The
    clusters of an IVF index are found by distance, which serves a largest-inner-product search badly
    when norms differ; so each vector gets one more coordinate, ``sqrt(max norm^2 - norm^2)``, which
    gives every vector the same norm, and queries get a 0 there: the inner products are unchanged and
    the largest one is now the nearest neighbour (Bachrach et al., 2014).
    """

    def __init__(self, vectors: np.ndarray, nprobe: int, threads: int = 0, seed: int = 42,
                 mips: bool = False, lists: int = 0):
        vectors = np.asarray(vectors, dtype=np.float32)
        self.mips = mips
        if mips:
            sq = np.einsum("ij,ij->i", vectors, vectors)
            vectors = np.hstack([vectors, np.sqrt(np.maximum(sq.max() - sq, 0.0))[:, None]])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.threads = threads or os.cpu_count() or 1
        faiss.omp_set_num_threads(self.threads)
        n, dim = vectors.shape
        lists = min(lists or n_lists(n), n)
        quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        self.index.cp.seed = seed
        self.index.cp.niter = _KMEANS_ITERATIONS
        sample_size = min(n, _SAMPLE_PER_LIST * lists)
        sample = np.sort(np.random.default_rng(seed).choice(n, sample_size, replace=False))
        self.index.train(vectors[sample])
        self.index.add(vectors)
        self.index.nprobe = n_probe(lists, nprobe)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids int64, scores float32)``, each ``len(queries) x k``, best first; missing = ``MISSING``."""
        faiss.omp_set_num_threads(self.threads)
        queries = np.asarray(queries, dtype=np.float32)
        if self.mips:
            queries = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        scores, ids = self.index.search(np.ascontiguousarray(queries), k)
        return ids, scores


def first_valid(ids: np.ndarray, scores: np.ndarray, valid: np.ndarray, n: int,
                filtered: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` results of each row where ``valid`` holds, in their order.

    Returns ``(ids, scores, short)``: rows with fewer than ``n`` valid results are padded with
    ``filtered`` scores, and ``short`` marks them (the caller searches them exactly).
    """
    order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
    ids = np.take_along_axis(ids, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1).copy()
    ok = np.take_along_axis(valid, order, axis=1)
    scores[~ok] = filtered
    return ids, scores, ~ok.all(axis=1)


def heard_mask(ids: np.ndarray, heard) -> np.ndarray:
    """True where ``ids[r, j]`` is a column of row ``r`` of the CSR matrix ``heard``."""
    rows, width = heard.shape
    nnz_rows = np.repeat(np.arange(rows, dtype=np.int64), np.diff(heard.indptr))
    heard_keys = np.sort(nnz_rows * width + heard.indices.astype(np.int64))
    if not len(heard_keys):
        return np.zeros(ids.shape, dtype=bool)
    keys = np.arange(len(ids), dtype=np.int64)[:, None] * width + ids
    at = np.minimum(np.searchsorted(heard_keys, keys), len(heard_keys) - 1)
    return (heard_keys[at] == keys) & (ids >= 0)
