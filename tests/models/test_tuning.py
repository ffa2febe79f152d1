"""Tuning: a validation window carved from the end of the train period, small searches, fixed keys kept."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from musicrec.config import load_settings
from musicrec.models import tuning
from tests.pipeline.conftest import write_prepared

SPLIT = datetime(2022, 12, 20)


def _settings(**overrides):
    """Tiny grids on tiny data; the tuned keys are not given, so they are tuned."""
    base = {
        "popular": {"n": 10, "recent_days": 7},
        "als": {"iterations": 5, "n_recs": 5, "blas_threads": 1, "seed": 3},
        "similar": {"k": 3, "min_item_listens": 3},
        "ranker": {"n_recs": 4, "label_days": 3, "windows": 2, "ensemble": 1, "threads": 1,
                   "early_stopping_rounds": 5},
        "tuning": {"window_days": 7, "min_users": 10, "budget_s": 600, "als_factors": "1, 2, 4",
                   "als_alpha": "2, 10", "als_regularization": "0.05, 5", "ranker_depth": "2, 3",
                   "ranker_learning_rate": "0.1", "ranker_iterations": "5, 20"},
    }
    for name, values in overrides.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(**base)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    events, items = write_prepared(tmp_path_factory.mktemp("tuning"))
    return events, items


def _train(events):
    return events.filter(pl.col("started_at") < SPLIT)


def _without_seconds(doc):
    """The document minus wall-clock figures (the only part that may differ between runs)."""
    if isinstance(doc, dict):
        return {k: _without_seconds(v) for k, v in doc.items() if k not in ("seconds", "frame_s", "core_s")}
    if isinstance(doc, list):
        return [_without_seconds(v) for v in doc]
    return doc


def test_window_is_the_end_of_the_train_period_widened_until_enough_users(data):
    events, _ = data
    train = _train(events)
    val = tuning.validation_window(train, _settings(tuning={"window_days": 2}).tuning)
    assert val.cut == datetime(2022, 12, 18) and val.days == 2  # the train period ends 2022-12-19
    assert val.history.get_column("started_at").max() < val.cut
    assert set(val.truth.get_column("user_id").to_list()) <= set(val.users.tolist())
    assert val.truth.join(val.history, on=["user_id", "item_id"]).height == 0  # no repeated pairs here
    wider = tuning.validation_window(train, _settings(tuning={"window_days": 2,
                                                              "min_users": len(val.users) + 1}).tuning)
    assert wider.days == 4 and len(wider.users) > len(val.users)
    none = tuning.validation_window(train, _settings(tuning={"min_users": 1000}).tuning)
    assert isinstance(none, str) and "min_users = 1000" in none


def test_tune_chooses_from_the_grids_and_records_every_point(data):
    events, items = data
    result = tuning.tune(_train(events), items, _settings())
    doc = result.doc
    assert doc["skipped"] is None and not doc["budget_reached"]
    als = doc["als"]
    assert als["default"] == {"factors": 64, "alpha": 5.0, "regularization": 0.05} and als["fixed"] == {}
    axes = [{k: t[k] for k in tuning.ALS_AXES} for t in als["tried"]]
    assert axes[0] == als["default"] and als["chosen"] in axes  # the default point first
    if als["chosen"] != als["default"]:  # moved only when surely better on the window
        assert als["decision"]["over_default"][0] > 1
    ranker = doc["ranker"]
    # the grids plus the default point: depths {2, 3, 4} x learning rates {0.03, 0.1} x trees {5, 20, 500}
    assert len(ranker["tried"]) == 3 * 2 * 3
    assert {k: ranker["tried"][0][k] for k in tuning.RANKER_AXES} == {  # the default pair first
        "depth": 4, "learning_rate": 0.03, "iterations": 5}
    assert {t["iterations"] for t in ranker["tried"]} == {5, 20, 500}
    assert ranker["chosen"] in [{k: t[k] for k in tuning.RANKER_AXES} for t in ranker["tried"]]
    assert result.frame is not None and result.frame.get_column("label").sum() > 0
    applied = tuning.apply(_settings(), doc)
    assert {k: getattr(applied.als, k) for k in tuning.ALS_AXES} == als["chosen"]
    assert {k: getattr(applied.ranker, k) for k in tuning.RANKER_AXES} == ranker["chosen"]


def test_tuning_is_deterministic(data):
    events, items = data
    first = tuning.tune(_train(events), items, _settings())
    second = tuning.tune(_train(events), items, _settings())
    assert _without_seconds(first.doc) == _without_seconds(second.doc)
    # the ranker's features may differ in the last float bit between runs (parallel sums)
    assert_frame_equal(first.frame, second.frame, rel_tol=1e-6)


def test_explicit_keys_are_fixed_and_reported(data):
    events, items = data
    settings = _settings(als={"factors": 2}, ranker={"depth": 3, "learning_rate": 0.1, "iterations": 20})
    doc = tuning.tune(_train(events), items, settings).doc
    assert doc["als"]["fixed"] == {"factors": 2}
    assert {t["factors"] for t in doc["als"]["tried"]} == {2}
    assert doc["ranker"]["tried"] == [] and doc["ranker"]["fixed"] == doc["ranker"]["default"]  # all given
    applied = tuning.apply(settings, doc)
    assert applied.als.factors == 2 and applied.ranker.depth == 3
    lines = "\n".join(tuning_lines_of(doc))
    assert "| als | factors | 2 | 2 | fixed (set explicitly) |" in lines


def tuning_lines_of(doc):
    from musicrec.evaluation.report import tuning_lines

    return tuning_lines(doc)


def test_too_little_data_or_off_keeps_the_configured_values(data):
    events, items = data
    small = _settings(tuning={"min_users": 1000})
    doc = tuning.tune(_train(events), items, small).doc
    assert "min_users = 1000" in doc["skipped"]
    assert tuning.apply(small, doc) == small
    off = _settings(tuning={"enabled": False})
    doc = tuning.tune(_train(events), items, off).doc
    assert "enabled = false" in doc["skipped"] and tuning.apply(off, doc) == off
    assert tuning.apply(off, tuning.tune(_train(events), items, _settings()).doc) == off  # off: never applied


def test_the_budget_stops_the_search(data):
    events, items = data
    settings = _settings(tuning={"budget_s": 1e-6})
    doc = tuning.tune(_train(events), items, settings).doc
    assert doc["budget_reached"]
    # ALS: even the default point's estimate is past the budget: not searched
    assert doc["als"]["tried"] == [] and "does not fit in the budget" in doc["als"]["skipped"]
    # the ranker: its default (depth, learning rate) only, whose one fit scores every tree count
    assert {(t["depth"], t["learning_rate"]) for t in doc["ranker"]["tried"]} == {(4, 0.03)}
    applied = tuning.apply(settings, doc)
    assert applied.als == settings.als and applied.ranker.depth == 4
    assert "reached" in "\n".join(tuning_lines_of(doc))


def _listens(pairs: list[tuple[int, int]], day: datetime) -> pl.DataFrame:
    rows = [(u, i, day + timedelta(minutes=n)) for n, (u, i) in enumerate(pairs)]
    return pl.DataFrame(rows, schema={"user_id": pl.Int32, "item_id": pl.Int32,
                                      "started_at": pl.Datetime("us")}, orient="row")


def test_never_reads_the_test_period_and_the_window_can_change_the_choice(data):
    """Listens after the split date are not in ``train`` by construction; what a caller passes is the
    train period only. The control: the same listens inside the validation window change the choice."""
    events, items = data
    settings = _settings(ranker={"depth": 3, "learning_rate": 0.1, "iterations": 20})  # ALS only: fast
    base = tuning.tune(_train(events), items, settings).doc
    # every user listens to the other group's tracks: structure only a model with more factors captures
    rng = np.random.default_rng(0)
    pairs = [(u, int(rng.choice(range(200, 220) if u < 20 else range(100, 120)))) for u in range(40)
             for _ in range(6)]
    after = pl.concat([events, _listens(pairs, datetime(2022, 12, 22))])
    assert _without_seconds(tuning.tune(_train(after), items, settings).doc) == _without_seconds(base)
    inside = pl.concat([events, _listens(pairs, datetime(2022, 12, 15))]).sort("user_id", "started_at")
    moved = tuning.tune(_train(inside), items, settings).doc
    assert moved["als"]["tried"] != base["als"]["tried"]
    assert moved["als"]["chosen"] != base["als"]["chosen"]


def test_the_points_tried_do_not_depend_on_the_machines_speed(data, monkeypatch):
    # The budget is spent in estimated core-seconds computed from the data, never timed: a machine ten
    # times slower (its CPU clock advancing ten times as fast) tries and chooses exactly the same points.
    events, items = data
    train = _train(events)
    base = _settings()
    val = tuning.validation_window(train, base.tuning)
    default = tuning.als_cost(val, val.history.get_column("item_id").n_unique(), base.als.iterations, 64)
    settings = _settings(tuning={"budget_s": 2 * 1.5 * default})  # ALS's half: the default and a bit
    fast = tuning.tune(train, items, settings).doc
    assert fast["budget_reached"] and 1 <= len(fast["als"]["tried"]) < 4
    assert fast["als"]["tried"][0]["estimate_s"] == pytest.approx(default, abs=0.01)
    clock = tuning.time.process_time
    monkeypatch.setattr(tuning.time, "process_time", lambda: 10 * clock())
    slow = tuning.tune(train, items, settings).doc
    assert _without_seconds(slow) == _without_seconds(fast)
