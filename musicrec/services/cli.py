"""``python -m musicrec serve``: the three services as uvicorn processes, until Ctrl-C.

A service that fails at start-up stops everything (a configuration error); one that exits after it was
ready is restarted by :mod:`musicrec.services.supervisor` while the others keep serving.

Ports come from ``[urls]``; each service listens on ``[serving] host``, or on the host of its ``[urls]``
entry when that is empty (the default). Each is started with ``uvicorn --factory`` on its ``create_app`` so
settings (``config.ini`` and ``MUSICREC_*``) are read by the children exactly as by
``uvicorn recommendations_service:app``. Each child runs in its own process group: on Ctrl-C or SIGTERM
the command terminates every group it started and waits for it, so no process is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from musicrec.client.samples import pick_examples
from musicrec.config import Settings, load_settings
from musicrec.services.supervisor import Supervisor, answers_ready
from musicrec.storage.errors import S3StoreError
from musicrec.storage.location import is_s3, normalize_location, open_store
from musicrec.storage.runs import SERVABLE, current_store, resolve_location

# Readiness checks that may fail only while a neighbour is starting; any other failing check is final.
NEIGHBOUR_CHECKS = {"events", "features"}
REQUIRED_ARTIFACTS = SERVABLE  # one name of each group


@dataclass
class Service:
    """One service to run: its factory, where it listens, and its process once started."""

    name: str
    factory: str
    url_key: str
    url: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)

    def listen_on(self, settings: Settings) -> tuple[str, int]:
        """Where the service listens: ``[serving] host`` (empty: the ``[urls]`` host) and the URL's port.

        >>> service = Service("events", "f", "events_store_url", "http://127.0.0.1:8020")
        >>> service.listen_on(load_settings(serving={"host": ""})), service.listen_on(
        ...     load_settings(serving={"host": "0.0.0.0"}))
        (('127.0.0.1', 8020), ('0.0.0.0', 8020))
        """
        host, port = self.host_port
        return settings.serving.host or host, port


def services_of(settings: Settings) -> list[Service]:
    """Events and features first: the recommendations service is ready only when they answer."""
    urls = settings.urls
    return [
        Service("events", "musicrec.services.events:create_app", "events_store_url", urls.events_store_url),
        Service("features", "musicrec.services.features:create_app", "features_store_url",
                urls.features_store_url),
        Service("recommendations", "musicrec.services.recommendations.app:create_app", "recommendations_url",
                urls.recommendations_url),
    ]


def check_artifacts(location: Path | str, settings: Settings | None = None) -> None:
    """Raise a one-line error naming the missing files of the current run (one of each tuple must exist),
    for a directory or an ``s3://`` location (the services download the files themselves)."""
    settings = settings or load_settings()
    try:
        if is_s3(location):
            open_store(location, settings).check_bucket()  # "no bucket" says more than "no file"
        resolved = resolve_location(location, settings)
        store = open_store(resolved.location, settings)
        missing = [" or ".join(names) for names in REQUIRED_ARTIFACTS if not any(map(store.exists, names))]
    except S3StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if missing:
        where = store.describe("").rstrip("/") if is_s3(location) else Path(resolved.location).resolve()
        train = (f"`python -m musicrec train --artifacts {normalize_location(location)}`" if is_s3(location)
                 else "`python -m musicrec train` (or `make demo`)")
        raise click.ClickException(f"missing artifacts in {where}: {', '.join(missing)}; run {train} first")
    if resolved.note:
        click.echo(f"note: {resolved.note}", err=True)


def check_port_free(service: Service, settings: Settings) -> None:
    """Raise a one-line error when something already listens on the service's port."""
    host, port = service.listen_on(settings)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            env = "MUSICREC_URLS__" + service.url_key.upper()
            raise click.ClickException(
                f"cannot start the {service.name} service: {host}:{port} is not available ({exc.strerror}); "
                f"stop what listens there or change [urls] {service.url_key} in config.ini (or {env})"
            ) from None


def start(service: Service, settings: Settings, workers: int, access_log: bool) -> None:
    host, port = service.listen_on(settings)
    argv = [sys.executable, "-m", "uvicorn", service.factory, "--factory",
            "--host", host, "--port", str(port), "--workers", str(workers)]
    if not access_log:
        argv.append("--no-access-log")
    # Own process group: Ctrl-C reaches only this command, which then stops each group in order.
    service.process = subprocess.Popen(
        argv, start_new_session=True, preexec_fn=functools.partial(_die_with_parent, os.getpid())
    )


