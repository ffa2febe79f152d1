import polars as pl
import pytest

from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.errors import MissingArtifactError


def test_parquet_json_text_round_trip(tmp_path):
    store = LocalArtifactStore(tmp_path / "a")
    frame = pl.DataFrame({"item_id": [1, 2], "rank": [1, 2]})
    store.write_parquet("top.parquet", frame)
    store.write_json("m.json", {"x": [1, 2]})
    store.write_text("m.md", "# hi\n")
    assert store.read_parquet("top.parquet").equals(frame)
    assert store.read_json("m.json") == {"x": [1, 2]}
    assert store.exists("m.md") and not store.exists("nope")


def test_failed_write_keeps_the_previous_version(tmp_path):
    store = LocalArtifactStore(tmp_path)
    store.write_dir("model", lambda d: (d / "w.txt").write_text("v1"))

    def broken(d):
        (d / "w.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.write_dir("model", broken)
    assert (store.local_dir("model") / "w.txt").read_text() == "v1"
    store.write_dir("model", lambda d: (d / "w.txt").write_text("v2"))
    assert (store.local_dir("model") / "w.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary leftovers


def test_missing_artifact_names_the_path(tmp_path):
    with pytest.raises(MissingArtifactError, match="nope.parquet"):
        LocalArtifactStore(tmp_path).read_parquet("nope.parquet")
