from datetime import datetime

import polars as pl
import pytest

from musicrec.models.popular import recent_popular, top_popular


def _events(rows):
    schema = {"user_id": pl.Int32, "item_id": pl.Int32, "started_at": pl.Datetime("us")}
    return pl.DataFrame(rows, schema=schema, orient="row")


D = datetime


def test_ordered_by_plays_then_users_then_item_id():
    ev = _events([
        (1, 10, D(2022, 1, 1)), (1, 10, D(2022, 1, 2)), (1, 10, D(2022, 1, 3)),  # 10: 3 plays, 1 user
        (1, 20, D(2022, 1, 1)), (2, 20, D(2022, 1, 1)), (3, 20, D(2022, 1, 1)),  # 20: 3 plays, 3 users
        (1, 40, D(2022, 1, 1)), (2, 40, D(2022, 1, 1)),                          # 40: 2 plays, 2 users
        (1, 30, D(2022, 1, 1)), (2, 30, D(2022, 1, 1)),                          # 30: tie with 40
        (5, 50, D(2022, 1, 1)),
    ])
    top = top_popular(ev, n=4)
    assert top.columns == ["item_id", "rank", "plays", "users"]
    assert top.rows() == [(20, 1, 3, 3), (10, 2, 3, 1), (30, 3, 2, 2), (40, 4, 2, 2)]


def test_n_larger_than_catalogue_and_bad_n():
    ev = _events([(1, 10, D(2022, 1, 1))])
    assert top_popular(ev, n=100).height == 1
    with pytest.raises(ValueError, match="n must be"):
        top_popular(ev, n=0)


def test_recent_window_includes_start_excludes_until():
    ev = _events([
        (1, 1, D(2022, 1, 9)),               # before the window
        (1, 2, D(2022, 1, 10)), (2, 2, D(2022, 1, 10)),  # first day of the window
        (1, 3, D(2022, 1, 12)),
        (1, 4, D(2022, 1, 13)), (2, 4, D(2022, 1, 13)), (3, 4, D(2022, 1, 13)),  # == until: excluded
    ])
    recent = recent_popular(ev, n=10, days=3, until=D(2022, 1, 13))
    assert recent.get_column("item_id").to_list() == [2, 3]
    assert recent.get_column("plays").to_list() == [2, 1]


def test_empty_window_gives_empty_frame():
    ev = _events([(1, 1, D(2022, 1, 1))])
    out = recent_popular(ev, n=5, days=2, until=D(2023, 1, 1))
    assert out.height == 0
    assert out.columns == ["item_id", "rank", "plays", "users"]
