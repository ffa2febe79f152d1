"""``python -m musicrec serve``: clear errors before starting, and a full start / Ctrl-C cycle."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from click.testing import CliRunner

from musicrec.services.cli import serve_command
from musicrec.services.common.testing import free_port
from tests.services.recommendations.artifacts import write_artifacts

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    return {
        "MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
        "MUSICREC_EVENTS__BACKEND": "sqlite",
        "MUSICREC_URLS__RECOMMENDATIONS_URL": f"http://127.0.0.1:{ports['recommendations']}",
        "MUSICREC_URLS__FEATURES_STORE_URL": f"http://127.0.0.1:{ports['features']}",
        "MUSICREC_URLS__EVENTS_STORE_URL": f"http://127.0.0.1:{ports['events']}",
    }


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("recommendations", "features", "events")}


@contextlib.contextmanager
def _serve(tmp_path: Path, ports: dict[str, int], extra_env: dict[str, str] | None = None,
           args: tuple[str, ...] = (), **extra: str) -> Iterator[subprocess.Popen]:
    """``python -m musicrec serve`` over tiny artifacts; whatever the test did, nothing outlives it.
    Its stderr (the services' logs and the supervisor's lines) goes to ``tmp_path / "serve.err"``."""
    write_artifacts(tmp_path / "artifacts")
    env = {**os.environ, **_env(tmp_path, ports), **(extra_env or {}), **extra}
    stderr = open(tmp_path / "serve.err", "w")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen([sys.executable, "-m", "musicrec", "serve", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for service in _services_on(ports):
            with contextlib.suppress(psutil.NoSuchProcess):
                service.kill()
        stderr.close()


def test_missing_artifacts_is_a_clear_error(tmp_path, ports):
    (tmp_path / "artifacts").mkdir()
    result = CliRunner().invoke(serve_command, [], env=_env(tmp_path, ports))
    assert result.exit_code == 1
    assert "missing artifacts in" in result.output
    files = "recommendations.parquet or personal_als.parquet, top_popular.parquet, similar.parquet"
    assert files in result.output
    assert "python -m musicrec train" in result.output


def test_port_in_use_is_a_clear_error(tmp_path, ports):
    write_artifacts(tmp_path / "artifacts")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["features"]))
        busy.listen()
        result = CliRunner().invoke(serve_command, [], env=_env(tmp_path, ports))
    assert result.exit_code == 1
    message = f"cannot start the features service: 127.0.0.1:{ports['features']} is not available"
    assert message in result.output
    assert "MUSICREC_URLS__FEATURES_STORE_URL" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_serve_starts_three_services_and_stops_them_on_ctrl_c(tmp_path, ports):
    with _serve(tmp_path, ports, MUSICREC_SERVING__HOST="0.0.0.0") as process:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C" in output, output
        assert f"recommendations service ready at http://127.0.0.1:{ports['recommendations']}" in output
        assert "python test_service.py --offline --user_id 1 --k 10" in output  # the first warm user
        assert "python test_service.py --add_online --user_id 1 --item_id 500" in output
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 3
        assert _listening(children) == {("0.0.0.0", port) for port in ports.values()}  # [serving] host
        url = f"http://127.0.0.1:{ports['recommendations']}"
        assert httpx.post(f"{url}/recommendations_offline", params={"user_id": 1, "k": 2}).json()["recs"] == [
            101, 102
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "stopped" in process.stdout.read()
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(url)


@pytest.mark.integration
@pytest.mark.slow
def test_services_die_with_a_killed_serve(tmp_path, ports):
    """Even SIGKILL of the command (no clean-up possible) leaves no orphan service behind."""
    with _serve(tmp_path, ports) as process:
        for line in process.stdout:
            if "events service ready" in line:
                break
        children = psutil.Process(process.pid).children(recursive=True)
        assert children
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        # A child forked just before the kill is not in ``children``: look for any uvicorn on our ports.
        deadline = time.monotonic() + 10
        while _services_on(ports) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _services_on(ports) == []


def _listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for p in processes for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


@pytest.mark.integration
@pytest.mark.parametrize(("host", "expected"), [("", "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_an_entry_point_run_as_a_script_listens_on_serving_host(tmp_path, host, expected):
    """``python events_service.py``: ``[serving] host`` (empty: the ``[urls]`` host) and the URL's port."""
    port = free_port()
    env = {**os.environ, "MUSICREC_SERVING__HOST": host, "MUSICREC_EVENTS__BACKEND": "sqlite",
           "MUSICREC_URLS__EVENTS_STORE_URL": f"http://127.0.0.1:{port}",
           "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3")}
    process = subprocess.Popen([sys.executable, "events_service.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        assert _listening([psutil.Process(process.pid)]) == {(expected, port)}
    finally:
        process.terminate()
        process.wait(10)


def _services_on(ports: dict[str, int]) -> list[psutil.Process]:
    wanted = {str(port) for port in ports.values()}
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "uvicorn" in cmdline and wanted & set(cmdline):
            found.append(proc)
    return found


@pytest.mark.integration
@pytest.mark.slow
def test_broken_artifact_fails_fast_and_stops_the_others(tmp_path, ports):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_artifacts(tmp_path / "artifacts")
    pq.write_table(pa.table({"item_id": [1, 2]}), tmp_path / "artifacts" / "top_popular.parquet")
    env = {**os.environ, **_env(tmp_path, ports)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "musicrec", "serve", "--timeout", "60"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    assert time.monotonic() - started < 30  # not the 60 s readiness timeout
    assert "the recommendations service at" in done.stderr
    assert "top_popular.parquet: missing column(s) ['rank']" in done.stderr
    assert _services_on(ports) == []


def _wait_for_line(process: subprocess.Popen, text: str, timeout_s: float = 90) -> str:
    lines = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return "".join(lines)
    raise AssertionError(f"{text!r} not printed: {''.join(lines)}")


def _master(ports: dict[str, int], name: str) -> psutil.Process:
    """The uvicorn master process of one service (the one `serve` started)."""
    found = _services_on({name: ports[name]})
    pids = {p.pid for p in found}
    masters = [p for p in found if p.ppid() not in pids]
    assert len(masters) == 1, found
    return masters[0]


FAST_RESTART = {"MUSICREC_SUPERVISOR__BACKOFF_S": "0.5", "MUSICREC_SUPERVISOR__WINDOW_S": "120"}


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_service_is_restarted_while_the_others_answer(tmp_path, ports):
    with _serve(tmp_path, ports, FAST_RESTART) as process:
        _wait_for_line(process, "Press Ctrl-C")
        events = _master(ports, "events")
        events.kill()  # kill -9: no clean-up in the service
        failures, answered = [], 0
        back = False
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline and not back:
                for name, path, params in (("recommendations", "/recommendations", {"user_id": 1, "k": 5}),
                                           ("features", "/similar_items", {"item_id": 500})):
                    answer = client.post(f"http://127.0.0.1:{ports[name]}{path}", params=params)
                    answered += 1
                    if answer.status_code != 200:
                        failures.append((name, answer.status_code))
                with contextlib.suppress(httpx.HTTPError):
                    back = client.get(f"http://127.0.0.1:{ports['events']}/ready").status_code == 200
                time.sleep(0.05)
            assert back, (tmp_path / "serve.err").read_text()[-3000:]
            assert failures == [] and answered > 4
            events_url = f"http://127.0.0.1:{ports['events']}"
            put = client.post(f"{events_url}/put", params={"user_id": 1, "item_id": 500})
            assert put.json() == {"result": "ok"}
        assert _master(ports, "events").pid != events.pid
        assert process.poll() is None  # serve itself kept running
        deadline = time.monotonic() + 10  # the supervisor looks every 0.2 s; the test may have seen it first
        while "the events service is back" not in (tmp_path / "serve.err").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        err = (tmp_path / "serve.err").read_text()
        assert "supervisor: the events service exited with code -9 (crash 1 of at most 4 within 120 s)" in err
        assert "supervisor: restarting the events service (restart #1)" in err
        assert "supervisor: the events service is back at" in err


@pytest.mark.integration
@pytest.mark.slow
def test_serve_gives_up_after_too_many_crashes_and_says_so(tmp_path, ports):
    env = {**FAST_RESTART, "MUSICREC_SUPERVISOR__MAX_CRASHES": "2"}
    with _serve(tmp_path, ports, env) as process:
        _wait_for_line(process, "Press Ctrl-C")
        _master(ports, "features").kill()
        deadline = time.monotonic() + 60
        while "the features service is back" not in (tmp_path / "serve.err").read_text():
            assert time.monotonic() < deadline, (tmp_path / "serve.err").read_text()[-3000:]
            time.sleep(0.1)
        _master(ports, "features").kill()
        assert process.wait(60) == 1
        err = (tmp_path / "serve.err").read_text()
        limit = "2 crashes within 120 s ([supervisor] max_crashes = 2)"
        assert f"the features service exited with code -9: {limit}" in err
        assert "giving up: stopping the others" in err
        deadline = time.monotonic() + 10
        while _services_on(ports) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _services_on(ports) == []


@pytest.mark.integration
@pytest.mark.slow
def test_with_two_workers_a_killed_worker_is_replaced(tmp_path, ports):
    with _serve(tmp_path, ports, args=("--workers", "2")) as process:
        _wait_for_line(process, "Press Ctrl-C")
        master = _master(ports, "recommendations")
        workers = master.children()
        assert len(workers) >= 2
        workers[0].kill()
        url = f"http://127.0.0.1:{ports['recommendations']}"
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                answer = client.post(f"{url}/recommendations_offline", params={"user_id": 1, "k": 2})
                assert answer.status_code == 200 and answer.json()["recs"] == [101, 102]
                alive = [w for w in master.children()
                         if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
                if len(alive) >= 2 and workers[0].pid not in {w.pid for w in alive}:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("uvicorn did not replace the killed worker")
        assert _master(ports, "recommendations").pid == master.pid  # uvicorn's business, not a restart
