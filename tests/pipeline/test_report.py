"""Story tables of the notebook over tiny literal data."""

from datetime import datetime

import polars as pl
import pytest

from musicrec.pipeline import report

ITEMS = pl.DataFrame({
    "item_id": [1, 2, 3, 4],
    "name": ["One", "Two", "Three", "Four"],
    "artists": [["A"], ["A", "B"], [], ["C"]],
    "genres": [["pop"], ["pop", "rock"], ["jazz"], ["rock"]],
}, schema_overrides={"item_id": pl.Int32})
EVENTS = pl.DataFrame({
    "user_id": [1, 1, 1, 2, 2, 3],
    "item_id": [1, 2, 1, 1, 3, 2],
    "started_at": [datetime(2022, 1, 3), datetime(2022, 1, 4), datetime(2022, 1, 11), datetime(2022, 1, 5),
                   datetime(2022, 1, 12), datetime(2022, 1, 12)],
}, schema_overrides={"user_id": pl.Int32, "item_id": pl.Int32})


@pytest.fixture
def prepared(tmp_path):
    EVENTS.write_parquet(tmp_path / "events.parquet")
    ITEMS.write_parquet(tmp_path / "items.parquet")
    return tmp_path


def test_overview_counts_tracks_users_and_weeks(prepared):
    data = report.overview(prepared / "events.parquet", prepared / "items.parquet")
    assert (data.events, data.users, data.items_played, data.catalogue) == (6, 3, 3, 4)
    assert data.plays_per_track.rows() == [(1, 3), (2, 2), (3, 1)]
    assert data.listens_per_user.row(0) == (1, 3)
    # weeks start on Monday: 2022-01-03 and 2022-01-10
    assert data.weekly.rows() == [(datetime(2022, 1, 3), 3), (datetime(2022, 1, 10), 3)]
    summary = dict(data.summary().rows())
    assert summary["tracks never played"] == "1"
    assert summary["time range"] == "2022-01-03 .. 2022-01-12"


def test_overview_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="events.parquet.*musicrec prepare"):
        report.overview(tmp_path / "events.parquet", tmp_path / "items.parquet")


def test_has_raw_data_needs_all_three_files(tmp_path):
    for name in report.RAW_FILES[:2]:
        (tmp_path / name).touch()
    assert not report.has_raw_data(tmp_path)
    (tmp_path / report.RAW_FILES[2]).touch()
    assert report.has_raw_data(tmp_path)


def test_user_history_is_newest_first_with_names():
    history = report.user_history(EVENTS, 1, ITEMS, n=2)
    assert history.select("item_id", "name", "artists").rows() == [(1, "One", "A"), (2, "Two", "A, B")]


def test_user_list_marks_tracks_listened_later():
    recs = pl.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [4, 3, 2, 1], "rank": [3, 1, 2, 1]})
    test = pl.DataFrame({"user_id": [1, 2], "item_id": [4, 3]})
    top = report.user_list(recs, 1, ITEMS, n=2, hits=test)
    assert top.select("item_id", "name", "listened_later").rows() == [(3, "Three", False), (2, "Two", False)]
    assert report.user_list(recs, 1, ITEMS, hits=test).get_column("listened_later").to_list() == [
        False, False, True]


def test_sample_users_prefers_users_with_a_hit_and_is_seeded():
    train = pl.DataFrame({"user_id": [1] * 3 + [2] * 3 + [3], "item_id": [1, 2, 3] * 2 + [1]})
    recs = pl.DataFrame({"user_id": [1, 2, 3], "item_id": [4, 4, 4], "rank": [1, 1, 1]})
    test = pl.DataFrame({"user_id": [1, 2, 3], "item_id": [4, 1, 4]})
    assert report.sample_users(recs, test, train, n=1, min_history=3) == [1]  # 3 has too little history
    assert report.sample_users(recs, test, train, n=2, min_history=3, seed=5) == report.sample_users(
        recs, test, train, n=2, min_history=3, seed=5)
    assert sorted(report.sample_users(recs, test, train, n=2, min_history=3)) == [1, 2]


def test_similar_tracks_by_source_and_neighbours():
    similar = pl.DataFrame({
        "item_id_1": [1, 1, 2, 3, 3], "item_id_2": [2, 3, 1, 1, 4], "score": [0.5, 0.9, 0.7, 0.3, 0.2],
        "source": ["als", "als", "als", "content", "content"],
    })
    plays = pl.DataFrame({"item_id": [1, 2], "plays": [3, 10]})
    assert report.sample_tracks_by_source(similar, plays) == {"als": 2, "content": 3}
    near = report.similar_of(similar, 1, ITEMS)
    assert near.select("item_id", "name", "source").rows() == [(3, "Three", "als"), (2, "Two", "als")]


def test_genre_plays_and_user_groups():
    plays = pl.DataFrame({"item_id": [1, 2, 3], "plays": [3, 2, 1]})
    assert report.genre_plays(plays, ITEMS).rows() == [("pop", 5, 2), ("rock", 2, 1), ("jazz", 1, 1)]
    groups = report.user_groups({"train_users": 5, "warm_users": 2, "cold_users": 4})
    assert groups.get_column("users").to_list() == [3, 2, 4]


def test_metrics_table_and_feature_importance():
    doc = {"warm": {"models": {"als": {"ndcg@10": 0.2}, "ranker": {"ndcg@10": 0.3, "recall@10": 0.1}}}}
    table = report.metrics_table(doc)
    assert table.columns == ["model", "ndcg@10", "recall@10"]
    assert table.rows() == [("als", 0.2, None), ("ranker", 0.3, 0.1)]
    assert report.metrics_table(doc, "online").height == 0
    recorded = {"ranker": {"feature_importance": {"als_score": 3}}}
    assert report.feature_importance(recorded) == {"als_score": 3.0}
    assert report.feature_importance({"steps": {"ranker": {"status": "ok"}}}) == {}


def test_is_current_needs_same_data_params_and_a_finished_run():
    params = {"als": {"factors": 8}}
    done = {"steps": {"split": {"status": "ok"}, "ranker": {"status": "ok"}},
            "final_recommendations": "als", "data": {"sha256": "x"}, "params": params}
    assert report.is_current(done, params, "x")
    assert not report.is_current(done, params, "y")
    assert not report.is_current({**done, "steps": {"als": {"status": "failed"}}}, params, "x")
    assert not report.is_current({k: v for k, v in done.items() if k != "final_recommendations"}, params, "x")
    assert not report.is_current(None, params, "x")
    code = {"package": "0.1.0", "git_commit": "abc"}
    assert report.is_current({**done, "code": code}, params, "x", code)
    assert not report.is_current({**done, "code": code}, params, "x", {**code, "git_commit": "def"})
