"""Runs switched under load (real uvicorn processes): no request fails, each answer comes from one run."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from musicrec.config import load_settings
from musicrec.services.common.testing import ServiceProcess
from musicrec.storage.runs import RunStore
from tests.helpers.runs import add_run, items_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "reload-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _wait_version(urls: list[str], version: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(httpx.get(f"{url}/ready", timeout=2).json().get("model", {}).get("version") == version
               for url in urls):
            return
        time.sleep(0.05)
    raise AssertionError(f"the services did not load run {version} within {timeout_s} s")


def test_switching_runs_under_load_drops_no_request(tmp_path):
    runs = RunStore.open(tmp_path / "artifacts", load_settings())
    first = add_run(runs, 1000)
    second = add_run(runs, 2000, switch=False)
    bases = {first: 1000, second: 2000}
    env = {
        "MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "MUSICREC_EVENTS__BACKEND": "sqlite",
        "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
        "MUSICREC_SERVING__RELOAD_INTERVAL_S": "0.2",
        "MUSICREC_SERVING__ADMIN_TOKEN": TOKEN,
        "MUSICREC_SERVING__BLEND": "alternate",
    }
    events = ServiceProcess("events_service:app", env=env)
    features = ServiceProcess("features_service:app", env=env)
    env = {**env, "MUSICREC_URLS__EVENTS_STORE_URL": events.url,
           "MUSICREC_URLS__FEATURES_STORE_URL": features.url}
    recommendations = ServiceProcess("recommendations_service:app", env=env)
    failures: list[str] = []
    seen: Counter[tuple[str, str]] = Counter()
    stop = threading.Event()

    def load(name: str, send) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    response = send(client)
                except httpx.HTTPError as exc:
                    failures.append(f"{name}: {type(exc).__name__}")
                    continue
                if response.status_code != 200:
                    failures.append(f"{name}: {response.status_code} {response.text[:200]}")
                    continue
                version = response.headers["X-Model-Version"]
                if name == "recommendations":
                    body = response.json()
                    items = set(body["recs"])
                    if body["degraded"]:
                        failures.append(f"{name}: degraded answer {body}")
                else:
                    entries = response.json()["items"]
                    items = {i for entry in entries.values() for i in entry["item_id_2"]}
                    answered = [key for key, entry in entries.items() if entry["item_id_2"]]
                    if len(answered) != 1:
                        failures.append(f"{name}: similar items from both runs or none: {entries}")
                if version not in bases or not items or not items <= items_of(bases[version]):
                    failures.append(f"{name}: version {version} answered {sorted(items)}")
                seen[name, version] += 1

    requests = {
        "recommendations": lambda c: c.post(f"{recommendations.url}/recommendations",
                                            params={"user_id": 1, "k": 10}),
        "similar": lambda c: c.post(f"{features.url}/similar_items/batch", json={"item_ids": [1001, 2001]}),
    }
    with events, features, recommendations:
        urls = [features.url, recommendations.url]
        _wait_version(urls, first)
        threads = [threading.Thread(target=load, args=(name, send), daemon=True)
                   for name, send in requests.items() for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            for target in (second, first, second, first):
                if target == second:
                    runs.switch(second)  # picked up by the poller
                else:
                    runs.rollback()  # a rollback, then the admin endpoint instead of waiting for the poller
                    for url in urls:
                        answer = httpx.post(f"{url}/admin/reload", headers=AUTH)
                        assert answer.status_code == 200, answer.text
                _wait_version(urls, target)
                time.sleep(0.5)  # traffic on the new run
        finally:
            stop.set()
            for thread in threads:
                thread.join(15)
        metrics = httpx.get(f"{recommendations.url}/metrics").text
    assert failures == []
    for name in requests:
        assert seen[name, first] > 10 and seen[name, second] > 10, seen
    ok = 'musicrec_model_reloads_total{result="ok"}'
    reloads = [line for line in metrics.splitlines() if line.startswith(ok)]
    assert float(reloads[0].split()[-1]) >= 4  # the poller's and the admin endpoint's (forced) loads
    assert 'musicrec_model_reloads_total{result="failed"} 0.0' in metrics
