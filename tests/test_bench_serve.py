"""bench/serve.py end to end on tiny synthetic artifacts: the three services and the bare endpoint as real
uvicorn processes, every endpoint measured, the answers recorded and then compared (a benchmark that
stops working is found here, not on the day someone needs its figures)."""

from __future__ import annotations

import json
import subprocess
import sys

ENDPOINTS = ["/bare", "/recommendations_offline", "/recommendations_default", "/recommendations_online",
             "/recommendations"]


def _bench(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bench.serve", "--users", "300", "--items", "300", "--requests", "20",
           "--concurrency", "2", "--workdir", str(tmp_path / "work"), "--answers", str(tmp_path / "a.jsonl"),
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_serve_bench_measures_every_endpoint_and_checks_its_answers(tmp_path):
    first = _bench(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    latency = first.stdout.split("CPU microseconds")[0]  # the latency table comes before the CPU one
    rows = [line.split() for line in latency.splitlines() if line.startswith("/")]
    assert {row[0] for row in rows} == set(ENDPOINTS)
    assert all(row[-1] == "0" for row in rows)  # no errors on any endpoint
    recorded = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert f"answers: {len(recorded)} written" in first.stdout and len(recorded) > 100
    startup = next(line for line in first.stdout.splitlines() if line.startswith("start-up"))
    seconds = [float(part.split()[1]) for part in startup.split(": ", 1)[1].split(", ")]
    assert len(seconds) == 4 and all(0 < s < 300 for s in seconds)  # each service, and the bare endpoint

    second = _bench(tmp_path)  # the same artifacts (kept in --workdir): the same answers
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"answers: {len(recorded)} of {len(recorded)} identical" in second.stdout
