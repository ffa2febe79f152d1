import numpy as np
import polars as pl
import pytest

from musicrec.config import Als
from musicrec.models.als import AlsRecommender

PARAMS = Als(factors=2, iterations=15, regularization=0.01, alpha=10.0, blas_threads=1, seed=7)


def checkerboard(seed: int = 0) -> pl.DataFrame:
    """Users 0..19 (group A) listen to ~60% of tracks 100..119, users 20..39 (B) to tracks 200..219."""
    rng = np.random.default_rng(seed)
    rows = [(u, (100 if u < 20 else 200) + i) for u in range(40) for i in range(20) if rng.random() < 0.6]
    return pl.DataFrame(rows, schema={"user_id": pl.Int32, "item_id": pl.Int32}, orient="row")


@pytest.fixture(scope="module")
def model():
    return AlsRecommender(PARAMS).fit(checkerboard(), show_progress=False)


def test_unseen_recommendations_come_from_the_users_group(model):
    recs = model.recommend(np.arange(40), n=3)
    assert recs.columns == ["user_id", "item_id", "score", "rank"]
    assert recs.schema["score"] == pl.Float32
    group_a = recs.filter(pl.col("user_id") < 20).get_column("item_id")
    group_b = recs.filter(pl.col("user_id") >= 20).get_column("item_id")
    assert group_a.is_between(100, 119).all() and group_b.is_between(200, 219).all()


def test_filter_listened_false_can_return_listened(model):
    recs = model.recommend(np.array([0]), n=40, filter_listened=False)
    heard = set(checkerboard().filter(pl.col("user_id") == 0).get_column("item_id").to_list())
    assert recs.height == 40 and heard <= set(recs.get_column("item_id").to_list())
    assert set(recs.head(3).get_column("item_id").to_list()) <= set(range(100, 120))


def test_unknown_users_get_no_rows(model):
    recs = model.recommend(np.array([999, 0, 0]), n=3)
    assert recs.get_column("user_id").unique().to_list() == [0]
    assert recs.height == 3


def test_score_matches_recommend_and_is_nan_for_unknown(model):
    recs = model.recommend(np.array([3]), n=3)
    scores = model.score(recs.select("user_id", "item_id"))
    np.testing.assert_allclose(scores, recs.get_column("score").to_numpy(), rtol=1e-5)
    unknown = model.score(pl.DataFrame({"user_id": [3, 999], "item_id": [999, 100]}))
    assert np.isnan(unknown).all()


def test_similar_items_same_group_no_self(model):
    sim = model.similar_items(np.array([100, 200, 555]), n=5)
    assert sim.columns == ["item_id_1", "item_id_2", "score"]
    assert sim.filter(pl.col("item_id_1") == pl.col("item_id_2")).height == 0
    assert sim.group_by("item_id_1").len().sort("item_id_1").rows() == [(100, 5), (200, 5)]
    assert sim.filter(pl.col("item_id_1") == 100).get_column("item_id_2").is_between(100, 119).all()
    assert sim.get_column("score").max() <= 1.0 + 1e-5


def test_empty_fit_and_bad_n_are_errors():
    with pytest.raises(ValueError, match="empty"):
        AlsRecommender(PARAMS).fit(checkerboard().clear())
    with pytest.raises(ValueError, match="n must be"):
        AlsRecommender(PARAMS).recommend(np.array([1]), 0)


def test_recommend_top_items_scores_only_the_most_played():
    events = checkerboard()
    plays = events.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    top = set(plays.head(8).get_column("item_id").to_list())
    params = Als(**{**PARAMS.model_dump(), "recommend_top_items": 8})
    model = AlsRecommender(params).fit(events, show_progress=False)
    recs = model.recommend(np.arange(40), n=5)
    assert set(recs.get_column("item_id").to_list()) <= top
    assert recs.join(events, on=["user_id", "item_id"]).height == 0
    exact = AlsRecommender(PARAMS).fit(events, show_progress=False).recommend(np.arange(40), n=5)
    assert not set(exact.get_column("item_id").to_list()) <= top


def test_warm_start_continues_from_the_start_models_factors():
    """k iterations, then j more from there, are k + j iterations: a warm start on the same listens is the
    same model; on more listens the known users and tracks start where the earlier model left them."""
    events = checkerboard()
    five = AlsRecommender(PARAMS).fit(events, show_progress=False, iterations=5)
    ten = AlsRecommender(PARAMS).fit(events, show_progress=False, start=five, iterations=5)
    straight = AlsRecommender(PARAMS).fit(events, show_progress=False, iterations=10)
    np.testing.assert_allclose(ten.item_factors, straight.item_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ten.user_factors, straight.user_factors, rtol=1e-5, atol=1e-6)
    assert not np.allclose(five.item_factors, straight.item_factors, rtol=1e-3)  # 5 more iterations did work
    again = AlsRecommender(PARAMS).fit(events, show_progress=False, iterations=5).more(5)
    np.testing.assert_allclose(again.item_factors, straight.item_factors, rtol=1e-5, atol=1e-6)
    # with the start model's factors and 0 further work the user and track rows are copied as they are
    more = pl.concat([events, pl.DataFrame({"user_id": [99], "item_id": [300]},
                                           schema={"user_id": pl.Int32, "item_id": pl.Int32})])
    grown = AlsRecommender(PARAMS).fit(more, show_progress=False, start=ten, iterations=1)
    assert len(grown.item_ids) == len(ten.item_ids) + 1 and len(grown.user_ids) == len(ten.user_ids) + 1
    recs = grown.recommend(np.arange(20), 5, show_progress=False)
    assert recs.get_column("item_id").is_between(100, 119).all()  # group A's tracks, after one iteration
    with pytest.raises(ValueError, match="3 factors"):
        AlsRecommender(PARAMS.model_copy(update={"factors": 3})).fit(events, show_progress=False, start=ten)


def test_warm_starts_start_only_from_an_earlier_cutoff_with_the_same_factors():
    from datetime import datetime

    from musicrec.models.als import WarmStarts

    events = checkerboard()
    params = PARAMS.model_copy(update={"warm_iterations": 3})
    starts = WarmStarts()
    d = [datetime(2022, 12, day) for day in (1, 8, 15, 22)]
    first = starts.fit(events, d[1], params)
    assert first.warm_start is None  # nothing kept yet: from scratch
    assert starts.fit(events, d[0], params).warm_start is None  # d[1] is later: never a start
    later = starts.fit(events, d[2], params)
    assert later.warm_start == d[1]  # the latest earlier one (d[0] is earlier still)
    # d[1] was used and dropped; d[2] serves the next one
    assert starts.fit(events, d[3], params).warm_start == d[2]
    assert starts.fit(events, d[3], params.model_copy(update={"factors": 3})).warm_start is None
    assert WarmStarts().fit(events, d[0], params).warm_start is None
    cold = WarmStarts()
    cold.fit(events, d[0], params.model_copy(update={"warm_iterations": 0}))
    assert cold.fit(events, d[1], params.model_copy(update={"warm_iterations": 0})).warm_start is None
    # a warm start of 3 iterations from the same listens is the 15 + 3 iterations' model
    np.testing.assert_allclose(later.item_factors, AlsRecommender(PARAMS).fit(events, show_progress=False,
                               iterations=18).item_factors, rtol=1e-4, atol=1e-5)

