"""The online and blending rules, shared by the recommendations service and the evaluation.

Keeping them here, as pure functions, means the offline evaluation of the online path scores exactly
what the service answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


def combine_online(
    neighbours: Sequence[tuple[Sequence[int], Sequence[float]]],
    k: int,
    exclude: Iterable[int] = (),
    recency_decay: float = 0.5,
) -> list[int]:
    """Rank tracks similar to the user's recent listens.

    ``neighbours[i]`` holds the similar tracks (ids, scores) of the i-th most recent listen (0 = newest).
    A track's combined score is ``sum_i recency_decay**i * score_i``: a track similar to several recent
    listens rises, and the newest listen weighs most. Tracks in ``exclude`` (the listens themselves, or
    anything already heard) are dropped. Ties go to the smaller track id, so the answer is deterministic.

    >>> combine_online([([10, 11], [0.9, 0.5]), ([11, 12], [0.8, 0.7])], k=3, exclude=[12])
    [10, 11]
    >>> combine_online([([10, 11], [0.9, 0.5]), ([11, 12], [0.8, 0.7])], k=2, recency_decay=1.0)
    [11, 10]
    """
    if k <= 0:
        return []
    total = _online_scores(neighbours, set(exclude), recency_decay)
    ranked = sorted(total.items(), key=lambda pair: (-pair[1][0], pair[0]))
    return [item for item, _ in ranked[:k]]


def blend(
    offline: Sequence[int],
    online: Sequence[int],
    k: int,
    backfill: Sequence[int] = (),
    exclude: Iterable[int] = (),
) -> list[int]:
    """Interleave offline and online recommendations.

    Offline items take the even positions (0, 2, ...) and online items the odd ones. A duplicate (or an
    excluded item) is skipped by taking the next item *of the same list*, so the alternation holds. When
    one list runs out, the other's tail follows, then ``backfill`` (e.g. popular tracks). The result has
    no duplicates and exactly ``min(k, number of distinct usable items)`` elements.

    >>> blend([1, 2, 3], [4, 2, 5], k=10)
    [1, 4, 2, 5, 3]
    >>> blend([1, 2], [1, 3, 4, 5], k=5, backfill=[9, 4, 8])
    [1, 3, 2, 4, 5]
    >>> blend([1], [], k=3, backfill=[1, 7, 8, 9])
    [1, 7, 8]
    """
    if k <= 0:
        return []
    seen = set(exclude)
    result: list[int] = []
    sources = [iter(offline), iter(online)]

    def take(source) -> bool:
        for item in source:
            if item not in seen:
                seen.add(item)
                result.append(item)
                return True
        return False

    turn = 0
    exhausted = [False, False]
    while len(result) < k and not all(exhausted):
        if exhausted[turn] or not take(sources[turn]):
            exhausted[turn] = True
        turn = 1 - turn
    backfill_source = iter(backfill)
    while len(result) < k and take(backfill_source):
        pass
    return result


# --- the learned blend -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FusionWeights:
    """The learned blend's scoring rule, for a track ``i`` and the user's online listens:

    ``score(i) = 1 / (offset + offline rank of i) + online * online(i) + artist * artist(i)``

    * ``online(i)``: :func:`online_scores`, the recency-weighted sum of ``i``'s similarity to each
      online listen (the features service's similar tracks);
    * ``artist(i)``: the recency-weighted count of online listens by ``i``'s (first) artist;
    * a track absent from the offline list has no offline term.

    Candidates are the offline list and the tracks similar to the online listens. ``online = artist =
    0`` is the offline list with the online listens removed. Fitted on a validation window at the end
    of the train period (:mod:`musicrec.models.blend_fit`) and saved in ``blend.json``.
    """

    online: float
    artist: float = 0.0
    offset: float = 20.0
    recency_decay: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return {"online": self.online, "artist": self.artist, "offset": self.offset,
                "recency_decay": self.recency_decay}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionWeights:
        """The ``weights`` of ``blend.json``; a missing or non-numeric value raises ``ValueError``."""
        try:
            values = {name: float(data[name]) for name in ("online", "artist", "offset", "recency_decay")}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"blend weights need numeric online, artist, offset and recency_decay: "
                             f"{exc!r}") from None
        if values["offset"] <= 0 or min(values.values()) < 0:
            raise ValueError(f"blend weights must be >= 0 with offset > 0, found {values}")
        return cls(**values)


PERSONAL, ONLINE, POPULAR = "personal", "online", "popular"
SIMILAR, SAME_ARTIST = "similar", "same_artist"


class Pick(NamedTuple):  # a tuple: built for every answered track, cheaper than a frozen dataclass
    """One recommended track and where it came from.

    ``source``: ``personal`` (the offline list), ``online`` (only similar to an online listen) or
    ``popular`` (backfill, or a cold user's list). ``listen`` is the online listen that raised the
    track most, and ``reason`` how: ``similar`` (a similar track of it) or ``same_artist``.
    """

    item: int
    source: str
    listen: int | None = None
    reason: str | None = None


def online_scores(
    neighbours: Sequence[tuple[Sequence[int], Sequence[float]]],
    exclude: Iterable[int] = (),
    recency_decay: float = 0.5,
) -> dict[int, tuple[float, int]]:
    """Each track similar to an online listen: (recency-weighted similarity sum, strongest listen).

    ``neighbours[i]`` holds the similar tracks (ids, scores) of the i-th most recent listen (0 =
    newest); the strongest listen is the index ``i`` of the largest single contribution.

    >>> online_scores([([10, 11], [0.9, 0.5]), ([11], [0.8])], exclude=[10])
    {11: (0.9, 0)}
    """
    return {item: (entry[0], entry[1]) for item, entry in _online_scores(neighbours, set(exclude),
                                                                           recency_decay).items()}


def _online_scores(
    neighbours: Sequence[tuple[Sequence[int], Sequence[float]]], excluded: set[int], recency_decay: float
) -> dict[int, list]:
    """:func:`online_scores` as ``[sum, strongest listen, its contribution]`` lists (no tuple per update)."""
    total: dict[int, list] = {}
    no_best = float("-inf")
    for age, (items, scores) in enumerate(neighbours):
        weight = recency_decay**age
        for item, score in zip(items, scores, strict=True):
            item = int(item)
            if item in excluded:
                continue
            part = weight * float(score)
            entry = total.get(item)
            if entry is None:
                total[item] = [0.0 + part, age, part if part > no_best else no_best]
            else:
                entry[0] += part
                if part > entry[2]:
                    entry[1], entry[2] = age, part
    return total


def listen_artists(
    events: Sequence[int], artist_of: Callable[[int], int | None], recency_decay: float = 0.5
) -> dict[int, tuple[float, int]]:
    """Artists of the online listens: (recency-weighted count, newest listen index).

    >>> listen_artists([5, 6, 7], {5: 1, 6: 2, 7: 1}.get)
    {1: (1.25, 0), 2: (0.5, 1)}
    """
    out: dict[int, tuple[float, int]] = {}
    for age, event in enumerate(events):
        artist = artist_of(int(event))
        if artist is not None:
            weight, newest = out.get(artist, (0.0, age))
            out[artist] = (weight + recency_decay**age, newest)
    return out


def _no_artist(_: int) -> None:
    return None


def fuse(
    offline: Sequence[int],
    neighbours: Sequence[tuple[Sequence[int], Sequence[float]]],
    events: Sequence[int],
    k: int,
    weights: FusionWeights,
    artist_of: Callable[[int], int | None] = _no_artist,
    backfill: Sequence[int] = (),
    offline_source: str = PERSONAL,
    max_per_artist: int = 0,
) -> list[Pick]:
    """The learned blend of the offline list and the tracks similar to the online listens: what
    ``/recommendations`` answers.

    ``events`` are the online listens, newest first (``neighbours[i]`` belongs to ``events[i]``); they
    are never recommended back. Candidates are ranked by the :class:`FusionWeights` score (ties:
    offline rank, then online score, then smaller id; so with zero weights the offline list comes
    first, then the online tracks by similarity), then ``backfill`` fills up to ``min(k, distinct
    usable tracks)``. ``artist_of`` gives a track's artist (or None). ``offline_source`` labels the
    offline list (``popular`` for a cold user, whose offline list is the popular one). With
    ``max_per_artist``, :func:`cap_per_artist` applies to the first ``k``, filling from anywhere further
    down the fused list, backfill included.

    >>> w = FusionWeights(online=0.1, offset=20)
    >>> [p.item for p in fuse([1, 2, 3], [([4, 2], [0.9, 0.5])], events=[9], k=4, weights=w)]
    [2, 4, 1, 3]
    >>> [p.item for p in fuse([1, 2, 9], [([4, 2], [0.9, 0.5])], events=[9], k=4,
    ...                      weights=FusionWeights(online=0.0), backfill=[5])]
    [1, 2, 4, 5]
    >>> picks = fuse([1, 2], [], events=[9], k=2, weights=FusionWeights(0.0, artist=0.1),
    ...              artist_of={2: 7, 9: 7}.get)
    >>> [(p.item, p.source, p.listen, p.reason) for p in picks]
    [(2, 'personal', 9, 'same_artist'), (1, 'personal', None, None)]
    """
    if max_per_artist > 0:
        every = len(offline) + sum(len(items) for items, _ in neighbours) + len(backfill)
        picks = fuse(offline, neighbours, events, every, weights, artist_of, backfill, offline_source)
        return cap_per_artist(picks, lambda pick: artist_of(pick.item), k, max_per_artist)
    if k <= 0:
        return []
    excluded = {int(e) for e in events}
    online = _online_scores(neighbours, excluded, weights.recency_decay)  # item -> [sum, listen, _]
    artists = listen_artists(events, artist_of, weights.recency_decay) if weights.artist > 0 else {}
    w_online, w_artist, offset = weights.online, weights.artist, weights.offset
    near_of, same_of = online.get, artists.get
    # one row per candidate: (-score, offline rank, -online score, item, near, same); the item id is
    # unique, so sorting the rows as they are never compares past it (the same order as by row[:4])
    rows: list[tuple[float, float, float, int, list | None, tuple[float, int] | None]] = []
    taken: set[int] = set()
    for rank, item in enumerate(offline, 1):
        item = int(item)
        if item in excluded or item in taken:
            continue
        taken.add(item)
        near = near_of(item)
        same = same_of(artist_of(item)) if artists else None
        value = near[0] if near else 0.0
        score = 1.0 / (offset + rank) + w_online * value + (w_artist * same[0] if same else 0.0)
        rows.append((-score, rank, -value, item, near, same))
    for item, near in online.items():
        if item not in taken:
            same = same_of(artist_of(item)) if artists else None
            score = w_online * near[0] + (w_artist * same[0] if same else 0.0)
            rows.append((-score, math.inf, -near[0], item, near, same))
    rows.sort()
    picks = [_explain(row, w_online, w_artist, events, offline_source) for row in rows[:k]]
    if len(picks) < k:
        taken = {p.item for p in picks}
        for item in backfill:
            if len(picks) >= k:
                break
            item = int(item)
            if item not in taken and item not in excluded:
                taken.add(item)
                picks.append(_new(Pick, (item, POPULAR, None, None)))
    return picks


_new = tuple.__new__  # _new(Pick, (item, source, listen, reason)): a Pick without the Python-level __new__


def _explain(
    row: tuple, w_online: float, w_artist: float, events: Sequence[int], offline_source: str
) -> Pick:
    """The source of a fused row's track and the online listen that raised it most (if any did)."""
    _, rank, _, item, near, same = row
    in_offline = rank != math.inf
    source = offline_source if in_offline else ONLINE
    similar = w_online * near[0] if near else 0.0
    by_artist = w_artist * same[0] if same else 0.0
    if similar <= 0 and by_artist <= 0:
        if near and not in_offline:  # an online track is there because it is similar
            return _new(Pick, (item, source, int(events[near[1]]), SIMILAR))
        return _new(Pick, (item, source, None, None))
    if similar >= by_artist:
        return _new(Pick, (item, source, int(events[near[1]]), SIMILAR))
    return _new(Pick, (item, source, int(events[same[1]]), SAME_ARTIST))


def cap_per_artist(
    items: Sequence[T], artist_of: Callable[[T], int | None], k: int, max_per_artist: int
) -> list[T]:
    """The first ``k`` of ``items`` with at most ``max_per_artist`` tracks of one artist among them.

    A track over its artist's cap moves down and the next tracks move up; the moved tracks fill the
    end only when too few tracks of other artists remain (so the cap holds whenever the list allows).
    Tracks without an artist (``None``) are never capped; ``max_per_artist = 0`` turns the cap off.

    >>> artist = {1: 7, 2: 7, 3: 7, 4: 8, 5: None}.get
    >>> cap_per_artist([1, 2, 3, 4, 5], artist, k=4, max_per_artist=2)
    [1, 2, 4, 5]
    >>> cap_per_artist([1, 2, 3], artist, k=3, max_per_artist=1)
    [1, 2, 3]
    """
    if max_per_artist <= 0:
        return list(items[:k])
    counts: dict[int, int] = {}
    kept: list[T] = []
    moved: list[T] = []
    for item in items:
        if len(kept) >= k:
            break
        artist = artist_of(item)
        if artist is not None and counts.get(artist, 0) >= max_per_artist:
            moved.append(item)
            continue
        if artist is not None:
            counts[artist] = counts.get(artist, 0) + 1
        kept.append(item)
    return kept + moved[: k - len(kept)]

