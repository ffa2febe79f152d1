"""One chunk of users' complete histories: runs -> distinct listens, exactly each user's count, in order."""

from __future__ import annotations

import numpy as np

from musicrec.data.synth.catalog import Catalog
from musicrec.data.synth.listens import (
    MEAN_RUN,
    OVERSAMPLE,
    ChunkListens,
    Tastes,
    _anchors,
    _expand,
    _explore,
    _playable,
    _popular,
    draw_tastes,
)
from musicrec.data.synth.users import Users

RUN_ROUNDS = 6  # rounds of extra runs for users short of their count after the first pass
EXPLORE_ROUNDS = 3  # then rounds of random single tracks, then an exact draw
_POS = 64  # run key = run * _POS + position in the run (MAX_RUN < _POS)

Events = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # user, track, day, run key


def _sort_order(*columns: np.ndarray) -> np.ndarray:
    """Indices that sort rows by non-negative integer ``columns``, most significant first.

    One int64 sort of the packed columns when their bits fit (about 3x faster than ``np.lexsort``);
    rows with equal keys keep no particular order, so callers make keys unique when it matters.

    >>> _sort_order(np.array([1, 0, 1, 0]), np.array([5, 7, 2, 1])).tolist()
    [3, 1, 2, 0]
    """
    widths = [int(c.max(initial=0)).bit_length() for c in columns]
    if sum(widths) > 62:
        return np.lexsort(columns[::-1])
    key = np.zeros(len(columns[0]), np.int64)
    for column, width in zip(columns, widths, strict=True):
        key = (key << width) | column
    return np.argsort(key)


