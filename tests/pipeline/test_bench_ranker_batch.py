"""bench/ranker_batch.py, ranker_inference.py, feature_memory.py, als_iterations.py, als_cg_steps.py and
evaluate.py on the tiny prepared data: they run and report."""

import os
import subprocess
import sys
from datetime import datetime

import polars as pl

from musicrec.config import Als
from musicrec.models.als import AlsRecommender
from musicrec.pipeline.split import time_split


def test_ranker_batch_profiles_one_batch(prepared, tmp_path):
    train = time_split(pl.read_parquet(prepared / "events.parquet"), datetime(2022, 12, 20)).train
    model = AlsRecommender(Als(factors=2, iterations=3, blas_threads=1)).fit(train, show_progress=False)
    model.save(tmp_path / "als")
    out = subprocess.run([sys.executable, "-m", "bench.ranker_batch", "--prepared", str(prepared),
                          "--als", str(tmp_path / "als"), "--split-date", "2022-12-20", "--users", "10"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "shared preparation for 40 users" in out.stdout
    assert "batch of 10 users: candidates" in out.stdout
    assert "features.py" in out.stdout and "build" in out.stdout  # the profile lists the package's functions
    assert "CatBoost scoring of the batch:" in out.stdout


def test_feature_memory_measures_every_part(prepared):
    out = subprocess.run([sys.executable, "-m", "bench.feature_memory", "--prepared", str(prepared),
                          "--split-date", "2022-12-20"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in out.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["label split", "ALS fit (1 iterations)", "candidates of 40 users", "item_stats",
                        "user_stats", "user_taste", "similarity_to_last", "neighbour_recent",
                        "every feature (features.build)"]


def test_als_iterations_prints_both_curves(prepared):
    out = subprocess.run([sys.executable, "-m", "bench.als_iterations", "--prepared", str(prepared),
                          "--split-date", "2022-12-20", "--max-iterations", "3", "--resamples", "50",
                          "--warm-days", "1"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MUSICREC_ALS__ITERATIONS": "2",
                              "MUSICREC_TUNING__MIN_USERS": "5"})
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1:3] for line in out.stdout.splitlines() if line.startswith("| cold") or
            line.startswith("| warm")]
    assert [(a.strip(), int(b)) for a, b in rows] == [("cold", 1), ("cold", 2), ("cold", 3), ("warm", 1),
                                                       ("warm", 2)]
    assert "| cold | 2 |" in out.stdout and "| 1.000 (1.000-1.000) |" in out.stdout  # the reference row


def test_als_cg_steps_times_each_setting_in_turn(prepared):
    out = subprocess.run([sys.executable, "-m", "bench.als_cg_steps", "--prepared", str(prepared),
                          "--split-date", "2022-12-20", "--cg-steps", "3", "1", "--repeat", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = [line.split(":")[0] for line in out.stdout.splitlines() if line.startswith("cg_steps ")]
    assert runs == ["cg_steps 3", "cg_steps 1"] * 2  # alternated
    rows = [line.split("|")[1:5] for line in out.stdout.splitlines() if line.startswith("| 3 ")
            or line.startswith("| 1 ")]
    assert [int(r[0]) for r in rows] == [3, 1] and rows[0][3].strip() == "1.00"
    bad = subprocess.run([sys.executable, "-m", "bench.als_cg_steps", "--prepared", str(prepared),
                          "--cg-steps", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--cg-steps" in bad.stderr


def test_ranker_inference_compares_worker_counts_on_the_same_lists(prepared, tmp_path):
    train = time_split(pl.read_parquet(prepared / "events.parquet"), datetime(2022, 12, 20)).train
    model = AlsRecommender(Als(factors=2, iterations=3, blas_threads=1)).fit(train, show_progress=False)
    model.save(tmp_path / "als")
    out = subprocess.run([sys.executable, "-m", "bench.ranker_inference", "--prepared", str(prepared),
                          "--als", str(tmp_path / "als"), "--split-date", "2022-12-20", "--runs", "1x40",
                          "2x10", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MUSICREC_RANKER__ITERATIONS": "20",
                              "MUSICREC_RANKER__DEPTH": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "shared preparation for 40 users" in out.stdout
    assert "2x10: lists identical to 1x40's: True" in out.stdout
    assert "| 2 x 10 |" in out.stdout


def test_evaluate_bench_times_the_step_and_compares_the_metrics(settings, prepared, tmp_path):
    from musicrec.pipeline.runner import run_pipeline
    from musicrec.storage.artifacts import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "artifacts")
    run_pipeline(settings, ["split", "popular", "als", "similar", "blend"], prepared_dir=prepared,
                 store=store, show_progress=False)
    out = subprocess.run([sys.executable, "-m", "bench.evaluate", "--prepared", str(prepared), "--artifacts",
                          str(tmp_path / "artifacts"), "--checkouts", ".", ".", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MUSICREC_SPLIT__SPLIT_DATE": "2022-12-20"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("run 1 .:") == 2 and "| . |" in out.stdout
    assert "metrics of . equal to the first's" in out.stdout
    assert not (tmp_path / "artifacts" / "metrics.json").exists()  # the copy was evaluated, not the run
