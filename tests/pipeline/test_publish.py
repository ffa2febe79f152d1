"""``train`` writes a versioned run and switches CURRENT only when every step succeeded."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from musicrec.pipeline import runner
from musicrec.pipeline.cli import train_command
from musicrec.pipeline.publish import train_run
from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.runs import RunError, RunStore

from .test_train import NO_RANKER


@pytest.fixture(scope="module")
def published(prepared, settings, tmp_path_factory):
    runs = RunStore.open(tmp_path_factory.mktemp("artifacts"), settings)
    first = train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False)
    return runs, first


def test_a_complete_run_becomes_current(published):
    runs, first = published
    assert first.switched and first.missing == []
    assert runs.current() == first.run_id
    manifest = runs.run(first.run_id).read_json("manifest.json")
    assert manifest["run_id"] == first.run_id and manifest["created_at"]
    assert manifest["data"]["sha256"] and set(manifest["steps"]) == set(NO_RANKER)
    assert runs.resolve().location == f"{runs.location}/runs/{first.run_id}"


def test_a_failing_step_leaves_the_current_run_alone(published, prepared, settings, monkeypatch):
    runs, first = published
    current = runs.current()
    before = runs.run(current).read_parquet("similar.parquet")

    def broken(ctx):
        raise RuntimeError("disk full")

    patched = [dataclasses.replace(s, run=broken) if s.name == "similar" else s for s in runner.STEPS]
    monkeypatch.setattr(runner, "STEPS", patched)
    with pytest.raises(RuntimeError, match="disk full"):
        train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False)
    assert runs.current() == current
    assert runs.run(current).read_parquet("similar.parquet").equals(before)
    [failed] = [info for info in runs.list() if info.run_id > current]
    assert failed.status == "failed" and failed.problem() == "its training failed"
    with pytest.raises(RunError, match="cannot be served, its training failed"):
        runs.switch(failed.run_id)  # it is a copy with every file, some new, some old: never served
    runs.root.delete_tree(f"runs/{failed.run_id}")


def test_one_step_redone_in_a_copy_of_the_current_run(published, prepared, settings):
    runs, _ = published
    current = runs.current()
    done = train_run(settings, runs, ["similar"], prepared_dir=prepared, show_progress=False)
    assert done.switched and done.run_id != current and runs.current() == done.run_id
    new, old = runs.run(done.run_id), runs.run(current)
    assert new.read_parquet("recommendations.parquet").equals(old.read_parquet("recommendations.parquet"))
    assert new.read_json("manifest.json")["copied_from"] == current
    # the old run's files are its own: rewriting the copy did not touch them (hard links replaced)
    assert old.path("similar.parquet").stat().st_ino != new.path("similar.parquet").stat().st_ino
    assert runs.rollback()["run_id"] == current


def test_the_current_run_is_never_modified(published, prepared, settings):
    runs, _ = published
    with pytest.raises(RunError, match="is the current one and is never modified"):
        train_run(settings, runs, ["similar"], prepared_dir=prepared, run_id=runs.current(),
                  show_progress=False)


def test_retention_deletes_old_runs_after_a_switch(prepared, settings, tmp_path):
    runs = RunStore.open(tmp_path, settings)
    keep_two = settings.model_copy(update={"runs": settings.runs.model_copy(update={"keep": 2})})
    first = train_run(keep_two, runs, NO_RANKER, prepared_dir=prepared, show_progress=False)
    second = train_run(keep_two, runs, ["export"], prepared_dir=prepared, show_progress=False)
    third = train_run(keep_two, runs, ["export"], prepared_dir=prepared, show_progress=False)
    assert third.pruned == [first.run_id]
    assert runs.run_ids() == [second.run_id, third.run_id]


def test_train_command_reports_the_run_and_the_switch(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICREC_SPLIT__SPLIT_DATE", "2022-12-20")
    args = ["--no-progress", "--no-tune", "--prepared", str(prepared), "--artifacts", str(tmp_path)]
    result = CliRunner().invoke(train_command, ["--step", "split", "--step", "popular", *args])
    assert result.exit_code == 0, result.output
    runs = RunStore.open(tmp_path, None)  # type: ignore[arg-type] - a directory needs no settings
    [partial] = runs.run_ids()
    assert f"run {partial} lacks" in result.output and "CURRENT not switched" in result.output
    assert f"--run {partial} --step" in result.output
    result = CliRunner().invoke(train_command, ["--run", partial, *args])
    assert result.exit_code == 0, result.output
    assert f"CURRENT -> {partial}" in result.output
    assert runs.current() == partial


def test_train_step_on_a_flat_layout_migrates_it_into_a_run(prepared, settings, tmp_path, caplog):
    flat = LocalArtifactStore(tmp_path)
    run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=flat, show_progress=False)
    runs = RunStore.open(tmp_path, settings)
    assert runs.resolve().run_id == "flat"
    with caplog.at_level("WARNING"):
        done = train_run(settings, runs, ["similar"], prepared_dir=prepared, show_progress=False)
    assert "holds artifacts of the flat layout (no CURRENT)" in caplog.text
    assert done.switched and runs.resolve().run_id == done.run_id
    run = runs.run(done.run_id)
    assert run.read_parquet("recommendations.parquet").equals(flat.read_parquet("recommendations.parquet"))
    assert run.read_json("manifest.json")["copied_from"] == "flat"
