import hashlib
from datetime import datetime

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from musicrec.models.als import AlsRecommender
from musicrec.pipeline import steps as steps_module
from musicrec.pipeline.cli import train_command
from musicrec.pipeline.runner import run_pipeline
from musicrec.pipeline.steps import STEP_NAMES, STEPS, MissingInputError
from musicrec.storage.artifacts import LocalArtifactStore

from .conftest import write_prepared

PARQUETS = ["top_popular.parquet", "top_recent.parquet", "personal_als.parquet", "similar.parquet",
            "recommendations.parquet", "items.parquet"]


# every step but the (slow) ranker; tests/pipeline/test_train_integration.py runs the real ranker
NO_RANKER = [name for name in STEP_NAMES if name != "ranker"]


@pytest.fixture(scope="module")
def trained(prepared, settings, tmp_path_factory):
    store = LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))
    manifest = run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=store, show_progress=False)
    return store, manifest


def test_dag_inputs_are_made_by_earlier_steps():
    made = set()
    for step in STEPS:
        assert set(step.inputs) <= made, step.name
        made |= set(step.outputs)


def test_full_run_writes_every_artifact_with_its_columns(trained):
    store, _ = trained
    columns = {
        "top_popular.parquet": ["item_id", "rank", "plays", "users"],
        "personal_als.parquet": ["user_id", "item_id", "score", "rank"],
        "similar.parquet": ["item_id_1", "item_id_2", "score", "source"],
        "recommendations.parquet": ["user_id", "item_id", "score", "rank"],
    }
    for name in PARQUETS:
        frame = store.read_parquet(name)
        assert frame.height > 0, name
        if name in columns:
            assert frame.columns == columns[name], name
    assert store.exists("als_model/item_factors.npy")
    assert not list(store.root.glob(".*tmp*"))  # no temporary leftovers


def test_models_see_only_the_train_period(trained, prepared):
    store, manifest = trained
    events = pl.read_parquet(prepared / "events.parquet")
    train = events.filter(pl.col("started_at") < pl.datetime(2022, 12, 20))
    assert manifest["split"]["train_rows"] == train.height
    assert manifest["split"]["cold_users"] == 1  # user 99
    als = store.read_parquet("personal_als.parquet")
    train_users = sorted(train.get_column("user_id").unique())
    assert sorted(als.get_column("user_id").unique().to_list()) == train_users
    assert als.join(train, on=["user_id", "item_id"]).height == 0  # no listened track recommended
    assert als.group_by("user_id").len().get_column("len").max() == 5
    top = store.read_parquet("top_popular.parquet")
    expected = train.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    assert top.get_column("plays").to_list() == expected.get_column("len").head(10).to_list()


def test_without_a_ranker_run_recommendations_are_the_als_list(trained):
    store, manifest = trained
    assert "ranker" not in manifest["steps"]
    assert manifest["steps"]["evaluate"]["status"] == "ok"
    assert sorted(manifest["metrics"]["warm"]["models"]) == ["als", "random", "recent_popular", "top_popular"]
    assert manifest["final_recommendations"] == "als"
    assert store.read_parquet("recommendations.parquet").equals(store.read_parquet("personal_als.parquet"))


def test_manifest_records_params_data_code_rows_timings(trained, prepared):
    store, manifest = trained
    assert manifest == store.read_json("manifest.json")
    assert manifest["params"]["als"]["factors"] == 2
    assert manifest["params"]["split"]["split_date"] == "2022-12-20"
    sha = hashlib.sha256((prepared / "events.parquet").read_bytes()).hexdigest()
    assert manifest["data"]["files"]["events.parquet"]["sha256"] == sha
    assert manifest["code"]["package"] == "0.1.0"
    assert manifest["rows"]["similar.parquet"] == store.read_parquet("similar.parquet").height
    assert set(manifest["steps"]) == set(NO_RANKER)
    assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 and s["rss_after_mb"] > 0
               for s in manifest["steps"].values())
    assert "split_date" in manifest["note"]
    assert manifest["steps"]["similar"]["params"]["similar"]["k"] == 3
    assert set(manifest["steps"]["similar"]["params"]) == {"similar", "als"}


def test_als_model_round_trips(trained):
    store, _ = trained
    model = AlsRecommender.load(store.local_dir("als_model"))
    recs = model.recommend(model.user_ids.external, 5, show_progress=False)
    assert recs.equals(store.read_parquet("personal_als.parquet"))


def test_same_seed_same_artifacts(trained, prepared, settings, tmp_path):
    store, _ = trained
    again = LocalArtifactStore(tmp_path)
    run_pipeline(settings, NO_RANKER, prepared_dir=prepared, store=again, show_progress=False)
    for name in PARQUETS:
        assert again.read_parquet(name).equals(store.read_parquet(name)), name
    a = np.load(store.path("als_model/user_factors.npy"))
    b = np.load(again.path("als_model/user_factors.npy"))
    np.testing.assert_array_equal(a, b)


