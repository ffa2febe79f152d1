import random

import pytest

from musicrec.models.blending import blend, combine_online


def test_blend_alternates_offline_even_online_odd():
    assert blend([1, 2, 3], [10, 20, 30], k=6) == [1, 10, 2, 20, 3, 30]


def test_blend_skips_duplicates_keeping_alternation():
    # 2 is offline's second item and online's first: online moves on to 20, position 1 stays online.
    # Offline's 2 is then a duplicate, so offline's next turn takes 3.
    assert blend([1, 2, 3], [2, 20, 30], k=6) == [1, 2, 3, 20, 30]


def test_blend_tail_then_backfill_and_exact_length():
    assert blend([1], [5, 6, 7], k=6, backfill=[7, 8, 9]) == [1, 5, 6, 7, 8, 9]
    assert blend([], [], k=3, backfill=[4, 4, 5]) == [4, 5]


def test_blend_excludes_items():
    assert blend([1, 2], [3, 4], k=4, exclude=[1, 4]) == [2, 3]


@pytest.mark.parametrize("seed", range(30))
def test_blend_invariants_random(seed):
    rng = random.Random(seed)
    offline = rng.sample(range(40), rng.randint(0, 15))
    online = rng.sample(range(40), rng.randint(0, 15))
    backfill = rng.sample(range(60), 20)
    k = rng.randint(1, 50)
    out = blend(offline, online, k, backfill)
    available = set(offline) | set(online) | set(backfill)
    assert len(out) == len(set(out)) == min(k, len(available))
    # With disjoint lists, even positions are offline's head and odd positions online's, in order.
    disjoint_online = [x for x in online if x not in offline]
    out = blend(offline, disjoint_online, k)
    n = min(len(offline), len(disjoint_online), k // 2)
    assert out[0 : 2 * n : 2] == offline[:n]
    assert out[1 : 2 * n : 2] == disjoint_online[:n]


def test_combine_online_recency_and_exclusion():
    neighbours = [([10, 11], [0.9, 0.5]), ([11, 12], [0.8, 0.7]), ([13], [5.0])]
    # weights 1, 0.5, 0.25: 10 -> 0.9, 11 -> 0.9, 12 -> 0.35, 13 -> 1.25
    assert combine_online(neighbours, k=4) == [13, 10, 11, 12]
    assert combine_online(neighbours, k=2, exclude=[13]) == [10, 11]
    assert combine_online(neighbours, k=0) == []
