"""``explain=true``: one explanation per track, about the user's real listens and top artists; without it the
answer is byte for byte the original one."""

from __future__ import annotations

import pytest

from musicrec.models.blending import FusionWeights
from tests.services.recommendations.artifacts import (
    ARTIST,
    COLD_USER,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WARM_USER_3,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import Neighbours, make_client

PATHS = ("/recommendations_offline", "/recommendations_default", "/recommendations_online",
         "/recommendations")
EVENTS = {WARM_USER: [501, 500, 502], WARM_USER_2: [500, 103], COLD_USER: [502, 501]}
SOURCE_OF = {"personal": "offline", "online": "online", "popular": "popular"}
REASONS = {"similar_to_listen", "same_artist_as_listen", "top_artist", "personal_taste", "popular_now"}


@pytest.fixture
def neighbours() -> Neighbours:
    fake = Neighbours()
    fake.events.update(EVENTS)
    return fake


def served(tmp_path, neighbours, blend: str = "learned", weights=WEIGHTS, max_per_artist: int = 0):
    write_artifacts(tmp_path, weights=weights, top_artists=TOP_ARTISTS)
    return make_client(tmp_path, neighbours, blend=blend, max_per_artist=max_per_artist)


def explained(client, path: str, **params) -> dict:
    response = client.post(path, params={**params, "explain": "true"})
    assert response.status_code == 200, response.text
    return response.json()


def test_blended_explanations_worked_by_hand(tmp_path, neighbours):
    neighbours.events[WARM_USER] = [501, 500]
    with served(tmp_path, neighbours) as client:
        answer = explained(client, "/recommendations", user_id=WARM_USER, k=6)
    assert answer["recs"] == [302, 101, 304, 102, 301, 103]  # as in test_learned_blend
    assert answer["explanations"] == [
        {"source": "online", "reason": "similar_to_listen", "listen": 501},  # .8 from 501 > .3 from 500
        {"source": "personal", "reason": "similar_to_listen", "listen": 500},  # raised by 500
        {"source": "online", "reason": "similar_to_listen", "listen": 501},
        {"source": "personal", "reason": "top_artist", "artist_id": 4},  # the user's second artist
        {"source": "online", "reason": "similar_to_listen", "listen": 500},
        {"source": "personal", "reason": "top_artist", "artist_id": 5},  # the user's first artist
    ]


def test_offline_default_and_online_explanations(tmp_path, neighbours):
    neighbours.events[WARM_USER] = [501, 500]
    with served(tmp_path, neighbours) as client:
        offline = explained(client, "/recommendations_offline", user_id=WARM_USER, k=6)
        default = explained(client, "/recommendations_default", k=2)
        online = explained(client, "/recommendations_online", user_id=WARM_USER, k=4)
    assert offline["recs"] == [101, 102, 103, 104, 105, 201]
    assert [(e["reason"], e.get("artist_id")) for e in offline["explanations"]] == [
        ("personal_taste", None), ("top_artist", 4), ("top_artist", 5), ("personal_taste", None),
        ("personal_taste", None), ("popular_now", None),
    ]
    assert default["explanations"] == [{"source": "popular", "reason": "popular_now"}] * 2
    assert online["recs"] == [302, 304, 301, 101]
    assert [e["listen"] for e in online["explanations"]] == [501, 501, 500, 500]
    assert {e["reason"] for e in online["explanations"]} == {"similar_to_listen"}


def test_alternate_blend_explanations(tmp_path, neighbours):
    neighbours.events[WARM_USER] = [501, 500]
    with served(tmp_path, neighbours, blend="alternate") as client:
        answer = explained(client, "/recommendations", user_id=WARM_USER, k=10)
    assert answer["recs"] == [101, 302, 102, 304, 103, 301, 104, 105, 201, 202]
    about = [(e["source"], e["reason"], e.get("listen") or e.get("artist_id"))
             for e in answer["explanations"]]
    assert about == [
        ("personal", "personal_taste", None), ("online", "similar_to_listen", 501),
        ("personal", "top_artist", 4), ("online", "similar_to_listen", 501),
        ("personal", "top_artist", 5), ("online", "similar_to_listen", 500),
        ("personal", "personal_taste", None), ("personal", "personal_taste", None),
        ("popular", "popular_now", None), ("popular", "popular_now", None),
    ]


@pytest.mark.parametrize(
    ("blend", "weights", "max_per_artist"),
    [("learned", WEIGHTS, 0), ("learned", FusionWeights(online=0.05, artist=0.02), 2),
     ("alternate", WEIGHTS, 0), ("alternate", WEIGHTS, 1)],
)
@pytest.mark.parametrize("user", [WARM_USER, WARM_USER_2, WARM_USER_3, COLD_USER])
def test_explanations_are_about_real_listens_and_real_top_artists(
    tmp_path, neighbours, blend, weights, max_per_artist, user
):
    events = EVENTS.get(user, [])
    with served(tmp_path, neighbours, blend, weights, max_per_artist) as client:
        for path in PATHS:
            for k in (1, 4, 20):
                answer = explained(client, path, user_id=user, k=k)
                assert len(answer["explanations"]) == len(answer["recs"])
                for item, source, why in zip(answer["recs"], answer["sources"], answer["explanations"],
                                             strict=True):
                    assert why["reason"] in REASONS
                    assert SOURCE_OF[why["source"]] == source
                    if why["reason"] in ("similar_to_listen", "same_artist_as_listen"):
                        assert why["listen"] in events[:3]  # the online events the service read
                    else:
                        assert "listen" not in why
                    if why["reason"] == "top_artist":
                        assert why["artist_id"] in TOP_ARTISTS[user]
                        assert why["artist_id"] == ARTIST[item]
                    if why["reason"] == "same_artist_as_listen":
                        assert why["artist_id"] == ARTIST[item] == ARTIST[why["listen"]]
                    if why["reason"] not in ("top_artist", "same_artist_as_listen"):
                        assert "artist_id" not in why


def test_without_user_artists_there_is_no_top_artist(tmp_path, neighbours):
    write_artifacts(tmp_path, weights=WEIGHTS)
    with make_client(tmp_path, neighbours, blend="learned", max_per_artist=0) as client:
        answer = explained(client, "/recommendations_offline", user_id=WARM_USER, k=5)
    assert {e["reason"] for e in answer["explanations"]} == {"personal_taste"}


@pytest.mark.parametrize("blend", ["learned", "alternate"])
def test_without_explain_the_body_is_the_original(tmp_path, neighbours, blend):
    neighbours.events[WARM_USER] = [501, 500]
    with served(tmp_path, neighbours, blend) as client:
        for path in PATHS:
            plain = client.post(path, params={"user_id": WARM_USER, "k": 6})
            explicit = client.post(path, params={"user_id": WARM_USER, "k": 6, "explain": "false"})
            assert explicit.content == plain.content
            assert list(plain.json()) == ["recs", "degraded", "sources"]
            with_explain = explained(client, path, user_id=WARM_USER, k=6)
            assert {key: with_explain[key] for key in ("recs", "degraded", "sources")} == plain.json()
        offline = client.post("/recommendations_offline", params={"user_id": WARM_USER, "k": 6})
    assert offline.content == (b'{"recs":[101,102,103,104,105,201],"degraded":false,'
                               b'"sources":["offline","offline","offline","offline","offline","popular"]}')


def test_explain_must_be_a_boolean(tmp_path, neighbours):
    with served(tmp_path, neighbours) as client:
        response = client.post("/recommendations", params={"user_id": WARM_USER, "explain": "maybe"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "explain"
    assert response.json()["error"]["message"] == "explain: expected true or false, found 'maybe'"


def test_degraded_answers_are_explained_too(tmp_path, neighbours):
    neighbours.features_mode = "down"
    with served(tmp_path, neighbours) as client:
        answer = explained(client, "/recommendations", user_id=WARM_USER, k=3)
    assert answer["degraded"] is True
    assert answer["recs"] == [101, 102, 103]  # the listens 501, 500, 502 are still excluded
    assert [e["reason"] for e in answer["explanations"]] == ["personal_taste", "top_artist", "top_artist"]
