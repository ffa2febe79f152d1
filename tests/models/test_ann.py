"""The approximate (faiss IVF) searches against the exact ones they replace above [als] ann_min_items."""

import numpy as np
import polars as pl
import pytest

from musicrec.config import Als
from musicrec.models import als as als_module
from musicrec.models import ann
from musicrec.models.als import AlsRecommender, cosine_neighbours
from musicrec.models.ids import IdMap

N_ITEMS, DIM = 3_000, 16


def clustered(n: int = N_ITEMS, seed: int = 0) -> np.ndarray:
    """Factors in 30 clusters, as ALS item factors are (tracks of a genre or artist lie together)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, DIM)) * 3
    return (centres[rng.integers(0, 30, n)] + rng.normal(size=(n, DIM))).astype(np.float32)


def neighbour_sets(frame: pl.DataFrame) -> dict[int, list[int]]:
    return {k: v for k, v in frame.group_by("item_id_1").agg("item_id_2").iter_rows()}


@pytest.fixture(scope="module")
def factors():
    return clustered()


def test_small_searches_stay_exact():
    assert not ann.use_ann(199_999, 200_000) and ann.use_ann(200_000, 200_000)
    assert not ann.use_ann(10**9, 0)
    assert ann.n_lists(1_000_000) == 1_000 and ann.n_lists(100_000) == 316
    assert ann.n_probe(1_000, 0) == 25 and ann.n_probe(316, 0) == 8 and ann.n_probe(20, 0) == 1
    assert ann.n_probe(4_000, 64) == 64 and ann.n_probe(50, 64) == 50


def test_probing_every_cluster_gives_the_exact_neighbours(factors):
    ids = IdMap(np.arange(N_ITEMS, dtype=np.int32) * 10)
    rows = np.arange(0, N_ITEMS, 7)
    exact = cosine_neighbours(factors, rows, 10, ids)
    approx = cosine_neighbours(factors, rows, 10, ids, ann_min_items=1, nprobe=10_000)
    assert approx.columns == exact.columns and approx.height == exact.height == len(rows) * 10
    assert neighbour_sets(approx) == neighbour_sets(exact)
    assert np.allclose(approx.get_column("score").to_numpy(), exact.get_column("score").to_numpy(), atol=1e-5)


def test_a_few_clusters_find_most_neighbours_never_the_track_itself(factors):
    ids = IdMap(np.arange(N_ITEMS, dtype=np.int32))
    rows = np.arange(N_ITEMS)
    exact = neighbour_sets(cosine_neighbours(factors, rows, 10, ids))
    frame = cosine_neighbours(factors, rows, 10, ids, ann_min_items=1, nprobe=8, lists=219)  # 8 of 219
    approx = neighbour_sets(frame)
    assert frame.filter(pl.col("item_id_1") == pl.col("item_id_2")).height == 0
    assert all(len(v) == 10 for v in approx.values()) and len(approx) == N_ITEMS
    recall = np.mean([len(set(approx[i]) & set(exact[i])) / 10 for i in range(N_ITEMS)])
    assert 0.9 <= recall < 1.0  # approximate, and good: a test that the index is really used
    # best first within each track, scores are the exact cosines of the pairs returned
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    pairs = frame.select("item_id_1", "item_id_2").to_numpy()
    expected = np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])
    assert np.allclose(frame.get_column("score").to_numpy(), expected, atol=1e-5)
    assert frame.group_by("item_id_1", maintain_order=True).agg(
        (pl.col("score").diff().drop_nulls() <= 1e-6).all().alias("sorted")).get_column("sorted").all()


def listens(n_users: int = 400, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), 30)
    items = rng.zipf(1.3, len(users)) % 600
    return pl.DataFrame({"user_id": users.astype(np.int32), "item_id": items.astype(np.int32)}).unique()


@pytest.fixture(scope="module")
def fitted():
    params = Als(factors=8, iterations=5, blas_threads=1, seed=3, ann_min_items=0)
    return AlsRecommender(params).fit(listens(), show_progress=False)


def with_ann(model: AlsRecommender, nprobe: int) -> AlsRecommender:
    copy = AlsRecommender(model.params.model_copy(update={"ann_min_items": 1, "ann_nprobe": nprobe}))
    for name in ("user_ids", "item_ids", "user_factors", "item_factors", "user_items"):
        setattr(copy, name, getattr(model, name))
    return copy


def test_recommend_probing_every_cluster_equals_the_exact_lists(fitted):
    users = np.arange(400)
    exact = fitted.recommend(users, 20, show_progress=False)
    approx = with_ann(fitted, 10_000).recommend(users, 20, show_progress=False)
    assert approx.columns == exact.columns and approx.height == exact.height
    assert approx.select("user_id", "rank").equals(exact.select("user_id", "rank"))
    assert np.allclose(approx.get_column("score").to_numpy(), exact.get_column("score").to_numpy(), atol=1e-4)
    # the same tracks per user (a tie may swap two neighbours of equal score)
    assert ({k: set(v) for k, v in approx.group_by("user_id").agg("item_id").iter_rows()}
            == {k: set(v) for k, v in exact.group_by("user_id").agg("item_id").iter_rows()})


def test_recommend_never_returns_a_heard_track_and_heavy_listeners_are_scored_exactly(fitted, monkeypatch):
    heard = listens().select("user_id", "item_id")
    counts = heard.group_by("user_id").len().get_column("len")
    limit = int(counts.median()) + 10  # users who heard more than the median go exact
    monkeypatch.setattr(als_module, "_ANN_MAX_K", limit)
    exact_rows = []
    real_topk = als_module.topk

    def counting_topk(factors, queries, *args, **kwargs):
        exact_rows.append(len(queries))
        return real_topk(factors, queries, *args, **kwargs)

    monkeypatch.setattr(als_module, "topk", counting_topk)
    model = with_ann(fitted, 30)  # ~180 of the 586 tracks scored per user
    recs = model.recommend(np.arange(400), 10, show_progress=False)
    assert sum(exact_rows) >= (counts + 10 > limit).sum() > 0
    assert sum(exact_rows) < 400
    assert recs.join(heard, on=["user_id", "item_id"], how="inner").height == 0
    assert recs.group_by("user_id").len().get_column("len").min() == 10
    assert recs.get_column("user_id").n_unique() == 400
    # scores are the model's own dot products for what it returns
    assert np.allclose(recs.get_column("score").to_numpy(), model.score(recs), atol=1e-4)


def test_recommend_builds_its_index_once_per_model(fitted, monkeypatch):
    """Batches of users (the ranker's inference) share one index; a new fit or nprobe builds another."""
    model = with_ann(fitted, 8)
    built = []
    real = ann.IvfIndex

    def counting(*args, **kwargs):
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ann, "IvfIndex", counting)
    first = model.recommend(np.arange(200), 10, show_progress=False)
    second = model.recommend(np.arange(200, 400), 10, show_progress=False)
    assert len(built) == 1
    both = model.recommend(np.arange(400), 10, show_progress=False)
    batched = pl.concat([first, second]).sort(["user_id", "rank"])
    # the same lists; a score may differ in its last bits (BLAS blocks a batch of 400 queries differently)
    assert both.select("user_id", "item_id", "rank").equals(batched.select("user_id", "item_id", "rank"))
    assert np.allclose(both.get_column("score").to_numpy(), batched.get_column("score").to_numpy(), atol=1e-5)
    model.params = model.params.model_copy(update={"ann_nprobe": 16})
    model.recommend(np.arange(10), 10, show_progress=False)
    assert len(built) == 2


