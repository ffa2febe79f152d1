from datetime import date, datetime

import polars as pl
import pytest

from musicrec.pipeline.split import SplitError, default_split_date, time_split

D = datetime


def _events():
    rows = [
        (1, 10, D(2022, 12, 1)), (1, 11, D(2022, 12, 20)),  # warm
        (2, 10, D(2022, 12, 5)),                             # train only
        (3, 12, D(2022, 12, 16)), (3, 10, D(2022, 12, 30)),  # cold: first listen on the split day
        (4, 11, D(2022, 12, 15)), (4, 12, D(2022, 12, 16)),  # warm
    ]
    return pl.DataFrame(rows, schema={"user_id": pl.Int32, "item_id": pl.Int32,
                                      "started_at": pl.Datetime("us")}, orient="row")


def test_split_at_date_is_exact():
    s = time_split(_events(), date(2022, 12, 16), 0.1)
    assert s.split_date == D(2022, 12, 16)
    assert s.train.get_column("started_at").max() < D(2022, 12, 16)
    assert s.test.get_column("started_at").min() >= D(2022, 12, 16)
    assert s.train.height + s.test.height == 7
    assert s.warm_users.tolist() == [1, 4]
    assert s.cold_users.tolist() == [3]


def test_default_split_date_is_last_fraction_rounded_to_a_day():
    # range 2022-12-01 .. 2022-12-30 (29 days); the last 10% starts 2022-12-27 02:24
    assert default_split_date(_events(), 0.1) == D(2022, 12, 27)
    s = time_split(_events(), None, 0.1)
    assert s.test.rows() == [(3, 10, D(2022, 12, 30))]
    assert s.cold_users.tolist() == [] and s.warm_users.tolist() == [3]


@pytest.mark.parametrize("bad", [date(2022, 11, 1), date(2022, 12, 1), date(2023, 1, 5)])
def test_split_date_outside_range_is_a_clear_error(bad):
    with pytest.raises(SplitError, match="outside the data range 2022-12-01..2022-12-30"):
        time_split(_events(), bad, 0.1)


def test_empty_events_is_an_error():
    with pytest.raises(SplitError, match="no events"):
        time_split(_events().clear(), None, 0.1)
