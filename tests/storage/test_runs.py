"""Versioned runs and the CURRENT pointer, on a directory and on S3 (a moto server process)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from musicrec.storage.cli import runs as runs_command
from musicrec.storage.runs import FLAT, POINTER, RunError, RunStore, key_metrics
from tests.helpers.s3_fixtures import CREDENTIALS

SERVABLE = ("recommendations.parquet", "top_popular.parquet", "similar.parquet")


@pytest.fixture(params=["local", "s3"])
def runs(request, tmp_path):
    if request.param == "local":
        from musicrec.config import load_settings

        return RunStore.open(tmp_path / "artifacts", load_settings())
    settings = request.getfixturevalue("s3_settings")
    bucket = request.getfixturevalue("s3_bucket")
    return RunStore.open(f"s3://{bucket}/models", settings)


def _finished_run(runs: RunStore, marker: str) -> str:
    run_id = runs.create()
    store = runs.run(run_id)
    for name in SERVABLE:
        store.write_text(name, marker)
    store.write_json("manifest.json", {"created_at": f"time-{marker}", "data": {"sha256": "ab" * 32}})
    return run_id


def test_a_location_without_pointer_is_served_flat_and_says_so(runs):
    resolved = runs.resolve()
    assert resolved.run_id == FLAT and resolved.location == runs.location
    assert "no CURRENT pointer" in resolved.note and "flat layout" in resolved.note
    assert runs.current() is None and runs.run_ids() == []


def test_switch_points_readers_at_the_whole_run(runs):
    first = _finished_run(runs, "one")
    runs.switch(first)
    resolved = runs.resolve()
    assert (resolved.run_id, resolved.location) == (first, f"{runs.location}/runs/{first}")
    assert runs.run(first).read_json("manifest.json")["created_at"] == "time-one"
    second = _finished_run(runs, "two")
    assert runs.current() == first  # a finished run is not current until switched
    runs.switch(second)
    assert runs.current() == second
    assert runs.pointer()["previous"] == [first]


def test_an_incomplete_or_unknown_run_cannot_become_current(runs):
    partial = runs.create()
    runs.run(partial).write_text("top_popular.parquet", "x")
    lacks = "lacks recommendations.parquet or personal_als.parquet, similar.parquet"
    with pytest.raises(RunError, match=lacks):
        runs.switch(partial)
    with pytest.raises(RunError, match="no run 'nope'"):
        runs.switch("nope")
    assert runs.current() is None


def test_rollback_goes_back_one_run_at_a_time(runs):
    ids = [_finished_run(runs, str(n)) for n in range(3)]
    for run_id in ids:
        runs.switch(run_id)
    assert runs.rollback()["run_id"] == ids[1]
    assert runs.rollback()["run_id"] == ids[0]
    with pytest.raises(RunError, match="nothing to roll back to"):
        runs.rollback()
    runs.switch(ids[2])  # promote: the rolled-back-from run can be made current again
    assert runs.current() == ids[2] and runs.pointer()["previous"][0] == ids[0]


def test_prune_keeps_current_newer_and_rollback_targets(runs):
    ids = [_finished_run(runs, str(n)) for n in range(4)]
    failed = runs.create()  # an unfinished run, newer than the others
    runs.run(failed).write_text("top_popular.parquet", "x")
    for run_id in ids[:3]:
        runs.switch(run_id)
    # current = ids[2]; previous = ids[1], ids[0]; ids[3] (newer) and `failed` (newer) are never deleted
    assert runs.prune(keep=2) == [ids[0]]
    assert runs.run_ids() == sorted([ids[1], ids[2], ids[3], failed])
    assert runs.prune(keep=0) == []
    runs.switch(ids[3])
    assert set(runs.prune(keep=1)) == {ids[1], ids[2]}
    assert runs.run_ids() == [ids[3], failed]


def test_a_seeded_run_starts_as_a_copy_and_the_source_stays_unchanged(runs):
    first = _finished_run(runs, "one")
    runs.switch(first)
    second = runs.create(seed_from=first)
    assert runs.run(second).read_json("manifest.json")["created_at"] == "time-one"
    runs.run(second).write_text("similar.parquet", "changed")
    runs.run(second).write_json("manifest.json", {"created_at": "later"})
    assert runs.run(first).read_json("manifest.json")["created_at"] == "time-one"
    assert runs.run(first).read_json("manifest.json") != runs.run(second).read_json("manifest.json")


def test_local_pointer_is_one_file_replaced_by_rename(tmp_path):
    from musicrec.config import load_settings

    runs = RunStore.open(tmp_path, load_settings())
    first = _finished_run(runs, "one")
    runs.switch(first)
    inode = (tmp_path / POINTER).stat().st_ino
    second = _finished_run(runs, "two")
    runs.switch(second)
    assert (tmp_path / POINTER).stat().st_ino != inode  # a new file renamed over, never rewritten in place
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_key_metrics_are_those_of_the_served_list():
    models = {"ranker": {"ndcg@10": 0.123456, "recall@10": 0.2}, "als": {"ndcg@10": 0.1}}
    manifest = {"final_recommendations": "ranker", "metrics": {"ks": [5, 10], "warm": {"models": models}}}
    assert key_metrics(manifest) == {"ndcg@10": 0.12346, "recall@10": 0.2}
    assert key_metrics({}) == {}


def test_runs_command_lists_promotes_and_rolls_back(runs, monkeypatch):
    if runs.location.startswith("s3://"):
        for key, value in CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        s3 = runs.root.client.meta.endpoint_url
        monkeypatch.setenv("MUSICREC_S3__ENDPOINT_URL", s3)
        monkeypatch.setenv("MUSICREC_S3__ADDRESSING_STYLE", "path")
    first, second = _finished_run(runs, "one"), _finished_run(runs, "two")
    unfinished = runs.create()
    runs.run(unfinished).write_text("similar.parquet", "x")
    cli = CliRunner()
    where = ["--artifacts", runs.location]
    result = cli.invoke(runs_command, ["promote", first, *where])
    assert result.exit_code == 0, result.output
    assert f"CURRENT -> {first}" in result.output
    assert cli.invoke(runs_command, ["promote", second, *where]).exit_code == 0
    listed = cli.invoke(runs_command, ["list", *where]).output.splitlines()
    assert [line[2:].split()[0] for line in listed] == [first, second, unfinished]
    assert listed[1].startswith(f"* {second}") and listed[0].startswith(f"  {first}")
    assert "time-two" in listed[1] and "data=abababababab" in listed[1]
    assert "not servable: it lacks recommendations.parquet or personal_als.parquet" in listed[2]
    result = cli.invoke(runs_command, ["rollback", *where])
    assert result.exit_code == 0 and f"CURRENT -> {first}" in result.output
    result = cli.invoke(runs_command, ["promote", unfinished, *where])
    assert result.exit_code == 1 and "cannot be served" in result.output and "Traceback" not in result.output
    assert runs.current() == first


def test_a_run_seeded_from_the_flat_layout_copies_the_top_files_only(runs):
    for name in SERVABLE:
        runs.root.write_text(name, "flat")
    runs.root.write_json("manifest.json", {"created_at": "flat"})
    assert runs.has_flat_artifacts()
    older = _finished_run(runs, "older")
    runs.switch(older)
    seeded = runs.create(seed_from=FLAT)
    store = runs.run(seeded)
    assert store.read_json("manifest.json") == {"created_at": "flat"}
    assert not store.exists(POINTER) and store.list_dirs("runs") == []  # neither the pointer nor the runs
    runs.switch(seeded)
    assert runs.resolve().location.endswith(f"/runs/{seeded}")
