"""The tune step: chooses settings on the end of the train period only; the later steps use them."""

import logging
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from click.testing import CliRunner

from musicrec.pipeline.cli import train_command
from musicrec.pipeline.runner import configured_params, run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore
from musicrec.storage.runs import RunStore
from tests.models.test_tuning import _listens, _settings, _without_seconds

from .conftest import write_prepared

SETTINGS = {"split": {"split_date": "2022-12-20"}}


def _run(events, items, directory, settings, steps=("split", "tune")):
    prepared = directory / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    events.sort("user_id", "started_at", maintain_order=True).write_parquet(prepared / "events.parquet")
    items.write_parquet(prepared / "items.parquet")
    store = LocalArtifactStore(directory / "artifacts")
    manifest = run_pipeline(settings, list(steps), prepared_dir=prepared, store=store, show_progress=False)
    return store, manifest


def test_tuning_never_reads_the_test_period(tmp_path):
    """Listens after the split date leave tuning.json unchanged (but the seconds); the same listens
    inside the validation window change the chosen settings (so the comparison can fail)."""
    events, items = write_prepared(tmp_path / "source")
    settings = _settings(**SETTINGS, ranker={"depth": 3, "learning_rate": 0.1, "iterations": 20})
    base, _ = _run(events, items, tmp_path / "base", settings)
    rng = np.random.default_rng(0)
    pairs = [(u, int(rng.choice(range(200, 220) if u < 20 else range(100, 120)))) for u in range(40)
             for _ in range(6)]
    after, manifest = _run(pl.concat([events, _listens(pairs, datetime(2022, 12, 22))]), items,
                           tmp_path / "test", settings)
    assert manifest["split"]["test_rows"] > base.read_json("split.json")["test_rows"]  # they were added
    assert _without_seconds(after.read_json("tuning.json")) == _without_seconds(base.read_json("tuning.json"))
    inside, _ = _run(pl.concat([events, _listens(pairs, datetime(2022, 12, 15))]), items,
                     tmp_path / "window", settings)
    assert inside.read_json("tuning.json")["als"]["chosen"] != base.read_json("tuning.json")["als"]["chosen"]


def test_later_steps_run_with_the_chosen_settings_and_the_manifest_says_so(tmp_path):
    events, items = write_prepared(tmp_path / "source")
    settings = _settings(**SETTINGS, als={"alpha": 5.0})
    store, manifest = _run(events, items, tmp_path, settings, ("split", "tune", "popular", "als"))
    tuned = store.read_json("tuning.json")
    assert manifest["tuning"] == tuned and tuned["als"]["fixed"] == {"alpha": 5.0}
    assert manifest["params"]["als"]["factors"] == "auto" and manifest["params"]["als"]["alpha"] == 5.0
    assert manifest["params"] == configured_params(settings)  # what the notebook compares
    used = manifest["steps"]["als"]["params"]["als"]
    assert {k: used[k] for k in ("factors", "alpha", "regularization")} == tuned["als"]["chosen"]
    # run alone, a step applies the saved choice
    again = run_pipeline(settings, ["als"], prepared_dir=tmp_path / "prepared", store=store,
                         show_progress=False)
    assert again["steps"]["als"]["params"]["als"] == used


def test_no_tune_uses_the_defaults(tmp_path):
    events, items = write_prepared(tmp_path / "source")
    _run(events, items, tmp_path, _settings(**SETTINGS), ("split",))
    result = CliRunner().invoke(train_command, ["--step", "tune", "--step", "als", "--no-tune", "--prepared",
                                                str(tmp_path / "prepared"), "--artifacts",
                                                str(tmp_path / "artifacts")])
    assert result.exit_code == 0, result.output
    # the flat artifacts of _run are copied into a new run, whose steps are redone there
    runs = RunStore.open(tmp_path / "artifacts", _settings(**SETTINGS))
    [run_id] = runs.run_ids()
    store = runs.run(run_id)
    assert "--no-tune" in store.read_json("tuning.json")["skipped"]
    manifest = store.read_json("manifest.json")
    assert manifest["params"]["als"]["factors"] == 64  # config.ini says auto; off: the default
    assert manifest["steps"]["als"]["params"]["als"]["factors"] == 64


