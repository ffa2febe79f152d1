"""Start real service and Redis processes for integration tests (no pytest dependency here).

Usage in a test (mark it ``@pytest.mark.integration``)::

    from musicrec.services.common.testing import ServiceProcess

    with ServiceProcess("events_service:app", env={"MUSICREC_EVENTS__SQLITE_PATH": str(db)}) as svc:
        httpx.post(f"{svc.url}/put", params={"user_id": 1, "item_id": 2})

``ServiceProcess`` runs ``python -m uvicorn <target> --port <free port>`` from the repository root,
waits until ``GET /health`` answers, and terminates the process on exit; its output goes to a log
file whose tail is put in the error when the process does not come up. ``RedisServer`` does the same
for ``redis-server`` on a free port with a throw-away directory and no persistence.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]


_ISSUED_PORTS: set[int] = set()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 and that this process has not handed out yet.

    The kernel may give the same ephemeral port to two back-to-back binds once the first socket is
    closed, so ports for services started together would collide without the issued-ports memory.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _ISSUED_PORTS:
            _ISSUED_PORTS.add(port)
            return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ManagedProcess:
    """A child process with its output in a log file; ``stop`` sends SIGTERM, then SIGKILL. The base of
    the process fixtures: a subclass starts its command with ``_spawn`` and waits with ``_wait_until``."""

    name = "process"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix=f"musicrec-{self.name}-"))
        self.log_path = self._tmp / "output.log"

    def _spawn(self, argv: list[str], env: Mapping[str, str] | None, cwd: Path) -> None:
        full_env = {**os.environ, **(env or {})}
        with open(self.log_path, "ab") as log:
            # A new session so that stop() can signal uvicorn's worker children too.
            self.process = subprocess.Popen(
                argv, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_until(self, probe, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode}:\n{_tail(self.log_path)}"
                )
            if probe():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up within {timeout_s:g} s:\n{_tail(self.log_path)}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout_s)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL without a chance to clean up (simulates a crash)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


class ServiceProcess(ManagedProcess):
    """``python -m uvicorn <target>`` on a free port; ``url`` is ``http://127.0.0.1:<port>``."""

    name = "service"

    def __init__(
        self,
        target: str,
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        port: int | None = None,
        cwd: Path = REPO_ROOT,
        startup_timeout_s: float = 30.0,
        access_log: bool = False,
    ) -> None:
        super().__init__()
        self.target = target
        # Off by default, as in ``musicrec serve``: a log line per request costs the services CPU
        # that benchmarks would otherwise count against the code (bench/serve.py measured it on).
        self.access_log = access_log
        self.env = dict(env or {})
        self.workers = workers
        self.port = port or free_port()
        self.cwd = cwd
        self.startup_timeout_s = startup_timeout_s
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_s: float | None = None

    def start(self) -> ServiceProcess:
        """Start uvicorn and block until ``GET /health`` answers 200."""
        argv = [sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers)]
        if not self.access_log:
            argv.append("--no-access-log")
        began = time.monotonic()
        self._spawn(argv, self.env, self.cwd)
        self._wait_until(self._healthy, self.startup_timeout_s)
        self.startup_s = time.monotonic() - began  # from the spawn to the first healthy answer
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def restart(self) -> ServiceProcess:
        """Stop and start again on the same port (state must come from storage, not memory)."""
        self.stop()
        return self.start()

    def __enter__(self) -> ServiceProcess:
        return self.start()


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` or ``None`` when it is not installed."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None
    )


class RedisServer(ManagedProcess):
    """A private ``redis-server`` on a free port; ``url`` is ``redis://127.0.0.1:<port>/0``. No persistence,
    or with ``durable`` an append-only file fsynced at every write (``start`` after ``kill`` replays it)."""

    name = "redis"

    def __init__(self, binary: str | None = None, port: int | None = None, durable: bool = False) -> None:
        super().__init__()
        self.durable = durable  # appendonly yes + appendfsync always: restarts keep every acknowledged write
        found = binary or redis_server_binary()
        if found is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self.binary = found
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and block until it answers PING."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else [
            "--appendonly", "no"]
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self._tmp),
                "--save", "", *persistence, "--daemonize", "no"]
        self._spawn(argv, None, self._tmp)
        self._wait_until(self._answers_ping, 10.0)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        return self.start()
