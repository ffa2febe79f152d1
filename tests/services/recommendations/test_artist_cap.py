"""``[serving] max_per_artist``: at most that many tracks of one artist in the first k of every personal
and blended list, filled from further down; 0 leaves every answer as it was."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.services.recommendations.artifacts import (
    COLD_USER,
    NAMES,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import Neighbours, make_client

# Most tracks by artist 1: the personal list of WARM_USER is 101 102 103 (1) 104 (2) 105 (1), the
# popular one 201 (1) 202 (3) 103 (1) 203 (1) 204 (4) 205 (5); 106 has no artist.
HEAVY = {i: 1 for i in NAMES if i != 106} | {104: 2, 202: 3, 204: 4, 205: 5, 303: 6}
EVENTS = {WARM_USER: [501, 500], COLD_USER: [502], WARM_USER_2: [500]}
ENDPOINTS = ("/recommendations_offline", "/recommendations")


@pytest.fixture
def neighbours() -> Neighbours:
    fake = Neighbours()
    fake.events.update(EVENTS)
    return fake


def served(tmp_path, neighbours, blend: str, max_per_artist: int, artist=HEAVY):
    write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS, artist=artist)
    return make_client(tmp_path, neighbours, blend=blend, max_per_artist=max_per_artist)


def recs(client, path: str, **params) -> list[int]:
    response = client.post(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["recs"]


def test_offline_list_is_capped_and_filled_from_further_down(tmp_path, neighbours):
    with served(tmp_path, neighbours, "learned", 2) as client:
        assert recs(client, "/recommendations_offline", user_id=WARM_USER, k=5) == [101, 102, 104, 202, 204]
        # too few other artists for k = 8: the moved tracks fill the end, in their order
        assert recs(client, "/recommendations_offline", user_id=WARM_USER, k=8) == [
            101, 102, 104, 202, 204, 205, 103, 105
        ]
        body = client.post("/recommendations_offline", params={"user_id": WARM_USER, "k": 5}).json()
        assert body["sources"] == ["offline", "offline", "offline", "popular", "popular"]


def test_alternate_blend_is_capped_after_alternating(tmp_path, neighbours):
    # alternated: 101 302 102 304 103 301 104 105 201 202 203 204 205, all artist 1 but 104, 202, 204, 205
    with served(tmp_path, neighbours, "alternate", 2) as client:
        assert recs(client, "/recommendations", user_id=WARM_USER, k=6) == [101, 302, 104, 202, 204, 205]
        answer = client.post("/recommendations", params={"user_id": WARM_USER, "k": 8}).json()
    assert answer["recs"] == [101, 302, 104, 202, 204, 205, 102, 304]
    assert answer["sources"] == ["offline", "online", "offline", "popular", "popular", "popular", "offline",
                                 "online"]


@pytest.mark.parametrize("blend", ["learned", "alternate"])
@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("user", [WARM_USER, WARM_USER_2, COLD_USER])
def test_no_artist_more_than_twice_when_the_list_allows(tmp_path, neighbours, blend, path, user):
    with served(tmp_path, neighbours, blend, 2) as client:
        everything = recs(client, path, user_id=user, k=100)
        by_artist = Counter(HEAVY[i] for i in everything if i in HEAVY)
        room = sum(min(n, 2) for n in by_artist.values()) + sum(i not in HEAVY for i in everything)
        for k in range(1, len(everything) + 1):
            answer = recs(client, path, user_id=user, k=k)
            assert len(answer) == len(set(answer)) == k and set(answer) <= set(everything)
            if k <= room:
                assert max(Counter(HEAVY[i] for i in answer if i in HEAVY).values(), default=0) <= 2, answer


@pytest.mark.parametrize("blend", ["learned", "alternate"])
def test_zero_turns_the_cap_off(tmp_path, neighbours, blend):
    answers = {}
    for name, artist in (("heavy", HEAVY), ("no artists", {})):
        directory = tmp_path / name.replace(" ", "_")
        with served(directory, neighbours, blend, 0, artist=artist) as client:
            answers[name] = [
                client.post(path, params={"user_id": user, "k": k}).content
                for path in (*ENDPOINTS, "/recommendations_online", "/recommendations_default")
                for user in (WARM_USER, WARM_USER_2, COLD_USER) for k in (1, 3, 6, 20)
            ]
    assert answers["heavy"] == answers["no artists"]


def test_tracks_without_an_artist_are_never_capped(tmp_path, neighbours):
    only_three = {101: 1, 102: 1, 103: 1}  # 102 and 103 move down; the tracks without an artist stay
    with served(tmp_path, neighbours, "learned", 1, artist=only_three) as client:
        answer = recs(client, "/recommendations_offline", user_id=WARM_USER, k=6)
    assert answer == [101, 104, 105, 201, 202, 203]
