"""The synthetic user population: how much each user listens, when, and how mainstream they are.

Activity is heavy-tailed (a lognormal with a crowd of casual listeners: many light users, a few very
heavy ones) and scaled so that the listens add up to exactly the requested number of events. Each user
is active over one interval of 2022; a few percent only arrive in the last two weeks of December
(the cold users of the test period), about half are still listening at the end of the year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAYS = 365
SPLIT_DAY = 349  # 2022-12-16, the split date the project uses for Yandex-style data
COLD_SHARE = 0.018  # users whose first listen is in the test period (real: 30,659 of 1,372,715)
EARLY_SHARE = 0.3  # users already listening on 2022-01-01
STAYING_SHARE = 0.58  # users still active on 2022-12-31
CASUAL_SHARE = 0.25
MAX_LISTENS = np.iinfo(np.int16).max  # track_seq is int16 in the real file


@dataclass(frozen=True)
class Users:
    """Per-user arrays, by position 0..users-1."""

    ids: np.ndarray  # int32, increasing, with gaps like the real ids
    listens: np.ndarray  # distinct tracks heard, >= 1
    first_day: np.ndarray  # active interval [first_day, last_day], days of 2022 from 0
    last_day: np.ndarray
    mainstream: np.ndarray  # 0..1: share of listens that follow global popularity, not taste

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int) -> Users:
        return Users(*(getattr(self, f)[start:stop] for f in self.__dataclass_fields__))


def allocate(weight: np.ndarray, total: int, cap: int) -> np.ndarray:
    """Integers in ``[1, cap]`` proportional to ``weight`` that sum to exactly ``total``.

    >>> allocate(np.array([1.0, 1.0, 2.0, 100.0]), 20, cap=10).tolist()
    [3, 2, 5, 10]
    """
    n = len(weight)
    if not n <= total <= n * cap:
        raise ValueError(f"cannot split {total} into {n} parts of 1..{cap}")
    lo, hi = 0.0, cap / weight.min()
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(np.floor(mid * weight), 1, cap).sum() <= total:
            lo = mid
        else:
            hi = mid
    scaled = lo * weight
    counts = np.clip(np.floor(scaled), 1, cap).astype(np.int64)
    fraction = scaled - np.floor(scaled)
    while (missing := total - int(counts.sum())) > 0:
        room = np.flatnonzero(counts < cap)
        best = room[np.argsort(-fraction[room], kind="stable")[:missing]]
        counts[best] += 1
    return counts


def build_users(rng: np.random.Generator, users: int, events: int, cap: int) -> Users:
    """``users`` users whose listens sum to ``events``, none above ``cap`` distinct tracks."""
    ids = np.cumsum(np.where(rng.random(users) < 0.9, 1, rng.integers(2, 6, users))) - 1
    weight = rng.lognormal(0.0, 1.2, users) * np.where(rng.random(users) < CASUAL_SHARE, 0.12, 1.0)
    listens = allocate(weight, events, min(cap, MAX_LISTENS))

    cold = rng.random(users) < COLD_SHARE
    first = np.where(rng.random(users) < EARLY_SHARE, 0, rng.integers(0, SPLIT_DAY, users))
    first = np.where(cold, rng.integers(SPLIT_DAY, DAYS, users), first)
    churn = first + (rng.random(users) * (DAYS - first)).astype(np.int64)
    last = np.where(cold | (rng.random(users) < STAYING_SHARE), DAYS - 1, churn)
    return Users(
        ids=ids.astype(np.int32),
        listens=listens,
        first_day=first.astype(np.int64),
        last_day=last.astype(np.int64),
        mainstream=rng.beta(1.2, 6.0, users),
    )
