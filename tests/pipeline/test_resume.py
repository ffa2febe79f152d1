"""``train`` skips what did not change: a killed run continues at its step, a changed setting reruns
from the step that reads it, ``--force`` reruns everything."""

from __future__ import annotations

import dataclasses

import pytest

from musicrec.pipeline import runner
from musicrec.pipeline.publish import train_run
from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.runs import RunStore

from .test_train import NO_RANKER


def _finished(store) -> dict[str, str]:
    return {name: step["finished_at"] for name, step in store.read_json("manifest.json")["steps"].items()}


def test_unchanged_steps_are_skipped_and_a_changed_setting_reruns_from_its_step(prepared, settings, tmp_path):
    store = LocalArtifactStore(tmp_path / "run")
    run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=store, show_progress=False,
                 skip_unchanged=True)
    first = _finished(store)
    similar = store.read_parquet("similar.parquet")
    run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=store, show_progress=False,
                 skip_unchanged=True)
    assert _finished(store) == first  # nothing changed: every step skipped
    assert store.read_parquet("similar.parquet").equals(similar)

    changed = settings.model_copy(update={"similar": settings.similar.model_copy(update={"k": 2})})
    run_pipeline(changed, NO_RANKER, prepared_dir=prepared, store=store, show_progress=False,
                 skip_unchanged=True)
    again = _finished(store)
    order = list(NO_RANKER)
    at = order.index("similar")
    assert all(again[name] == first[name] for name in order[:at])  # split, tune, popular, als kept
    assert all(again[name] != first[name] for name in order[at:])  # similar and every later step rerun
    assert store.read_parquet("similar.parquet").group_by("item_id_1").len().get_column("len").max() == 2

    # a missing output reruns its step (and what follows) although the settings did not change
    (tmp_path / "run" / "top_popular.parquet").unlink()
    run_pipeline(changed, NO_RANKER, prepared_dir=prepared, store=store, show_progress=False,
                 skip_unchanged=True)
    assert _finished(store)["popular"] != again["popular"] and store.exists("top_popular.parquet")
    assert _finished(store)["tune"] == again["tune"]  # before it: kept


def test_without_skip_unchanged_every_step_runs(prepared, settings, tmp_path):
    store = LocalArtifactStore(tmp_path / "run")
    run_pipeline(settings, ["split", "popular"], prepared_dir=prepared, store=store, show_progress=False)
    first = _finished(store)
    run_pipeline(settings, ["split", "popular"], prepared_dir=prepared, store=store, show_progress=False)
    assert all(_finished(store)[name] != first[name] for name in first)


def test_a_killed_train_continues_at_the_step_it_stopped(prepared, settings, tmp_path, monkeypatch):
    runs = RunStore.open(tmp_path / "artifacts", settings)

    def killed(ctx):
        raise KeyboardInterrupt  # what Ctrl-C does to the step in flight

    patched = [dataclasses.replace(s, run=killed) if s.name == "similar" else s for s in runner.STEPS]
    with monkeypatch.context() as patch:
        patch.setattr(runner, "STEPS", patched)
        with pytest.raises(KeyboardInterrupt):
            train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False, resume=True)
    [stopped] = runs.run_ids()
    assert runs.current() is None and runs.info(stopped, None).status in ("running", "failed")
    before = _finished(runs.run(stopped))
    assert "similar" not in before and {"split", "als"} <= set(before)

    done = train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False, resume=True)
    assert done.run_id == stopped and done.switched and runs.current() == stopped
    after = _finished(runs.run(stopped))
    assert all(after[name] == before[name] for name in before)  # the steps that had finished: skipped
    assert {"similar", "evaluate", "export"} <= set(after)

    # nothing left to continue: a new run starts as a copy of the current one, every step skipped
    again = train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False, resume=True)
    assert again.run_id != stopped and again.switched
    assert _finished(runs.run(again.run_id)) == after
    forced = train_run(settings, runs, NO_RANKER, prepared_dir=prepared, show_progress=False)
    assert all(_finished(runs.run(forced.run_id))[name] != after[name] for name in after)
