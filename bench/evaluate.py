"""The evaluate step's time and memory, this code against another checkout (e.g. the previous commit).

Runs the evaluate step on a copy of a finished ``bench.pipeline`` run's (flat) artifacts, once per
checkout and ``--repeat`` times in alternating order, each in its own process started in that
checkout's directory (so its ``musicrec`` is imported); prints each run's wall seconds and peak RSS
(psutil, sampled every 0.2 s), the medians and their ratio to the first checkout, and whether the
metrics each checkout wrote are equal.

    git worktree add --detach /tmp/previous HEAD~1
    .venv/bin/python -m bench.evaluate --prepared data/bench/prepared --artifacts data/bench/artifacts \\
        --checkouts . /tmp/previous --repeat 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.machine import describe


def run_once(checkout: Path, prepared: Path, artifacts: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, the process and its children) of one evaluate step."""
    start, peak = time.perf_counter(), 0.0
    code = ("import sys; from pathlib import Path; from musicrec.config import load_settings; "
            "from musicrec.pipeline.runner import run_pipeline; "
            "from musicrec.storage.artifacts import LocalArtifactStore; "
            "run_pipeline(load_settings(), ['evaluate'], prepared_dir=Path(sys.argv[1]), "
            "store=LocalArtifactStore(Path(sys.argv[2])), show_progress=False)")
    # the flat artifacts bench.pipeline writes, in the checkout's own code (its directory first on the path)
    proc = subprocess.Popen([sys.executable, "-c", code, str(prepared.resolve()), str(artifacts)],
                            cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = watched.memory_info().rss
            rss += sum(c.memory_info().rss for c in watched.children(recursive=True))
            peak = max(peak, rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"evaluate failed in {checkout}:\n{proc.stderr.read() if proc.stderr else ''}")
    return time.perf_counter() - start, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True, help="a finished run's artifacts (copied)")
    parser.add_argument("--checkouts", type=Path, nargs="+", default=[Path(".")])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    print(describe())
    seconds: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    peaks: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    metrics: dict[Path, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        for r in range(args.repeat):
            order = args.checkouts if r % 2 == 0 else list(reversed(args.checkouts))
            for checkout in order:
                store = Path(tmp) / "artifacts"  # a fresh copy for each run, removed after it
                shutil.copytree(args.artifacts, store)
                wall, peak = run_once(checkout, args.prepared, store)
                seconds[checkout].append(wall)
                peaks[checkout].append(peak)
                metrics[checkout] = json.loads((store / "metrics.json").read_text())
                shutil.rmtree(store)
                print(f"run {r + 1} {checkout}: {wall:.1f} s, peak {peak:,.0f} MB", flush=True)
    reference = statistics.median(seconds[args.checkouts[0]])
    print("\n| checkout | wall s per run | median | over the first | peak RSS MB per run |")
    print("|---|---|---:|---:|---|")
    for checkout in args.checkouts:
        median = statistics.median(seconds[checkout])
        print(f"| {checkout} | {' / '.join(f'{s:.1f}' for s in seconds[checkout])} | {median:.1f} | "
              f"{median / reference:.2f} | {' / '.join(f'{p:,.0f}' for p in peaks[checkout])} |")
    first = metrics[args.checkouts[0]]
    for checkout in args.checkouts[1:]:
        print(f"metrics of {checkout} {'equal' if metrics[checkout] == first else 'DIFFER'} to the first's")


if __name__ == "__main__":
    main()
