import math

import numpy as np
import polars as pl
import pytest

from musicrec.evaluation import metrics as M


def frame(rows, columns=("user_id", "item_id", "rank")):
    return pl.DataFrame(rows, schema=list(columns), orient="row")


# user 1: list [10, 11, 12, 13], relevant {11, 13, 20}
# user 2: list [20, 21], relevant {20}
# user 3: no list, relevant {10}
RECS = frame([(1, 10, 1), (1, 11, 2), (1, 12, 3), (1, 13, 4), (2, 20, 1), (2, 21, 2)])
TRUTH = frame([(1, 11), (1, 13), (1, 20), (2, 20), (3, 10)], ("user_id", "item_id"))
USERS = np.array([1, 2, 3])
L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)


def test_precision_recall_by_hand():
    # @4: user 1 has 2 hits of 4 slots, user 2 has 1 hit of 4 slots, user 3 nothing
    assert M.precision_at_k(RECS, TRUTH, 4, USERS) == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)
    assert M.recall_at_k(RECS, TRUTH, 4, USERS) == pytest.approx((2 / 3 + 1 + 0) / 3)
    # @1: only user 2 hits
    assert M.precision_at_k(RECS, TRUTH, 1, USERS) == pytest.approx(1 / 3)


def test_f1_is_per_user_not_from_averaged_precision_and_recall():
    p1, r1 = 2 / 4, 2 / 3
    p2, r2 = 1 / 4, 1.0
    expected = (2 * p1 * r1 / (p1 + r1) + 2 * p2 * r2 / (p2 + r2) + 0) / 3
    assert M.f1_at_k(RECS, TRUTH, 4, USERS) == pytest.approx(expected)
    p, r = M.precision_at_k(RECS, TRUTH, 4, USERS), M.recall_at_k(RECS, TRUTH, 4, USERS)
    assert expected != pytest.approx(2 * p * r / (p + r))


def test_ndcg_by_hand():
    dcg1 = 1 / L3 + 1 / L5  # hits at positions 2 and 4
    idcg1 = 1 / L2 + 1 / L3 + 1 / math.log2(4)  # 3 relevant, k = 4
    expected = (dcg1 / idcg1 + 1.0 + 0.0) / 3  # user 2: hit at position 1 with 1 relevant
    assert M.ndcg_at_k(RECS, TRUTH, 4, USERS) == pytest.approx(expected)


def test_map_by_hand():
    ap1 = (1 / 2 + 2 / 4) / 3  # precision at the hits (positions 2 and 4) over min(k, 3 relevant)
    assert M.map_at_k(RECS, TRUTH, 4, USERS) == pytest.approx((ap1 + 1.0 + 0.0) / 3)


def test_ranking_metrics_agrees_with_single_functions():
    out = M.ranking_metrics(RECS, TRUTH, (2, 4), USERS)
    for k in (2, 4):
        assert out[f"precision@{k}"] == pytest.approx(M.precision_at_k(RECS, TRUTH, k, USERS))
        assert out[f"recall@{k}"] == pytest.approx(M.recall_at_k(RECS, TRUTH, k, USERS))
        assert out[f"f1@{k}"] == pytest.approx(M.f1_at_k(RECS, TRUTH, k, USERS))
        assert out[f"ndcg@{k}"] == pytest.approx(M.ndcg_at_k(RECS, TRUTH, k, USERS))
        assert out[f"map@{k}"] == pytest.approx(M.map_at_k(RECS, TRUTH, k, USERS))


def test_users_outside_the_fixed_set_are_ignored_and_missing_ones_count_zero():
    only_1 = M.precision_at_k(RECS, TRUTH, 4, np.array([1]))
    assert only_1 == pytest.approx(0.5)
    with_absent = M.precision_at_k(RECS, TRUTH, 4, np.array([1, 99]))
    assert with_absent == pytest.approx(0.25)


def test_order_follows_rank_not_row_order_and_duplicates_dropped():
    shuffled = frame([(1, 13, 4), (1, 10, 1), (1, 11, 2), (1, 11, 3)])
    # after dedup: 10 (pos 1), 11 (pos 2), 13 (pos 3)
    top = M.top_k(shuffled, 3)
    assert top.rows() == [(1, 10, 1), (1, 11, 2), (1, 13, 3)]


def test_perfect_list_scores_one():
    recs = frame([(1, 5, 1), (1, 6, 2)])
    truth = frame([(1, 5), (1, 6)], ("user_id", "item_id"))
    out = M.ranking_metrics(recs, truth, (2,), np.array([1]))
    assert out == pytest.approx({"precision@2": 1.0, "recall@2": 1.0, "f1@2": 1.0, "ndcg@2": 1.0,
                                 "map@2": 1.0})


