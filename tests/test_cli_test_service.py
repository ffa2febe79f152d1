"""test_service.py: modes and flags, the table with names, the log file, one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

import test_service
from musicrec.services.common.testing import free_port
from tests.services.recommendations.artifacts import write_artifacts

ROOT = Path(__file__).resolve().parents[1]


WHY = [{"source": "personal", "reason": "top_artist", "artist_id": 3},
       {"source": "online", "reason": "similar_to_listen", "listen": 500}]


class FakeServices:
    """One MockTransport answering for the three services, told apart by host; ``explain=true`` gets
    the two explanations of ``WHY``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.events: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host, path, params = request.url.host, request.url.path, request.url.params
        if host == "events" and path == "/put":
            self.events.insert(0, int(params["item_id"]))
            return httpx.Response(200, json={"result": "ok"})
        if host == "events" and path == "/get":
            return httpx.Response(200, json={"events": self.events})
        explain = params.get("explain") == "true"
        if host == "recs" and path == "/recommendations_default":
            recs = [201, 202, 999][: int(params["k"])]
            popular = [{"source": "popular", "reason": "popular_now"}] * len(recs)
            return httpx.Response(200, json={"recs": recs, **({"explanations": popular} if explain else {})})
        why = {"explanations": WHY} if explain else {}
        if host == "recs" and path == "/recommendations":
            body = {"recs": [101, 302], "degraded": True, "sources": ["offline", "online"], **why}
            return httpx.Response(200, json=body)
        if host == "recs":
            return httpx.Response(200, json={"recs": [101, 102], **why})
        return httpx.Response(404, json={"error": {"key": "not_found", "message": path, "param": None}})


@pytest.fixture
def services(tmp_path, monkeypatch) -> FakeServices:
    write_artifacts(tmp_path / "artifacts")
    monkeypatch.setenv("MUSICREC_PATHS__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MUSICREC_URLS__RECOMMENDATIONS_URL", "http://recs")
    monkeypatch.setenv("MUSICREC_URLS__EVENTS_STORE_URL", "http://events")
    monkeypatch.setenv("MUSICREC_URLS__FEATURES_STORE_URL", "http://features")
    monkeypatch.chdir(tmp_path)
    return FakeServices()


def run(services: FakeServices, *argv: str) -> int:
    return test_service.main(list(argv), transport=httpx.MockTransport(services))


def test_no_arguments_shows_top_10_popular_with_names(services, capsys, tmp_path):
    assert run(services) == 0
    out = capsys.readouterr().out
    assert services.requests[0].url.params["k"] == "10"
    lines = out.splitlines()
    assert lines[0] == "Top 3 popular tracks (10 asked)"  # the fake service has 3
    assert lines[1].split() == ["#", "item_id", "track", "artists", "genres", "source"][:5]
    assert lines[2].split()[:4] == ["1", "201", "Track", "201"]
    assert "Artist 5" in lines[2] and "pop, rock" in lines[2]
    assert lines[4].split() == ["3", "999", "?", "?", "?"]  # unknown track: ids only
    assert "Top 3 popular tracks (10 asked)" in (tmp_path / "test_service.log").read_text()


@pytest.mark.parametrize(
    ("flag", "path"),
    [("--offline", "/recommendations_offline"), ("--online", "/recommendations_online"),
     ("--blended", "/recommendations")],
)
def test_modes_call_their_endpoint(services, capsys, flag, path):
    assert run(services, flag, "--user_id", "617032", "--k", "2") == 0
    request = services.requests[0]
    assert request.url.path == path
    assert dict(request.url.params) == {"user_id": "617032", "k": "2"}
    assert "Track 101" in capsys.readouterr().out


def test_blended_shows_sources_and_degraded(services, capsys):
    run(services, "--blended", "--user_id", "1")
    out = capsys.readouterr().out
    assert "degraded" in out.splitlines()[0]
    assert out.splitlines()[2].split()[-1] == "offline" and out.splitlines()[3].split()[-1] == "online"


@pytest.mark.parametrize(
    ("flags", "path"),
    [(["--offline", "--user_id", "1"], "/recommendations_offline"),
     (["--online", "--user_id", "1"], "/recommendations_online"),
     (["--blended", "--user_id", "1"], "/recommendations")],
)
def test_explain_asks_why_and_shows_it_with_names(services, capsys, flags, path):
    assert run(services, *flags, "--explain", "--k", "2") == 0
    request = services.requests[0]
    assert request.url.path == path and request.url.params["explain"] == "true"
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-1] == "why"
    assert lines[2].endswith("by Artist 3, an artist you play most")  # 101's artist, by name
    assert lines[3].endswith("similar to Track 500 (you just played it)")  # the listen, by name


def test_explain_popular(services, capsys):
    assert run(services, "--explain", "--k", "2") == 0
    assert services.requests[0].url.params["explain"] == "true"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.endswith("popular now") for line in lines[2:])


