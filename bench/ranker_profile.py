"""Where the ranker step spends its time and memory: a cProfile of ``train_and_recommend_with_info``.

Runs the ranker as the ``ranker`` step of ``python -m musicrec train`` does (the train period of a
prepared dataset, the settings of ``config.ini`` + ``MUSICREC_*``), except that it fits ALS for the
inference itself, as the step does when run alone (in a whole ``train`` run the step reuses the ALS
step's model: one ``als.py fit`` call less, ~39 s at 1/10 scale). Under cProfile, it samples the
process's RSS every 0.5 s, and prints the package functions by cumulative seconds plus the RSS peak
and the RSS at each logged ranker phase. Nothing is written.

    .venv/bin/python -m bench.ranker_profile --prepared data/bench/prepared --split-date 2022-12-16
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import threading
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import psutil

from bench import machine
from musicrec.config import load_settings
from musicrec.models.ranker import train_and_recommend_with_info
from musicrec.pipeline.split import time_split


class _Rss:
    """Samples this process's RSS in a thread; ``peak_mb`` and ``at(seconds)`` afterwards."""

    def __init__(self, every: float = 0.5):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._proc = psutil.Process()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self._start, self._proc.memory_info().rss / 2**20))
            self._stop.wait(self.every)

    def __enter__(self) -> _Rss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> tuple[float, float]:
        """(seconds since start, MB) of the highest sample."""
        return max(self.samples, key=lambda s: s[1])


class _Phases(logging.Handler):
    """Remembers when each ranker log line was emitted (the phases: windows, fit, ...)."""

    def __init__(self, start: float):
        super().__init__()
        self.start, self.lines = start, []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((time.perf_counter() - self.start, record.getMessage()[:110]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/bench/prepared"))
    parser.add_argument("--split-date", default="2022-12-16")
    parser.add_argument("--top", type=int, default=30, help="how many functions to print")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    events = pl.read_parquet(args.prepared / "events.parquet")
    items = pl.read_parquet(args.prepared / "items.parquet")
    train = time_split(events, datetime.fromisoformat(args.split_date)).train
    del events
    print(f"{train.height:,} train listens, {train.get_column('user_id').n_unique():,} users")

    start = time.perf_counter()
    phases = _Phases(start)
    ranker_log = logging.getLogger("musicrec.models.ranker")
    ranker_log.setLevel(logging.INFO)
    ranker_log.addHandler(phases)
    profile = cProfile.Profile()
    with _Rss() as rss:
        profile.enable()
        recs, info = train_and_recommend_with_info(train, items, settings)
        profile.disable()
    total = time.perf_counter() - start

    print(machine.describe())
    print(f"ranker: {total:.1f} s (fit {info['fit_s']} s, recommend {info['recommend_s']} s), "
          f"{recs.height:,} rows; peak RSS {rss.peak[1]:,.0f} MB at {rss.peak[0]:.0f} s")
    print("\nphases (seconds since start, RSS then, log line):")
    for at, line in phases.lines:
        mb = max((mb for t, mb in rss.samples if t <= at), default=0.0)
        print(f"  {at:7.1f} s {mb:8,.0f} MB  {line}")
    print(f"\npackage functions by cumulative seconds (top {args.top}):")
    stats = pstats.Stats(profile)
    rows = [(ct, nc, f"{Path(file).name}:{line} {name}")
            for (file, line, name), (_, nc, _, ct, _) in stats.stats.items() if "/musicrec/" in file]
    for ct, calls, where in sorted(rows, reverse=True)[:args.top]:
        print(f"  {ct:8.1f} s {calls:6d} calls  {where}")


if __name__ == "__main__":
    main()