def test_single_step_reuses_saved_outputs(trained, prepared, settings):
    store, _ = trained
    before = store.read_parquet("similar.parquet")
    manifest = run_pipeline(settings, ["similar"], prepared_dir=prepared, store=store, show_progress=False)
    assert store.read_parquet("similar.parquet").equals(before)
    assert manifest["steps"]["similar"]["status"] == "ok"


def test_single_step_with_missing_input_names_it(prepared, settings, tmp_path):
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(MissingInputError, match=r"split\.json.*--step split"):
        run_pipeline(settings, ["als"], prepared_dir=prepared, store=store, show_progress=False)
    result = CliRunner().invoke(train_command, ["--step", "similar", "--prepared", str(prepared),
                                                "--artifacts", str(tmp_path)])
    assert result.exit_code == 1
    assert "needs" in result.output and "split.json" in result.output and "Traceback" not in result.output


def test_missing_prepared_data_says_run_prepare(settings, tmp_path):
    result = CliRunner().invoke(train_command, ["--prepared", str(tmp_path / "nothing"),
                                                "--artifacts", str(tmp_path / "a")])
    assert result.exit_code == 1
    assert "events.parquet" in result.output and "musicrec prepare" in result.output


def test_ranker_and_evaluation_are_wired_when_present(prepared, settings, tmp_path, monkeypatch):
    calls = {}

    def fake_ranker(train, items, settings_):
        calls["ranker_train_max"] = train.get_column("started_at").max()
        users = train.get_column("user_id").unique().sort()
        items = [301, 300, 119, 118, 117, 116]
        return pl.DataFrame({"user_id": users.repeat_by(6).explode(),
                             "item_id": pl.Series(items * len(users), dtype=pl.Int32),
                             "score": pl.Series(list(range(6, 0, -1)) * len(users), dtype=pl.Float32),
                             "rank": pl.Series(list(range(1, 7)) * len(users), dtype=pl.Int32)})

    def fake_ranker_with_info(train, items, settings_, als=None, rows=None, show_progress=False,
                              als_top=None):
        calls["als"], calls["als_top"] = als, als_top
        return fake_ranker(train, items, settings_), {"best_iteration": 7}

    monkeypatch.setattr(steps_module, "train_and_recommend_with_info", fake_ranker_with_info)
    store = LocalArtifactStore(tmp_path)
    manifest = run_pipeline(settings, prepared_dir=prepared, store=store, show_progress=False)
    assert calls["ranker_train_max"] < datetime(2022, 12, 20)  # the ranker sees the train period only
    warm = manifest["metrics"]["warm"]
    assert sorted(warm["models"]) == ["als", "random", "ranker", "recent_popular", "top_popular"]
    assert 0 <= warm["models"]["ranker"]["ndcg@10"] <= 1
    assert manifest["metrics"]["online"]["offline_list"] == "ranker"  # online path scored
    assert manifest["ranker"] == {"best_iteration": 7, "als_reused": True, "als_candidates_reused": True,
                                  "training_frame_from_tuning": False}  # too little data to tune
    # the ALS step's fitted model (same train period), not a refit inside the ranker
    assert calls["als"] is not None and calls["als"].user_ids.external.tolist() == sorted(
        store.read_parquet("personal_als.parquet").get_column("user_id").unique().to_list())
    # and its lists, as many per user as the ranker's candidates; personal_als.parquet is their top n_recs
    top, personal = calls["als_top"], store.read_parquet("personal_als.parquet")
    assert settings.als.n_recs < top.get_column("rank").max() <= settings.ranker.n_candidates
    assert top.filter(pl.col("rank") <= settings.als.n_recs).equals(personal.select(top.columns))
    run_pipeline(settings, ["ranker"], prepared_dir=prepared, store=store, show_progress=False)
    assert calls["als"] is None  # run alone, the ranker refits ALS: a saved model may predate a new split
    assert calls["als_top"] is None
    assert store.read_json("metrics.json") == manifest["metrics"]
    assert "| ranker |" in store.path("metrics.md").read_text()
    final = store.read_parquet("recommendations.parquet")
    assert manifest["final_recommendations"] == "ranker"
    assert final.group_by("user_id").len().get_column("len").unique().to_list() == [4]  # ranker n_recs
    assert final.filter(pl.col("rank") == 1).get_column("item_id").unique().to_list() == [301]


def test_split_date_outside_the_data_is_a_one_line_error(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICREC_SPLIT__SPLIT_DATE", "2030-01-01")
    result = CliRunner().invoke(train_command, ["--prepared", str(prepared), "--artifacts", str(tmp_path)])
    assert result.exit_code == 1
    assert "outside the data range 2022-12-01..2022-12-31" in result.output
    assert "Traceback" not in result.output


def test_partial_run_on_changed_data_warns(prepared, settings, tmp_path, caplog):
    store = LocalArtifactStore(tmp_path / "artifacts")
    run_pipeline(settings, ["split", "popular"], prepared_dir=prepared, store=store, show_progress=False)
    changed = tmp_path / "prepared"
    write_prepared(changed, seed=1)
    with caplog.at_level("WARNING"):
        run_pipeline(settings, ["popular"], prepared_dir=changed, store=store, show_progress=False)
    assert "prepared data changed since the last run" in caplog.text
