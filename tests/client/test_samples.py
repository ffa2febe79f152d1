import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec.client.samples import pick_examples
from musicrec.storage.artifacts import LocalArtifactStore
from tests.services.recommendations.artifacts import write_artifacts


def test_pick_examples_from_artifacts(tmp_path):
    picked = pick_examples(LocalArtifactStore(write_artifacts(tmp_path)))
    assert (picked.warm_users, picked.cold_user, picked.items) == ([1, 2], 4, [500, 501, 502])


def test_pick_examples_without_statistics_or_similar(tmp_path):
    table = pa.table({"user_id": pa.array([9, 4], pa.int32()), "item_id": [1, 2], "rank": [1, 1]})
    pq.write_table(table, tmp_path / "personal_als.parquet", write_statistics=False)
    picked = pick_examples(LocalArtifactStore(tmp_path), n_users=1)
    assert (picked.warm_users, picked.cold_user, picked.items) == ([4], 10, [])


def test_pick_examples_needs_an_offline_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="recommendations.parquet or personal_als.parquet"):
        pick_examples(LocalArtifactStore(tmp_path))