def test_novelty_unseen_coverage_diversity_by_hand():
    train = frame([(1, 10), (2, 10), (2, 11), (3, 12)], ("user_id", "item_id"))
    recs = frame([(1, 10, 1), (1, 11, 2), (2, 12, 1), (2, 99, 2)])
    # 3 train users: 10 reached by 2 -> log2(3/2); 11, 12 by 1 -> log2(3); 99 unheard -> log2(3)
    expected = ((math.log2(1.5) + math.log2(3)) / 2 + math.log2(3)) / 2
    assert M.novelty_at_k(recs, train, 2, np.array([1, 2])) == pytest.approx(expected)
    # user 1 heard 10 (1/2 unseen), user 2 heard none of 12, 99
    assert M.unseen_share_at_k(recs, train, 2, np.array([1, 2])) == pytest.approx(0.75)
    assert M.item_coverage_at_k(recs, 2, np.array([1, 2]), n_items=8) == pytest.approx(4 / 8)
    items = pl.DataFrame({"item_id": [10, 11, 12, 99], "genre_ids": [[1, 2], [2, 3], [4], [4]]})
    # user 1: {1,2} vs {2,3}: 1 - 1/3; user 2: identical genres -> 0
    assert M.genre_diversity_at_k(recs, items, 2, np.array([1, 2]), ) == pytest.approx((2 / 3 + 0) / 2)


def test_hit_rates():
    assert M.hit_rate_at_k(RECS, TRUTH, 1, USERS) == pytest.approx(1 / 3)
    assert M.hit_rate_at_k(RECS, TRUTH, 4, USERS) == pytest.approx(2 / 3)
    assert M.list_hit_rate(np.array([10, 99]), TRUTH, USERS) == pytest.approx(1 / 3)
    assert M.list_hit_rate(np.array([10]), TRUTH, np.array([], dtype=np.int64)) == 0.0


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.ndcg_at_k(RECS, TRUTH, 0, USERS)


def test_random_lists_on_100k_users_score_at_chance():
    # The speed of this vectorised path is a benchmark's business (bench/), not a timed test's.
    rng = np.random.default_rng(0)
    n_users, k = 100_000, 10
    users = np.repeat(np.arange(n_users), k)
    recs = pl.DataFrame({"user_id": users, "item_id": rng.integers(0, 5_000, len(users)),
                         "rank": np.tile(np.arange(1, k + 1), n_users)})
    truth = pl.DataFrame({"user_id": np.repeat(np.arange(n_users), 5),
                          "item_id": rng.integers(0, 5_000, n_users * 5)})
    out = M.ranking_metrics(recs, truth, (5, 10), np.arange(n_users))
    # random lists over 5,000 tracks: precision ~ 5/5000
    assert 0.0005 < out["precision@10"] < 0.002


def test_ndcg_per_user_averages_to_ndcg_at_k_in_the_users_order():
    recs = pl.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 12, 13, 14],
                         "rank": [1, 2, 1, 2, 1]})
    truth = pl.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 13, 99]})
    users = np.array([3, 2, 1, 4])  # 4 has no list: zero
    per = M.ndcg_per_user(recs, truth, 2, users)
    assert per.tolist() == pytest.approx([0.0, 1 / np.log2(3), 1.0, 0.0])
    assert per.mean() == pytest.approx(M.ndcg_at_k(recs, truth, 2, users))


def test_bootstrap_ratio_interval_is_paired_seeded_and_checks_its_input():
    rng = np.random.default_rng(0)
    base = rng.random(200)
    lo, hi = M.bootstrap_ratio_interval(base * 1.2, base, n=2_000)
    assert lo == pytest.approx(1.2) and hi == pytest.approx(1.2)  # paired: the same 1.2 on every resample
    noisy = base * rng.uniform(0.6, 1.8, 200)
    lo, hi = M.bootstrap_ratio_interval(noisy, base, n=2_000, seed=3)
    assert lo < noisy.mean() / base.mean() < hi and hi - lo > 0.05
    assert M.bootstrap_ratio_interval(noisy, base, n=2_000, seed=3) == (lo, hi)
    with pytest.raises(ValueError, match="equally long"):
        M.bootstrap_ratio_interval(base, base[:10])


def test_a_list_ranked_once_and_a_truth_made_ready_once_score_as_the_raw_ones():
    """score_list ranks a list once (top_k at the largest k) and the runner makes the test pairs distinct
    once (Relevant): every metric must be what the raw list and raw truth give, at every k."""
    rng = np.random.default_rng(3)
    recs = pl.DataFrame({"user_id": np.repeat(np.arange(50), 12), "item_id": rng.integers(0, 40, 600),
                         "rank": np.tile(rng.permutation(12) + 1, 50)})
    truth = pl.DataFrame({"user_id": rng.integers(0, 60, 400), "item_id": rng.integers(0, 40, 400)})
    users = np.arange(55)
    ranked, ready = M.top_k(recs, 10, users), M.Relevant(truth)
    raw = M.ranking_metrics(recs, truth, (1, 5, 10), users)
    assert M.ranking_metrics(ranked, ready, (1, 5, 10), users) == raw
    assert raw["ndcg@10"] > 0  # hits exist: the comparison can fail
    assert M.top_k(ranked, 5).equals(M.top_k(recs, 5, users))
    np.testing.assert_array_equal(M.ndcg_per_user(ranked, ready, 5, users),
                                  M.ndcg_per_user(recs, truth, 5, users))
    assert M.item_coverage_at_k(ranked, 5, users, 40) == M.item_coverage_at_k(recs, 5, users, 40)
