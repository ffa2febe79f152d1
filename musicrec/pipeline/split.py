"""Global time split: listens before the split date train the models, the rest evaluates them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl

from musicrec.columns import Columns as C

log = logging.getLogger(__name__)


class SplitError(ValueError):
    """The split cannot be made (empty data, split date outside the data range)."""


@dataclass(frozen=True)
class TimeSplit:
    """Train rows are ``started_at < split_date``, test rows ``>= split_date``.

    ``warm_users`` / ``cold_users``: sorted ids of users with test listens that do / do not have
    train history.
    """

    train: pl.DataFrame
    test: pl.DataFrame
    split_date: datetime
    warm_users: np.ndarray
    cold_users: np.ndarray


def default_split_date(events: pl.DataFrame, test_fraction: float) -> datetime:
    """Midnight of the day where the last ``test_fraction`` of the time range starts.

    Rounded down to a day (the Yandex data has day resolution) but never onto the first day, so
    both parts are non-empty whenever the data spans more than one day.
    """
    if not 0 < test_fraction < 1:
        raise SplitError(f"test_fraction must be in (0, 1), found {test_fraction}")
    lo, hi = _range(events)
    cut = hi - (hi - lo) * test_fraction
    day = datetime.combine(cut.date(), time())
    first_day_end = datetime.combine(lo.date(), time()) + timedelta(days=1)
    return max(day, first_day_end) if hi >= first_day_end else cut


def time_split(events: pl.DataFrame, split_date: date | None, test_fraction: float = 0.1) -> TimeSplit:
    """Split ``events`` at ``split_date`` (derived with :func:`default_split_date` when ``None``).

    A split date that leaves the train or the test part empty raises :class:`SplitError`.
    """
    if split_date is None:
        cut = default_split_date(events, test_fraction)
        log.info("split date derived from the data (last %.0f%% of the time range): %s",
                 100 * test_fraction, cut)
    elif isinstance(split_date, datetime):
        cut = split_date
    else:
        cut = datetime.combine(split_date, time())
    lo, hi = _range(events)
    if not lo < cut <= hi:
        raise SplitError(
            f"split date {cut:%Y-%m-%d %H:%M} is outside the data range {lo:%Y-%m-%d}..{hi:%Y-%m-%d}: "
            "the train or the test part would be empty ([split] split_date)"
        )
    before = pl.col(C.Datetime) < cut
    train = events.filter(before)
    test = events.filter(~before)
    train_users = train.get_column(C.User).unique().to_numpy()
    test_users = np.sort(test.get_column(C.User).unique().to_numpy())
    warm = np.isin(test_users, train_users)
    return TimeSplit(train, test, cut, test_users[warm], test_users[~warm])


def _range(events: pl.DataFrame) -> tuple[datetime, datetime]:
    if events.height == 0:
        raise SplitError("cannot split: there are no events")
    column = events.get_column(C.Datetime)
    return column.min(), column.max()  # type: ignore[return-value]
