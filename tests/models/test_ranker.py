from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from musicrec.config import load_settings
from musicrec.models.als import AlsRecommender
from musicrec.models.ranker import (
    FEATURES,
    train_and_recommend,
    train_and_recommend_with_info,
    training_frame,
)
from musicrec.models.ranker.features import neighbour_recent
from musicrec.models.ranker.labels import label_split, sample_negatives
from musicrec.pipeline.split import time_split
from tests.helpers.two_groups import HOT, SCHEMA, SETTINGS, SPLIT_DATE, make_events, make_items


@pytest.fixture(scope="module")
def split():
    return time_split(make_events(), SPLIT_DATE)


@pytest.fixture(scope="module")
def ranked(split):
    return train_and_recommend_with_info(split.train, make_items(), SETTINGS)


def test_label_window_listens_never_reach_the_features(split):
    """Label-window listens of the hot track by brand-new users must change nothing: those users have
    no history (so no training rows), and no feature may count listens after the cutoff."""
    items = make_items()
    base = training_frame(split.train, items, SETTINGS)
    assert base.filter(pl.col("item_id") == HOT).height > 0  # the hot track is a candidate
    cutoff = label_split(split.train, SETTINGS.ranker.label_days).cutoff
    extra = pl.DataFrame([(1000 + u, HOT, cutoff + timedelta(days=1)) for u in range(50)], schema=SCHEMA,
                         orient="row")
    leaked = training_frame(pl.concat([split.train, extra]), items, SETTINGS)
    assert leaked.equals(base)


def test_feature_period_listens_do_change_the_features(split):
    """The guard above can fail: the same listens placed before the cutoff do move the features."""
    items = make_items()
    base = training_frame(split.train, items, SETTINGS)
    cutoff = label_split(split.train, SETTINGS.ranker.label_days).cutoff
    extra = pl.DataFrame([(1000 + u, HOT, cutoff - timedelta(days=1)) for u in range(50)], schema=SCHEMA,
                         orient="row")
    moved = training_frame(pl.concat([split.train, extra]), items, SETTINGS)
    hot = lambda f: f.filter(pl.col("item_id") == HOT).get_column("item_recent_share_log").max()  # noqa: E731
    assert hot(moved) > hot(base)


def test_labels_are_window_listens_and_candidates_are_unheard(split):
    rows = training_frame(split.train, make_items(), SETTINGS)
    assert set(FEATURES) <= set(rows.columns) and len(FEATURES) >= 8
    labels = label_split(split.train, SETTINGS.ranker.label_days)
    latest = rows.filter(pl.col("group") < 2**32)  # window 0
    window = labels.window.select("user_id", "item_id")
    history = labels.history.select("user_id", "item_id")
    positives = latest.filter(pl.col("label") == 1).select("user_id", "item_id")
    assert positives.height > 0
    assert positives.join(window, on=["user_id", "item_id"], how="anti").height == 0
    negatives = latest.filter(pl.col("label") == 0).select("user_id", "item_id")
    assert negatives.join(window, on=["user_id", "item_id"], how="semi").height == 0
    assert latest.join(history, on=["user_id", "item_id"], how="semi").height == 0
    assert rows.select(FEATURES).null_count().sum_horizontal().item() == 0


def test_pipeline_lists_cover_every_train_user_and_never_a_test_only_track(split, ranked):
    # the list shape and the heard-track filter are the model contract's (test_contract.py)
    recs, info = ranked
    assert 300 not in recs.get_column("item_id").to_list()  # only ever heard in the test period
    users = split.train.get_column("user_id").unique()
    assert set(recs.get_column("user_id").unique().to_list()) == set(users.to_list())
    assert recs.group_by("user_id").len().get_column("len").max() == SETTINGS.ranker.n_recs
    assert set(info["feature_importance"]) == set(FEATURES)


def test_a_given_als_model_fitted_on_the_train_period_gives_the_same_lists(split, ranked):
    als = AlsRecommender(SETTINGS.als).fit(split.train, show_progress=False)
    recs, _ = train_and_recommend_with_info(split.train, make_items(), SETTINGS, als=als)
    assert recs.equals(ranked[0])


