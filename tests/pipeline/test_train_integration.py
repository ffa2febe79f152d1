"""The whole pipeline with the real ranker and the real evaluation runner."""

import polars as pl

from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore


def test_train_with_the_real_quality_modules(prepared, settings, tmp_path):
    store = LocalArtifactStore(tmp_path)
    manifest = run_pipeline(settings, prepared_dir=prepared, store=store, show_progress=False)
    metrics = store.read_json("metrics.json")
    assert manifest["metrics"] == metrics
    assert sorted(metrics["warm"]["models"]) == ["als", "random", "ranker", "recent_popular", "top_popular"]
    assert metrics["split_date"].startswith("2022-12-20")
    assert store.path("metrics.md").read_text().startswith("# Offline metrics")
    final = store.read_parquet("recommendations.parquet")
    assert manifest["final_recommendations"] == "ranker"
    assert manifest["steps"]["ranker"]["status"] == "ok"
    assert manifest["ranker"]["feature_importance"]  # recorded for the notebook and the docs
    events = pl.read_parquet(prepared / "events.parquet")
    train = events.filter(pl.col("started_at") < pl.datetime(2022, 12, 20))
    assert final.join(train, on=["user_id", "item_id"]).height == 0


def test_the_als_step_starts_from_tunes_frame_fit_in_a_whole_run(prepared, settings, tmp_path):
    """Tune builds the ranker's frame (ALS 7 days before the split); the ALS step continues that fit for
    [als] warm_iterations. Run alone it fits from scratch."""
    tuned = settings.model_copy(update={
        "tuning": settings.tuning.model_copy(update={"min_users": 5, "window_days": 3}),
        "als": settings.als.model_copy(update={"warm_iterations": 2})})
    store = LocalArtifactStore(tmp_path)
    manifest = run_pipeline(tuned, prepared_dir=prepared, store=store, show_progress=False)
    assert manifest["ranker"]["training_frame_from_tuning"] is True
    assert manifest["als"] == {"warm_start_from": "2022-12-13 00:00:00", "iterations": 2}
    again = run_pipeline(tuned, ["als"], prepared_dir=prepared, store=store, show_progress=False)
    assert again["als"] == {"warm_start_from": None, "iterations": 10}
