"""Benchmark of data generation and preparation: wall time, peak RSS and output size, as a markdown table.

Runs ``python -m musicrec data synth`` and then ``python -m musicrec prepare`` on its output, each as a
child process, at 1/10 of the real Yandex Music size (137,272 users, 100,000 tracks, 22,262,990
listens) and/or at the full size (1,372,715 users, 1,000,000 tracks, 222,629,898 listens). Files go
to ``data/bench/data-<scale>/{raw,prepared}`` (gitignored). Peak RSS is the child's own maximum
resident set size as reported by the kernel (``os.wait4``), not a sampled value; CPU seconds (user +
system) are given too, since wall time depends on what else runs on the machine.

    .venv/bin/python -m bench.data                      # 1/10 scale
    .venv/bin/python -m bench.data --scale full         # ~15 min on 2 cores
    .venv/bin/python -m bench.data --scale tenth --scale full --skip-prepare
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import machine

SCALES = {
    "tenth": (137_272, 100_000, 22_262_990),
    "full": (1_372_715, 1_000_000, 222_629_898),
}


@dataclass
class Measure:
    step: str
    scale: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output_mb: float


def run_child(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS in MB) of the child. Exit if it fails."""
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"command failed with exit code {proc.returncode}: {' '.join(cmd)}")
    # ru_maxrss is in KiB on Linux, bytes on macOS
    peak = usage.ru_maxrss / (2**20 if platform.system() == "Darwin" else 2**10)
    return seconds, usage.ru_utime + usage.ru_stime, peak


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def bench_scale(scale: str, root: Path, seed: int, prepare: bool) -> list[Measure]:
    users, tracks, events = SCALES[scale]
    raw, prepared = root / f"data-{scale}" / "raw", root / f"data-{scale}" / "prepared"
    for directory in (raw, prepared):
        shutil.rmtree(directory, ignore_errors=True)
    python = [sys.executable, "-m", "musicrec"]
    seconds, cpu, peak = run_child([*python, "data", "synth", "--users", str(users), "--tracks", str(tracks),
                                    "--events", str(events), "--seed", str(seed), "--out", str(raw),
                                    "--quiet"])
    measures = [Measure("data synth", scale, seconds, cpu, peak, directory_mb(raw))]
    if prepare:
        seconds, cpu, peak = run_child([*python, "prepare", "--raw", str(raw), "--out", str(prepared)])
        measures.append(Measure("prepare", scale, seconds, cpu, peak, directory_mb(prepared)))
    return measures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=sorted(SCALES), help="default: tenth")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=Path("data/bench"))
    parser.add_argument("--skip-prepare", action="store_true", help="only time the generator")
    args = parser.parse_args()

    measures = []
    for scale in args.scale or ["tenth"]:
        measures += bench_scale(scale, args.dir, args.seed, prepare=not args.skip_prepare)

    print(f"\n{machine.describe()}; seed {args.seed}\n")
    print("| step | scale (users / tracks / listens) | wall s | CPU s | peak RSS (MB) | output (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    for m in measures:
        users, tracks, events = SCALES[m.scale]
        print(f"| {m.step} | {m.scale}: {users:,} / {tracks:,} / {events:,} | {m.seconds:,.0f} | "
              f"{m.cpu_seconds:,.0f} | {m.peak_rss_mb:,.0f} | {m.output_mb:,.0f} |")


if __name__ == "__main__":
    main()