def test_negative_sampling_is_seeded_and_keeps_users_with_positives():
    labelled = pl.DataFrame({"user_id": [1] * 6 + [2] * 2, "item_id": list(range(6)) + [7, 8],
                             "label": [1, 0, 0, 0, 0, 0, 0, 0]})
    a = sample_negatives(labelled, 2, seed=1)
    assert a.equals(sample_negatives(labelled, 2, seed=1))
    assert a.get_column("user_id").to_list() == [1, 1, 1]  # user 2 has no positive
    assert a.get_column("label").sum() == 1


def test_label_days_too_long_is_a_clear_error(split):
    with pytest.raises(ValueError, match=r"\[ranker\] label_days"):
        train_and_recommend(split.train, make_items(), load_settings(ranker={"label_days": 400}))


def test_neighbour_recent_counts_what_taste_neighbours_play_now(split):
    history = label_split(split.train, SETTINGS.ranker.label_days).history
    als = AlsRecommender(SETTINGS.als).fit(history, show_progress=False)
    until = history.get_column("started_at").max() + timedelta(days=1)
    # user 0 (group A) and user 45 (group B), each with a group-A and a group-B track
    pairs = pl.DataFrame({"user_id": [0, 0, 45, 45], "item_id": [129, 229, 129, 229]},
                         schema={"user_id": pl.Int32, "item_id": pl.Int32})
    out = neighbour_recent(pairs, history, als, until, recent_days=60)
    score = {(u, i): v for u, i, v in out.iter_rows()}
    assert score[(0, 129)] > score[(0, 229)]
    assert score[(45, 229)] > score[(45, 129)]
    assert all(0.0 <= v <= 1.0 for v in score.values())


def test_neighbour_search_among_the_most_active_users_past_the_cap(split, monkeypatch):
    from musicrec.models.ranker import features

    history = label_split(split.train, SETTINGS.ranker.label_days).history
    als = AlsRecommender(SETTINGS.als).fit(history, show_progress=False)
    until = history.get_column("started_at").max() + timedelta(days=1)
    pairs = pl.DataFrame({"user_id": [0, 0, 45, 45], "item_id": [129, 229, 129, 229]},
                         schema={"user_id": pl.Int32, "item_id": pl.Int32})
    monkeypatch.setattr(features, "_MAX_REFERENCE", 30)
    out = neighbour_recent(pairs, history, als, until, recent_days=60)
    score = {(u, i): v for u, i, v in out.iter_rows()}
    assert score[(0, 129)] > score[(0, 229)] and score[(45, 229)] > score[(45, 129)]


def test_ensemble_averages_models_with_different_seeds(split):
    from musicrec.models.ranker.model import CatBoostStage

    rows = training_frame(split.train, make_items(), SETTINGS)
    params = SETTINGS.ranker.model_copy(update={"ensemble": 3})
    stage = CatBoostStage(params, FEATURES).fit(rows)
    assert len(stage.models) == 3 and len(stage.info["trees"]) == 3
    x = rows.select(FEATURES).to_numpy()
    each = [m.predict(x, prediction_type="RawFormulaVal") for m in stage.models]
    assert not np.allclose(each[0], each[1])  # different seeds and held-out users
    prior = rows.get_column("item_recent_share_log").to_numpy()
    np.testing.assert_allclose(stage.predict(rows), np.mean(each, axis=0) + prior, rtol=1e-6)


def test_ensemble_is_one_model_past_the_row_cap(split):
    from musicrec.models.ranker.model import CatBoostStage

    rows = training_frame(split.train, make_items(), SETTINGS)
    params = SETTINGS.ranker.model_copy(update={"ensemble": 3, "ensemble_max_rows": rows.height - 1})
    stage = CatBoostStage(params, FEATURES).fit(rows)
    assert len(stage.models) == 1 and stage.info["ensemble"] == 1


