"""The supervisor's decisions with fake processes and a fake clock (the real ones: test_cli.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from musicrec.config import Supervisor as Settings
from musicrec.services.supervisor import STARTING, UP, WAITING, GaveUp, Supervisor


class FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeService:
    name: str
    url: str = "http://x"
    process: FakeProcess | None = None


def _supervisor(**settings):
    services = [FakeService("events", process=FakeProcess()), FakeService("features", process=FakeProcess())]
    calls: list[tuple[str, str]] = []
    ready: set[str] = set()

    def start(service):
        calls.append(("start", service.name))
        service.process = FakeProcess()

    supervisor = Supervisor(services, Settings(**settings), start=start,
                            kill=lambda s: calls.append(("kill", s.name)),
                            ready=lambda s: s.name in ready, timeout_s=10)
    return supervisor, services, calls, ready


def test_a_crash_is_restarted_after_the_backoff_and_the_others_are_left_alone(capsys):
    supervisor, (events, features), calls, ready = _supervisor(backoff_s=1, max_backoff_s=8, max_crashes=3,
                                                               window_s=60)
    supervisor.step(now=0)
    assert calls == []
    events.process.returncode = -9
    supervisor.step(now=1)
    assert calls == [("kill", "events")]  # what is left of its process group
    assert supervisor.watches[0].state == WAITING and supervisor.watches[1].state == UP
    supervisor.step(now=1.5)
    assert calls == [("kill", "events")]  # still waiting: 1 s backoff
    supervisor.step(now=2.0)
    assert calls[-1] == ("start", "events") and supervisor.watches[0].state == STARTING
    ready.add("events")
    supervisor.step(now=2.2)
    assert supervisor.watches[0].state == UP and supervisor.watches[0].restarts == 1
    err = capsys.readouterr().err
    assert "the events service exited with code -9 (crash 1 of at most 2 within 60 s)" in err
    assert "restarting it in 1 s, the others keep serving" in err
    assert "the events service is back at http://x (restart #1)" in err
    assert ("start", "features") not in calls


def test_the_backoff_doubles_and_it_gives_up_after_max_crashes_in_the_window():
    supervisor, (events, _), calls, ready = _supervisor(backoff_s=1, max_backoff_s=8, max_crashes=3,
                                                        window_s=60)
    ready.add("events")
    events.process.returncode = 1
    supervisor.step(now=0)
    supervisor.step(now=1)  # restarted after 1 s
    supervisor.watches[0].service.process.returncode = 1
    supervisor.step(now=2)
    assert supervisor.watches[0].since == 4  # second crash: 2 s
    supervisor.step(now=4)
    supervisor.watches[0].service.process.returncode = 1
    gave_up = r"exited with code 1: 3 crashes within 60 s \(\[supervisor\] max_crashes = 3\); giving up"
    with pytest.raises(GaveUp, match=gave_up):
        supervisor.step(now=5)


def test_crashes_older_than_the_window_are_forgotten():
    supervisor, (events, _), _, ready = _supervisor(backoff_s=1, max_backoff_s=8, max_crashes=2, window_s=10)
    ready.add("events")
    for now in (0, 100, 200):  # one crash every 100 s: never two within 10 s
        supervisor.watches[0].service.process.returncode = 1
        supervisor.step(now=now)
        supervisor.step(now=now + 1)
        supervisor.step(now=now + 2)
        assert supervisor.watches[0].state == UP
    assert supervisor.watches[0].restarts == 3


def test_a_restart_that_never_gets_ready_counts_as_a_crash():
    supervisor, (events, _), calls, _ = _supervisor(backoff_s=1, max_backoff_s=8, max_crashes=5, window_s=60)
    events.process.returncode = 1
    supervisor.step(now=0)
    supervisor.step(now=1)
    assert supervisor.watches[0].state == STARTING
    supervisor.step(now=12)  # timeout_s = 10
    assert supervisor.watches[0].state == WAITING and len(supervisor.watches[0].crashes) == 2
