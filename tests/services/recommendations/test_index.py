import numpy as np
import pytest

from musicrec.services.recommendations.artifacts import ArtifactsError, load_artifacts
from musicrec.services.recommendations.index import UserItemIndex, with_backfill
from tests.services.recommendations.artifacts import COLD_USER, PERSONAL, POPULAR, WARM_USER, write_artifacts


def test_index_orders_by_rank_and_finds_every_user():
    users = np.array([5, 2, 5, 9, 2, 5])
    items = np.array([50, 20, 51, 90, 21, 52])
    ranks = np.array([3, 2, 1, 1, 1, 2])
    index = UserItemIndex.build(users, items, ranks)
    assert index.users.tolist() == [2, 5, 9]
    assert index.lookup(2).tolist() == [21, 20]
    assert index.lookup(5).tolist() == [51, 52, 50]
    assert index.lookup(9).tolist() == [90]
    assert 5 in index and 3 not in index


@pytest.mark.parametrize("user", [-1, 0, 3, 10, 2**40])
def test_index_unknown_user_is_empty(user):
    index = UserItemIndex.build(np.array([2, 5, 9]), np.array([1, 2, 3]))
    assert index.lookup(user).tolist() == []


def test_index_drops_duplicate_items_keeping_best_rank():
    index = UserItemIndex.build(np.array([1, 1, 1]), np.array([7, 8, 7]), np.array([3, 2, 1]))
    assert index.lookup(1).tolist() == [7, 8]


def test_index_of_nothing():
    index = UserItemIndex.build(np.array([], dtype=np.int32), np.array([], dtype=np.int32))
    assert len(index) == 0 and index.lookup(1).tolist() == []


def test_index_rejects_misaligned_columns():
    with pytest.raises(ValueError, match="differ in length"):
        UserItemIndex.build(np.array([1, 2]), np.array([1]))


def test_backfill_skips_duplicates_and_stops_at_k():
    assert with_backfill([3, 1], [1, 2, 3, 4], k=3) == [3, 1, 2]
    assert with_backfill([], [1, 2], k=5) == [1, 2]
    assert with_backfill([1, 1, 2], [], k=5) == [1, 2]
    assert with_backfill(np.array([9]), np.array([9, 8]), k=2) == [9, 8]


def test_load_artifacts_from_files(tmp_path):
    artifacts = load_artifacts(write_artifacts(tmp_path))
    assert artifacts.offline_file == "recommendations.parquet"
    assert artifacts.popular.tolist() == POPULAR
    assert artifacts.personal(WARM_USER).tolist() == PERSONAL[WARM_USER]
    assert artifacts.personal(COLD_USER).tolist() == []


def test_load_artifacts_falls_back_to_als_list(tmp_path):
    write_artifacts(tmp_path)
    (tmp_path / "recommendations.parquet").unlink()
    assert load_artifacts(tmp_path).offline_file == "personal_als.parquet"


def test_missing_artifact_names_the_file(tmp_path):
    write_artifacts(tmp_path)
    (tmp_path / "top_popular.parquet").unlink()
    with pytest.raises(ArtifactsError, match="top_popular.parquet: file not found"):
        load_artifacts(tmp_path)


def test_missing_column_names_the_file_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_artifacts(tmp_path)
    pq.write_table(pa.table({"item_id": [1]}), tmp_path / "top_popular.parquet")
    with pytest.raises(ArtifactsError, match=r"top_popular.parquet: missing column\(s\) \['rank'\]"):
        load_artifacts(tmp_path)


def test_corrupt_artifact_names_the_file(tmp_path):
    write_artifacts(tmp_path)
    (tmp_path / "recommendations.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(ArtifactsError, match="recommendations.parquet: cannot read it as parquet"):
        load_artifacts(tmp_path)


@pytest.mark.parametrize("batch_rows", [1, 2, 7, 1000])
def test_batches_give_the_same_index_as_one_build(batch_rows):
    rng = np.random.default_rng(3)
    users = np.sort(rng.integers(0, 30, 300)).astype(np.int32)
    ranks = np.concatenate([np.arange(1, (users == u).sum() + 1) for u in np.unique(users)]).astype(np.int32)
    items = rng.integers(0, 20, 300).astype(np.int32)  # duplicates within a user: the best rank is kept
    batches = [(users[i:i + batch_rows], items[i:i + batch_rows], ranks[i:i + batch_rows])
               for i in range(0, 300, batch_rows)]
    read = UserItemIndex.from_batches(batches, n_rows=300)
    built = UserItemIndex.build(users, items, ranks)
    for name in ("users", "offsets", "items"):
        assert np.array_equal(getattr(read, name), getattr(built, name)), name
    assert read.items.dtype == np.int32


def test_batches_out_of_order_are_refused():
    users, items, ranks = np.array([5, 3]), np.array([1, 2]), np.array([1, 1])
    assert UserItemIndex.from_batches([(users, items, ranks)], n_rows=2) is None
    later_user_first = [(np.array([5]), np.array([1]), np.array([1])),
                        (np.array([3]), np.array([2]), np.array([1]))]
    assert UserItemIndex.from_batches(later_user_first, n_rows=2) is None
