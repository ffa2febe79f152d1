"""One contract test over every model (:class:`musicrec.models.base.Recommender`), in the style of
implicit's ``recommender_base_test.py``: the same small data with a known answer for all of them.

The data: users 0..29 listen to tracks 100..129, users 30..59 to 200..229, half of them to the hot
track 150 (tests/helpers/two_groups.py). ALS and the ranker must put the user's own group first; the
popular model must give the most played tracks the user has not heard, in order.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from musicrec.models.als import AlsRecommender
from musicrec.models.base import Recommender
from musicrec.models.popular import PopularRecommender, top_popular
from musicrec.models.ranker import RankerRecommender
from musicrec.pipeline.split import time_split
from tests.helpers.two_groups import SETTINGS, SPLIT_DATE, make_events, make_items

N = 8
USERS = np.arange(60)
MODELS = {
    "popular": PopularRecommender,
    "als": lambda: AlsRecommender(SETTINGS.als),
    "ranker": lambda: RankerRecommender(SETTINGS, make_items()),
}


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    return time_split(make_events(), SPLIT_DATE).train


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, train) -> tuple[str, Recommender, pl.DataFrame]:
    model = MODELS[request.param]().fit(train)
    return request.param, model, model.recommend(USERS, N)


def _own_group(recs: pl.DataFrame) -> pl.DataFrame:
    return recs.filter(((pl.col("user_id") < 30) & pl.col("item_id").is_between(100, 129))
                       | ((pl.col("user_id") >= 30) & pl.col("item_id").is_between(200, 229)))


def test_every_model_keeps_the_protocol(fitted):
    assert isinstance(fitted[1], Recommender)


def test_lists_are_ranked_best_first_with_the_contract_columns(fitted):
    _, _, recs = fitted
    assert recs.schema == pl.Schema({"user_id": pl.Int32, "item_id": pl.Int32, "score": pl.Float32,
                                     "rank": pl.Int32})
    per_user = recs.group_by("user_id", maintain_order=True).agg("rank", "score", "item_id")
    for ranks, scores, items in per_user.select("rank", "score", "item_id").iter_rows():
        assert ranks == list(range(1, len(ranks) + 1))
        assert scores == sorted(scores, reverse=True)
        assert len(set(items)) == len(items)


def test_every_train_user_gets_n_unheard_tracks(fitted, train):
    _, _, recs = fitted
    assert recs.join(train, on=["user_id", "item_id"], how="semi").height == 0
    counts = recs.group_by("user_id").len()
    assert sorted(counts.get_column("user_id").to_list()) == sorted(train.get_column("user_id").unique())
    assert counts.get_column("len").to_list() == [N] * counts.height


def test_known_answer(fitted, train):
    name, _, recs = fitted
    if name == "popular":
        order = top_popular(train, 1000).get_column("item_id").to_list()
        for user, items in recs.group_by("user_id").agg("item_id").iter_rows():
            heard = set(train.filter(pl.col("user_id") == user).get_column("item_id").to_list())
            assert items == [i for i in order if i not in heard][:N]
    else:
        top = recs.filter(pl.col("rank") <= 3)
        assert _own_group(top).height / top.height > 0.7


def test_a_second_fit_gives_the_same_lists(fitted, train):
    name, _, recs = fitted
    assert MODELS[name]().fit(train).recommend(USERS, N).equals(recs)


def test_saved_and_loaded_it_recommends_the_same(fitted, tmp_path):
    name, model, recs = fitted
    model.save(tmp_path / name)
    assert type(model).load(tmp_path / name).recommend(USERS, N).equals(recs)


def test_fewer_tracks_asked_is_a_prefix_and_bad_n_is_an_error(fitted):
    _, model, recs = fitted
    assert model.recommend(USERS, 3).equals(recs.filter(pl.col("rank") <= 3))
    with pytest.raises(ValueError, match="n must be"):
        model.recommend(USERS, 0)


def test_unknown_users_get_no_personal_rows(fitted):
    name, model, _ = fitted
    recs = model.recommend(np.array([999]), N)
    # the popular model has no personal rows at all: an unknown user gets the top tracks as they are
    assert recs.height == (N if name == "popular" else 0)
