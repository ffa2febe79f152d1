"""The features service as a real uvicorn process."""

from __future__ import annotations

import httpx
import pytest

from musicrec.services.common.testing import ServiceProcess

pytestmark = pytest.mark.integration


def test_serves_similar_items_from_the_artifacts_dir(artifacts_dir):
    env = {"MUSICREC_PATHS__ARTIFACTS_DIR": str(artifacts_dir)}
    with ServiceProcess("features_service:app", env=env) as svc:
        assert httpx.get(f"{svc.url}/ready").status_code == 200
        response = httpx.post(f"{svc.url}/similar_items", params={"item_id": 1, "k": 2})
        assert response.json() == {"item_id_2": [12, 13], "score": [0.9, 0.7]}
        batch = httpx.post(f"{svc.url}/similar_items/batch", json={"item_ids": [2]}).json()
        assert batch == {"items": {"2": {"item_id_2": [21], "score": [0.3]}}}


def test_missing_artifact_keeps_running_without_a_traceback(tmp_path):
    env = {"MUSICREC_PATHS__ARTIFACTS_DIR": str(tmp_path / "nothing")}
    with ServiceProcess("features_service:app", env=env) as svc:
        ready = httpx.get(f"{svc.url}/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["key"] == "not_ready"
        assert httpx.post(f"{svc.url}/similar_items?item_id=1").status_code == 503
        assert svc.process.poll() is None
        log = svc.log_path.read_text()
        assert "similar.parquet: file not found" in log
        assert "Traceback" not in log
