"""Replicas: two recommendations and two events processes sharing one real Redis (and one features service).

A listen put through one events replica is in the blended answer of the recommendations replica that
reads the other events replica: no state lives in a service process.
"""

from __future__ import annotations

import httpx
import pytest

from musicrec.services.common.testing import ServiceProcess
from tests.helpers.redis_fixtures import redis_url, shared_redis_server  # noqa: F401
from tests.services.recommendations.artifacts import WARM_USER, write_artifacts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_put_through_one_replica_is_blended_by_the_other(tmp_path, redis_url):  # noqa: F811
    artifacts = write_artifacts(tmp_path / "artifacts")
    base = {"MUSICREC_PATHS__ARTIFACTS_DIR": str(artifacts), "MUSICREC_EVENTS__BACKEND": "redis",
            "MUSICREC_EVENTS__REDIS_URL": redis_url, "MUSICREC_SERVING__BLEND": "alternate"}
    features = ServiceProcess("features_service:app", env=base)
    events = [ServiceProcess("events_service:app", env=base) for _ in range(2)]
    recommendations = [
        ServiceProcess("recommendations_service:app", env={
            **base, "MUSICREC_URLS__EVENTS_STORE_URL": replica.url,
            "MUSICREC_URLS__FEATURES_STORE_URL": features.url})
        for replica in events  # recommendations replica i reads events replica i
    ]
    with features, events[0], events[1], recommendations[0], recommendations[1]:
        def blended(replica: ServiceProcess) -> dict:
            answer = httpx.post(f"{replica.url}/recommendations", params={"user_id": WARM_USER, "k": 6})
            assert answer.status_code == 200
            return answer.json()

        before = [blended(replica) for replica in recommendations]
        assert before[0] == before[1] and before[0]["recs"] == [101, 102, 103, 104, 105, 201]
        put = httpx.post(f"{events[0].url}/put", params={"user_id": WARM_USER, "item_id": 500})
        assert put.json() == {"result": "ok"}
        # replica 1 reads events replica 1, which never saw the put: the listen came through Redis
        after = blended(recommendations[1])
        assert after["degraded"] is False
        assert after["recs"] == [101, 301, 102, 302, 103, 104]  # 500's similar tracks on the online slots
        assert after["sources"][:4] == ["offline", "online", "offline", "online"]
        assert blended(recommendations[0]) == after
        assert httpx.post(f"{events[1].url}/get", params={"user_id": WARM_USER}).json() == {"events": [500]}
