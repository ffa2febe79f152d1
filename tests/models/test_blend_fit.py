"""The blend's fit: the vectorised scorer ranks exactly like ``fuse`` and the best point is chosen."""


import numpy as np
import pytest

from musicrec.models.blend_fit import (
    Candidates,
    OnlineHorizons,
    candidates,
    choose,
    ndcg,
    ndcg_per_user,
    top_k_positions,
)
from musicrec.models.blending import FusionWeights, fuse


def random_case(seed: int, users: int = 60) -> tuple[dict, OnlineHorizons, dict, dict]:
    """Offline lists, online listens and neighbours over a small catalogue, so ties and overlaps occur."""
    rng = np.random.default_rng(seed)
    offline, context, session, long = {}, {}, {}, {}
    for u in range(users):
        offline[u] = rng.choice(60, size=int(rng.integers(0, 25)), replace=False).tolist()
        context[u] = rng.choice(60, size=3, replace=False).tolist()
        later = rng.choice(60, size=int(rng.integers(1, 15)), replace=False).tolist()
        session[u], long[u] = set(later[:5]), set(later)
    # scores on a coarse grid: equal fused scores happen, so the tie-breaks are exercised
    neighbours = {i: (rng.choice(60, size=5, replace=False).tolist(),
                      (rng.integers(1, 5, size=5) / 4).tolist()) for i in range(60)}
    artists = {i: i % 7 for i in range(60) if i % 11}
    return offline, OnlineHorizons(context, session, long), neighbours, artists


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weights", [
    FusionWeights(0.0), FusionWeights(0.05, 0.02, 5.0), FusionWeights(0.25, 0.0, 2.0, 1.0),
    FusionWeights(0.0, 0.1, 40.0),
])
def test_vectorised_ranking_equals_fuse(seed, weights):
    offline, horizons, neighbours, artists = random_case(seed)
    c = candidates(offline, horizons, neighbours, artists.get, weights.recency_decay)
    rows, position = top_k_positions(c, weights)
    for u, user in enumerate(c.users.tolist()):
        mine = rows[c.user[rows] == u]
        vectorised = c.item[mine[np.argsort(position[c.user[rows] == u])]].tolist()
        events = horizons.context[user]
        expected = fuse(offline[user], [neighbours[e] for e in events], events, 10, weights, artists.get)
        assert vectorised == [p.item for p in expected], user
    per_user = ndcg_per_user(c, weights)
    for u, user in enumerate(c.users.tolist()):
        events = horizons.context[user]
        listed = [p.item for p in fuse(offline[user], [neighbours[e] for e in events], events, 10, weights,
                                       artists.get)]
        assert per_user["long"][u] == pytest.approx(ndcg(listed, horizons.long[user]))


def test_choose_takes_the_best_mean_ratio_and_keeps_every_point():
    offline, horizons, neighbours, artists = random_case(5)
    c: Candidates = candidates(offline, horizons, neighbours, artists.get, 0.5)
    points = [FusionWeights(0.0), FusionWeights(0.05, 0.02, 5.0), FusionWeights(1.0, 1.0, 40.0)]
    base = {"session": 0.1, "long": 0.2}
    out = choose(c, base, points, "mean")
    assert len(out["tried"]) == 3
    objectives = [t["objective"] for t in out["tried"]]
    assert out["best"]["objective"] == max(objectives)
    best = out["tried"][objectives.index(max(objectives))]
    assert out["weights"] == best["weights"]
    scores = best["ndcg@10"]
    assert best["objective"] == pytest.approx((scores["session"] / 0.1 + scores["long"] / 0.2) / 2)
    # a better mean that is worse than the offline list on one horizon is not taken when another
    # point is worse on neither
    for point in out["tried"]:
        ratios = [point["ndcg@10"]["session"] / 0.1, point["ndcg@10"]["long"] / 0.2]
        assert point["worse_on_neither"] == (min(ratios) >= 1.0)
    longs = [point["ndcg@10"]["long"] for point in out["tried"]]
    # with the offline list as good as the best point on the long horizon, only that point is not
    # worse on it: it wins whatever the others gain on the session horizon
    picked = choose(c, {"session": 0.0001, "long": max(longs)}, points, "mean")
    assert picked["best"]["worse_on_neither"]
    assert picked["weights"] == points[longs.index(max(longs))].to_dict()


def test_choose_worst_takes_the_best_smaller_ratio_not_the_best_mean():
    offline, horizons, neighbours, artists = random_case(5)
    c: Candidates = candidates(offline, horizons, neighbours, artists.get, 0.5)
    points = [FusionWeights(0.0, 0.0, o) for o in (2.0, 40.0)] + [
        FusionWeights(w, a, o) for w in (0.0, 0.05, 1.0) for a in (0.0, 0.05, 1.0) for o in (5.0, 20.0)]
    per_point = [{h: float(v.mean()) for h, v in ndcg_per_user(c, p).items()} for p in points]
    # the offline baseline is the zero point's scores scaled: every point's ratios are known here
    base = {h: per_point[0][h] * 0.9 for h in ("session", "long")}
    ratios = [(s["session"] / base["session"], s["long"] / base["long"]) for s in per_point]
    worst, mean = choose(c, base, points), choose(c, base, points, "mean")
    assert worst["best"]["objective"] == pytest.approx(max(min(r) for r in ratios))
    best = max(range(len(points)), key=lambda i: (min(ratios[i]), sum(ratios[i]), -i))
    assert worst["weights"] == points[best].to_dict()
    assert mean["best"]["objective"] == pytest.approx(max(sum(r) / 2 for r in ratios))
    # the case this rule exists for: the best mean gains on the session horizon and not on the long one
    # as much as another point does; the two rules differ on this grid
    assert worst["weights"] != mean["weights"]
    assert min(ratios[[p.to_dict() for p in points].index(worst["weights"])]) > min(
        ratios[[p.to_dict() for p in points].index(mean["weights"])])
    with pytest.raises(ValueError, match="objective"):
        choose(c, base, points, "median")
