import json
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from musicrec.config import load_settings
from musicrec.evaluation.report import online_lines, render_markdown
from musicrec.evaluation.runner import evaluate, personalise, random_lists
from musicrec.models.blend_fit import online_horizons
from musicrec.models.blending import FusionWeights
from musicrec.pipeline.split import time_split

T0 = datetime(2022, 12, 1)
SPLIT = datetime(2022, 12, 16)


def events_frame(rows):
    return pl.DataFrame(
        [(u, i, T0 + timedelta(days=d)) for u, i, d in rows],
        schema={"user_id": pl.Int32, "item_id": pl.Int32, "started_at": pl.Datetime("us")}, orient="row",
    )


# user 1: warm, heard 7 and 8 in train; test listens 1, 2, 3 (the online history), then 4, 5
# user 2: warm, heard 1 in train; one test listen (too few for the online path)
# user 3: cold (test listens only)
EVENTS = events_frame([
    (1, 7, 0), (1, 8, 1), (1, 1, 20), (1, 2, 20), (1, 3, 21), (1, 4, 22), (1, 5, 23),
    (2, 1, 2), (2, 9, 20),
    (3, 4, 25), (3, 8, 25),
])
ITEMS = pl.DataFrame({"item_id": list(range(1, 10)),
                      "genre_ids": [[1], [1], [2], [2], [3], [3], [1], [2], [3]]})
SIMILAR = pl.DataFrame({
    "item_id_1": [3, 3, 2, 1], "item_id_2": [4, 9, 5, 4], "score": [0.9, 0.5, 0.8, 0.1],
})
SETTINGS = load_settings(evaluation={"ks": (1, 2), "online_history": 3, "session_length": 1},
                         popular={"n": 5, "recent_days": 7})


def test_online_horizons_keep_listen_order_and_need_more_than_history():
    h = online_horizons(time_split(EVENTS, SPLIT).test, np.array([1, 2]), 3, session_length=1)
    assert h.context == {1: [3, 2, 1]}  # newest first, as the events service answers
    assert h.session == {1: {4}} and h.long == {1: {4, 5}}


def test_personalise_skips_heard_tracks():
    seen = pl.DataFrame({"user_id": [1, 1], "item_id": [7, 9]},
                        schema={"user_id": pl.Int32, "item_id": pl.Int32})
    shared = pl.DataFrame({"item_id": [9, 7, 8, 6], "rank": [1, 2, 3, 4]})
    out = personalise(shared, np.array([1, 2]), seen, 2)
    assert out.rows() == [(1, 8, 1), (1, 6, 2), (2, 9, 1), (2, 7, 2)]


def test_random_lists_are_seeded_and_unheard():
    split = time_split(EVENTS, SPLIT)
    seen = split.train.select("user_id", "item_id").unique()
    catalogue = np.sort(split.train.get_column("item_id").unique().to_numpy())
    a = random_lists(catalogue, np.array([1, 2]), 2, np.random.default_rng(7), seen)
    assert a.equals(random_lists(catalogue, np.array([1, 2]), 2, np.random.default_rng(7), seen))
    assert a.join(seen, on=["user_id", "item_id"], how="semi").height == 0


