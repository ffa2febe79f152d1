"""Keeps the services of ``python -m musicrec serve`` up: a service that exits after it was ready is
restarted, with a growing delay, while the others keep serving.

The distinction that matters:

- **at start-up** a service that exits or never becomes ready is a configuration error (bad artifacts,
  a port in use, a wrong setting): restarting it would only repeat the error, so ``serve`` stops everything
  and says why (:func:`musicrec.services.cli.wait_ready`);
- **after it was ready** an exit is a crash (killed by the OOM killer or by hand, a fatal bug): the
  :class:`Supervisor` restarts it after ``[supervisor] backoff_s`` seconds, doubled after each crash up to
  ``max_backoff_s``. Each crash and restart is logged with its count. After ``max_crashes`` crashes of one
  service within ``window_s`` seconds it gives up: it says so, stops the others and ``serve`` exits with
  code 1, so the machine's own supervisor (systemd ``Restart=``, a container runtime) sees the failure.

A restarted service counts as back when its ``/ready`` answers 200, or 503 only because a neighbour is
down (the recommendations service while the events service restarts); it gets ``timeout_s`` seconds.
Worker processes (``--workers N``) are uvicorn's business: its own supervisor replaces a dead worker; this
one watches each service's uvicorn master process.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import click
import httpx

from musicrec.config import Supervisor as SupervisorSettings

UP, WAITING, STARTING = "up", "waiting", "starting"


class GaveUp(click.ClickException):
    """A service crashed too often: ``serve`` stops."""


@dataclass
class Watch:
    """What the supervisor knows of one service."""

    service: object  # musicrec.services.cli.Service
    state: str = UP
    crashes: deque[float] = field(default_factory=deque)  # monotonic times within the window
    restarts: int = 0
    since: float = 0.0  # when the state began (WAITING: when to restart)


def log(message: str) -> None:
    click.echo(f"{datetime.now():%H:%M:%S} supervisor: {message}", err=True)


class Supervisor:
    """Watches services started by ``serve``; ``start(service)`` and ``kill(service)`` come from there."""

    def __init__(self, services: list, settings: SupervisorSettings, start: Callable[[object], None],
                 kill: Callable[[object], None], ready: Callable[[object], bool], timeout_s: float):
        self.settings = settings
        self.watches = [Watch(service) for service in services]
        self._start, self._kill, self._ready = start, kill, ready
        self.timeout_s = timeout_s

    def delay(self, crashes: int) -> float:
        """Seconds before the restart after ``crashes`` recent crashes.

        >>> from musicrec.config import Supervisor as S
        >>> s = Supervisor([], S(backoff_s=1, max_backoff_s=5), None, None, None, 1)
        >>> [s.delay(n) for n in (1, 2, 3, 4)]
        [1.0, 2.0, 4.0, 5.0]
        """
        return min(self.settings.backoff_s * 2 ** (crashes - 1), self.settings.max_backoff_s)

    def step(self, now: float | None = None) -> None:
        """Look at every service once; raise :class:`GaveUp` when one crashed too often."""
        now = time.monotonic() if now is None else now
        for watch in self.watches:
            service = watch.service
            process = service.process
            if watch.state in (UP, STARTING) and process.poll() is not None:
                self._crashed(watch, now, f"exited with code {process.returncode}")
            elif watch.state == STARTING:
                if self._ready(service):
                    watch.state = UP
                    log(f"the {service.name} service is back at {service.url} (restart #{watch.restarts})")
                elif now - watch.since > self.timeout_s:
                    self._crashed(watch, now, f"not ready {self.timeout_s:g} s after its restart")
            elif watch.state == WAITING and now >= watch.since:
                watch.restarts += 1
                watch.state, watch.since = STARTING, now
                log(f"restarting the {service.name} service (restart #{watch.restarts})")
                self._start(service)

    def _crashed(self, watch: Watch, now: float, why: str) -> None:
        service = watch.service
        self._kill(service)  # what is left of its process group (workers of a killed master)
        watch.crashes.append(now)
        while watch.crashes and now - watch.crashes[0] > self.settings.window_s:
            watch.crashes.popleft()
        recent = len(watch.crashes)
        if recent >= self.settings.max_crashes:
            limit = self.settings.max_crashes
            raise GaveUp(f"the {service.name} service {why}: {recent} crashes within "
                         f"{self.settings.window_s:g} s ([supervisor] max_crashes = {limit}); "
                         "giving up: stopping the others")
        delay = self.delay(recent)
        watch.state, watch.since = WAITING, now + delay
        log(f"the {service.name} service {why} (crash {recent} of at most {self.settings.max_crashes - 1} "
            f"within {self.settings.window_s:g} s); restarting it in {delay:g} s, the others keep serving")

    def run(self, interval_s: float = 0.2) -> None:
        """Watch until interrupted or :class:`GaveUp`."""
        while True:
            self.step()
            time.sleep(interval_s)


def answers_ready(url: str, neighbour_checks: set[str]) -> bool:
    """``/ready`` is 200, or 503 with only neighbour checks failing."""
    try:
        response = httpx.get(f"{url}/ready", timeout=1.0)
    except httpx.HTTPError:
        return False
    if response.status_code == 200:
        return True
    try:
        checks = response.json()["checks"]
    except (ValueError, KeyError, TypeError):
        return False
    failing = {name for name, result in checks.items() if not result.get("ok")}
    return bool(failing) and failing <= neighbour_checks
