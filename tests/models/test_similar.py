import numpy as np
import polars as pl
import pytest

from musicrec.config import Als, Similar
from musicrec.models.als import AlsRecommender
from musicrec.models.similar import build_similar, content_neighbours

from .test_als import checkerboard


def catalogue() -> pl.DataFrame:
    """Tracks 100..119 (genre 1) and 200..219 (genre 2) are played; 300..302 never are."""
    item_ids = list(range(100, 120)) + list(range(200, 220)) + [300, 301, 302]
    genres = [[1]] * 20 + [[2]] * 20 + [[1], [2], [2]]
    artists = [[10 + i % 4] for i in range(40)] + [[50], [50], [11]]
    return pl.DataFrame(
        {"item_id": item_ids, "genre_ids": genres, "artist_ids": artists},
        schema={"item_id": pl.Int32, "genre_ids": pl.List(pl.Int32), "artist_ids": pl.List(pl.Int32)},
    )


@pytest.fixture(scope="module")
def similar():
    events = checkerboard()
    als = AlsRecommender(Als(factors=2, iterations=15, regularization=0.01, seed=7)).fit(
        events, show_progress=False)
    return build_similar(catalogue(), events, als, Similar(k=3, min_item_listens=5), show_progress=False)


def test_every_track_gets_k_neighbours_and_no_self_pairs(similar):
    assert similar.columns == ["item_id_1", "item_id_2", "score", "source"]
    assert similar.filter(pl.col("item_id_1") == pl.col("item_id_2")).height == 0
    per_item = similar.group_by("item_id_1").len()
    assert per_item.height == catalogue().height
    assert per_item.get_column("len").to_list() == [3] * catalogue().height
    assert similar.select("item_id_1", "item_id_2").is_duplicated().sum() == 0


def test_played_tracks_use_als_within_their_group(similar):
    played = similar.filter(pl.col("item_id_1") < 300)
    assert played.get_column("source").unique().to_list() == ["als"]
    group_a = played.filter(pl.col("item_id_1") < 200).get_column("item_id_2")
    assert group_a.is_between(100, 119).all()


def test_unplayed_tracks_fall_back_to_content(similar):
    cold = similar.filter(pl.col("item_id_1") >= 300)
    assert cold.get_column("source").unique().to_list() == ["content"]
    # 300 shares artist 50 with 301 (genre differs): the shared artist ranks first
    assert cold.filter(pl.col("item_id_1") == 300).get_column("item_id_2").to_list()[0] == 301
    # 302 (genre 2, artist 11) -> tracks with both genre 2 and artist 11 score highest
    top_302 = cold.filter(pl.col("item_id_1") == 302).get_column("item_id_2").to_list()
    assert set(top_302) <= {201, 205, 209, 213, 217}


def test_sorted_by_item_then_score(similar):
    assert similar.equals(similar.sort(["item_id_1", "score", "item_id_2"], descending=[False, True, False]))


def test_content_weights_change_the_winner():
    items = pl.DataFrame({"item_id": [1, 2, 3], "genres": [["rock"], ["rock"], ["pop"]],
                          "artists": [["a"], ["b"], ["a"]]})
    plays = pl.DataFrame({"item_id": [2, 3], "plays": [1, 1]},
                         schema={"item_id": pl.Int32, "plays": pl.UInt32})
    by_genre = content_neighbours(items, plays, np.array([1]), 1, Similar(genre_weight=5, artist_weight=1),
                                  show_progress=False)
    by_artist = content_neighbours(items, plays, np.array([1]), 1, Similar(genre_weight=1, artist_weight=5),
                                   show_progress=False)
    assert by_genre.get_column("item_id_2").to_list() == [2]
    assert by_artist.get_column("item_id_2").to_list() == [3]
