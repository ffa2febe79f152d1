"""The tune step: chooses settings on the end of the train period only; the later steps use them."""

from datetime import datetime

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