def test_evaluate_tiny_literal_case():
    split = time_split(EVENTS, SPLIT)
    assert split.warm_users.tolist() == [1, 2] and split.cold_users.tolist() == [3]
    # offline lists: user 1 gets [9, 5, 6], user 2 nothing (counts as zero)
    als = pl.DataFrame({"user_id": [1, 1, 1], "item_id": [9, 5, 6], "rank": [1, 2, 3]})
    out = evaluate(split, {"als": als}, ITEMS, SETTINGS, similar=SIMILAR, blend_weights=FusionWeights(0.2))
    json.dumps(out)  # JSON-serialisable

    warm = out["warm"]
    assert warm["users"] == 2
    assert set(warm["models"]) == {"random", "top_popular", "recent_popular", "als"}
    # als @2 on the warm users: user 1 truth {1,2,3,4,5}, list [9, 5] -> 1 hit; user 2 -> 0
    assert warm["models"]["als"]["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert warm["models"]["als"]["recall@2"] == pytest.approx((1 / 5 + 0) / 2)

    # popular in train: 1 (2 plays), then 7, 8 (1 play each, smaller id first): cold user 3 heard 8
    assert out["cold"]["users"] == 1
    assert out["cold"]["models"]["top_popular"]["hit_rate@100"] == 1.0
    assert out["cold"]["models"]["top_popular"]["precision@2"] == 0.0  # [1, 7]

    online = out["online"]
    assert online["users"] == 1 and online["offline_list"] == "als"
    session, long = (online["horizons"][h]["models"] for h in ("session", "long"))
    # events newest first [3, 2, 1]; scores: 4 = 0.9 + 0.25 * 0.1, 9 = 0.5, 5 = 0.5 * 0.8 -> [4, 9]
    # session targets {4}, long targets {4, 5}
    assert session["online"]["ndcg@2"] == 1.0
    assert long["online"]["ndcg@2"] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    # offline [9, 5]: no session hit, long hit at 2
    assert session["offline"]["ndcg@2"] == 0.0 and long["offline"]["precision@2"] == 0.5
    # alternate: offline 9, online 4 -> [9, 4]
    assert long["alternate"]["precision@1"] == 0.0 and session["alternate"]["precision@2"] == 0.5
    # learned (online 0.2, offset 20): 4 = 0.2 * 0.925 = 0.185; 9 = 1/21 + 0.2 * 0.5 = 0.148;
    # 5 = 1/22 + 0.2 * 0.4 = 0.125 -> [4, 9]
    assert session["learned"]["precision@1"] == 1.0 and long["learned"]["precision@1"] == 1.0
    over = online["horizons"]["long"]["over_offline"]["learned"]
    assert over["ratio"] == pytest.approx(long["learned"]["ndcg@2"] / long["offline"]["ndcg@2"])
    assert over["ci95"][0] <= over["ratio"] <= over["ci95"][1]
    # no artists in ITEMS: the cap changes nothing
    assert session["learned_capped"] == session["learned"]

    text = render_markdown(out)
    assert "| als |" in text and "Online path" in text and "ndcg@2" in text
    assert "### Session horizon: the next 1 listens" in text and "| learned |" in text


def test_evaluate_without_similar_skips_online_and_summarises_ranker():
    split = time_split(EVENTS, SPLIT)
    ranker = pl.DataFrame({"user_id": [1, 2], "item_id": [4, 9], "rank": [1, 1]})
    out = evaluate(split, {"ranker": ranker}, ITEMS, SETTINGS)
    assert "skipped" in out["online"]
    assert out["warm"]["models"]["ranker"]["precision@1"] == 1.0
    summary = out["summary"]
    # user 1: hit at 1 of 5 relevant -> 1 / (1 + 1/log2 3); user 2: hit at 1 of 1 relevant -> 1
    expected = (1 / (1 + 1 / np.log2(3)) + 1.0) / 2
    assert summary["metric"] == "ndcg@2" and summary["ranker_value"] == pytest.approx(expected)
    assert summary["best_baseline"] in {"random", "top_popular", "recent_popular"}
    lo, hi = summary["ranker_over_best_baseline_95ci"]
    assert lo <= summary["ranker_over_best_baseline"] <= hi and summary["bootstrap_resamples"] == 10_000
    text = render_markdown(out)
    assert "Skipped" in text and f"95% interval {lo:.2f}-{hi:.2f}" in text


def test_online_evaluation_scores_a_seeded_sample_past_its_cap():
    """Five users with 4 test listens each, a cap of 3: the same 3 users every time, the metrics and
    the report say how many of how many."""
    rows = [(u, u * 10 + j, 15 + j if j else 0) for u in range(1, 6) for j in range(5)]  # 1 train, 4 test
    split = time_split(events_frame(rows), SPLIT)
    assert len(split.warm_users) == 5
    capped = load_settings(evaluation={"ks": (1, 2), "online_history": 3, "session_length": 1,
                                       "online_max_users": 3}, popular={"n": 5, "recent_days": 7})
    als = pl.DataFrame({"user_id": [1, 2], "item_id": [9, 9], "rank": [1, 1]})
    first = evaluate(split, {"als": als}, ITEMS, capped, similar=SIMILAR)["online"]
    again = evaluate(split, {"als": als}, ITEMS, capped, similar=SIMILAR)["online"]
    assert first["users"] == 3 and first["eligible"] == 5
    assert first == again
    assert "3 warm users (a seeded sample of the 5)" in "\n".join(online_lines(first))
    every = evaluate(split, {"als": als}, ITEMS, SETTINGS, similar=SIMILAR)["online"]
    assert every["users"] == every["eligible"] == 5
    assert "5 warm users with more than" in "\n".join(online_lines(every))


def test_evaluate_per_group_of_users_gives_the_same_metrics(monkeypatch):
    """At full size the shared lists are personalised and novelty counted per group of users; with
    groups of ~150 listens (8 groups here) every model scores as with one group, and the random
    baseline still draws k unheard tracks per user."""
    from musicrec.models.ranker import candidates

    rng = np.random.default_rng(5)
    n = 2_400
    draws = zip(rng.integers(1, 80, n), rng.integers(1, 60, n), rng.integers(0, 30, n), strict=True)
    rows = [(int(u), int(i), int(d)) for u, i, d in draws]
    split = time_split(events_frame(rows), SPLIT)
    items = pl.DataFrame({"item_id": list(range(1, 60)), "genre_ids": [[i % 4] for i in range(1, 60)]})
    als = pl.DataFrame({"user_id": np.repeat(split.warm_users, 5).astype(np.int32),
                        "item_id": rng.integers(1, 60, 5 * len(split.warm_users)).astype(np.int32),
                        "rank": np.tile(np.arange(1, 6), len(split.warm_users)).astype(np.int32)})
    settings = load_settings(evaluation={"ks": (5, 10)}, popular={"n": 20, "recent_days": 7})
    whole = evaluate(split, {"als": als}, items, settings)
    monkeypatch.setattr(candidates, "CHUNK_ROWS", 150)
    assert 7 * 150 < split.train.height <= 8 * 150
    grouped = evaluate(split, {"als": als}, items, settings)
    for name in ("top_popular", "recent_popular", "als"):
        assert grouped["warm"]["models"][name] == pytest.approx(whole["warm"]["models"][name])
    assert grouped["cold"] == whole["cold"]

    from musicrec.evaluation.runner import personal_baselines, user_groups
    parts = list(user_groups(split.train, split.warm_users))
    assert len(parts) == 8 and sorted(np.concatenate([p for p, _ in parts])) == sorted(split.warm_users)
    lists = personal_baselines(split.train, split.warm_users, {}, 10, 42)
    seen = split.train.select("user_id", "item_id")
    assert lists["random"].join(seen, on=["user_id", "item_id"], how="semi").height == 0
    assert lists["random"].group_by("user_id").len().get_column("len").max() == 10
    assert lists["random"].get_column("user_id").n_unique() == len(split.warm_users)