def test_a_whole_run_fits_the_blends_als_first_and_blends_as_the_blend_step_alone(tmp_path):
    """tune makes the blend's two ALS fits first (the run's earliest cutoffs: the replayed ranker frame's
    and the window's start), so tune's frame and the ALS step start warm from them; the blend reads them
    back instead of fitting, and they are the fits a blend step run alone makes: the same blend.json."""
    events, items = write_prepared(tmp_path / "source")
    settings = _settings(**SETTINGS, als={"warm_iterations": 2, "fits_in_time_order": True})
    steps = ("split", "tune", "popular", "als", "similar", "ranker", "blend")
    store, manifest = _run(events, items, tmp_path, settings, steps)
    whole = store.read_json("blend.json")
    cut = datetime.fromisoformat(whole["validation"]["window_start"])
    ahead = [datetime.fromisoformat(c) for c in store.read_json("tuning.json")["als_ahead"]["cutoffs"]]
    history_end = events.filter(pl.col("started_at") < cut).get_column("started_at").max()
    frame_cutoff = datetime.combine(history_end.date(), datetime.min.time()) + timedelta(days=1 - 3)
    assert ahead == [frame_cutoff, cut]  # label_days = 3
    # the ALS step (at the split) started from tune's frame fit (3 days before it), not from scratch
    assert manifest["als"] == {"warm_start_from": "2022-12-17 00:00:00", "iterations": 2}
    alone = run_pipeline(settings, ["blend"], prepared_dir=tmp_path / "prepared", store=store,
                         show_progress=False)
    assert alone["steps"]["blend"]["status"] == "ok"
    assert _without_seconds(store.read_json("blend.json")) == _without_seconds(whole)
    # a run without the blend fits nothing ahead, nor one with [als] fits_in_time_order off (the default)
    store, _ = _run(events, items, tmp_path / "no-blend", settings, ("split", "tune"))
    assert store.read_json("tuning.json")["als_ahead"]["cutoffs"] == []
    store, manifest = _run(events, items, tmp_path / "default", _settings(**SETTINGS), steps)
    assert store.read_json("tuning.json")["als_ahead"]["cutoffs"] == []
    assert manifest["als"]["warm_start_from"] == "2022-12-17 00:00:00"  # tune's frame fit, as before


def test_with_the_ranker_keys_set_the_ranker_steps_frame_fit_is_made_ahead_too(tmp_path, caplog):
    """Tune builds no frame when every ranker key is set: the ranker step's frame fit (label_days before
    the end) is then made ahead in tune as well, after the blend's, so the ALS step starts warm from it
    and the ranker step reads it back instead of fitting."""
    events, items = write_prepared(tmp_path / "source")
    settings = _settings(**SETTINGS, als={"warm_iterations": 2, "factors": 4, "alpha": 10.0,
                                          "regularization": 0.05, "fits_in_time_order": True},
                         ranker={"depth": 3, "learning_rate": 0.1, "iterations": 20})
    steps = ("split", "tune", "popular", "als", "similar", "ranker", "blend")
    with caplog.at_level(logging.INFO, logger="musicrec.models.als"):
        store, manifest = _run(events, items, tmp_path, settings, steps)
    tuned = store.read_json("tuning.json")
    assert tuned["skipped"] and len(tuned["als_ahead"]["cutoffs"]) == 3
    assert tuned["als_ahead"]["cutoffs"][-1] == "2022-12-17 00:00:00"  # the ranker's frame, 3 days before
    assert manifest["als"] == {"warm_start_from": "2022-12-17 00:00:00", "iterations": 2}
    assert manifest["ranker"]["training_frame_from_tuning"] is False
    read_back = [r.getMessage() for r in caplog.records if "read back" in r.getMessage()]
    assert len(read_back) == 3 and "2022-12-17" in read_back[0]  # the ranker step's, then the blend's two
