"""bench/als.py: both sub-commands on a tiny prepared dataset (two taste groups of users)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from bench import als as bench
from musicrec.config import Als
from musicrec.models.als import AlsRecommender
from musicrec.pipeline.split import time_split

SPLIT = dt.datetime(2022, 12, 16)


def _events() -> pl.DataFrame:
    """30 users; even users play tracks 100-119, odd users 200-219; 8 train and 2 test listens each."""
    rows = []
    for user in range(30):
        base = 100 if user % 2 == 0 else 200
        for j in range(10):
            day = dt.datetime(2022, 12, 1 + j) if j < 8 else dt.datetime(2022, 12, 18 + j)
            rows.append((user, base + (3 * user + j) % 20, day))
    rows.append((99, 100, dt.datetime(2022, 12, 20)))  # a cold test user: never scored
    schema = {"user_id": pl.Int32, "item_id": pl.Int32, "started_at": pl.Datetime("us")}
    return pl.DataFrame(rows, schema=schema, orient="row")


@pytest.fixture
def dirs(tmp_path):
    prepared, artifacts = tmp_path / "prepared", tmp_path / "artifacts"
    prepared.mkdir()
    events = _events()
    events.write_parquet(prepared / "events.parquet")
    split = time_split(events, SPLIT)
    AlsRecommender(Als(factors=4, iterations=3)).fit(split.train, show_progress=False).save(
        artifacts / "als_model")
    (artifacts / "split.json").write_text(json.dumps({"split_date": SPLIT.isoformat()}))
    return prepared, artifacts


def test_sweep_one_row_per_point(dirs, capsys):
    prepared, _ = dirs
    rows = bench.main(["sweep", "--prepared", str(prepared), "--split-date", "2022-12-16", "--repeats", "2",
                       "--threads", "1", "--point", "4,3,0.05,5", "--point", "8,2,0.1,2"])
    assert [(r["factors"], r["iterations"], r["regularization"], r["alpha"]) for r in rows] == [
        (4, 3, 0.05, 5.0), (8, 2, 0.1, 2.0)]
    for row in rows:
        assert 0 <= row["ndcg@10"] <= 1 and 0 <= row["precision@10"] <= 1 and row["fit_s"] > 0
    # with 20 tracks per group and 8 heard, the 10 recs of a group-aware model hold both test tracks
    assert rows[0]["ndcg@10"] > 0
    out = capsys.readouterr().out
    assert "30 warm test users" in out and "fit seconds: median of 2" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| factors | iterations | regularization | alpha | fit s | NDCG@10")
    assert table[1].startswith("| 4 | 3 | 0.05 | 5 |")
    assert table[1].endswith(f"| {rows[0]['ndcg@10']:.4f} | {rows[0]['precision@10']:.4f} |")
    assert table[2].startswith("| 8 | 2 | 0.1 | 2 |")
    assert table[3].startswith("| all-time popular")


def test_sweep_bold_marks_config_defaults(dirs, capsys):
    prepared, _ = dirs
    d = Als()
    bench.main(["sweep", "--prepared", str(prepared), "--repeats", "1", "--threads", "1",
                "--point", f"{d.factors},{d.iterations},{d.regularization},{d.alpha}"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| **{d.factors}**")]
    assert len(row) == 1


def test_scoring_exact_and_top_items_cover_the_same_users(dirs, capsys):
    prepared, artifacts = dirs
    s = bench.main(["scoring", "--artifacts", str(artifacts), "--prepared", str(prepared), "--users", "12",
                    "--top-items", "10", "--repeats", "2", "--threads", "1"])
    assert s.users == 12 and s.eval_users == 30 and s.model_users == 30 and s.model_items == 40
    assert s.scored_items == {"exact": 40, "top_items": 10}
    exact, fast = s.recs["exact"], s.recs["top_items"]
    assert exact["user_id"].unique().sort().to_list() == fast["user_id"].unique().sort().to_list()
    assert exact["user_id"].n_unique() == 30
    # 40 tracks minus the 8 heard: 32 exact recs each; the fast variant only scores 10 tracks
    assert exact.group_by("user_id").len()["len"].unique().to_list() == [32]
    assert fast.group_by("user_id").len()["len"].max() <= 10
    assert set(fast["item_id"].unique().to_list()) <= set(exact["item_id"].unique().to_list())
    for name in ("exact", "top_items"):
        assert 0 <= s.metrics[name]["ndcg@10"] <= 1 and s.seconds[name] > 0
    assert 0 <= s.top10_overlap <= 1
    # every track has >= 5 train listens ([similar] min_item_listens): all 40 are in the pool
    assert s.similar_pool == 40 and s.similar_tracks == 12 and s.similar_seconds > 0
    out = capsys.readouterr().out
    assert "| ALS recommend, exact (50 recs) | 12 users | 40 |" in out
    assert "| ALS recommend, recommend_top_items = 10 (50 recs) | 12 users | 10 |" in out
    assert f"{s.metrics['exact']['ndcg@10']:.4f}" in out
    assert "| exact cosine neighbours (k=10, tracks with >= 5 listens) | 12 tracks | 40 |" in out


def test_bad_input_is_one_line(dirs, tmp_path, capsys):
    prepared, _ = dirs
    with pytest.raises(SystemExit, match="missing .*nowhere/als_model/params.json"):
        bench.main(["scoring", "--artifacts", str(tmp_path / "nowhere"), "--prepared", str(prepared)])
    with pytest.raises(SystemExit, match="outside the data range"):
        bench.main(["sweep", "--prepared", str(prepared), "--split-date", "2023-06-01"])
    with pytest.raises(SystemExit):
        bench.main(["sweep", "--prepared", str(prepared), "--point", "64,10"])
    assert "--point '64,10': expected factors,iterations,regularization,alpha" in capsys.readouterr().err
