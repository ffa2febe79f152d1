import numpy as np
import polars as pl
import pytest

from musicrec.services.features.index import SimilarArtifactError, SimilarIndex


def test_from_parquet_orders_best_first(artifacts_dir):
    index = SimilarIndex.from_parquet(artifacts_dir / "similar.parquet")
    assert index.lookup(1, k=10) == ([12, 13, 11], [0.9, 0.7, 0.5])
    assert index.lookup(1, k=1) == ([12], [0.9])
    assert index.lookup(2, k=10) == ([21], [0.3])
    assert index.lookup(3, k=10) == ([], [])
    assert index.lookup(0, k=10) == ([], [])
    assert index.lookup(2**63 - 1, k=10) == ([], [])
    assert (len(index), index.n_pairs) == (2, 4)
    assert index.keys.dtype == index.neighbours.dtype == np.int32  # compact, no copies to int64


def test_equal_scores_keep_file_order():
    index = SimilarIndex.build([5, 5, 5], [3, 1, 2], [0.5, 0.5, 0.5])
    assert index.lookup(5, k=3)[0] == [3, 1, 2]


def test_source_column_is_optional(tmp_path):
    path = tmp_path / "similar.parquet"
    pl.DataFrame({"item_id_1": [1], "item_id_2": [2], "score": [1.0]}).write_parquet(path)
    assert SimilarIndex.from_parquet(path).lookup(1, 5) == ([2], [1.0])


def test_empty_file_gives_an_empty_index(tmp_path):
    path = tmp_path / "similar.parquet"
    schema = {"item_id_1": pl.Int32, "item_id_2": pl.Int32, "score": pl.Float32}
    pl.DataFrame(schema=schema).write_parquet(path)
    index = SimilarIndex.from_parquet(path)
    assert len(index) == 0 and index.lookup(1, 5) == ([], [])


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ({"item_id_1": [1], "score": [1.0]}, "missing column(s) ['item_id_2']"),
        ({"item_id_1": [1], "item_id_2": ["a"], "score": [1.0]}, "'item_id_2' must hold integers"),
        ({"item_id_1": [1], "item_id_2": [2], "score": ["x"]}, "'score' must hold numbers"),
        ({"item_id_1": [1, None], "item_id_2": [2, 3], "score": [1.0, 0.5]}, "'item_id_1' has 1 null"),
    ],
)
def test_malformed_file_names_file_and_column(tmp_path, frame, fragment):
    path = tmp_path / "similar.parquet"
    pl.DataFrame(frame).write_parquet(path)
    with pytest.raises(SimilarArtifactError) as info:
        SimilarIndex.from_parquet(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SimilarArtifactError, match="file not found"):
        SimilarIndex.from_parquet(tmp_path / "similar.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(SimilarArtifactError, match="not a readable parquet file"):
        SimilarIndex.from_parquet(tmp_path / "bad.parquet")


def test_lookup_matches_a_naive_scan_on_random_pairs():
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(0, 30))
        item_1, item_2 = rng.integers(0, 6, n), rng.integers(0, 100, n)
        score = rng.integers(0, 4, n) / 4  # many ties
        index = SimilarIndex.build(item_1, item_2, score)
        for query in range(7):
            rows = sorted((-score[j], j, item_2[j]) for j in range(n) if item_1[j] == query)[:5]
            assert index.lookup(query, 5) == ([int(r[2]) for r in rows], [float(-r[0]) for r in rows])


@pytest.mark.parametrize("batch_rows", [1, 3, 1000])
def test_a_sorted_file_read_in_batches_gives_the_same_index(tmp_path, monkeypatch, batch_rows):
    rng = np.random.default_rng(2)
    item_1 = np.sort(rng.integers(0, 40, 200)).astype(np.int32)
    score = rng.integers(0, 5, 200).astype(np.float32) / 4
    order = np.lexsort((-score, item_1))  # the pipeline's order: by track, best first
    frame = pl.DataFrame({"item_id_1": item_1[order], "item_id_2": rng.integers(0, 99, 200).astype(np.int32),
                          "score": score[order]})
    path = tmp_path / "similar.parquet"
    frame.write_parquet(path)
    monkeypatch.setattr(SimilarIndex, "BATCH_ROWS", batch_rows)
    read = SimilarIndex.from_parquet(path)
    built = SimilarIndex.build(frame["item_id_1"].to_numpy(), frame["item_id_2"].to_numpy(),
                               frame["score"].to_numpy())
    for name in ("keys", "offsets", "neighbours", "scores"):
        assert np.array_equal(getattr(read, name), getattr(built, name)), name
    assert read.neighbours.dtype == np.int32 and read.scores.dtype == np.float32