def test_explain_json_and_plain_requests(services, capsys):
    assert run(services, "--offline", "--user_id", "1", "--explain", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"recs": [101, 102], "degraded": False, "explanations": WHY}
    assert run(services, "--offline", "--user_id", "1") == 0
    assert "explain" not in services.requests[-1].url.params
    assert "why" not in capsys.readouterr().out.splitlines()[1]


def test_add_online_puts_and_shows_latest_events(services, capsys):
    assert run(services, "--add_online", "--user_id", "7", "--item_id", "500") == 0
    assert run(services, "--add_online", "--user_id", "7", "--item_id", "501", "--json") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Added item 500 to the online events of user 7: ok"
    assert json.loads(out[-1]) == {"result": "ok", "events": [501, 500]}
    put = services.requests[0]
    assert (put.url.path, dict(put.url.params)) == ("/put", {"user_id": "7", "item_id": "500"})


def test_json_output(services, capsys):
    assert run(services, "--offline", "--user_id", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"recs": [101, 102], "degraded": False}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--offline"], "--user_id is required"),
        (["--add_online", "--user_id", "1"], "--item_id is required"),
        (["--add_online", "--user_id", "1", "--item_id", "2", "--explain"], "--explain goes with --offline"),
        (["--offline", "--online", "--user_id", "1"], "not allowed with argument"),
        (["--offline", "--user_id", "x"], "expected an integer, found 'x'"),
        (["--offline", "--user_id", "-1"], "expected a non-negative integer"),
        (["--k", "0"], "expected an integer >= 1, found '0'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_argparse_errors(services, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run(services, *argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert services.requests == []


def test_service_error_is_one_line(services, capsys, monkeypatch):
    monkeypatch.setenv("MUSICREC_URLS__RECOMMENDATIONS_URL", "http://nothing-here")
    assert run(services, "--offline", "--user_id", "1") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: http://nothing-here/recommendations_offline")


def test_down_service_exits_1_with_one_line_naming_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {"MUSICREC_URLS__RECOMMENDATIONS_URL": url, "MUSICREC_CONFIG": str(ROOT / "config.ini")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "test_service.py"), "--offline", "--user_id", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {url}/recommendations_offline: cannot connect")
    assert "Traceback" not in done.stderr


def test_titles_say_how_many_rows_follow(services, capsys):
    assert run(services, "--offline", "--user_id", "1", "--k", "5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Offline recommendations for user 1: 2 tracks (5 asked)"
    assert len(lines) == 2 + 2  # title, header, two rows
    assert run(services, "--k", "2") == 0
    assert capsys.readouterr().out.splitlines()[0] == "Top 2 popular tracks"
    assert run(services, "--add_online", "--user_id", "7", "--item_id", "500") == 0
    assert "Latest 1 events (newest first):" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["directory", "missing"])
def test_an_unwritable_log_file_is_one_line(services, capsys, tmp_path, where):
    path = tmp_path if where == "directory" else tmp_path / "no" / "such" / "dir" / "x.log"
    assert run(services, "--log-file", str(path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: cannot write the log file {path}: ")
    assert services.requests == []


@contextlib.contextmanager
def FakeServer():  # noqa: N802 - used like a class
    """A real HTTP server whose /recommendations_default answers [201, 202]; yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.dumps({"recs": [201, 202]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run_script(cwd: Path, *argv: str, script: Path = ROOT / "test_service.py", **env: str):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MUSICREC_")}
    return subprocess.run([sys.executable, str(script), *argv], cwd=cwd, capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=60)


def test_names_are_found_from_another_directory(tmp_path):
    """Run from elsewhere: the config.ini and artifacts/ beside the script are used (a copy of the
    repository's layout here), and the names appear."""
    import shutil

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "test_service.py", repo)
    write_artifacts(repo / "artifacts")
    with FakeServer() as url:
        (repo / "config.ini").write_text(f"[urls]\nrecommendations_url = {url}\n")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        done = _run_script(elsewhere, "--k", "2", "--log-file", str(tmp_path / "log"),
                           script=repo / "test_service.py")
    assert done.returncode == 0, done.stderr
    assert "Track 201" in done.stdout and "?" not in done.stdout
    assert done.stderr == ""


def test_without_names_a_warning_says_why(tmp_path):
    with FakeServer() as url:
        done = _run_script(tmp_path, "--k", "2", "--log-file", str(tmp_path / "log"),
                           MUSICREC_URLS__RECOMMENDATIONS_URL=url,
                           MUSICREC_PATHS__ARTIFACTS_DIR=str(tmp_path / "nothing"))
    assert done.returncode == 0, done.stderr
    assert "?" in done.stdout
    expected = f"warning: no items.parquet in {tmp_path / 'nothing'}: tracks are shown by id"
    assert done.stderr.startswith(expected)