def test_recent_taste_and_new_since_last_features():
    """User 1 heard genre-1 tracks long ago and only genre-2 tracks lately (the last TASTE_LAST
    listens); track 9 first appeared after user 1's last listen."""
    from musicrec.models.ranker import features

    d = datetime(2022, 1, 1)
    old = [(1, 10 + i, d + timedelta(hours=i)) for i in range(30)]  # genre 1
    new = [(1, 50 + i, d + timedelta(days=10, hours=i)) for i in range(features.TASTE_LAST)]  # genre 2
    other = [(2, 9, d + timedelta(days=15)), (2, 50, d + timedelta(days=15))]
    history = pl.DataFrame(old + new + other, schema=SCHEMA, orient="row")
    items = pl.DataFrame({"item_id": list(range(10, 40)) + list(range(50, 50 + features.TASTE_LAST)) + [8, 9],
                          "genre_ids": [[1]] * 30 + [[2]] * features.TASTE_LAST + [[1], [2]]},
                         schema_overrides={"item_id": pl.Int32, "genre_ids": pl.List(pl.Int32)})
    pairs = pl.DataFrame({"user_id": [1, 1], "item_id": [8, 9], "als_rank": [1, 2],
                          "recent_rank": [None, 1],
                          "similar_score": [None, None]},
                         schema={"user_id": pl.Int32, "item_id": pl.Int32, "als_rank": pl.Int32,
                                 "recent_rank": pl.Int32,
                                 "similar_score": pl.Float32})
    als = AlsRecommender(SETTINGS.als).fit(history, show_progress=False)
    until = datetime(2022, 1, 17)
    out = features.build(pairs, history, items, until, als, recent_days=14, n_last=3)
    row = {i: r for i, r in zip(out.get_column("item_id").to_list(), out.iter_rows(named=True), strict=True)}
    # all-time: 30 of 50 listens are genre 1; lately: all TASTE_LAST are genre 2
    assert row[8]["genre_affinity"] == pytest.approx(0.6) and row[8]["genre_affinity_last"] == 0.0
    assert row[9]["genre_affinity"] == pytest.approx(0.4) and row[9]["genre_affinity_last"] == 1.0
    # track 9: first played 1 day before until; user 1's last listen was ~6 days before until
    last_days = (until - (d + timedelta(days=10, hours=features.TASTE_LAST - 1))).total_seconds() / 86400
    assert row[9]["new_since_last"] == pytest.approx(last_days - 1.0, abs=1e-3)
    assert row[9]["new_since_last"] > 0
    # user 1 was the first to play every track they heard: age 0 at each listen
    assert row[8]["user_fresh_last"] == pytest.approx(0.0)
    # the period's per-track and per-user columns computed once and passed in give the same rows
    stats = features.period_stats(history, until, 14, als)
    again = features.build(pairs, history, items, until, als, recent_days=14, n_last=3, stats=stats)
    assert again.equals(out)
    # per-user columns of some users only (build without stats takes its pairs' users): the same rows
    some = np.array([1])
    assert stats.users.height > 1  # the history has other users: the comparison can fail
    assert features.period_stats(history, until, 14, als, some).users.sort("user_id").equals(
        stats.users.filter(pl.col("user_id").is_in(some)).sort("user_id"))




@pytest.mark.parametrize("workers", [1, 3])
def test_inference_in_small_batches_gives_the_same_lists(split, monkeypatch, workers):
    """Each batch reads only its users' listens (plus the period's shared columns): batches of 7 users,
    asked for in any order and scored one or several at once ([ranker] inference_workers, threads),
    rank exactly as one batch of everyone does."""
    import musicrec.models.ranker as ranker
    from musicrec.models.ranker import RankerRecommender

    model = RankerRecommender(SETTINGS, make_items()).fit(split.train)
    users = model.users()
    whole = model.recommend(users, 10)
    monkeypatch.setattr(ranker, "_BATCH_USERS", 7)
    model.settings = SETTINGS.model_copy(update={"ranker": SETTINGS.ranker.model_copy(
        update={"inference_workers": workers})})
    assert len(users) > 3 * 7
    batched = model.recommend(np.random.default_rng(0).permutation(users), 10)
    assert batched.equals(whole)
    # a few users (the blend's case): their per-user columns alone, the same lists
    few = users[::5][:4]
    assert model.recommend(few, 10).equals(whole.filter(pl.col("user_id").is_in(few)))
    assert whole.get_column("user_id").n_unique() == len(users)


def test_candidates_from_a_precomputed_als_list_rank_alike(split):
    """The pipeline's ALS step lists every user once; the ranker's batches take their candidates' ALS part
    from that list instead of searching ALS again: the same lists."""
    from musicrec.models.ranker import RankerRecommender, score_candidates

    model = RankerRecommender(SETTINGS, make_items()).fit(split.train)
    als, users = model.fitted_als(), model.users()
    top = als.recommend(users, SETTINGS.ranker.n_candidates + 5, show_progress=False)
    args = (model.stage, split.train, make_items(), SETTINGS, users, als, 10)
    assert score_candidates(*args, als_top=top).equals(score_candidates(*args))
