"""The pipeline writing to s3:// (a moto server process) gives the same artifacts as a local run."""

import pytest
from click.testing import CliRunner

from musicrec.pipeline.cli import train_command
from musicrec.pipeline.runner import run_pipeline
from musicrec.services.common.testing import free_port
from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.location import open_store
from musicrec.storage.runs import RunStore
from tests.helpers import s3_fixtures

from .test_train import NO_RANKER, PARQUETS

# the moto server fixtures, used by name below
moto_server, s3_settings, s3_bucket = s3_fixtures.moto_server, s3_fixtures.s3_settings, s3_fixtures.s3_bucket


def test_s3_run_reads_back_the_same_artifacts_as_a_local_run(prepared, settings, s3_settings, s3_bucket,
                                                             tmp_path):
    settings = settings.model_copy(update={"s3": s3_settings.s3})
    local = LocalArtifactStore(tmp_path / "local")
    remote = open_store(f"s3://{s3_bucket}/runs/1", settings)
    run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=local, show_progress=False)
    manifest = run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=remote, show_progress=False)

    for name in PARQUETS:
        assert remote.read_parquet(name).equals(local.read_parquet(name)), name
    assert remote.read_json("split.json") == local.read_json("split.json")
    assert sorted(manifest["steps"]) == sorted(NO_RANKER)
    model = remote.local_dir("als_model")
    for path in local.local_dir("als_model").iterdir():
        assert (model / path.name).read_bytes() == path.read_bytes(), path.name


def _env(monkeypatch, s3_settings):
    monkeypatch.setenv("MUSICREC_S3__ENDPOINT_URL", s3_settings.s3.endpoint_url)
    monkeypatch.setenv("MUSICREC_S3__ADDRESSING_STYLE", "path")
    monkeypatch.setenv("MUSICREC_S3__MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MUSICREC_S3__CACHE_DIR", str(s3_settings.s3.cache_dir))


def test_train_command_with_s3_artifacts(prepared, s3_settings, s3_bucket, monkeypatch):
    _env(monkeypatch, s3_settings)
    monkeypatch.setenv("MUSICREC_SPLIT__SPLIT_DATE", "2022-12-20")
    location = f"s3://{s3_bucket}/cli"
    result = CliRunner().invoke(train_command, ["--step", "split", "--step", "popular", "--no-progress",
                                                "--prepared", str(prepared), "--artifacts", location])
    assert result.exit_code == 0, result.output
    runs = RunStore.open(location, s3_settings)
    [run_id] = runs.run_ids()
    assert f"artifacts in {location}/runs/{run_id}" in result.output
    assert "CURRENT not switched" in result.output  # two steps do not make a servable run
    store = runs.run(run_id)
    assert store.read_json("split.json")["split_date"].startswith("2022-12-20")
    assert store.read_parquet("top_popular.parquet").height > 0
    assert runs.current() is None


def test_train_command_with_an_unreachable_endpoint_is_one_line(prepared, s3_settings, monkeypatch):
    _env(monkeypatch, s3_settings)
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MUSICREC_S3__ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MUSICREC_S3__CONNECT_TIMEOUT_S", "1")
    result = CliRunner().invoke(train_command, ["--step", "split", "--no-progress", "--prepared",
                                                str(prepared), "--artifacts", "s3://bucket/run"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    expected = f"s3://bucket/run/CURRENT: cannot reach the S3 endpoint http://127.0.0.1:{port}"
    assert expected in result.output


@pytest.mark.parametrize("location", ["s3://", "s3:///prefix"])
def test_train_command_without_a_bucket(location):
    result = CliRunner().invoke(train_command, ["--artifacts", location])
    assert result.exit_code == 1
    assert "needs a bucket" in result.output and "Traceback" not in result.output
