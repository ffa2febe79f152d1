"""The blend step: blend.json from the end of the train period only, deterministic."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore

from .conftest import write_prepared


def _blend_run(events: pl.DataFrame, items: pl.DataFrame, directory, settings) -> dict:
    prepared = directory / "prepared"
    prepared.mkdir(parents=True)
    events.sort("user_id", "started_at", maintain_order=True).write_parquet(prepared / "events.parquet")
    items.write_parquet(prepared / "items.parquet")
    store = LocalArtifactStore(directory / "artifacts")
    run_pipeline(settings, ["split", "blend"], prepared_dir=prepared, store=store, show_progress=False)
    return store.read_json("blend.json")


def _extra(users: list[int], items: list[int], day: datetime) -> pl.DataFrame:
    rows = [(u, i, day + timedelta(minutes=n)) for n, (u, i) in enumerate(zip(users, items, strict=True))]
    return pl.DataFrame(rows,
                        schema={"user_id": pl.Int32, "item_id": pl.Int32, "started_at": pl.Datetime("us")},
                        orient="row")


@pytest.mark.slow
def test_fit_never_reads_the_test_period(settings, tmp_path):
    """Listens after the split date leave blend.json unchanged; the same listens inside the validation
    window change the scores (so the comparison can fail)."""
    events, items = write_prepared(tmp_path / "source")
    base = _blend_run(events, items, tmp_path / "base", settings)
    assert base["validation"]["users"] > 0 and len(base["tried"]) == len(settings.blend.offsets) * len(
        settings.blend.online_weights) * len(settings.blend.artist_weights)
    heard = events.select("user_id", "item_id").unique()
    # unheard (user, track) pairs: the data has no repeated pair, and neither do the additions
    pairs = (pl.DataFrame({"user_id": list(range(20)) * 2, "item_id": [110 + u % 10 for u in range(20)]
                           + [200 + u for u in range(20)]}, schema={"user_id": pl.Int32, "item_id": pl.Int32})
             .join(heard, on=["user_id", "item_id"], how="anti"))
    users, tracks = pairs.get_column("user_id").to_list(), pairs.get_column("item_id").to_list()
    after_split = _blend_run(pl.concat([events, _extra(users, tracks, datetime(2022, 12, 24))]), items,
                             tmp_path / "test", settings)
    assert after_split["weights"] == base["weights"] and after_split["tried"] == base["tried"]
    assert after_split["validation"] == base["validation"]
    in_window = _blend_run(pl.concat([events, _extra(users, tracks, datetime(2022, 12, 17))]), items,
                           tmp_path / "window", settings)
    assert in_window["tried"] != base["tried"]


@pytest.mark.slow
def test_fit_is_deterministic(settings, tmp_path):
    events, items = write_prepared(tmp_path / "source")
    first = _blend_run(events, items, tmp_path / "a", settings)
    second = _blend_run(events, items, tmp_path / "b", settings)
    first.pop("seconds")
    second.pop("seconds")
    assert first == second


@pytest.mark.slow
def test_replay_fits_from_scratch_take_blend_als_iterations(settings, tmp_path, monkeypatch):
    """[blend] als_iterations: the replay's ALS fits from scratch run that many iterations (a warm one
    keeps [als] warm_iterations); 0 = [als] iterations."""
    from musicrec.models.als import AlsRecommender

    calls: list[int] = []
    iterate = AlsRecommender._iterate

    def spy(self, iterations, factors, show_progress):
        calls.append(iterations)
        return iterate(self, iterations, factors, show_progress)

    monkeypatch.setattr(AlsRecommender, "_iterate", spy)
    events, items = write_prepared(tmp_path / "source")
    als = settings.als.model_copy(update={"iterations": 6, "warm_iterations": 2})
    short = settings.model_copy(update={"als": als, "blend": settings.blend.model_copy(
        update={"als_iterations": 3})})
    _blend_run(events, items, tmp_path / "short", short)
    assert calls and set(calls) <= {3, 2} and 3 in calls
    calls.clear()
    every = settings.blend.model_copy(update={"als_iterations": 0})  # 0: [als] iterations
    _blend_run(events, items, tmp_path / "all", settings.model_copy(update={"als": als, "blend": every}))
    assert calls and set(calls) <= {6, 2} and 6 in calls