def _first_per_key(key: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each key (in array order)."""
    order = _sort_order(key, np.arange(len(key)))
    first = np.ones(len(key), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    mask = np.zeros(len(key), bool)
    mask[order[first]] = True
    return mask


def _rank_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted ``group``."""
    return np.arange(len(group)) - np.searchsorted(group, group)


def _runs(cat: Catalog, users: Users, tastes: Tastes, needed: np.ndarray, first_key: int,
          rng: np.random.Generator) -> tuple[Events, np.ndarray]:
    """Candidate listens in runs, about ``OVERSAMPLE`` x ``needed`` per user, and each one's priority.

    Runs get days uniformly over the user's active interval, in time order; the priority (random per
    run, then position in the run) says which candidates to keep first, so that a user keeps whole
    runs spread over the whole interval.
    """
    runs = np.where(needed > 0, np.ceil(needed * OVERSAMPLE / MEAN_RUN).astype(np.int64) + 1, 0)
    run_user = np.repeat(np.arange(len(users)), runs)
    span = users.last_day - users.first_day + 1
    day = users.first_day[run_user] + (rng.random(len(run_user)) * span[run_user]).astype(np.int64)
    day = np.sort(run_user * 512 + day) & 511  # days in time order per user (run_user is sorted)
    anchor = _anchors(cat, users, tastes, run_user, day, rng)
    run, pos, track = _expand(cat, anchor, day, rng)
    priority = rng.integers(0, 1 << 30, len(anchor)).astype(np.int64)[run] * _POS + pos
    return (run_user[run], track, day[run], first_key + run * _POS + pos), priority


def _singles(cat: Catalog, users: Users, needed: np.ndarray, first_key: int,
             rng: np.random.Generator) -> tuple[Events, np.ndarray]:
    """Single tracks on random days of the user's interval, twice as many as needed.

    Half are drawn by popularity, half uniformly: users still short here are the heaviest ones, who
    have exhausted their tastes and dig into the long tail.
    """
    user = np.repeat(np.arange(len(users)), np.where(needed > 0, 2 * needed + 4, 0))
    span = users.last_day[user] - users.first_day[user] + 1
    day = users.first_day[user] + (rng.random(len(user)) * span).astype(np.int64)
    track = np.where(rng.random(len(user)) < 0.5, _explore(cat, len(user), rng), _popular(cat, day, rng))
    keep = _playable(cat, track, day)
    user, track, day = user[keep], track[keep], day[keep]
    return (user, track, day, first_key + np.arange(len(user)) * _POS), np.arange(len(user))


def _select(events: Events, priority: np.ndarray, needed: np.ndarray, heard: np.ndarray | None,
            tracks: int) -> Events:
    """Per user, the first ``needed`` candidates by priority whose track is new to the user."""
    user, track = events[0], events[1]
    order = _sort_order(user, priority)
    key = user[order] * tracks + track[order]
    keep = _first_per_key(key)
    if heard is not None and len(heard):
        heard = np.sort(heard)
        at = np.minimum(np.searchsorted(heard, key), len(heard) - 1)
        keep &= heard[at] != key
    order = order[keep]
    order = order[_rank_in_group(user[order]) < needed[user[order]]]
    return tuple(column[order] for column in events)


def chunk_listens(cat: Catalog, users: Users, rng: np.random.Generator) -> ChunkListens:
    """Every listen of ``users``: distinct tracks per user, ``users.listens`` of them, ordered in time."""
    tastes = draw_tastes(cat, users.listens, rng)
    parts = [_select(*_runs(cat, users, tastes, users.listens, 0, rng), users.listens, None, cat.tracks)]
    have = np.bincount(parts[0][0], minlength=len(users))
    # Users short of their count (heavy users lose many candidates to duplicates) get more runs from
    # the same process, then random tracks, then an exact draw among the tracks they have not heard.
    for round_ in range(RUN_ROUNDS + EXPLORE_ROUNDS):
        needed = users.listens - have
        if not needed.any():
            break
        next_key = int(max(p[3].max(initial=0) for p in parts)) + _POS
        draw = (_runs(cat, users, tastes, needed, next_key, rng) if round_ < RUN_ROUNDS
                else _singles(cat, users, needed, next_key, rng))
        parts.append(_select(*draw, needed, _heard(parts, needed > 0, cat.tracks), cat.tracks))
        have += np.bincount(parts[-1][0], minlength=len(users))
    needed = users.listens - have
    if needed.any():
        next_key = int(max(p[3].max(initial=0) for p in parts)) + _POS
        parts.append(_exact(cat, users, parts, needed, next_key, rng))

    user, track, day, run_key = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = _sort_order(user, day, run_key)
    user, track, day = user[order], track[order], day[order]
    return ChunkListens(user, track, day, _rank_in_group(user) + 1)


def _heard(parts: list[Events], short: np.ndarray, tracks: int) -> np.ndarray:
    """``user * tracks + track`` keys of what the ``short`` users have heard so far."""
    return np.concatenate([p[0][short[p[0]]] * tracks + p[1][short[p[0]]] for p in parts])


def _exact(cat: Catalog, users: Users, parts: list[Events], needed: np.ndarray, next_key: int,
           rng: np.random.Generator) -> Events:
    """Last resort for the few users still short: draw exactly from the tracks they have not heard."""
    user = np.concatenate([p[0] for p in parts])
    track = np.concatenate([p[1] for p in parts])
    out_u, out_t, out_d = [], [], []
    for u in np.flatnonzero(needed > 0):
        first, last = users.first_day[u], users.last_day[u]
        available = cat.alive[cat.track_release[cat.alive] <= last]
        picked = rng.choice(np.setdiff1d(available, track[user == u]), needed[u], replace=False)
        earliest = np.maximum(first, cat.track_release[picked])
        out_d.append(earliest + (rng.random(len(picked)) * (last - earliest + 1)).astype(np.int64))
        out_u.append(np.full(len(picked), u))
        out_t.append(picked)
    u = np.concatenate(out_u)
    return u, np.concatenate(out_t), np.concatenate(out_d), next_key + np.arange(len(u)) * _POS
