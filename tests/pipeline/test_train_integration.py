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
