"""/recommendations with ``[serving] blend = learned``: blend.json's weights, and the fallback without it.

Worked by hand with ``WEIGHTS`` (online 0.1, artist 0, offset 20, recency decay 0.5). A track scores
``1 / (20 + offline rank) + 0.1 * online(i)``, where ``online(i)`` sums the track's similarity to each
online listen, the i-th newest weighted 0.5**i.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from tests.services.recommendations.artifacts import (
    COLD_USER,
    POPULAR,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import make_client


@pytest.fixture
def learned(tmp_path, neighbours):
    write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS)
    with make_client(tmp_path, neighbours, blend="learned", max_per_artist=0) as client:
        yield client


def body(client, path: str = "/recommendations", **params) -> dict:
    response = client.post(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_warm_user_without_events_gets_the_offline_list(learned):
    assert body(learned, user_id=WARM_USER, k=7) == {
        "recs": [101, 102, 103, 104, 105, 201, 202],
        "degraded": False,
        "sources": ["offline"] * 5 + ["popular"] * 2,
    }


def test_scores_rank_offline_and_online_tracks_together(learned, neighbours):
    neighbours.events[WARM_USER] = [501, 500]
    # online(i): 302 .8 + .5 * .6 = 1.1, 304 .7, 301 .5 * .9 = .45, 101 .5 * .5 = .25 (500 is a listen)
    # scores: 302 .110, 101 1/21 + .025 = .073, 304 .070, 102 1/22 = .045, 301 .045, 103 1/23 = .043
    answer = body(learned, user_id=WARM_USER, k=6)
    assert answer["recs"] == [302, 101, 304, 102, 301, 103]
    assert answer["sources"] == ["online", "offline"] * 3
    assert answer["degraded"] is False


def test_artist_weight_raises_tracks_by_the_artist_of_a_listen(tmp_path, neighbours):
    weights = dataclasses.replace(WEIGHTS, artist=0.05)
    write_artifacts(tmp_path, weights=weights, top_artists=TOP_ARTISTS)
    neighbours.events[WARM_USER] = [501, 500]  # by artists 4 and 3 (id % 7)
    # artist(i): 4 -> 1.0, 3 -> 0.5; 102 (artist 4) 1/22 + .05 = .095 overtakes 304 (artist 3) .07 + .025
    with make_client(tmp_path, neighbours, blend="learned", max_per_artist=0) as client:
        answer = body(client, user_id=WARM_USER, k=5, explain=True)
    assert answer["recs"] == [302, 101, 102, 304, 301]
    assert answer["explanations"][2] == {"source": "personal", "reason": "same_artist_as_listen",
                                         "listen": 501, "artist_id": 4}


def test_online_listens_are_never_recommended_back(learned, neighbours):
    neighbours.events[WARM_USER_2] = [103]  # a personal track just listened to
    assert body(learned, user_id=WARM_USER_2, k=5)["recs"] == [106, 201, 202, 203, 204]
    neighbours.events[WARM_USER] = [501, 500, 101]
    recs = body(learned, user_id=WARM_USER, k=20)["recs"]
    assert not {501, 500, 101} & set(recs)
    assert len(recs) == len(set(recs))


def test_cold_user_blends_popular_and_online(learned, neighbours):
    assert body(learned, user_id=COLD_USER, k=4)["recs"] == POPULAR[:4]
    neighbours.events[COLD_USER] = [502]
    # 303: .1 * .9 = .09 beats the first popular track, 1/21
    assert body(learned, user_id=COLD_USER, k=4) == {
        "recs": [303, 201, 202, 103],
        "degraded": False,
        "sources": ["online", "popular", "popular", "popular"],
    }


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9, 13, 50])
def test_learned_invariants(learned, neighbours, k):
    neighbours.events[WARM_USER] = [501, 500, 502]
    answer = body(learned, user_id=WARM_USER, k=k)
    online = body(learned, "/recommendations_online", user_id=WARM_USER, k=k)["recs"]
    available = ({101, 102, 103, 104, 105} | set(online) | set(POPULAR)) - {501, 500, 502}
    assert len(answer["recs"]) == len(set(answer["recs"])) == min(k, len(available))
    assert set(answer["recs"]) <= available
    assert len(answer["sources"]) == len(answer["recs"])


def test_features_are_asked_once_for_all_events(learned, neighbours):
    neighbours.events[WARM_USER] = [501, 500, 502, 101]
    body(learned, user_id=WARM_USER, k=6)
    assert neighbours.batch_calls == [{"item_ids": [501, 500, 502], "k": 6}]


# -- which rule is served ---------------------------------------------------------------------------


def test_without_blend_json_the_alternate_rule_is_served_and_said(tmp_path, neighbours, caplog):
    write_artifacts(tmp_path, top_artists=TOP_ARTISTS)  # a train before the learned blend
    neighbours.events[WARM_USER] = [501, 500]
    client = make_client(tmp_path, neighbours, blend="learned", max_per_artist=0)
    with caplog.at_level(logging.WARNING), client:
        assert body(client, user_id=WARM_USER, k=6)["recs"] == [101, 302, 102, 304, 103, 301]  # alternated
        detail = client.get("/ready").json()["checks"]["artifacts"]["detail"]
    assert detail.endswith("blend: alternate (blend.json not found: artifacts of an older train)")
    assert any("blend.json" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    ("blend", "rule", "recs"),
    [("learned", "learned (blend.json)", [302, 101, 304, 102, 301, 103]),
     ("alternate", "alternate ([serving] blend = alternate)", [101, 302, 102, 304, 103, 301])],
)
def test_the_setting_picks_the_rule_and_ready_names_it(tmp_path, neighbours, blend, rule, recs):
    write_artifacts(tmp_path, weights=WEIGHTS)
    neighbours.events[WARM_USER] = [501, 500]
    with make_client(tmp_path, neighbours, blend=blend, max_per_artist=0) as client:
        assert body(client, user_id=WARM_USER, k=6)["recs"] == recs
        assert client.get("/ready").json()["checks"]["artifacts"]["detail"].endswith(f"blend: {rule}")