def _die_with_parent(parent_pid: int) -> None:
    """In the child (Linux): get SIGTERM when this command dies, even by SIGKILL, so none is orphaned."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent_pid:  # the command died between fork and prctl: too late for the signal
            os.kill(os.getpid(), signal.SIGTERM)


def wait_ready(service: Service, timeout_s: float) -> None:
    """Poll ``GET /ready`` until 200; raise naming the service and the last answer otherwise."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        assert service.process is not None
        if service.process.poll() is not None:
            raise click.ClickException(
                f"the {service.name} service exited with code {service.process.returncode} "
                "(see its log above)"
            )
        try:
            response = httpx.get(f"{service.url}/ready", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.text[:300]
            if _permanent_failure(response):
                raise click.ClickException(f"the {service.name} service at {service.url} cannot serve: "
                                           f"{response.json()['error']['message']}")
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise click.ClickException(f"the {service.name} service at {service.url} is not ready after "
                               f"{timeout_s:g} s: {last}")


def _permanent_failure(response: httpx.Response) -> bool:
    """A 503 from a check other than a neighbour's: artifacts or storage, settled once the app started."""
    try:
        checks = response.json()["checks"]
    except (ValueError, KeyError, TypeError):
        return False
    failing = {name for name, result in checks.items() if not result.get("ok")}
    return bool(failing - NEIGHBOUR_CHECKS)


def stop_all(services: list[Service], timeout_s: float = 10.0) -> None:
    """SIGTERM every started process group, then SIGKILL what is still alive after ``timeout_s``."""
    started = [s for s in services if s.process is not None and s.process.poll() is None]
    for service in started:
        _signal_group(service, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for service in started:
        assert service.process is not None
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(service, signal.SIGKILL)
            service.process.wait()


def _signal_group(service: Service, sig: signal.Signals) -> None:
    assert service.process is not None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(service.process.pid, sig)


def examples(settings: Settings) -> list[str]:
    """``test_service.py`` commands with a real warm user and items that have similar tracks."""
    picked = pick_examples(current_store(settings.paths.artifacts_dir, settings), n_users=1)
    user, items = (picked.warm_users or [1])[0], picked.items
    lines = [
        "python test_service.py",
        f"python test_service.py --offline --user_id {user} --k 10",
        *(f"python test_service.py --add_online --user_id {user} --item_id {item}" for item in items),
        f"python test_service.py --online --user_id {user} --k 10",
        f"python test_service.py --blended --user_id {user} --k 10",
    ]
    return lines


def run_one(name: str, app: Any) -> None:
    """``python recommendations_service.py`` (or ``features_``, ``events_``): serve ``app`` with uvicorn on
    ``[serving] host`` and the port of the service's ``[urls]`` entry, as ``serve`` does for all three.
    (``uvicorn recommendations_service:app`` listens where uvicorn's own ``--host``/``--port`` say.)"""
    import uvicorn

    settings: Settings = app.state.settings
    service = next(s for s in services_of(settings) if s.name == name)
    host, port = service.listen_on(settings)
    uvicorn.run(app, host=host, port=port, access_log=False)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="uvicorn workers per service")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, type=click.FloatRange(1),
              help="seconds to wait for each service to become ready")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="print one line per request")
def serve_command(workers: int, timeout_s: float, access_log: bool) -> None:
    """Run the events, features and recommendations services until Ctrl-C.

    A service that exits after it was ready is restarted with backoff ([supervisor]); one that fails at
    start-up stops them all.
    """
    settings = load_settings()
    check_artifacts(settings.paths.artifacts_dir, settings)
    services = services_of(settings)
    for service in services:
        check_port_free(service, settings)
    # SIGINT too: a command started in the background by a shell inherits SIGINT ignored.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for service in services:
            start(service, settings, workers, access_log)
            wait_ready(service, timeout_s)
            click.echo(f"{service.name:>15} service ready at {service.url}")
        click.echo("\nTry (in another terminal):\n  " + "\n  ".join(examples(settings)))
        click.echo("\nPress Ctrl-C to stop the three services.")
        # From here an exit is a crash: restarted with backoff (a failure at start-up above stopped all)
        Supervisor(
            services, settings.supervisor,
            start=functools.partial(start, settings=settings, workers=workers, access_log=access_log),
            kill=functools.partial(_signal_group, sig=signal.SIGKILL),
            ready=lambda service: answers_ready(service.url, NEIGHBOUR_CHECKS), timeout_s=timeout_s,
        ).run()
    except KeyboardInterrupt:
        click.echo("\nstopping the services ...")
    finally:
        # A second Ctrl-C must not abort the clean-up half way and leave processes behind.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop_all(services)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped")
