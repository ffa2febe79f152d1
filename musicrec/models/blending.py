"""The online and blending rules, shared by the recommendations service and the evaluation.

Keeping them here, as pure functions, means the offline evaluation of the online path scores exactly
what the service answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


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
    excluded = set(exclude)
    total: dict[int, float] = {}
    for age, (items, scores) in enumerate(neighbours):
        weight = recency_decay**age
        for item, score in zip(items, scores, strict=True):
            item = int(item)
            if item not in excluded:
                total[item] = total.get(item, 0.0) + weight * float(score)
    ranked = sorted(total.items(), key=lambda pair: (-pair[1], pair[0]))
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
