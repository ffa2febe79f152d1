"""S3ArtifactStore against a real S3-compatible server process (moto), over HTTP."""

import json

import polars as pl
import pytest

from musicrec.config import load_settings
from musicrec.services.common.testing import free_port
from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.errors import MissingArtifactError, S3StoreError
from musicrec.storage.location import fetch_artifacts, make_s3_client, open_store
from musicrec.storage.s3 import POINTER, S3ArtifactStore


@pytest.fixture
def store(s3_settings, s3_bucket):
    return open_store(f"s3://{s3_bucket}/runs/one", s3_settings)


def _keys(store):
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def test_open_store_picks_the_store_from_the_location(s3_settings, tmp_path, s3_bucket):
    from pathlib import Path

    assert isinstance(open_store(tmp_path / "a", s3_settings), LocalArtifactStore)
    s3 = open_store(Path(f"s3://{s3_bucket}/x/y/"), s3_settings)  # a Path collapses "//": still S3
    assert isinstance(s3, S3ArtifactStore)
    assert (s3.bucket, s3.prefix) == (s3_bucket, "x/y")
    assert s3.describe("top.parquet") == f"s3://{s3_bucket}/x/y/top.parquet"


def test_files_round_trip(store, tmp_path):
    frame = pl.DataFrame({"item_id": [3, 1, 2], "score": [0.5, 0.25, 0.125], "name": ["a", None, "c"]})
    store.write_parquet("top.parquet", frame)
    store.write_json("m.json", {"x": [1, 2], "nested": {"k": "v"}})
    store.write_text("report.md", "# report\n")
    source = tmp_path / "items.bin"
    source.write_bytes(bytes(range(256)) * 10)
    store.copy_file(source, "items.parquet")

    assert store.read_parquet("top.parquet").equals(frame)
    assert store.read_json("m.json") == {"x": [1, 2], "nested": {"k": "v"}}
    assert store.local_file("report.md").read_text() == "# report\n"
    assert store.local_file("items.parquet").read_bytes() == source.read_bytes()
    assert store.exists("m.json") and not store.exists("nope.json")
    assert _keys(store) == [f"runs/one/{n}" for n in ("items.parquet", "m.json", "report.md", "top.parquet")]


def _model(version: str):
    def writer(directory):
        (directory / "weights.npy").write_bytes(f"weights {version}".encode() * 1000)
        (directory / "sub").mkdir()
        (directory / "sub" / "params.json").write_text(f'{{"version": "{version}"}}')
    return writer


def test_directory_round_trip_gives_the_same_bytes(store, tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    _model("1")(reference)
    store.write_dir("als_model", _model("1"))
    local = store.local_dir("als_model")
    assert store.exists("als_model")
    for relative in ("weights.npy", "sub/params.json"):
        assert (local / relative).read_bytes() == (reference / relative).read_bytes()
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        f".{POINTER}", "sub/params.json", "weights.npy"]


def test_failed_directory_write_keeps_the_previous_model_and_old_versions_are_pruned(store):
    store.write_dir("model", _model("1"))

    def broken(directory):
        (directory / "weights.npy").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.write_dir("model", broken)
    assert (store.local_dir("model") / "sub" / "params.json").read_text() == '{"version": "1"}'

    store.write_dir("model", _model("2"))
    store.write_dir("model", _model("3"))
    assert (store.local_dir("model") / "sub" / "params.json").read_text() == '{"version": "3"}'
    versions = {key.split("/")[3] for key in _keys(store) if key.startswith("runs/one/model/v-")}
    assert len(versions) == 2  # the current one and the previous one (for readers mid-download)


def test_missing_key_and_directory_name_the_url(store):
    with pytest.raises(MissingArtifactError, match=f"s3://{store.bucket}/runs/one/nope.parquet"):
        store.read_parquet("nope.parquet")
    with pytest.raises(MissingArtifactError, match=f"s3://{store.bucket}/runs/one/nope.json"):
        store.local_file("nope.json")
    with pytest.raises(MissingArtifactError, match=f"s3://{store.bucket}/runs/one/als_model"):
        store.local_dir("als_model")