def test_ann_lists_sets_the_number_of_clusters(factors):
    assert ann.IvfIndex(factors, 0, 1).index.nlist == ann.n_lists(N_ITEMS) == 55
    fewer = ann.IvfIndex(factors, 0, 1, lists=60)
    assert fewer.index.nlist == 60 and fewer.index.nprobe == ann.n_probe(60, 0) == 2
    assert ann.IvfIndex(factors[:50], 0, 1, lists=60).index.nlist == 50  # never more than the vectors
    ids = IdMap(np.arange(N_ITEMS, dtype=np.int32))
    rows = np.arange(0, N_ITEMS, 5)
    exact = neighbour_sets(cosine_neighbours(factors, rows, 10, ids))
    # every cluster probed: exact whatever their number; one of 60: approximate
    every = cosine_neighbours(factors, rows, 10, ids, ann_min_items=1, nprobe=60, lists=60)
    assert neighbour_sets(every) == exact
    approx = neighbour_sets(cosine_neighbours(factors, rows, 10, ids, ann_min_items=1, nprobe=1, lists=60))
    recall = np.mean([len(set(approx[i]) & set(exact[i])) / 10 for i in rows])
    assert 0.5 <= recall < 1.0, recall


def test_bench_neighbours_exact_rows_are_exact_whatever_the_saved_settings(fitted, tmp_path):
    """bench/neighbours.py's reference must be the exact search even when the saved model's own settings
    go through the index (at full size they do): an index compared with itself would show recall 1.000."""
    import subprocess
    import sys

    saved = with_ann(fitted, 1)  # the index on, 1 of 2 clusters probed: ~300 tracks a user, approximate
    saved.params = saved.params.model_copy(update={"ann_lists": 2})
    saved.save(tmp_path / "als")
    # the bench's point is the saved settings: against itself its recall would be 1.000
    out = subprocess.run([sys.executable, "-m", "bench.neighbours", str(tmp_path / "als"), "--queries", "400",
                          "--nprobe", "1", "--lists", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|") for line in out.stdout.splitlines() if "ivf" in line]
    recalls = [float(row[-2]) for row in rows]
    assert len(recalls) == 2 and all(0 < r < 1 for r in recalls), out.stdout  # 1 probed cluster: approximate
