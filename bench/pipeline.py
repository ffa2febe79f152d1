"""Benchmark of the training pipeline: seconds and peak memory per stage, as a markdown table.

Default scale is 1/10 of the real Yandex Music data (137,272 users, 100,000 tracks, 22,262,990
listens). Raw data is generated once with ``python -m musicrec data synth`` and prepared once with
``python -m musicrec prepare`` under ``data/bench/`` (gitignored); then every stage of ``train`` runs
in this process, exactly as ``python -m musicrec train`` runs them.

    .venv/bin/python -m bench.pipeline                    # 1/10 scale, under data/bench
    .venv/bin/python -m bench.pipeline --scale full       # the real size (make bench-full), data/bench-full
    .venv/bin/python -m bench.pipeline --scale demo       # make demo's size, data/bench-demo

``--users``, ``--tracks``, ``--events`` and ``--dir`` override a scale's values. At full size the
stages show progress bars (``--progress`` elsewhere); expect hours and ~15 GB of memory (issue 15).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench import machine
from musicrec.config import load_settings
from musicrec.pipeline.runner import run_pipeline
from musicrec.storage.artifacts import LocalArtifactStore


def _run(cmd: list[str]) -> tuple[float, float]:
    """Run a command; return (seconds, peak RSS in MB sampled every 0.2 s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    ps, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]) / 2**20)
        time.sleep(0.2)
    if proc.returncode:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - start, peak


# (users, tracks, listens, directory) of each --scale: the real Yandex Music size, 1/10 of it, make demo's
SCALES = {
    "full": (1_372_715, 1_000_000, 222_629_898, Path("data/bench-full")),
    "tenth": (137_272, 100_000, 22_262_990, Path("data/bench")),
    "demo": (20_000, 20_000, 1_500_000, Path("data/bench-demo")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="tenth")
    parser.add_argument("--users", type=int, help="default: the scale's")
    parser.add_argument("--tracks", type=int, help="default: the scale's")
    parser.add_argument("--events", type=int, help="default: the scale's")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, help="default: the scale's (data/bench for 1/10)")
    parser.add_argument("--progress", action="store_true", help="progress bars (always at full size)")
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--steps", nargs="*", default=None, help="only these train steps")
    args = parser.parse_args()
    users, tracks, events, directory = SCALES[args.scale]
    args.users, args.tracks = args.users or users, args.tracks or tracks
    args.events, args.dir = args.events or events, args.dir or directory
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    raw, prepared, artifacts = args.dir / "raw", args.dir / "prepared", args.dir / "artifacts"
    setup = []
    if not list(raw.glob("*.parquet")):
        setup.append(("data synth", *_run([sys.executable, "-m", "musicrec", "data", "synth",
                                           "--users", str(args.users), "--tracks", str(args.tracks),
                                           "--events", str(args.events), "--seed", str(args.seed),
                                           "--out", str(raw)])))
    if not (prepared / "events.parquet").exists():
        setup.append(("prepare", *_run([sys.executable, "-m", "musicrec", "prepare", "--raw", str(raw),
                                        "--out", str(prepared)])))

    settings = load_settings(split={"split_date": args.split_date})
    start = time.perf_counter()
    manifest = run_pipeline(settings, args.steps, prepared_dir=prepared,
                            store=LocalArtifactStore(artifacts),
                            show_progress=args.progress or args.scale == "full")
    total = time.perf_counter() - start

    split = manifest.get("split", {})
    print(f"\nscale: {args.users:,} users, {args.tracks:,} tracks, {args.events:,} listens requested; "
          f"train {split.get('train_rows', 0):,} / test {split.get('test_rows', 0):,} rows; "
          f"ALS factors={settings.als.factors} iterations={settings.als.iterations}; "
          f"{machine.describe()}\n")
    print("| stage | seconds | peak RSS (MB) | rows written |")
    print("|---|---:|---:|---|")
    for name, seconds, peak in setup:
        print(f"| {name} (subprocess) | {seconds:.1f} | {peak:.0f} | |")
    for name, step in manifest["steps"].items():
        if args.steps and name not in args.steps:
            continue
        rows = ", ".join(f"{k}: {v:,}" for k, v in step["rows"].items()) or step["status"]
        print(f"| train: {name} | {step['seconds']:.1f} | {step['peak_rss_mb']} | {rows} |")
    print(f"| **train total** | **{total:.1f}** | | |")


if __name__ == "__main__":
    main()