def test_missing_bucket_is_a_one_line_error(s3_settings):
    store = open_store("s3://no-such-bucket-here/p", s3_settings)
    with pytest.raises(S3StoreError, match="s3://no-such-bucket-here/p/x.json: bucket 'no-such-bucket-here' "
                                           "does not exist") as info:
        store.write_json("x.json", {})
    assert "\n" not in str(info.value)
    with pytest.raises(S3StoreError, match="bucket 'no-such-bucket-here' does not exist"):
        fetch_artifacts("s3://no-such-bucket-here/p", s3_settings, [("similar.parquet",)])


def test_unreachable_endpoint_is_a_one_line_error(tmp_path):
    port = free_port()  # nothing listens there
    settings = load_settings(s3={"endpoint_url": f"http://127.0.0.1:{port}", "max_attempts": 1,
                                 "connect_timeout_s": 1, "addressing_style": "path", "cache_dir": tmp_path})
    store = open_store("s3://bucket/prefix", settings)
    with pytest.raises(S3StoreError, match=f"s3://bucket/prefix/m.json: cannot reach the S3 endpoint "
                                           f"http://127.0.0.1:{port} \\(check \\[s3\\] endpoint_url") as info:
        store.read_json("m.json")
    assert "\n" not in str(info.value)


def test_no_credentials_is_a_one_line_error(s3_settings, s3_bucket, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store(f"s3://{s3_bucket}/p", s3_settings)
    with pytest.raises(S3StoreError, match=f"s3://{s3_bucket}/p/m.json: no AWS credentials; set AWS_"):
        store.read_json("m.json")


def test_fetch_artifacts_downloads_the_first_existing_of_each_group(s3_settings, s3_bucket, tmp_path):
    location = f"s3://{s3_bucket}/run"
    store = open_store(location, s3_settings)
    frame = pl.DataFrame({"item_id": [1, 2]})
    store.write_parquet("personal_als.parquet", frame)
    store.write_parquet("top_popular.parquet", frame)
    cache = store.cache_root
    cache.mkdir(parents=True)
    (cache / "recommendations.parquet").write_text("stale copy of an earlier run")

    groups = [("recommendations.parquet", "personal_als.parquet"), ("top_popular.parquet",)]
    local = fetch_artifacts(location, s3_settings, groups)
    assert local == cache
    assert sorted(p.name for p in local.iterdir()) == ["personal_als.parquet", "top_popular.parquet"]
    assert pl.read_parquet(local / "personal_als.parquet").equals(frame)
    assert fetch_artifacts(tmp_path / "plain", s3_settings, groups) == tmp_path / "plain"  # local: as is

    with pytest.raises(MissingArtifactError, match=f"s3://{s3_bucket}/run/similar.parquet does not exist"):
        fetch_artifacts(location, s3_settings, [("similar.parquet",)])


def test_fetch_artifacts_downloads_optional_files_that_exist_and_drops_stale_copies(s3_settings, s3_bucket):
    location = f"s3://{s3_bucket}/optional"
    store = open_store(location, s3_settings)
    store.write_parquet("top_popular.parquet", pl.DataFrame({"item_id": [1]}))
    store.write_json("blend.json", {"weights": {}})
    store.cache_root.mkdir(parents=True)
    (store.cache_root / "user_artists.parquet").write_text("stale copy of an earlier run")

    local = fetch_artifacts(location, s3_settings, [("top_popular.parquet",)],
                            optional=("blend.json", "user_artists.parquet"))
    assert sorted(p.name for p in local.iterdir()) == ["blend.json", "top_popular.parquet"]
    assert json.loads((local / "blend.json").read_text()) == {"weights": {}}


def test_client_uses_the_configured_endpoint(s3_settings, moto_server):
    client = make_s3_client(s3_settings.s3)
    assert client.meta.endpoint_url == moto_server.url
